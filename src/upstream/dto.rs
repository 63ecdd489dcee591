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

/// Body of `POST /v3/{project_id}/backups/{backup_id}/restore`: upstream
/// `BackupRestoreReq`.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreBackupBody {
    /// What to restore onto.
    pub restore: BackupRestore,
}

/// Upstream `BackupRestore`: only the fields that are set are sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupRestore {
    /// Target server (server backups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// Disk backup → server disk (server backups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mappings: Option<Vec<RestoreMapping>>,
    /// Target disk (disk backups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    /// Target resource (other resource types).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Start the server afterwards (upstream default true: sent only when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_on: Option<bool>,
    /// File restores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<RestoreDetails>,
}

/// Upstream `BackupRestoreServerMapping`.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreMapping {
    /// A child (disk) backup of the restored backup.
    pub backup_id: String,
    /// The server disk it overwrites.
    pub volume_id: String,
}

/// Upstream `RestoreDetails`.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreDetails {
    /// Destination directory.
    pub destination_path: String,
}

/// What a restore's 202 may carry: `{"job_id": "<operation log id>"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RestoreAccepted {
    /// The restore's operation log.
    pub job_id: Text,
}

impl RestoreAccepted {
    /// The `job_id` of a 202 body, if it is there and usable as a path
    /// segment and in an operation name; an empty, unreadable or odd body
    /// means none — the restore was accepted all the same.
    pub fn job_id(body: &[u8]) -> Option<String> {
        let id = serde_json::from_slice::<RestoreAccepted>(body)
            .ok()?
            .job_id
            .0?;
        super::paths::is_valid_id(&id).then_some(id)
    }
}

/// IAM's `{"projects": […]}` (only what the project lookup reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProjectListDto {
    /// The projects.
    pub projects: List<ProjectDto>,
}

/// One IAM project.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProjectDto {
    /// Project ID.
    pub id: Text,
    /// Its name: the region's ID for a region's default project.
    pub name: Text,
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
    /// The policy that triggered it (often absent or `null`).
    pub scheduled_operation_id: Text,
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

// ---------------------------------------------------------------- vaults (LIFECYCLE.md §2)

/// `{"vault": …}`: response of show vault.
#[derive(Debug, Clone, Deserialize)]
pub struct VaultEnvelope {
    /// The vault.
    pub vault: VaultDto,
}

/// Response of list vaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VaultListDto {
    /// This page.
    pub vaults: List<VaultDto>,
    /// Total matches.
    pub count: Int,
    /// Echoed limit.
    pub limit: Int,
    /// Echoed offset.
    pub offset: Int,
}

/// Upstream `Vault`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VaultDto {
    /// Vault ID.
    pub id: Text,
    /// Name.
    pub name: Text,
    /// Project ID.
    pub project_id: Text,
    /// Provider ID.
    pub provider_id: Text,
    /// Capacity, type and status.
    pub billing: Option<BillingDto>,
    /// Protected resources.
    pub resources: List<VaultResourceDto>,
    /// Description (often `null`).
    pub description: Text,
    /// Tags (`value` may be `null` or absent).
    pub tags: List<TagDto>,
    /// Enterprise project ID (`"0"` or `0`).
    pub enterprise_project_id: Text,
    /// Automatic association.
    pub auto_bind: Flag,
    /// Tags that associate resources automatically (`{}` when unset).
    pub bind_rules: Option<BindRulesDto>,
    /// Creator.
    pub user_id: Text,
    /// Creation time text.
    pub created_at: Text,
    /// Automatic expansion.
    pub auto_expand: Flag,
    /// SMN notifications.
    pub smn_notify: Flag,
    /// Notification threshold, %.
    pub threshold: Int,
    /// `SMB` or empty.
    pub sys_lock_source_service: Text,
    /// Locked.
    pub locked: Flag,
    /// Availability zone.
    pub availability_zone: Text,
}

