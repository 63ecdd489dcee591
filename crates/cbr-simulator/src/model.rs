//! The simulator's own model of vaults, checkpoints and backups, and how each
//! renders as upstream JSON.
//!
//! Deliberately independent of the gateway's DTOs: if a field name were wrong in
//! one, the other would not share the mistake. Rendering reproduces upstream's
//! habits (REFERENCE.md §2.5): numeric `resource_size` in checkpoints, numeric
//! `enterprise_project_id: 0`, timestamps with and without a zone, `null` for
//! absent strings, and extra objects such as `app_consistency`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Provider ID of server backups.
pub const PROVIDER_SERVER: &str = "0daac4c5-6707-4851-97ba-169e36266b66";
/// Provider ID of disk backups.
pub const PROVIDER_DISK: &str = "d1603440-187d-4516-af25-121250c7cc97";
/// Provider ID of SFS Turbo backups.
pub const PROVIDER_SFS: &str = "3f3c3220-245c-4805-b811-758870015881";

/// What kind of resource a vault protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `OS::Nova::Server`: backed up with one child backup per disk.
    Server,
    /// `OS::Cinder::Volume`.
    Volume,
    /// `OS::Sfs::Turbo`.
    SfsTurbo,
}

impl ResourceKind {
    /// The upstream type string.
    pub fn type_name(self) -> &'static str {
        match self {
            ResourceKind::Server => "OS::Nova::Server",
            ResourceKind::Volume => "OS::Cinder::Volume",
            ResourceKind::SfsTurbo => "OS::Sfs::Turbo",
        }
    }

    /// The backup provider ID.
    pub fn provider_id(self) -> &'static str {
        match self {
            ResourceKind::Server => PROVIDER_SERVER,
            ResourceKind::Volume => PROVIDER_DISK,
            ResourceKind::SfsTurbo => PROVIDER_SFS,
        }
    }
}

/// A disk attached to a server resource.
#[derive(Debug, Clone)]
pub struct Disk {
    /// Volume ID.
    pub id: String,
    /// Size in GB.
    pub size_gb: i64,
    /// Whether it is the system disk.
    pub bootable: bool,
}

/// A resource associated with a vault.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Resource ID.
    pub id: String,
    /// Resource name.
    pub name: String,
    /// Kind.
    pub kind: ResourceKind,
    /// Allocated capacity in GB.
    pub size_gb: i64,
    /// Availability zone.
    pub az: String,
    /// Disks (servers only).
    pub disks: Vec<Disk>,
}

/// A vault. What it holds (billing, its resources' backup counts and sizes)
/// is not stored here but computed from its backups when it is read.
#[derive(Debug, Clone)]
pub struct Vault {
    /// Vault ID.
    pub id: String,
    /// Vault name.
    pub name: String,
    /// Owning project.
    pub project_id: String,
    /// Associated resources.
    pub resources: Vec<Resource>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Tags; a `None` value is a tag without one.
    pub tags: Vec<(String, Option<String>)>,
    /// Whose documents its JSON follows.
    pub dialect: Dialect,
}

/// Whose documents a vault's JSON follows, since the same vault reads
/// differently in each (LIFECYCLE.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Huawei's API Explorer: naive microsecond timestamps,
    /// `enterprise_project_id: "0"`, `null` for every absent string (billing
    /// fields, a tag's value).
    Huawei,
    /// OTC's documents: `+00:00` millisecond timestamps, the number
    /// `enterprise_project_id: 0`, absent strings left out altogether.
    Otc,
}

impl Dialect {
    /// How this dialect writes times.
    pub fn time_style(self) -> TimeStyle {
        match self {
            Dialect::Huawei => TimeStyle::Naive,
            Dialect::Otc => TimeStyle::Offset,
        }
    }

    /// `enterprise_project_id` of the default enterprise project.
    pub fn default_eps(self) -> Value {
        match self {
            Dialect::Huawei => json!("0"),
            Dialect::Otc => json!(0),
        }
    }

    /// Drops what this dialect leaves out: in OTC's, the `null` members of
    /// `object` (not recursively).
    pub fn trim(self, mut object: Value) -> Value {
        if self == Dialect::Otc
            && let Some(map) = object.as_object_mut()
        {
            map.retain(|_, v| !v.is_null());
        }
        object
    }
}

/// How a timestamp is written, since upstream uses both forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// `2019-05-10T07:59:12.733+00:00`
    Offset,
    /// `2020-02-05T10:38:34.209782` (UTC, no zone)
    Naive,
}

