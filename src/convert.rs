//! Upstream DTOs ↔ protobuf: the only module that knows both shapes.
//!
//! Upstream strings map to enums by the tables in [`crate::enums`]; an unknown
//! value becomes `…_UNSPECIFIED` and never fails a call. Timestamps arrive as
//! `2020-02-05T10:38:34.209782` (no zone: UTC), `2019-05-10T07:59:12.733+00:00`,
//! `…Z`, a space instead of `T`, or a bare date; each parses, and anything else is
//! left unset (and logged at debug).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use prost_types::Timestamp;

use crate::{
    enums::*,
    proto::{self as pb},
    upstream::{BackupQuery, dto},
    validate,
};

// ---------------------------------------------------------------- timestamps

/// 0001-01-01T00:00:00Z, the earliest `google.protobuf.Timestamp`.
const MIN_TIMESTAMP: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// Parses an upstream time into a protobuf `Timestamp`; times a Timestamp
/// cannot hold are left unset.
pub fn timestamp(raw: Option<&str>) -> Option<Timestamp> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|dt| dt.to_utc())
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z").map(|dt| dt.to_utc()))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc())
        })
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
        })
        .or_else(|_| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        });
    match parsed {
        // google.protobuf.Timestamp covers years 0001-9999 only; strict
        // clients (Go's CheckValid, the JSON mapping) refuse anything else.
        Ok(dt) if !(MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&dt.timestamp()) => {
            tracing::debug!(value = raw, "upstream timestamp out of range left unset");
            None
        }
        Ok(dt) => Some(Timestamp {
            seconds: dt.timestamp(),
            // chrono gives a leap second nanos >= 1e9; Timestamps smear it.
            nanos: i32::try_from(dt.timestamp_subsec_nanos().min(999_999_999)).unwrap_or(0),
        }),
        Err(_) => {
            tracing::debug!(value = raw, "unparseable upstream timestamp left unset");
            None
        }
    }
}

// ---------------------------------------------------------------- requests

/// The upstream body of a checked CreateCheckpoint.
pub fn create_checkpoint_body(input: &validate::CreateCheckpoint) -> dto::CreateCheckpointBody {
    dto::CreateCheckpointBody {
        checkpoint: dto::VaultBackup {
            vault_id: input.vault_id.clone(),
            parameters: input.parameters.as_ref().map(checkpoint_param),
        },
    }
}

fn checkpoint_param(p: &pb::CheckpointParameters) -> dto::CheckpointParam {
    dto::CheckpointParam {
        auto_trigger: p.auto_trigger,
        description: p.description.clone(),
        incremental: p.incremental,
        name: p.name.clone(),
        resources: p.resources.clone(),
        resource_details: p
            .resource_details
            .iter()
            .map(|r| dto::ResourceDetail {
                id: r.id.clone(),
                kind: r.r#type.clone(),
                name: r.name.clone(),
                extra_info: r.extra_info.as_ref().map(|e| dto::ResourceExtraInfo {
                    exclude_volumes: e.exclude_volumes.clone(),
                    include_volumes: e
                        .include_volumes
                        .iter()
                        .map(|v| dto::IncludeVolume {
                            id: v.id.clone(),
                            os_version: v.os_version.clone(),
                        })
                        .collect(),
                }),
            })
            .collect(),
        policy_id: p.policy_id.clone(),
        retention_duration_days: p.retention_duration_days,
    }
}

// ---------------------------------------------------------------- CBR responses

/// Upstream `CheckpointCreate` → `Checkpoint`.
pub fn checkpoint(d: dto::CheckpointDto) -> pb::Checkpoint {
    pb::Checkpoint {
        status: checkpoint_status(d.status.as_deref()) as i32,
        created_at: timestamp(d.created_at.as_deref()),
        id: d.id.into_string(),
        project_id: d.project_id.into_string(),
        vault: d.vault.map(|v| pb::CheckpointVault {
            id: v.id.into_string(),
            name: v.name.into_string(),
            resources: v.resources.0.into_iter().map(checkpoint_resource).collect(),
            skipped_resources: v
                .skipped_resources
                .0
                .into_iter()
                .map(|s| pb::SkippedResource {
                    id: s.id.into_string(),
                    r#type: s.kind.into_string(),
                    name: s.name.into_string(),
                    code: s.code.into_string(),
                    reason: s.reason.into_string(),
                })
                .collect(),
        }),
        extra_info: d.extra_info.map(|e| pb::CheckpointExtraInfo {
            name: e.name.into_string(),
            description: e.description.into_string(),
            retention_duration: e.retention_duration.as_i32(),
        }),
    }
}