/// Upstream `Billing`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BillingDto {
    /// Allocated capacity, GB.
    pub allocated: Int,
    /// `post_paid` or `pre_paid`.
    pub charging_mode: Text,
    /// `public` or `hybrid`.
    pub cloud_type: Text,
    /// `crash_consistent` or `app_consistent`.
    pub consistent_level: Text,
    /// `server`, `disk`, …
    pub object_type: Text,
    /// Order ID.
    pub order_id: Text,
    /// Product ID.
    pub product_id: Text,
    /// `backup`, `replication` or `hybrid`.
    pub protect_type: Text,
    /// Capacity, GB.
    pub size: Int,
    /// Specification code.
    pub spec_code: Text,
    /// Vault status.
    pub status: Text,
    /// Backing bucket.
    pub storage_unit: Text,
    /// Used capacity, MB.
    pub used: Int,
    /// Why it is frozen.
    pub frozen_scene: Text,
    /// Multi-AZ.
    pub is_multi_az: Flag,
}

/// Upstream `ResourceResp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VaultResourceDto {
    /// Resource ID.
    pub id: Text,
    /// Name.
    pub name: Text,
    /// Type.
    #[serde(rename = "type")]
    pub kind: Text,
    /// Protection status.
    pub protect_status: Text,
    /// Allocated size, GB.
    pub size: Int,
    /// Size of its backups.
    pub backup_size: Int,
    /// Number of its backups.
    pub backup_count: Int,
    /// Follows the vault's automatic policy.
    pub auto_protect: Flag,
    /// Volumes included or excluded.
    pub extra_info: Option<ResourceExtraInfoDto>,
}

/// Upstream `ResourceExtraInfo`, as a response carries it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResourceExtraInfoDto {
    /// Volumes left out.
    pub exclude_volumes: List<Text>,
    /// Volumes included.
    pub include_volumes: List<IncludeVolumeDto>,
}

/// Upstream `ResourceExtraInfoIncludeVolumes`, as a response carries it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IncludeVolumeDto {
    /// Volume ID.
    pub id: Text,
    /// OS version.
    pub os_version: Text,
}

/// Upstream `VaultBindRules`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BindRulesDto {
    /// The tags.
    pub tags: List<TagDto>,
}

// ---------------------------------------------------------------- policies (LIFECYCLE.md §6)

/// `{"policy": …}`: response of show policy.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyEnvelope {
    /// The policy.
    pub policy: PolicyDto,
}

/// Response of list policies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PolicyListDto {
    /// The policies.
    pub policies: List<PolicyDto>,
    /// Upstream's count.
    pub count: Int,
}

/// Upstream `Policy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PolicyDto {
    /// Policy ID.
    pub id: Text,
    /// Name.
    pub name: Text,
    /// Enabled.
    pub enabled: Flag,
    /// `backup` or `replication`.
    pub operation_type: Text,
    /// Retention and replication settings.
    pub operation_definition: Option<OperationDefinitionDto>,
    /// Schedule.
    pub trigger: Option<TriggerDto>,
    /// Bound vaults.
    pub associated_vaults: List<AssociatedVaultDto>,
    /// Owner kind.
    pub policy_type: Text,
}

/// Upstream `PolicyoODCreate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OperationDefinitionDto {
    /// Most backups kept.
    pub max_backups: Int,
    /// Days kept.
    pub retention_duration_days: Int,
    /// Daily long-term backups.
    pub day_backups: Int,
    /// Weekly long-term backups.
    pub week_backups: Int,
    /// Monthly long-term backups.
    pub month_backups: Int,
    /// Yearly long-term backups.
    pub year_backups: Int,
    /// `UTC±HH:MM`.
    pub timezone: Text,
    /// Full backup every N.
    pub full_backup_interval: Int,
    /// Replication destination region.
    pub destination_region: Text,
    /// Replication destination project.
    pub destination_project_id: Text,
    /// Accelerated replication.
    pub enable_acceleration: Flag,
    /// Cross-account vault.
    pub cross_account_urn: Text,
    /// Weekly, monthly and yearly rules.
    pub advanced_retention_rules: Option<AdvancedRetentionRulesDto>,
}

