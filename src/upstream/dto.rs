//! Serde models of the upstream JSON (REFERENCE.md §2-3), field for field.
//!
//! Response models use the lenient scalars of [`super::lenient`] and
//! `#[serde(default)]`, so absent, `null` or oddly typed scalar fields never fail
//! a response, and unknown fields are ignored. A list or object of the wrong
//! shape (`"backups": "x"`) does fail it, on purpose: read leniently, a garbled
//! page would look like an empty one and end a StreamBackups walk early with OK. Timestamps stay text here; the
//! conversion to protobuf parses them. Request models skip unset fields, so only
//! what the caller set is sent.

use serde::{Deserialize, Serialize};

use super::{
    lenient::{Flag, Int, List, Text},
    untrusted,
};

// ---------------------------------------------------------------- requests

/// Body of `POST /v3/{project_id}/checkpoints`: upstream `VaultBackupReq`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateCheckpointBody {
    /// The backup to take.
    pub checkpoint: VaultBackup,
}

/// Upstream `VaultBackup`.
#[derive(Debug, Clone, Serialize)]
pub struct VaultBackup {
    /// Vault to back up.
    pub vault_id: String,
    /// Parameters, if the caller gave any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<CheckpointParam>,
}

/// Upstream `CheckpointParam`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckpointParam {
    /// Policy-triggered backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_trigger: Option<bool>,
    /// Description, ≤ 255 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Incremental backup (upstream default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental: Option<bool>,
    /// Backup name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Resource IDs to back up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Resources with type and options.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_details: Vec<ResourceDetail>,
    /// Backup policy ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// Retention in days (-1 forever).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_duration_days: Option<i32>,
}

/// Upstream `Resource`.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDetail {
    /// Resource ID.
    pub id: String,
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Volume selection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_info: Option<ResourceExtraInfo>,
}

/// Upstream `ResourceExtraInfo`.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceExtraInfo {
    /// Volume IDs to skip.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_volumes: Vec<String>,
    /// Volumes to include.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include_volumes: Vec<IncludeVolume>,
}

/// Upstream `ResourceExtraInfoIncludeVolumes`.
#[derive(Debug, Clone, Serialize)]
pub struct IncludeVolume {
    /// Volume ID.
    pub id: String,
    /// OS version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

// ---------------------------------------------------------------- CBR responses

/// `{"checkpoint": …}`: response of create and show checkpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckpointEnvelope {
    /// The checkpoint.
    pub checkpoint: CheckpointDto,
}

/// Upstream `CheckpointCreate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointDto {
    /// Creation time text.
    pub created_at: Text,
    /// Checkpoint ID.
    pub id: Text,
    /// Project ID.
    pub project_id: Text,
    /// Status text.
    pub status: Text,
    /// Vault and resources.
    pub vault: Option<CheckpointVaultDto>,
    /// Name, description, retention.
    pub extra_info: Option<CheckpointExtraInfoDto>,
}

/// Upstream `CheckpointPlanCreate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointVaultDto {
    /// Vault ID.
    pub id: Text,
    /// Vault name.
    pub name: Text,
    /// Resources backed up.
    pub resources: List<CheckpointResourceDto>,
    /// Resources skipped.
    pub skipped_resources: List<SkippedResourceDto>,
}

/// Upstream `CheckpointResourceResp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointResourceDto {
    /// JSON text.
    pub extra_info: Text,
    /// Resource ID.
    pub id: Text,
    /// Resource name.
    pub name: Text,
    /// Protection status text.
    pub protect_status: Text,
    /// Size in GB: documented text, sent as a number.
    pub resource_size: Text,
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: Text,
    /// Backup size.
    pub backup_size: Text,
    /// Backup count.
    pub backup_count: Text,
}

/// Upstream `CheckpointCreateSkippedResource`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SkippedResourceDto {
    /// Resource ID.
    pub id: Text,
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: Text,
    /// Resource name.
    pub name: Text,
    /// Error code.
    pub code: Text,
    /// Reason.
    pub reason: Text,
}

/// Upstream `CheckpointExtraInfoResp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointExtraInfoDto {
    /// Backup name.
    pub name: Text,
    /// Backup description.
    pub description: Text,
    /// Retention days.
    pub retention_duration: Int,
}

/// `{"backup": …}`: response of show backup.
#[derive(Debug, Clone, Deserialize)]
pub struct BackupEnvelope {
    /// The backup.
    pub backup: BackupDto,
}

