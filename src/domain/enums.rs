//! Upstream's status and type strings ↔ the proto enums, both directions, by
//! explicit tables: validation turns enum filters into upstream query text,
//! conversion turns upstream text into enums (an unknown value becomes
//! `…_UNSPECIFIED` and never fails a call).

use crate::proto as pb;

/// Declares an upstream-string ↔ enum table with both directions.
macro_rules! enum_table {
    ($from:ident, $to:ident, $enum:ty, { $($text:literal => $variant:ident),+ $(,)? }) => {
        /// Upstream text → enum; unknown text → `Unspecified`.
        pub fn $from(raw: Option<&str>) -> $enum {
            match raw.unwrap_or_default() {
                $($text => <$enum>::$variant,)+
                _ => <$enum>::Unspecified,
            }
        }
        /// Enum number → upstream text; `None` for unspecified or unknown numbers.
        pub fn $to(raw: i32) -> Option<&'static str> {
            match <$enum>::try_from(raw).ok()? {
                $(<$enum>::$variant => Some($text),)+
                _ => None,
            }
        }
    };
}

enum_table!(checkpoint_status, checkpoint_status_to_upstream, pb::CheckpointStatus, {
    "available" => Available,
    "deleting" => Deleting,
    "protecting" => Protecting,
    "deleted" => Deleted,
    "error-deleting" => ErrorDeleting,
    "error" => Error,
});

enum_table!(protect_status, protect_status_to_upstream, pb::ProtectStatus, {
    "available" => Available,
    "error" => Error,
    "protecting" => Protecting,
    "restoring" => Restoring,
    "removing" => Removing,
});

enum_table!(backup_status, backup_status_to_upstream, pb::BackupStatus, {
    "available" => Available,
    "protecting" => Protecting,
    "deleting" => Deleting,
    "restoring" => Restoring,
    "error" => Error,
    "waiting_protect" => WaitingProtect,
    "waiting_delete" => WaitingDelete,
    "waiting_restore" => WaitingRestore,
});

enum_table!(image_type, image_type_to_upstream, pb::ImageType, {
    "backup" => Backup,
    "replication" => Replication,
});

enum_table!(restore_mode, restore_mode_to_upstream, pb::RestoreMode, {
    "na" => Na,
    "backup" => Backup,
    "snapshot" => Snapshot,
});

enum_table!(replication_status, replication_status_to_upstream, pb::ReplicationStatus, {
    "replicating" => Replicating,
    "success" => Success,
    "fail" => Fail,
    "skip" => Skip,
    "waiting_replicate" => WaitingReplicate,
});

enum_table!(own_type, own_type_to_upstream, pb::OwnType, {
    "all_granted" => AllGranted,
    "private" => Private,
    "shared" => Shared,
});

enum_table!(member_status, member_status_to_upstream, pb::MemberStatus, {
    "pending" => Pending,
    "accepted" => Accepted,
    "rejected" => Rejected,
});

enum_table!(checkpoint_item_status, checkpoint_item_status_to_upstream, pb::CheckpointItemStatus, {
    "waiting_protect" => WaitingProtect,
    "protecting" => Protecting,
    "available" => Available,
    "waiting_restore" => WaitingRestore,
    "restoring" => Restoring,
    "error" => Error,
    "waiting_delete" => WaitingDelete,
    "deleting" => Deleting,
    "deleted" => Deleted,
});

enum_table!(copy_status, copy_status_to_upstream, pb::CopyStatus, {
    "na" => Na,
    "waiting_copy" => WaitingCopy,
    "copying" => Copying,
    "success" => Success,
    "fail" => Fail,
});

enum_table!(fail_op, fail_op_to_upstream, pb::FailOp, {
    "backup" => Backup,
    "restore" => Restore,
    "delete" => Delete,
});