impl TimeStyle {
    /// Renders `t` in this style.
    pub fn render(self, t: DateTime<Utc>) -> String {
        match self {
            TimeStyle::Offset => t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
            TimeStyle::Naive => t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        }
    }
}

/// Where a backup is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// A settled backup with a fixed status (seeded or generated).
    Fixed(&'static str),
    /// A backup being taken now: `protecting` with rising progress until
    /// `started + duration`, then `available` (or `error` when `fails`).
    Running {
        /// When it started.
        started: DateTime<Utc>,
        /// How long it takes.
        duration: Duration,
        /// Whether it ends in `error`.
        fails: bool,
    },
}

impl Lifecycle {
    /// Status and progress (percent) at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> (&'static str, i64) {
        match self {
            Lifecycle::Fixed(status) => (status, if *status == "available" { 100 } else { 0 }),
            Lifecycle::Running {
                started,
                duration,
                fails,
            } => {
                let elapsed = (now - *started).to_std().unwrap_or_default();
                if elapsed >= *duration {
                    if *fails {
                        ("error", 100)
                    } else {
                        ("available", 100)
                    }
                } else {
                    let pct = elapsed.as_millis() * 100 / duration.as_millis().max(1);
                    ("protecting", i64::try_from(pct).unwrap_or(99).min(99))
                }
            }
        }
    }
}

/// A backup (a top-level backup or a disk child).
#[derive(Debug, Clone)]
pub struct Backup {
    /// Backup ID.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Vault.
    pub vault_id: String,
    /// Checkpoint.
    pub checkpoint_id: String,
    /// Parent backup (disk children only).
    pub parent_id: Option<String>,
    /// Name.
    pub name: String,
    /// Description; `None` renders as `null`.
    pub description: Option<String>,
    /// Backed-up resource.
    pub resource_id: String,
    /// Its name.
    pub resource_name: String,
    /// Its kind.
    pub kind: ResourceKind,
    /// Backup provider: the top-level resource's (a server's disk backups carry
    /// the server provider, as the documents show).
    pub provider_id: &'static str,
    /// Its AZ.
    pub resource_az: String,
    /// Its size, GB.
    pub resource_size: i64,
    /// `backup` or `replication`.
    pub image_type: &'static str,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// How times are written for this backup.
    pub time_style: TimeStyle,
    /// Status over time.
    pub lifecycle: Lifecycle,
    /// Child backup IDs (server backups: one per disk).
    pub children: Vec<String>,
    /// Policy-triggered.
    pub auto_trigger: bool,
    /// Incremental.
    pub incremental: bool,
    /// System disk (children).
    pub bootable: bool,
    /// Snapshot of a disk backup.
    pub snapshot_id: Option<String>,
    /// A restore or deletion running on it (its status meanwhile).
    pub busy: Option<Busy>,
    /// Encrypted (disk backups).
    pub encrypted: bool,
    /// Render `enterprise_project_id` as the number `0` (the OTC quirk) instead of `"0"`.
    pub numeric_eps: bool,
}

/// A restore or deletion of a backup, while it runs: the backup shows
/// `restoring` or `deleting` until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// `restoring` or `deleting`.
    pub status: &'static str,
    /// When it ends.
    pub until: DateTime<Utc>,
}

