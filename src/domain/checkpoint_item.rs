//! Checkpoint items (CSBS v1): what upstream answers with.

use super::{
    backup::{app_consistency, image_data, replication_record},
    enums::*,
    timestamp,
};
use crate::{proto as pb, upstream::dto};

/// CSBS `checkpoint_item` → `CheckpointItem`.
impl From<dto::CheckpointItemDto> for pb::CheckpointItem {
    fn from(d: dto::CheckpointItemDto) -> Self {
        Self {
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