/// Upstream `PolicyAdvancedRetentionRules`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AdvancedRetentionRulesDto {
    /// Weekly rule.
    pub weekly_retention_rules: Option<RetentionRuleDto>,
    /// Monthly rule.
    pub monthly_retention_rules: Option<RetentionRuleDto>,
    /// Yearly rule.
    pub yearly_retention_rules: Option<RetentionRuleDto>,
}

/// A weekly, monthly or yearly retention rule (the union of their fields).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RetentionRuleDto {
    /// `WEEKLY` or `MONTHLY`.
    pub retention_type: Text,
    /// Months of the year.
    pub retention_months: List<Text>,
    /// Weeks of the month.
    pub retention_weeks: List<Text>,
    /// Days of the week.
    pub days_of_week: List<Text>,
    /// Days of the month.
    pub days_of_month: List<Int>,
    /// Periods kept.
    pub retention_duration_periods: Int,
}

/// Upstream `PolicyTriggerResp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TriggerDto {
    /// Trigger ID.
    pub id: Text,
    /// Name.
    pub name: Text,
    /// `time`.
    #[serde(rename = "type")]
    pub kind: Text,
    /// Schedule.
    pub properties: Option<TriggerPropertiesDto>,
}

/// Upstream `PolicyTriggerPropertiesResp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TriggerPropertiesDto {
    /// iCalendar rules.
    pub pattern: List<Text>,
    /// Start time text.
    pub start_time: Text,
    /// Start window, minutes.
    pub start_window_minutes: Int,
}

/// Upstream `PolicyAssociateVault`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AssociatedVaultDto {
    /// Vault ID.
    pub vault_id: Text,
    /// Replication destination vault.
    pub destination_vault_id: Text,
}

// ---------------------------------------------------------------- operation logs (LIFECYCLE.md §5)

/// `{"operation_log": …}`: response of show operation log.
#[derive(Debug, Clone, Deserialize)]
pub struct OperationLogEnvelope {
    /// The operation log.
    pub operation_log: OperationLogDto,
}

/// Response of list operation logs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OperationLogListDto {
    /// This page.
    pub operation_logs: List<OperationLogDto>,
    /// Total matches.
    pub count: Int,
    /// Echoed limit.
    pub limit: Int,
    /// Echoed offset.
    pub offset: Int,
}

/// Upstream `OperationLog`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OperationLogDto {
    /// Operation log ID.
    pub id: Text,
    /// Project ID.
    pub project_id: Text,
    /// Status.
    pub status: Text,
    /// Creation time text.
    pub created_at: Text,
    /// Start time text.
    pub started_at: Text,
    /// Update time text.
    pub updated_at: Text,
    /// End time text.
    pub ended_at: Text,
    /// Error code and message.
    pub error_info: Option<OpErrorInfoDto>,
    /// Kind of operation.
    pub operation_type: Text,
    /// Checkpoint ID.
    pub checkpoint_id: Text,
    /// Triggering policy.
    pub policy_id: Text,
    /// Provider ID.
    pub provider_id: Text,
    /// Vault ID.
    pub vault_id: Text,
    /// Vault name.
    pub vault_name: Text,
    /// Details.
    pub extra_info: Option<OpExtraInfoDto>,
}

/// Upstream `OpErrorInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpErrorInfoDto {
    /// Error code.
    pub code: Text,
    /// Message.
    pub message: Text,
}

