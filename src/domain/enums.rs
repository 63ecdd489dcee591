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

enum_table!(vault_status, vault_status_to_upstream, pb::VaultStatus, {
    "available" => Available,
    "lock" => Lock,
    "frozen" => Frozen,
    "deleting" => Deleting,
    "error" => Error,
});

enum_table!(charging_mode, charging_mode_to_upstream, pb::ChargingMode, {
    "post_paid" => PostPaid,
    "pre_paid" => PrePaid,
});

enum_table!(cloud_type, cloud_type_to_upstream, pb::CloudType, {
    "public" => Public,
    "hybrid" => Hybrid,
});

enum_table!(consistent_level, consistent_level_to_upstream, pb::ConsistentLevel, {
    "crash_consistent" => CrashConsistent,
    "app_consistent" => AppConsistent,
});

enum_table!(object_type, object_type_to_upstream, pb::ObjectType, {
    "server" => Server,
    "disk" => Disk,
    "turbo" => Turbo,
    "workspace" => Workspace,
    "vmware" => Vmware,
    "rds" => Rds,
    "file" => File,
});

enum_table!(protect_type, protect_type_to_upstream, pb::ProtectType, {
    "backup" => Backup,
    "replication" => Replication,
    "hybrid" => Hybrid,
});

enum_table!(policy_operation_type, policy_operation_type_to_upstream, pb::PolicyOperationType, {
    "backup" => Backup,
    "replication" => Replication,
});

enum_table!(policy_type, policy_type_to_upstream, pb::PolicyType, {
    "custom_policy" => CustomPolicy,
    "organization_policy_v1" => OrganizationPolicyV1,
    "organization_policy_v2" => OrganizationPolicyV2,
    "organization_policy_removed" => OrganizationPolicyRemoved,
});

enum_table!(trigger_type, trigger_type_to_upstream, pb::TriggerType, {
    "time" => Time,
});

enum_table!(retention_type, retention_type_to_upstream, pb::RetentionType, {
    "WEEKLY" => Weekly,
    "MONTHLY" => Monthly,
});

enum_table!(operation_log_status, operation_log_status_to_upstream, pb::OperationLogStatus, {
    "success" => Success,
    "skipped" => Skipped,
    "failed" => Failed,
    "running" => Running,
    "timeout" => Timeout,
    "waiting" => Waiting,
});

enum_table!(operation_type, operation_type_to_upstream, pb::OperationType, {
    "backup" => Backup,
    "copy" => Copy,
    "replication" => Replication,
    "delete" => Delete,
    "restore" => Restore,
    "vault_delete" => VaultDelete,
    "remove_resource" => RemoveResource,
    "sync" => Sync,
    "migrate_resources" => MigrateResources,
});