fn checkpoint_resource(r: dto::CheckpointResourceDto) -> pb::CheckpointResource {
    pb::CheckpointResource {
        protect_status: protect_status(r.protect_status.as_deref()) as i32,
        id: r.id.into_string(),
        name: r.name.into_string(),
        r#type: r.kind.into_string(),
        resource_size: r.resource_size.into_string(),
        extra_info: r.extra_info.into_string(),
        backup_size: r.backup_size.into_string(),
        backup_count: r.backup_count.into_string(),
    }
}

/// Upstream list response → `ListBackupsResponse`. Where upstream omits
/// `offset`/`limit`, the request's values (or upstream's defaults) are echoed.
pub fn list_backups(d: dto::BackupListDto, query: &BackupQuery) -> pb::ListBackupsResponse {
    let backups: Vec<pb::Backup> = d.backups.0.into_iter().map(backup).collect();
    let page_len = i32::try_from(backups.len()).unwrap_or(i32::MAX);
    pb::ListBackupsResponse {
        count: d.count.as_i32().unwrap_or(page_len),
        offset: d.offset.as_i32().or(query.offset).unwrap_or(0),
        limit: d.limit.as_i32().or(query.limit).unwrap_or(1000),
        backups,
    }
}

/// Upstream `BackupResp` → `Backup` (children included).
pub fn backup(d: dto::BackupDto) -> pb::Backup {
    pb::Backup {
        status: backup_status(d.status.as_deref()) as i32,
        image_type: image_type(d.image_type.as_deref()) as i32,
        created_at: timestamp(d.created_at.as_deref()),
        expired_at: timestamp(d.expired_at.as_deref()),
        protected_at: timestamp(d.protected_at.as_deref()),
        updated_at: timestamp(d.updated_at.as_deref()),
        id: d.id.into_string(),
        checkpoint_id: d.checkpoint_id.into_string(),
        description: d.description.into_string(),
        extend_info: d.extend_info.map(backup_extend_info),
        name: d.name.into_string(),
        parent_id: d.parent_id.into_string(),
        project_id: d.project_id.into_string(),
        resource_az: d.resource_az.into_string(),
        resource_id: d.resource_id.into_string(),
        resource_name: d.resource_name.into_string(),
        resource_size: d.resource_size.as_i32().unwrap_or(0),
        resource_type: d.resource_type.into_string(),
        vault_id: d.vault_id.into_string(),
        replication_records: d
            .replication_records
            .0
            .into_iter()
            .map(replication_record)
            .collect(),
        enterprise_project_id: d.enterprise_project_id.into_string(),
        provider_id: d.provider_id.into_string(),
        children: d.children.0.into_iter().map(backup).collect(),
        incremental: d.incremental.0,
        version: d.version.as_i32(),
    }
}

fn backup_extend_info(e: dto::BackupExtendInfoDto) -> pb::BackupExtendInfo {
    pb::BackupExtendInfo {
        auto_trigger: e.auto_trigger.0,
        bootable: e.bootable.0,
        snapshot_id: e.snapshot_id.into_string(),
        support_lld: e.support_lld.0,
        supported_restore_mode: restore_mode(e.supported_restore_mode.as_deref()) as i32,
        os_images_data: image_data(e.os_images_data),
        contain_system_disk: e.contain_system_disk.0,
        encrypted: e.encrypted.0,
        system_disk: e.system_disk.0,
        is_multi_az: e.is_multi_az.0,
        incremental: e.incremental.0,
        progress: e.progress.as_i32(),
        architecture: e.architecture.into_string(),
        app_consistency: e.app_consistency.map(app_consistency),
    }
}

fn image_data(list: crate::upstream::lenient::List<dto::ImageDataDto>) -> Vec<pb::ImageData> {
    list.0
        .into_iter()
        .map(|i| pb::ImageData {
            image_id: i.image_id.into_string(),
        })
        .collect()
}