impl Backup {
    /// Status and progress at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> (&'static str, i64) {
        match &self.busy {
            Some(busy) if now < busy.until => (busy.status, 100),
            _ => self.lifecycle.at(now),
        }
    }

    /// Upstream `BackupResp` JSON; `children` are the rendered child backups,
    /// `policy` the policy that triggered it (`scheduled_operation_id`, sent
    /// only when there is one).
    pub fn render(
        &self,
        now: DateTime<Utc>,
        children: Vec<Value>,
        replication: bool,
        policy: Option<&str>,
    ) -> Value {
        let (status, progress) = self.state(now);
        let ts = |t: DateTime<Utc>| self.time_style.render(t);
        let finished = match &self.lifecycle {
            Lifecycle::Running {
                started, duration, ..
            } if status != "protecting" => {
                *started + chrono::Duration::from_std(*duration).unwrap_or_default()
            }
            _ => self.created_at,
        };
        let mut extend = json!({
            "auto_trigger": self.auto_trigger,
            "supported_restore_mode": if self.kind == ResourceKind::Server { "backup" } else { "na" },
            "support_lld": self.kind == ResourceKind::Server,
            "incremental": self.incremental,
            // upstream sends `null` once a backup has finished
            "progress": if status == "protecting" { json!(progress) } else { Value::Null },
            "app_consistency": {
                "app_consistency": "0",
                "app_consistency_status": "0",
                "app_consistency_error_code": "0",
                "app_consistency_error_message": ""
            },
        });
        if self.kind == ResourceKind::Server && self.parent_id.is_none() {
            extend["contain_system_disk"] = json!(true);
            extend["architecture"] = json!("x86_64");
            extend["os_images_data"] = Value::Null;
        }
        if self.parent_id.is_some() {
            extend["bootable"] = json!(self.bootable);
            extend["system_disk"] = json!(self.bootable);
            extend["encrypted"] = json!(self.encrypted);
        }
        if let Some(s) = &self.snapshot_id {
            extend["snapshot_id"] = json!(s);
        }
        let mut v = json!({
            "id": self.id,
            "checkpoint_id": self.checkpoint_id,
            "project_id": self.project_id,
            "vault_id": self.vault_id,
            "provider_id": self.provider_id,
            "name": self.name,
            "description": self.description,
            "parent_id": self.parent_id,
            "resource_id": self.resource_id,
            "resource_name": self.resource_name,
            "resource_type": self.kind.type_name(),
            "resource_az": self.resource_az,
            "resource_size": self.resource_size,
            "image_type": self.image_type,
            "status": status,
            "created_at": ts(self.created_at),
            "updated_at": ts(finished),
            "protected_at": if status == "protecting" { Value::Null } else { json!(ts(finished)) },
            "expired_at": Value::Null,
            "enterprise_project_id": if self.numeric_eps { json!(0) } else { json!("0") },
            "incremental": self.incremental,
            "extend_info": extend,
            "children": children,
        });
        if replication {
            v["replication_records"] = json!([]);
        }
        if let Some(policy) = policy {
            v["scheduled_operation_id"] = json!(policy);
        }
        v
    }

    /// CSBS `checkpoint_item` JSON for this backup; `volumes` are its disk children.
    pub fn render_checkpoint_item(&self, now: DateTime<Utc>, volumes: &[&Backup]) -> Value {
        let (status, progress) = self.state(now);
        let ts = |t: DateTime<Utc>| TimeStyle::Naive.render(t);
        let failed = status == "error";
        let volume_backups: Vec<Value> = volumes
            .iter()
            .map(|d| {
                let (vstatus, _) = d.state(now);
                json!({
                    "id": d.id,
                    "name": d.name,
                    "status": vstatus,
                    "bootable": d.bootable,
                    "average_speed": 16,
                    "image_type": "backup",
                    "incremental": d.incremental,
                    "size": d.resource_size * 1024,
                    "source_volume_id": d.resource_id,
                    "source_volume_size": d.resource_size,
                    "source_volume_name": d.resource_name,
                    "space_saving_ratio": 1,
                    "snapshot_id": d.snapshot_id,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "checkpoint_id": self.checkpoint_id,
            "name": self.name,
            "description": self.description.clone().unwrap_or_default(),
            "resource_id": self.resource_id,
            "resource_type": self.kind.type_name(),
            "status": status,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.created_at),
            "tags": [],
            "backup_data": {
                "__openstack_region_name": "",
                "cloudservicetype": "QEMU",
                "disk": 0,
                "imagetype": "gold",
                "ram": 8192,
                "vcpus": 4,
                "eip": "",
                "private_ip": "",
            },
            "extend_info": {
                "auto_trigger": self.auto_trigger,
                "average_speed": 19,
                "copy_from": Value::Null,
                "copy_status": "na",
                "fail_code": if failed { json!({"Code": 1, "Description": "simulated failure"}) } else { json!({}) },
                "fail_op": if failed { "backup" } else { "" },
                "fail_reason": if failed { "simulated failure" } else { "" },
                "image_type": self.image_type,
                "incremental": self.incremental,
                "progress": progress,
                "resource_az": self.resource_az,
                "resource_name": self.resource_name,
                "resource_type": self.kind.type_name(),
                "size": self.resource_size * 1024,
                "space_saving_ratio": 2,
                "volume_backups": volume_backups,
                "finished_at": if status == "protecting" { Value::Null } else { json!(ts(self.created_at)) },
                "supported_restore_mode": if self.kind == ResourceKind::Server { "backup" } else { "na" },
                "os_images_data": [],
                "support_lld": self.kind == ResourceKind::Server,
                "taskid": format!("task-{}", self.id),
                "hypervisor_type": "QEMU",
            },
        })
    }
}