/// Response of list backups.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackupListDto {
    /// This page.
    pub backups: List<BackupDto>,
    /// Total matches.
    pub count: Int,
    /// Echoed offset.
    pub offset: Int,
    /// Echoed limit.
    pub limit: Int,
}

/// Upstream `BackupResp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackupDto {
    /// Checkpoint ID.
    pub checkpoint_id: Text,
    /// Creation time text.
    pub created_at: Text,
    /// Description (often `null`).
    pub description: Text,
    /// Expiry time text (often `null`).
    pub expired_at: Text,
    /// Extended information.
    pub extend_info: Option<BackupExtendInfoDto>,
    /// Backup ID.
    pub id: Text,
    /// `backup` or `replication`.
    pub image_type: Text,
    /// Name.
    pub name: Text,
    /// Parent backup ID (often `null`).
    pub parent_id: Text,
    /// Project ID.
    pub project_id: Text,
    /// Protection time text.
    pub protected_at: Text,
    /// Resource AZ.
    pub resource_az: Text,
    /// Resource ID.
    pub resource_id: Text,
    /// Resource name.
    pub resource_name: Text,
    /// Resource size, GB.
    pub resource_size: Int,
    /// Resource type.
    pub resource_type: Text,
    /// Status text.
    pub status: Text,
    /// Update time text.
    pub updated_at: Text,
    /// Vault ID.
    pub vault_id: Text,
    /// Replication records.
    pub replication_records: List<ReplicationRecordDto>,
    /// Enterprise project ID: documented text, sometimes the number `0`.
    pub enterprise_project_id: Text,
    /// Provider ID.
    pub provider_id: Text,
    /// Child backups.
    pub children: List<BackupDto>,
    /// Incremental.
    pub incremental: Flag,
    /// Snapshot type.
    pub version: Int,
}

/// Upstream `BackupExtendInfo` plus the fields seen beyond the SDK model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackupExtendInfoDto {
    /// Policy-triggered.
    pub auto_trigger: Flag,
    /// System-disk backup.
    pub bootable: Flag,
    /// Snapshot ID.
    pub snapshot_id: Text,
    /// Lazy loading.
    pub support_lld: Flag,
    /// `na`, `backup`, `snapshot`.
    pub supported_restore_mode: Text,
    /// Registered images.
    pub os_images_data: List<ImageDataDto>,
    /// Contains the system disk.
    pub contain_system_disk: Flag,
    /// Encrypted.
    pub encrypted: Flag,
    /// A system disk.
    pub system_disk: Flag,
    /// Multi-AZ.
    pub is_multi_az: Flag,
    /// Incremental (OTC docs).
    pub incremental: Flag,
    /// Progress, percent (nullable).
    pub progress: Int,
    /// CPU architecture.
    pub architecture: Text,
    /// Application consistency.
    pub app_consistency: Option<AppConsistencyDto>,
}

/// Upstream `ImageData`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ImageDataDto {
    /// Image ID.
    pub image_id: Text,
}

/// Application-consistency object (strings in CBR, integers in CSBS).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AppConsistencyDto {
    /// Requested mode.
    pub app_consistency: Text,
    /// Freeze/thaw outcome.
    pub app_consistency_status: Text,
    /// Error code.
    pub app_consistency_error_code: Text,
    /// Error message.
    pub app_consistency_error_message: Text,
}

/// Upstream `ReplicationRecordGet`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReplicationRecordDto {
    /// Start time text.
    pub created_at: Text,
    /// Destination backup.
    pub destination_backup_id: Text,
    /// Destination checkpoint.
    pub destination_checkpoint_id: Text,
    /// Destination project.
    pub destination_project_id: Text,
    /// Destination region.
    pub destination_region: Text,
    /// Destination vault.
    pub destination_vault_id: Text,
    /// Extra information.
    pub extra_info: Option<ReplicationExtraInfoDto>,
    /// Record ID.
    pub id: Text,
    /// Source backup.
    pub source_backup_id: Text,
    /// Source checkpoint.
    pub source_checkpoint_id: Text,
    /// Source project.
    pub source_project_id: Text,
    /// Source region.
    pub source_region: Text,
    /// Status text.
    pub status: Text,
    /// Vault ID.
    pub vault_id: Text,
}

/// Upstream `ReplicationRecordsExtraInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReplicationExtraInfoDto {
    /// Progress, percent.
    pub progress: Int,
    /// Failure code.
    pub fail_code: Text,
    /// Failure reason.
    pub fail_reason: Text,
    /// Policy-triggered.
    pub auto_trigger: Flag,
    /// Destination vault; upstream's docs also spell it `destinatio_vault_id`.
    #[serde(alias = "destinatio_vault_id")]
    pub destination_vault_id: Text,
}