fn app_consistency(a: dto::AppConsistencyDto) -> pb::AppConsistency {
    pb::AppConsistency {
        app_consistency: a.app_consistency.into_string(),
        app_consistency_status: a.app_consistency_status.into_string(),
        app_consistency_error_code: a.app_consistency_error_code.into_string(),
        app_consistency_error_message: a.app_consistency_error_message.into_string(),
    }
}

fn replication_record(r: dto::ReplicationRecordDto) -> pb::ReplicationRecord {
    pb::ReplicationRecord {
        status: replication_status(r.status.as_deref()) as i32,
        created_at: timestamp(r.created_at.as_deref()),
        id: r.id.into_string(),
        destination_backup_id: r.destination_backup_id.into_string(),
        destination_checkpoint_id: r.destination_checkpoint_id.into_string(),
        destination_project_id: r.destination_project_id.into_string(),
        destination_region: r.destination_region.into_string(),
        destination_vault_id: r.destination_vault_id.into_string(),
        extra_info: r.extra_info.map(|e| pb::ReplicationRecordExtraInfo {
            progress: e.progress.as_i32(),
            fail_code: e.fail_code.into_string(),
            fail_reason: e.fail_reason.into_string(),
            auto_trigger: e.auto_trigger.0,
            destination_vault_id: e.destination_vault_id.into_string(),
        }),
        source_backup_id: r.source_backup_id.into_string(),
        source_checkpoint_id: r.source_checkpoint_id.into_string(),
        source_project_id: r.source_project_id.into_string(),
        source_region: r.source_region.into_string(),
        vault_id: r.vault_id.into_string(),
    }
}

// ---------------------------------------------------------------- CSBS responses

/// CSBS `checkpoint_item` → `CheckpointItem`.
pub fn checkpoint_item(d: dto::CheckpointItemDto) -> pb::CheckpointItem {
    pb::CheckpointItem {
        status: checkpoint_item_status(d.status.as_deref()) as i32,
        created_at: timestamp(d.created_at.as_deref()),
        updated_at: timestamp(d.updated_at.as_deref()),
        protected_at: timestamp(d.protected_at.as_deref()),
        expired_at: timestamp(d.expired_at.as_deref()),
        id: d.id.into_string(),
        checkpoint_id: d.checkpoint_id.into_string(),
        extend_info: d.extend_info.map(checkpoint_item_extend_info),
        name: d.name.into_string(),
        resource_id: d.resource_id.into_string(),
        backup_data: d.backup_data.map(|b| pb::BackupData {
            openstack_region_name: b.openstack_region_name.into_string(),
            cloudservicetype: b.cloudservicetype.into_string(),
            disk: b.disk.0,
            imagetype: b.imagetype.into_string(),
            ram: b.ram.0,
            vcpus: b.vcpus.0,
            eip: b.eip.into_string(),
            private_ip: b.private_ip.into_string(),
        }),
        description: d.description.into_string(),
        tags: d
            .tags
            .0
            .into_iter()
            .map(|t| pb::Tag {
                key: t.key.into_string(),
                value: t.value.into_string(),
            })
            .collect(),
        resource_type: d.resource_type.into_string(),
        replication_records: d
            .replication_records
            .0
            .into_iter()
            .map(replication_record)
            .collect(),
    }
}