/// A checkpoint (restore point).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Checkpoint ID.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Vault ID.
    pub vault_id: String,
    /// Vault name.
    pub vault_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// `(name, description, retention_duration)`; `None` omits `extra_info` as the
    /// show example does.
    pub extra_info: Option<(String, String, i64)>,
    /// `(resource, its top-level backup ID)` pairs.
    pub resources: Vec<(Resource, String)>,
}

impl Checkpoint {
    /// Upstream `CheckpointCreate` JSON; `state_of` gives each backup's status.
    pub fn render(&self, state_of: impl Fn(&str) -> Option<&'static str>) -> Value {
        let statuses: Vec<&'static str> = self
            .resources
            .iter()
            .map(|(_, b)| state_of(b).unwrap_or("available"))
            .collect();
        let resources: Vec<Value> = self
            .resources
            .iter()
            .zip(&statuses)
            .map(|((r, _), s)| {
                json!({
                    "id": r.id,
                    "name": r.name,
                    "type": r.kind.type_name(),
                    // documented as a string, sent as a number
                    "resource_size": r.size_gb,
                    "protect_status": protect_status(s),
                })
            })
            .collect();
        let mut v = json!({
            "id": self.id,
            "project_id": self.project_id,
            "status": checkpoint_status(&statuses),
            "created_at": TimeStyle::Offset.render(self.created_at),
            "vault": {
                "id": self.vault_id,
                "name": self.vault_name,
                "resources": resources,
                "skipped_resources": [],
            },
        });
        if let Some((name, description, retention)) = &self.extra_info {
            v["extra_info"] = json!({
                "name": name,
                "description": description,
                "retention_duration": retention,
            });
        }
        v
    }
}

/// A resource's `protect_status` for its backup's status.
fn protect_status(backup_status: &str) -> &'static str {
    match backup_status {
        "protecting" | "waiting_protect" => "protecting",
        "restoring" | "waiting_restore" => "restoring",
        "deleting" | "waiting_delete" => "removing",
        "error" => "error",
        _ => "available",
    }
}

/// A checkpoint's status from its backups' statuses.
fn checkpoint_status(statuses: &[&str]) -> &'static str {
    if statuses
        .iter()
        .any(|s| matches!(*s, "protecting" | "waiting_protect"))
    {
        "protecting"
    } else if statuses
        .iter()
        .any(|s| matches!(*s, "deleting" | "waiting_delete"))
    {
        "deleting"
    } else if statuses.contains(&"error") {
        "error"
    } else {
        "available"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_backups_rise_then_settle() {
        let start = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let life = Lifecycle::Running {
            started: start,
            duration: Duration::from_secs(10),
            fails: false,
        };
        assert_eq!(life.at(start), ("protecting", 0));
        assert_eq!(
            life.at(start + chrono::Duration::seconds(5)),
            ("protecting", 50)
        );
        assert_eq!(
            life.at(start + chrono::Duration::seconds(10)),
            ("available", 100)
        );
        let failing = Lifecycle::Running {
            started: start,
            duration: Duration::from_secs(10),
            fails: true,
        };
        assert_eq!(failing.at(start + chrono::Duration::seconds(11)).0, "error");
    }

    #[test]
    fn both_time_styles() {
        let t = DateTime::parse_from_rfc3339("2019-05-10T07:59:12.733Z")
            .unwrap()
            .to_utc();
        assert_eq!(TimeStyle::Offset.render(t), "2019-05-10T07:59:12.733+00:00");
        assert_eq!(TimeStyle::Naive.render(t), "2019-05-10T07:59:12.733000");
    }

    #[test]
    fn dialects_write_the_same_vault_differently() {
        let t = DateTime::parse_from_rfc3339("2020-07-24T09:12:49.491874Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            Dialect::Huawei.time_style().render(t),
            "2020-07-24T09:12:49.491874"
        );
        assert_eq!(
            Dialect::Otc.time_style().render(t),
            "2020-07-24T09:12:49.491+00:00"
        );
        assert_eq!(Dialect::Huawei.default_eps(), json!("0"));
        assert_eq!(Dialect::Otc.default_eps(), json!(0));
        let billing = json!({"order_id": null, "size": 40});
        assert_eq!(Dialect::Huawei.trim(billing.clone()), billing);
        assert_eq!(Dialect::Otc.trim(billing), json!({"size": 40}));
    }

    #[test]
    fn checkpoint_status_follows_backups() {
        assert_eq!(
            checkpoint_status(&["available", "protecting"]),
            "protecting"
        );
        assert_eq!(checkpoint_status(&["available", "error"]), "error");
        assert_eq!(checkpoint_status(&["available"]), "available");
    }
}