// ---------------------------------------------------------------- CSBS responses

/// `{"checkpoint_item": …}`: response of CSBS show backup.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckpointItemEnvelope {
    /// The backup.
    pub checkpoint_item: CheckpointItemDto,
}

/// CSBS `checkpoint_item`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointItemDto {
    /// Backup record ID.
    pub checkpoint_id: Text,
    /// Creation time text.
    pub created_at: Text,
    /// Extended information.
    pub extend_info: Option<CheckpointItemExtendInfoDto>,
    /// Backup ID.
    pub id: Text,
    /// Name.
    pub name: Text,
    /// Backed-up object.
    pub resource_id: Text,
    /// Status text.
    pub status: Text,
    /// Update time text.
    pub updated_at: Text,
    /// Server metadata.
    pub backup_data: Option<BackupDataDto>,
    /// Description.
    pub description: Text,
    /// Tags.
    pub tags: List<TagDto>,
    /// Object type.
    pub resource_type: Text,
    /// Replication records.
    pub replication_records: List<ReplicationRecordDto>,
    /// Protection time text.
    pub protected_at: Text,
    /// Expiry time text.
    pub expired_at: Text,
}

/// CSBS `extend_info`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckpointItemExtendInfoDto {
    /// Policy-triggered.
    pub auto_trigger: Flag,
    /// kB/s.
    pub average_speed: Int,
    /// Replica source region.
    pub copy_from: Text,
    /// Replication status text.
    pub copy_status: Text,
    /// `{"Code", "Description"}`, `{}` when nothing failed.
    pub fail_code: Option<FailCodeDto>,
    /// Failed operation text.
    pub fail_op: Text,
    /// Failure reason.
    pub fail_reason: Text,
    /// Kind of copy.
    pub image_type: Text,
    /// Incremental.
    pub incremental: Flag,
    /// Progress, percent.
    pub progress: Int,
    /// Object AZ.
    pub resource_az: Text,
    /// Object name.
    pub resource_name: Text,
    /// Object type.
    pub resource_type: Text,
    /// Size, MB.
    pub size: Int,
    /// Space saving ratio.
    pub space_saving_ratio: Int,
    /// Volume backups.
    pub volume_backups: List<VolumeBackupDto>,
    /// Completion time text.
    pub finished_at: Text,
    /// Restore mode text.
    pub supported_restore_mode: Text,
    /// Registered images.
    pub os_images_data: List<ImageDataDto>,
    /// Lazy loading.
    pub support_lld: Flag,
    /// Application consistency.
    pub app_consistency: Option<AppConsistencyDto>,
    /// Job ID.
    pub taskid: Text,
    /// Virtualisation type.
    pub hypervisor_type: Text,
}

/// CSBS `fail_code` (capitalised keys upstream).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FailCodeDto {
    /// Error code.
    #[serde(rename = "Code", alias = "code")]
    pub code: Int,
    /// Error description.
    #[serde(rename = "Description", alias = "description")]
    pub description: Text,
}

/// CSBS `volume_backup`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VolumeBackupDto {
    /// MB/s.
    pub average_speed: Int,
    /// Bootable.
    pub bootable: Flag,
    /// Cinder backup ID.
    pub id: Text,
    /// Kind of copy.
    pub image_type: Text,
    /// Incremental.
    pub incremental: Flag,
    /// Name.
    pub name: Text,
    /// MB.
    pub size: Int,
    /// Source volume.
    pub source_volume_id: Text,
    /// GB.
    pub source_volume_size: Int,
    /// Space saving ratio.
    pub space_saving_ratio: Int,
    /// Status text.
    pub status: Text,
    /// Source volume name.
    pub source_volume_name: Text,
    /// Snapshot ID.
    pub snapshot_id: Text,
}

/// CSBS `backup_data`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackupDataDto {
    /// AZ of the server.
    #[serde(rename = "__openstack_region_name")]
    pub openstack_region_name: Text,
    /// Server type.
    pub cloudservicetype: Text,
    /// System disk, GB.
    pub disk: Int,
    /// Image type.
    pub imagetype: Text,
    /// RAM, MB.
    pub ram: Int,
    /// vCPUs.
    pub vcpus: Int,
    /// Elastic IP.
    pub eip: Text,
    /// Private IP.
    pub private_ip: Text,
}