fn checkpoint_item_extend_info(
    e: dto::CheckpointItemExtendInfoDto,
) -> pb::CheckpointItemExtendInfo {
    pb::CheckpointItemExtendInfo {
        copy_status: copy_status(e.copy_status.as_deref()) as i32,
        fail_op: fail_op(e.fail_op.as_deref()) as i32,
        supported_restore_mode: restore_mode(e.supported_restore_mode.as_deref()) as i32,
        finished_at: timestamp(e.finished_at.as_deref()),
        auto_trigger: e.auto_trigger.0,
        average_speed: e.average_speed.0,
        copy_from: e.copy_from.into_string(),
        // `{}` means "no failure": only a code or a description makes a FailCode.
        fail_code: e
            .fail_code
            .filter(|f| f.code.0.is_some() || f.description.0.is_some())
            .map(|f| pb::FailCode {
                code: f.code.0.unwrap_or(0),
                description: f.description.into_string(),
            }),
        fail_reason: e.fail_reason.into_string(),
        image_type: e.image_type.into_string(),
        incremental: e.incremental.0,
        progress: e.progress.as_i32(),
        resource_az: e.resource_az.into_string(),
        resource_name: e.resource_name.into_string(),
        resource_type: e.resource_type.into_string(),
        size: e.size.0,
        space_saving_ratio: e.space_saving_ratio.0,
        volume_backups: e
            .volume_backups
            .0
            .into_iter()
            .map(|v| pb::VolumeBackup {
                id: v.id.into_string(),
                average_speed: v.average_speed.0,
                bootable: v.bootable.0,
                image_type: v.image_type.into_string(),
                incremental: v.incremental.0,
                name: v.name.into_string(),
                size: v.size.0,
                source_volume_id: v.source_volume_id.into_string(),
                source_volume_size: v.source_volume_size.0,
                space_saving_ratio: v.space_saving_ratio.0,
                status: v.status.into_string(),
                source_volume_name: v.source_volume_name.into_string(),
                snapshot_id: v.snapshot_id.into_string(),
            })
            .collect(),
        os_images_data: image_data(e.os_images_data),
        support_lld: e.support_lld.0,
        app_consistency: e.app_consistency.map(app_consistency),
        taskid: e.taskid.into_string(),
        hypervisor_type: e.hypervisor_type.into_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_a_timestamp_cannot_hold_are_left_unset() {
        assert_eq!(timestamp(Some("+10000-01-01")), None);
        assert_eq!(timestamp(Some("-0001-01-01T00:00:00Z")), None);
        let leap = timestamp(Some("2016-12-31T23:59:60.5Z")).unwrap();
        assert_eq!(leap.nanos, 999_999_999);
        let last = timestamp(Some("9999-12-31T23:59:59Z")).unwrap();
        assert_eq!(last.seconds, MAX_TIMESTAMP);
        let first = timestamp(Some("0001-01-01")).unwrap();
        assert_eq!(first.seconds, MIN_TIMESTAMP);
    }

    #[test]
    fn both_timestamp_forms_parse_as_utc() {
        let a = timestamp(Some("2020-02-05T10:38:34.209782")).unwrap();
        assert_eq!((a.seconds, a.nanos), (1_580_899_114, 209_782_000));
        let b = timestamp(Some("2019-05-10T07:59:12.733+00:00")).unwrap();
        assert_eq!((b.seconds, b.nanos), (1_557_475_152, 733_000_000));
        let c = timestamp(Some("2019-05-10T09:59:12.733+02:00")).unwrap();
        assert_eq!(c.seconds, b.seconds);
        assert_eq!(
            timestamp(Some("2019-05-10T07:59:12Z")).unwrap().seconds,
            1_557_475_152
        );
        assert_eq!(
            timestamp(Some("2019-05-10 07:59:12")).unwrap().seconds,
            1_557_475_152
        );
        assert_eq!(
            timestamp(Some("2019-05-10")).unwrap().seconds,
            1_557_446_400
        );
        assert_eq!(timestamp(Some("yesterday")), None);
        assert_eq!(timestamp(Some("")), None);
        assert_eq!(timestamp(None), None);
    }

    #[test]
    fn statuses_map_both_ways_and_unknown_is_unspecified() {
        assert_eq!(
            checkpoint_status(Some("error-deleting")),
            pb::CheckpointStatus::ErrorDeleting
        );
        assert_eq!(
            checkpoint_status(Some("creating")),
            pb::CheckpointStatus::Unspecified
        );
        assert_eq!(checkpoint_status(None), pb::CheckpointStatus::Unspecified);
        assert_eq!(
            backup_status_to_upstream(pb::BackupStatus::WaitingProtect as i32),
            Some("waiting_protect")
        );
        assert_eq!(backup_status_to_upstream(0), None);
        assert_eq!(backup_status_to_upstream(99), None);
    }

    #[test]
    fn empty_fail_code_is_absent() {
        let e: dto::CheckpointItemExtendInfoDto =
            serde_json::from_str(r#"{"fail_code":{}}"#).unwrap();
        assert!(checkpoint_item_extend_info(e).fail_code.is_none());
        let e: dto::CheckpointItemExtendInfoDto =
            serde_json::from_str(r#"{"fail_code":{"Code":12,"Description":"boom"}}"#).unwrap();
        let f = checkpoint_item_extend_info(e).fail_code.unwrap();
        assert_eq!((f.code, f.description.as_str()), (12, "boom"));
    }
}