/// Upstream `OpExtraInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpExtraInfoDto {
    /// Progress and request.
    pub common: Option<OpCommonDto>,
    /// The resource.
    pub resource: Option<OpResourceDto>,
    /// Backups.
    pub backup: Option<OpBackupDto>,
    /// Restores.
    pub restore: Option<OpRestoreDto>,
    /// Deletions.
    pub delete: Option<OpDeleteDto>,
    /// Replications.
    pub replication: Option<OpReplicationDto>,
    /// Synchronisations.
    pub sync: Option<OpSyncDto>,
    /// Vault deletions.
    pub vault_delete: Option<OpCountsDto>,
    /// Resource removals.
    pub remove_resources: Option<OpRemoveResourcesDto>,
    /// Expiry changes.
    pub update_expiration_time: Option<OpUpdateExpirationTimeDto>,
}

/// Upstream `OpExtendInfoCommon`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpCommonDto {
    /// Progress, 0-100.
    pub progress: Int,
    /// Request ID.
    pub request_id: Text,
    /// Task ID.
    pub task_id: Text,
}

/// Upstream `Resource` of an operation log.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpResourceDto {
    /// Resource ID.
    pub id: Text,
    /// Type.
    #[serde(rename = "type")]
    pub kind: Text,
    /// Name.
    pub name: Text,
    /// Volumes included or excluded.
    pub extra_info: Option<ResourceExtraInfoDto>,
}

/// Upstream `OpExtendInfoBckup`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpBackupDto {
    /// Backup ID.
    pub backup_id: Text,
    /// Backup name.
    pub backup_name: Text,
    /// `"true"` or `"false"` (text).
    pub incremental: Flag,
    /// `"1"` or `"0"` (text).
    pub app_consistency_status: Flag,
    /// Error code.
    pub app_consistency_error_code: Text,
    /// Error message.
    pub app_consistency_error_message: Text,
}

/// Upstream `OpExtendInfoRestore`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpRestoreDto {
    /// Backup ID.
    pub backup_id: Text,
    /// Backup name.
    pub backup_name: Text,
    /// Target resource.
    pub target_resource_id: Text,
    /// Target resource name.
    pub target_resource_name: Text,
}

/// Upstream `OpExtendInfoDelete`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpDeleteDto {
    /// Backup ID.
    pub backup_id: Text,
    /// Backup name.
    pub backup_name: Text,
}

/// Upstream `OpExtendInfoReplication`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpReplicationDto {
    /// Source backup.
    pub source_backup_id: Text,
    /// Source checkpoint.
    pub source_checkpoint_id: Text,
    /// Source project.
    pub source_project_id: Text,
    /// Source region.
    pub source_region: Text,
    /// Source backup name.
    pub source_backup_name: Text,
    /// Destination backup.
    pub destination_backup_id: Text,
    /// Destination checkpoint.
    pub destination_checkpoint_id: Text,
    /// Destination project.
    pub destination_project_id: Text,
    /// Destination region.
    pub destination_region: Text,
    /// Destination backup name.
    pub destination_backup_name: Text,
}

/// Upstream `OpExtendInfoSync`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpSyncDto {
    /// Synchronised.
    pub sync_backup_num: Int,
    /// Deleted.
    pub delete_backup_num: Int,
    /// Failed.
    pub err_sync_backup_num: Int,
}

/// Upstream `OpExtendInfoVaultDelete`. Terraform reads the counts as
/// `fail_delete_count` / `total_delete_count`: both spellings are accepted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpCountsDto {
    /// Failed.
    #[serde(alias = "fail_delete_count")]
    pub fail_count: Int,
    /// Total.
    #[serde(alias = "total_delete_count")]
    pub total_count: Int,
}

/// Upstream `OpExtendInfoRemoveResources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpRemoveResourcesDto {
    /// Failed.
    pub fail_count: Int,
    /// Backups deleted.
    pub total_count: Int,
    /// The resources.
    pub resources: List<OpResourceDto>,
}

/// Upstream `OpExtendInfoUpdateExpirationTime`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpUpdateExpirationTimeDto {
    /// Backups changed.
    pub affected_backups_count: Int,
    /// `YYYY-MM-DD`.
    pub expiration_day: Text,
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