/// CSBS tag.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TagDto {
    /// Key.
    pub key: Text,
    /// Value.
    pub value: Text,
}

// ---------------------------------------------------------------- errors

/// The fields of an upstream error body the gateway reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// `error_code` (or `errorCode`, `code`), e.g. `BackupService.6200`:
    /// at most 64 characters, no control characters, `None` if blank.
    pub code: Option<String>,
    /// `error_msg` (or `errorMsg`, `message`): at most 512 characters, no
    /// control characters, `None` if blank.
    pub message: Option<String>,
}

impl ErrorBody {
    /// Reads an error body the way Huawei's SDKs do: `error_code`/`error_msg`,
    /// `errorCode`/`errorMsg`, `code`/`message`, else the first nested object that
    /// has one of those (`{"unauthorized": {"code": …, "message": …}}`).
    pub fn parse(body: &[u8]) -> Self {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => Self::from_value(&v, 0).unwrap_or_default(),
            Err(_) => Self::default(),
        }
    }

    fn from_value(v: &serde_json::Value, depth: usize) -> Option<Self> {
        let obj = v.as_object()?;
        // Which pair of keys upstream used is decided by what is there; what
        // is kept of their text is decided by `untrusted`, which caps and
        // cleans it (it reaches statuses and log lines).
        let text = |k: &str, clean: fn(&str) -> Option<String>| {
            obj.get(k).and_then(|v| match v {
                serde_json::Value::String(s) => Some(clean(s)),
                serde_json::Value::Number(n) => Some(clean(&n.to_string())),
                _ => None,
            })
        };
        for (code_key, msg_key) in [
            ("error_code", "error_msg"),
            ("errorCode", "errorMsg"),
            ("code", "message"),
        ] {
            let code = text(code_key, untrusted::error_code);
            let message = text(msg_key, untrusted::error_msg);
            if code.is_some() || message.is_some() {
                return Some(Self {
                    code: code.flatten(),
                    message: message.flatten(),
                });
            }
        }
        if depth < 2 {
            return obj.values().find_map(|v| Self::from_value(v, depth + 1));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape() {
        let b = ErrorBody::parse(br#"{"error_code":"BackupService.6200","error_msg":"gone"}"#);
        assert_eq!(b.code.as_deref(), Some("BackupService.6200"));
        assert_eq!(b.message.as_deref(), Some("gone"));
        let b = ErrorBody::parse(
            br#"{"unauthorized":{"code":"401","message":"Malformed request url"}}"#,
        );
        assert_eq!(b.code.as_deref(), Some("401"));
        assert_eq!(b.message.as_deref(), Some("Malformed request url"));
        let b = ErrorBody::parse(br#"{"errorCode":"X.1","errorMsg":"m"}"#);
        assert_eq!(b.code.as_deref(), Some("X.1"));
        assert_eq!(
            ErrorBody::parse(b"<html>bad gateway</html>"),
            ErrorBody::default()
        );
    }

    #[test]
    fn hostile_error_bodies_are_capped_and_cleaned() {
        let body = serde_json::json!({
            "error_code": format!("\u{1b}[31m{}", "C".repeat(1 << 20)),
            "error_msg": format!("line\nforged{}", "m".repeat(1 << 20)),
        });
        let b = ErrorBody::parse(body.to_string().as_bytes());
        let code = b.code.unwrap();
        assert_eq!(code.chars().count(), 64);
        assert!(code.starts_with("\u{fffd}[31mCCC") && code.ends_with('…'));
        let message = b.message.unwrap();
        assert_eq!(message.chars().count(), 512);
        assert!(message.starts_with("line forgedmmm"));
        // Blank fields still say which keys upstream used, but are absent.
        let b = ErrorBody::parse(br#"{"error_code":" ","error_msg":"\r\n","code":"X"}"#);
        assert_eq!(b, ErrorBody::default());
        let b = ErrorBody::parse(br#"{"code":401,"message":"\u0007bell"}"#);
        assert_eq!(b.code.as_deref(), Some("401"));
        assert_eq!(b.message.as_deref(), Some("\u{fffd}bell"));
    }

    #[test]
    fn create_body_sends_only_what_is_set() {
        let body = CreateCheckpointBody {
            checkpoint: VaultBackup {
                vault_id: "v".into(),
                parameters: Some(CheckpointParam {
                    incremental: Some(false),
                    ..Default::default()
                }),
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"checkpoint":{"vault_id":"v","parameters":{"incremental":false}}}"#
        );
    }
}
