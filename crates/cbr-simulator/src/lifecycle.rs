//! Vaults, policies and operation logs (LIFECYCLE.md §2, §5, §6): what users
//! read to find a vault, its policy, and what CBR did.
//!
//! Nothing here is stored twice. A vault's billing and its resources' counts
//! are computed from the backups it holds at read time; every top-level backup
//! is one `backup` operation log (one per resource of a checkpoint), whose
//! status and progress follow the backup's lifecycle, and whose ID is the
//! backup's ID with fixed bits flipped, so a log is found again from its ID
//! alone and goes when its backup is evicted. Policies and the documents'
//! example vaults and operation logs are fixed seeds, rendered verbatim.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::{
    error::ApiError,
    model::{Backup, Lifecycle, ResourceKind, TimeStyle, Vault},
    seed::{PROJECT, VAULT},
    store::Store,
};

/// The simulator's daily backup policy, bound to the example vault.
pub const DAILY_POLICY: &str = "5c8b1c52-7a3e-4d3f-9a57-2f0e6a2b7c11";
/// The simulator's replication policy, bound to the example vault.
pub const REPLICATION_POLICY: &str = "b1d4e2c0-0a8e-4cfa-bb6f-3cb9d0b1a001";
/// The documents' example policy (`policy001`, bound to nothing).
pub const DOCUMENTED_POLICY: &str = "cbb3ce6f-3332-4e7c-b98e-77290d8471ff";
/// The documents' example operation log (a finished backup).
pub const DOCUMENTED_LOG: &str = "4827f2da-b008-4507-ab7d-42d0df5ed912";

/// Flipped in a backup's ID to make its operation log's ID (and back).
const LOG_ID_MASK: u128 = 0x0000_0000_0000_0000_8000_0000_0000_5A5A;

/// When the simulator's own vaults were created.
fn vault_created() -> DateTime<Utc> {
    DateTime::from_timestamp(1_580_899_114, 209_782_000).unwrap_or_default()
}

fn bad(what: &str) -> ApiError {
    ApiError::parameter(&format!("invalid {what}"))
}

fn page_bounds(limit: Option<&str>, offset: Option<&str>) -> Result<(usize, usize), ApiError> {
    let limit = match limit {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| bad("limit"))?,
        None => 1000,
    };
    let offset = match offset {
        Some(v) => v.parse::<usize>().map_err(|_| bad("offset"))?,
        None => 0,
    };
    Ok((limit, offset))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the only filter format upstream takes.
fn filter_time(v: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .filter(|_| v.len() == 20)
        .map(|n| n.and_utc())
}

fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

// ---------------------------------------------------------------- vaults

fn object_type(kind: ResourceKind) -> (&'static str, &'static str) {
    match kind {
        ResourceKind::Server => ("server", "vault.backup.server.normal"),
        ResourceKind::Volume => ("disk", "vault.backup.volume.normal"),
        ResourceKind::SfsTurbo => ("turbo", "vault.backup.turbo.normal"),
    }
}

/// The vault's kind: its resources' (an empty vault protects servers).
fn vault_kind(v: &Vault) -> ResourceKind {
    v.resources.first().map_or(ResourceKind::Server, |r| r.kind)
}

/// The policies bound to `vault_id`.
fn policies_of(vault_id: &str) -> Vec<&'static Value> {
    POLICIES
        .iter()
        .filter(|p| {
            p["associated_vaults"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v["vault_id"] == vault_id))
        })
        .collect()
}

impl Store {
    fn vault_backups<'a>(&'a self, vault_id: &'a str) -> impl Iterator<Item = &'a Backup> + 'a {
        self.listing
            .iter()
            .filter_map(|id| self.backups.get(id))
            .filter(move |b| b.vault_id == vault_id && b.parent_id.is_none())
    }

    /// Upstream `Vault` JSON of one of the simulator's vaults at `now`.
    fn render_vault(&self, v: &Vault, now: DateTime<Utc>) -> Value {
        let kind = vault_kind(v);
        let (object, spec) = object_type(kind);
        let mut used_mb = 0i64;
        let resources: Vec<Value> = v
            .resources
            .iter()
            .map(|r| {
                let mut count = 0i64;
                let mut size_mb = 0i64;
                let mut protecting = false;
                for b in self.vault_backups(&v.id).filter(|b| b.resource_id == r.id) {
                    let (status, _) = b.state(now);
                    count += 1;
                    match status {
                        "protecting" => protecting = true,
                        "available" => size_mb += b.resource_size * 1024,
                        _ => {}
                    }
                }
                used_mb += size_mb;
                json!({
                    "id": r.id,
                    "name": r.name,
                    "type": r.kind.type_name(),
                    "protect_status": if protecting { "protecting" } else { "available" },
                    "size": r.size_gb,
                    "backup_size": size_mb,
                    "backup_count": count,
                    "auto_protect": v.id == VAULT,
                    "extra_info": {"exclude_volumes": [], "include_volumes": []},
                })
            })
            .collect();
        let allocated: i64 = v.resources.iter().map(|r| r.size_gb).sum();
        // Capacity: room for twice what it protects, 100 GB at least.
        let size = (allocated * 2).max(100);
        json!({
            "id": v.id,
            "name": v.name,
            "project_id": v.project_id,
            "provider_id": kind.provider_id(),
            "billing": {
                "allocated": allocated,
                "charging_mode": "post_paid",
                "cloud_type": "public",
                "consistent_level": "crash_consistent",
                "frozen_scene": null,
                "object_type": object,
                "order_id": null,
                "product_id": "00301-225396-0--0",
                "protect_type": "backup",
                "size": size,
                "spec_code": spec,
                "status": "available",
                "storage_unit": null,
                "used": used_mb,
                "is_multi_az": false,
            },
            "resources": resources,
            "description": null,
            "tags": [{"key": "owner", "value": "simulator"}],
            "enterprise_project_id": "0",
            "auto_bind": false,
            "bind_rules": {},
            "user_id": "aa2999fa5ae640f28926f8fd79188934",
            "created_at": TimeStyle::Naive.render(vault_created()),
            "auto_expand": false,
            "smn_notify": true,
            "threshold": 80,
            "sys_lock_source_service": "",
            "locked": false,
            "availability_zone": v.resources.first().map(|r| r.az.as_str()).unwrap_or(""),
        })
    }

    /// Every vault of `project` as JSON, the documents' examples included.
    fn vaults_of(&self, project: &str, now: DateTime<Utc>) -> Vec<Value> {
        let mut own: Vec<&Vault> = self
            .vaults
            .values()
            .filter(|v| v.project_id == project)
            .collect();
        own.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Value> = own.iter().map(|v| self.render_vault(v, now)).collect();
        out.extend(
            DOCUMENTED_VAULTS
                .iter()
                .filter(|v| v["project_id"] == project)
                .cloned(),
        );
        out
    }

    /// `{"vault": …}` or 404 `BackupService.6105`.
    pub fn show_vault(
        &self,
        project: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        if let Some(v) = self.vaults.get(id).filter(|v| v.project_id == project) {
            return Ok(json!({"vault": self.render_vault(v, now)}));
        }
        DOCUMENTED_VAULTS
            .iter()
            .find(|v| v["id"] == id && v["project_id"] == project)
            .map(|v| json!({"vault": v}))
            .ok_or_else(|| ApiError::vault_not_found(id))
    }

    /// One page of ListVault with every filter of LIFECYCLE.md §2.1;
    /// `count` is the number of all matches.
    pub fn list_vaults(
        &self,
        project: &str,
        raw: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let q = pairs(raw);
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let (limit, offset) = page_bounds(get("limit"), get("offset"))?;
        let enum_of = |k: &str, allowed: &[&str]| -> Result<Option<String>, ApiError> {
            match get(k) {
                Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
                Some(_) => Err(bad(k)),
                None => Ok(None),
            }
        };
        let cloud_type = enum_of("cloud_type", &["public", "hybrid"])?;
        let protect_type = enum_of("protect_type", &["backup", "replication"])?;
        let object_type = enum_of(
            "object_type",
            &[
                "server",
                "disk",
                "turbo",
                "workspace",
                "vmware",
                "rds",
                "file",
            ],
        )?;
        let status = enum_of(
            "status",
            &["available", "lock", "frozen", "deleting", "error"],
        )?;
        let name = get("name");
        if let Some(n) = name
            && !n.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || c == '_'
                    || c == '-'
                    || ('\u{4E00}'..='\u{9FA5}').contains(&c)
                    || ('\u{F900}'..='\u{FA2D}').contains(&c)
            })
        {
            return Err(bad("name"));
        }
        // Comma-separated (the SDKs' `csv` format), or repeated keys.
        let csv = |k: &str| -> Vec<String> {
            q.iter()
                .filter(|(key, _)| key == k)
                .flat_map(|(_, v)| v.split(','))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let ids = csv("id");
        let resource_ids = csv("resource_ids");
        let policy_vaults: Option<Vec<String>> = get("policy_id").map(|p| {
            POLICIES
                .iter()
                .filter(|pol| pol["id"] == p)
                .flat_map(|pol| {
                    pol["associated_vaults"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|v| v["vault_id"].as_str().map(str::to_owned))
                .collect()
        });
        let az = get("availability_zone");
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
        let matches: Vec<Value> = self
            .vaults_of(project, now)
            .into_iter()
            .filter(|v| {
                name.is_none_or(|n| v["name"] == n)
                    && cloud_type
                        .as_deref()
                        .is_none_or(|c| v["billing"]["cloud_type"] == c)
                    && protect_type
                        .as_deref()
                        .is_none_or(|p| v["billing"]["protect_type"] == p)
                    && object_type
                        .as_deref()
                        .is_none_or(|o| v["billing"]["object_type"] == o)
                    && status
                        .as_deref()
                        .is_none_or(|s| v["billing"]["status"] == s)
                    && (ids.is_empty() || ids.contains(&text(v, "id")))
                    && (resource_ids.is_empty()
                        || v["resources"].as_array().is_some_and(|rs| {
                            rs.iter().any(|r| resource_ids.contains(&text(r, "id")))
                        }))
                    && policy_vaults
                        .as_ref()
                        .is_none_or(|vs| vs.contains(&text(v, "id")))
                    && az.is_none_or(|a| v["availability_zone"] == a)
            })
            .collect();
        let count = matches.len();
        let page: Vec<Value> = matches.into_iter().skip(offset).take(limit).collect();
        Ok(json!({"vaults": page, "count": count, "limit": limit, "offset": offset}))
    }

    // ------------------------------------------------------------ policies

    /// ListPolicies: `operation_type` and `vault_id` filters, `count` = all.
    pub fn list_policies(&self, raw: Option<&str>) -> Result<Value, ApiError> {
        let q = pairs(raw);
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let kind = get("operation_type");
        if kind.is_some_and(|k| !matches!(k, "backup" | "replication")) {
            return Err(bad("operation_type"));
        }
        let policies: Vec<&Value> = match get("vault_id") {
            Some(vault) => policies_of(vault),
            None => POLICIES.iter().collect(),
        }
        .into_iter()
        .filter(|p| kind.is_none_or(|k| p["operation_type"] == k))
        .collect();
        Ok(json!({"policies": policies, "count": policies.len()}))
    }

    /// `{"policy": …}` or 404 `BackupService.6000`.
    pub fn show_policy(&self, id: &str) -> Result<Value, ApiError> {
        POLICIES
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| json!({"policy": p}))
            .ok_or_else(|| ApiError::policy_not_found(id))
    }

    // ------------------------------------------------------------ operation logs

    /// The `backup` operation log of a top-level backup at `now`.
    fn backup_log(&self, b: &Backup, now: DateTime<Utc>) -> Value {
        let (status, progress) = b.state(now);
        let ts = |t: DateTime<Utc>| TimeStyle::Naive.render(t);
        let ended = match &b.lifecycle {
            Lifecycle::Running {
                started, duration, ..
            } => *started + chrono::Duration::from_std(*duration).unwrap_or_default(),
            Lifecycle::Fixed(_) => b.created_at,
        };
        let (log_status, error_info, ended_at) = match status {
            "protecting" | "waiting_protect" => {
                ("running", json!({"code": "", "message": ""}), Value::Null)
            }
            "error" => (
                "failed",
                json!({
                    "code": "BackupService.6300",
                    "message": "Simulated backup failure: the snapshot of the resource failed.",
                }),
                json!(ts(ended)),
            ),
            _ => (
                "success",
                json!({"code": "", "message": ""}),
                json!(ts(ended)),
            ),
        };
        let vault = self.vaults.get(&b.vault_id);
        json!({
            "id": log_id(&b.id).unwrap_or_default(),
            "project_id": b.project_id,
            "operation_type": "backup",
            "status": log_status,
            "checkpoint_id": b.checkpoint_id,
            "policy_id": if b.auto_trigger { json!(DAILY_POLICY) } else { Value::Null },
            "provider_id": b.provider_id,
            "vault_id": b.vault_id,
            "vault_name": vault.map(|v| v.name.as_str()),
            "created_at": ts(b.created_at),
            "started_at": ts(b.created_at),
            "updated_at": ts(if log_status == "running" { now } else { ended }),
            "ended_at": ended_at,
            "error_info": error_info,
            "extra_info": {
                "common": {
                    "progress": progress,
                    "request_id": format!("req-{}", b.id),
                    "task_id": format!("task-{}", b.id),
                },
                "resource": {
                    "id": b.resource_id,
                    "name": b.resource_name,
                    "type": b.kind.type_name(),
                },
                "backup": {
                    "backup_id": b.id,
                    "backup_name": b.name,
                    // upstream's text booleans
                    "incremental": if b.incremental { "true" } else { "false" },
                    "app_consistency_status": "0",
                    "app_consistency_error_code": "",
                    "app_consistency_error_message": "",
                },
            },
        })
    }

    /// `{"operation_log": …}` or 404 `BackupService.6500`.
    pub fn show_op_log(
        &self,
        project: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        if let Some(log) = DOCUMENTED_LOGS.iter().find(|l| l["id"] == id)
            && project == PROJECT
        {
            return Ok(json!({"operation_log": log}));
        }
        log_id(id)
            .and_then(|b| self.backups.get(&b))
            .filter(|b| b.project_id == project && b.parent_id.is_none())
            .map(|b| json!({"operation_log": self.backup_log(b, now)}))
            .ok_or_else(|| ApiError::operation_log_not_found(id))
    }

    /// One page of ListOpLogs with every filter of LIFECYCLE.md §5.1,
    /// newest first; `count` is the number of all matches.
    pub fn list_op_logs(
        &self,
        project: &str,
        raw: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let q = pairs(raw);
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let (limit, offset) = page_bounds(get("limit"), get("offset"))?;
        let kind = get("operation_type");
        if kind.is_some_and(|k| {
            !matches!(
                k,
                "backup"
                    | "copy"
                    | "replication"
                    | "delete"
                    | "restore"
                    | "vault_delete"
                    | "remove_resource"
                    | "sync"
            )
        }) {
            return Err(bad("operation_type"));
        }
        let status = get("status");
        if status.is_some_and(|s| {
            !matches!(
                s,
                "success" | "skipped" | "failed" | "running" | "timeout" | "waiting"
            )
        }) {
            return Err(bad("status"));
        }
        let start = get("start_time")
            .map(|v| filter_time(v).ok_or_else(|| bad("start_time")))
            .transpose()?;
        let end = get("end_time")
            .map(|v| filter_time(v).ok_or_else(|| bad("end_time")))
            .transpose()?;
        if let Some(region) = get("destination_region")
            && (region.len() > 255
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
        {
            return Err(bad("destination_region"));
        }
        // Cheap filters on the backups first; only the page is rendered.
        let eq = |k: &str, have: &str| get(k).is_none_or(|w| w == have);
        let in_time = |t: DateTime<Utc>| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e);
        let derived = kind.is_none_or(|k| k == "backup")
            && get("destination_region").is_none()
            && get("destination_project_id").is_none();
        let mut rows: Vec<(DateTime<Utc>, Row<'_>)> = Vec::new();
        if derived {
            for b in self
                .listing
                .iter()
                .filter_map(|id| self.backups.get(id))
                .filter(|b| b.project_id == project && b.parent_id.is_none())
            {
                let vault_name = self.vaults.get(&b.vault_id).map_or("", |v| v.name.as_str());
                let log_status = match b.state(now).0 {
                    "protecting" | "waiting_protect" => "running",
                    "error" => "failed",
                    _ => "success",
                };
                if eq("provider_id", b.provider_id)
                    && eq("resource_id", &b.resource_id)
                    && eq("resource_name", &b.resource_name)
                    && eq("vault_id", &b.vault_id)
                    && eq("vault_name", vault_name)
                    && status.is_none_or(|s| s == log_status)
                    && in_time(b.created_at)
                {
                    rows.push((b.created_at, Row::Backup(b)));
                }
            }
        }
        if project == PROJECT {
            let text = |v: &Value, path: &[&str]| {
                let mut v = v;
                for p in path {
                    v = &v[*p];
                }
                v.as_str().unwrap_or("").to_owned()
            };
            for log in DOCUMENTED_LOGS.iter() {
                let created = text(log, &["created_at"]);
                let created = NaiveDateTime::parse_from_str(&created, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|n| n.and_utc())
                    .unwrap_or_default();
                let replication = &log["extra_info"]["replication"];
                if kind.is_none_or(|k| log["operation_type"] == k)
                    && status.is_none_or(|s| log["status"] == s)
                    && eq("provider_id", &text(log, &["provider_id"]))
                    && eq("resource_id", &text(log, &["extra_info", "resource", "id"]))
                    && eq(
                        "resource_name",
                        &text(log, &["extra_info", "resource", "name"]),
                    )
                    && eq("vault_id", &text(log, &["vault_id"]))
                    && eq("vault_name", &text(log, &["vault_name"]))
                    && eq(
                        "destination_region",
                        &text(replication, &["destination_region"]),
                    )
                    && eq(
                        "destination_project_id",
                        &text(replication, &["destination_project_id"]),
                    )
                    && in_time(created)
                {
                    rows.push((created, Row::Literal(log)));
                }
            }
        }
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        let count = rows.len();
        let page: Vec<Value> = rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, row)| match row {
                Row::Backup(b) => self.backup_log(b, now),
                Row::Literal(v) => v.clone(),
            })
            .collect();
        Ok(json!({"operation_logs": page, "count": count, "limit": limit, "offset": offset}))
    }
}

/// One operation log before it is rendered.
enum Row<'a> {
    Backup(&'a Backup),
    Literal(&'a Value),
}

/// The operation log ID of a backup's `backup` operation, and back: the
/// same bits flipped either way.
pub fn log_id(id: &str) -> Option<String> {
    let u = uuid::Uuid::parse_str(id).ok()?;
    Some(
        uuid::Uuid::from_u128(u.as_u128() ^ LOG_ID_MASK)
            .hyphenated()
            .to_string(),
    )
}

/// The documents' example vaults, verbatim (LIFECYCLE.md §2.1, §2.2), in
/// their own project.
static DOCUMENTED_VAULTS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    vec![
        json!({"auto_bind":false,"auto_expand":false,
          "billing":{"allocated":0,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
            "frozen_scene":null,"object_type":"server","order_id":null,"product_id":null,"protect_type":"backup","size":100,
            "spec_code":"vault.backup.server.normal","status":"available","storage_unit":null,"used":0},
          "bind_rules":{},"created_at":"2020-09-04T06:57:37.343535","description":null,"enterprise_project_id":"0",
          "id":"a335f9e1-1628-4c64-a7be-38656e5ec19c","name":"vault-8538","project_id":"0605767b5780d5762fc5c0118072a564",
          "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66","resources":[],"tags":[],
          "user_id":"aa2999fa5ae640f28926f8fd79188934"}),
        // The OTC variant of the show example: numeric enterprise project,
        // zoned timestamp, a tag without value, no null billing fields.
        json!({"auto_bind":true,"auto_expand":false,
          "billing":{"allocated":0,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
            "object_type":"server","protect_type":"backup","size":40,
            "spec_code":"vault.backup.server.normal","status":"available","used":0},
          "bind_rules":{},"created_at":"2020-07-24T09:12:49.492+00:00","description":null,"enterprise_project_id":0,
          "id":"2b076f26-391f-40fa-bf71-a798940faccf","name":"sdk-vault1595581958","project_id":"0605767b5780d5762fc5c0118072a564",
          "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66","resources":[],"tags":[{"key":"fds"}],
          "user_id":"aa2999fa5ae640f28926f8fd79188934"}),
    ]
});

/// The policies: the documents' example, and the simulator's daily backup
/// and replication policies bound to the example vault.
static POLICIES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    vec![
        // LIFECYCLE.md §6.4, verbatim.
        json!({"associated_vaults":[],"enabled":true,"id":DOCUMENTED_POLICY,"name":"policy001",
          "operation_definition":{"day_backups":0,"month_backups":0,"retention_duration_days":1,"timezone":"UTC+08:00",
                                  "week_backups":0,"year_backups":0},
          "operation_type":"backup",
          "trigger":{"id":"d67269a6-5369-42d7-8150-5254bd446328","name":"default",
            "properties":{"pattern":["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"],
                          "start_time":"2019-05-08 06:57:05"},"type":"time"}}),
        json!({"id":DAILY_POLICY,"name":"daily-0200","enabled":true,"operation_type":"backup",
          "policy_type":"custom_policy",
          "operation_definition":{"max_backups":-1,"retention_duration_days":30,"day_backups":7,"week_backups":4,
            "month_backups":6,"year_backups":1,"timezone":"UTC+08:00","full_backup_interval":-1,
            "advanced_retention_rules":{
              "weekly_retention_rules":{"days_of_week":["SU"],"retention_duration_periods":4},
              "monthly_retention_rules":{"retention_type":"MONTHLY","days_of_month":[1,-1],"retention_duration_periods":6},
              "yearly_retention_rules":{"retention_type":"WEEKLY","retention_months":["1"],"retention_weeks":["1"],
                "days_of_week":["MO"],"retention_duration_periods":1}}},
          "trigger":{"id":"0b8e8f8e-6c1a-4b8e-9d53-3f1b2a7c9e01","name":"default","type":"time",
            "properties":{"pattern":["FREQ=DAILY;INTERVAL=1;BYHOUR=18;BYMINUTE=00"],
                          "start_time":"2020-02-05 10:38:34","start_window_minutes":60}},
          "associated_vaults":[{"vault_id":VAULT}]}),
        // LIFECYCLE.md §6.4's replication policy, bound to the example vault.
        json!({"id":REPLICATION_POLICY,"name":"replicate-weekly","enabled":false,"operation_type":"replication",
          "policy_type":"custom_policy",
          "operation_definition":{"destination_region":"region2","destination_project_id":"68589cac08274b82b4e254268a3862d8",
            "max_backups":-1,"retention_duration_days":-1,"enable_acceleration":false},
          "trigger":{"id":"7d1f0c4e-2a9b-4f3e-8c6d-5b4a3e2f1d00","name":"default","type":"time",
            "properties":{"pattern":["FREQ=WEEKLY;BYDAY=SA;BYHOUR=22;BYMINUTE=00"],
                          "start_time":"2019-05-08T06:57:05.000+00:00"}},
          "associated_vaults":[{"vault_id":VAULT,"destination_vault_id":"0ca3eb86-8800-46da-9c37-9d657a825274"}]}),
    ]
});

/// The documents' example operation log and the constructed ones of
/// LIFECYCLE.md §5.5 (restore, delete, vault deletion, replication), so every
/// `extra_info` variant can be read; in the simulator's project.
static DOCUMENTED_LOGS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    vec![
        json!({"checkpoint_id":"b432511f-d889-428f-8b0e-5f47c524c6b6",
          "created_at":"2019-05-23T14:31:36.039365","ended_at":"2019-05-23T14:35:23.511155",
          "error_info":{"code":"","message":""},
          "extra_info":{"backup":{"backup_id":"0e5d0ef6-7f0a-4890-b98c-cb12490e31c1","backup_name":"manualbk_backup"},
                        "common":{"progress":100,"request_id":"req-cdb98cc4-e87b-4f40-9b4a-57ec036620bc"},
                        "resource":{"id":"1dab32fa-ebf2-415a-ab0b-eabe6353bc86","name":"ECS-0001","type":"OS::Nova::Server"}},
          "id":DOCUMENTED_LOG,"operation_type":"backup","policy_id":null,
          "project_id":PROJECT,"provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
          "started_at":"2019-05-23T14:31:36.007230","status":"success","updated_at":"2019-05-23T14:35:23.584418",
          "vault_id":null,"vault_name":null}),
        json!({"id":"9f1c6a2e-1b7d-4c3e-8a5f-0d2e4b6c8a01","project_id":PROJECT,"operation_type":"restore","status":"running",
          "checkpoint_id":"8b0851a8-adf3-4f4c-a914-dead08bf9664","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
          "created_at":"2019-05-24T10:00:00.123456","started_at":"2019-05-24T10:00:00.100000","updated_at":"2019-05-24T10:01:30.000000",
          "ended_at":null,"policy_id":null,
          "error_info":{"code":"","message":""},"vault_id":VAULT,"vault_name":"vault-be94",
          "extra_info":{"common":{"progress":35,"request_id":"req-5e0c8a36-restore"},
            "resource":{"id":"94eba8b2-acc9-4d82-badc-127144cc5526","name":"ecs-1f0f-0002","type":"OS::Nova::Server"},
            "restore":{"backup_id":"6df2b54c-dd62-4059-a07c-1b8f24f2725d","backup_name":"backup_name",
                       "target_resource_id":"94eba8b2-acc9-4d82-badc-127144cc5526","target_resource_name":"ecs-1f0f-0002"}}}),
        json!({"id":"9f1c6a2e-1b7d-4c3e-8a5f-0d2e4b6c8a02","project_id":PROJECT,"operation_type":"delete","status":"failed",
          "checkpoint_id":"8b0851a8-adf3-4f4c-a914-dead08bf9664","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
          "created_at":"2019-05-25T10:00:00.000000","started_at":"2019-05-25T10:00:00.000000","updated_at":"2019-05-25T10:05:00.000000",
          "ended_at":"2019-05-25T10:05:00.000000","policy_id":null,"vault_id":VAULT,"vault_name":"vault-be94",
          "error_info":{"code":"BackupService.6204","message":"The backup has been used to create an image. Delete the image first."},
          "extra_info":{"common":{"progress":0,"request_id":"req-5e0c8a36-delete"},
                        "resource":{"id":"94eba8b2-acc9-4d82-badc-127144cc5526","name":"ecs-1f0f-0002","type":"OS::Nova::Server"},
                        "delete":{"backup_id":"6df2b54c-dd62-4059-a07c-1b8f24f2725d","backup_name":"backup_name"}}}),
        json!({"id":"9f1c6a2e-1b7d-4c3e-8a5f-0d2e4b6c8a03","project_id":PROJECT,"operation_type":"vault_delete","status":"success",
          "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
          "created_at":"2019-05-26T10:00:00.000000","started_at":"2019-05-26T10:00:00.000000","updated_at":"2019-05-26T10:02:00.000000",
          "ended_at":"2019-05-26T10:02:00.000000","policy_id":null,"vault_id":"a335f9e1-1628-4c64-a7be-38656e5ec19c","vault_name":"vault-8538",
          "error_info":{"code":"","message":""},
          "extra_info":{"common":{"progress":100,"request_id":"req-5e0c8a36-vault"},
                        "resource":{"id":"1dab32fa-ebf2-415a-ab0b-eabe6353bc86","name":"ECS-0001","type":"OS::Nova::Server"},
                        "vault_delete":{"fail_count":0,"total_count":12}}}),
        json!({"id":"9f1c6a2e-1b7d-4c3e-8a5f-0d2e4b6c8a04","project_id":PROJECT,"operation_type":"replication","status":"success",
          "checkpoint_id":"8b0851a8-adf3-4f4c-a914-dead08bf9664","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
          "created_at":"2019-05-27T10:00:00.000000","started_at":"2019-05-27T10:00:00.000000","updated_at":"2019-05-27T10:30:00.000000",
          "ended_at":"2019-05-27T10:30:00.000000","policy_id":REPLICATION_POLICY,"vault_id":VAULT,"vault_name":"vault-be94",
          "error_info":{"code":"","message":""},
          "extra_info":{"common":{"progress":100,"request_id":"req-5e0c8a36-replicate"},
            "resource":{"id":"94eba8b2-acc9-4d82-badc-127144cc5526","name":"ecs-1f0f-0002","type":"OS::Nova::Server"},
            "replication":{"source_backup_id":"6df2b54c-dd62-4059-a07c-1b8f24f2725d","source_checkpoint_id":"8b0851a8-adf3-4f4c-a914-dead08bf9664",
              "source_project_id":PROJECT,"source_region":"region1",
              "destination_backup_id":"1b8e5f3c-2d4a-4e6b-8c0d-9e1f2a3b4c5d","destination_checkpoint_id":"2c9f6a4d-3e5b-4f7c-9d1e-0f2a3b4c5d6e",
              "destination_project_id":"68589cac08274b82b4e254268a3862d8","destination_region":"region2"}}}),
    ]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_map_back_to_their_backups() {
        let log = log_id(super::super::seed::BACKUP).unwrap();
        assert_ne!(log, super::super::seed::BACKUP);
        assert_eq!(log_id(&log).as_deref(), Some(super::super::seed::BACKUP));
        assert_eq!(log_id("not-a-uuid"), None);
    }

    #[test]
    fn filters_are_checked_like_upstream() {
        let store = super::super::seed::store(20);
        let now = Utc::now();
        for bad in [
            "limit=0",
            "limit=1001",
            "offset=-1",
            "status=done",
            "cloud_type=x",
            "name=a%20b",
        ] {
            let e = store.list_vaults(PROJECT, Some(bad), now).unwrap_err();
            assert_eq!(e.code, "BackupService.9900", "{bad}");
        }
        for bad in [
            "start_time=2019-01-01",
            "operation_type=x",
            "status=ok",
            "destination_region=a%20b",
        ] {
            let e = store.list_op_logs(PROJECT, Some(bad), now).unwrap_err();
            assert_eq!(e.code, "BackupService.9900", "{bad}");
        }
        assert_eq!(
            store
                .list_policies(Some("operation_type=x"))
                .unwrap_err()
                .code,
            "BackupService.9900"
        );
    }

    #[test]
    fn a_vaults_billing_follows_what_it_holds() {
        let store = super::super::seed::store(0);
        let v = store.show_vault(PROJECT, VAULT, Utc::now()).unwrap();
        let billing = &v["vault"]["billing"];
        assert_eq!(billing["allocated"], 40, "one 40 GB server");
        // The example backup of that server is available: 40 GB, in MB.
        assert_eq!(billing["used"], 40 * 1024);
        let r = &v["vault"]["resources"][0];
        assert_eq!(
            (r["backup_count"].as_i64(), r["protect_status"].as_str()),
            (Some(1), Some("available"))
        );
        let by_policy = store
            .list_vaults(
                PROJECT,
                Some(&format!("policy_id={DAILY_POLICY}")),
                Utc::now(),
            )
            .unwrap();
        assert_eq!(by_policy["count"], 1);
        assert_eq!(by_policy["vaults"][0]["id"], VAULT);
    }

    #[test]
    fn every_top_level_backup_is_a_backup_operation() {
        let store = super::super::seed::store(30);
        let now = Utc::now();
        let all = store.list_op_logs(PROJECT, None, now).unwrap();
        let tops = store
            .listing
            .iter()
            .filter(|id| store.backups[*id].project_id == PROJECT)
            .count();
        assert_eq!(all["count"], tops + DOCUMENTED_LOGS.len());
        let page = store
            .list_op_logs(PROJECT, Some("limit=2&offset=1"), now)
            .unwrap();
        assert_eq!(page["operation_logs"].as_array().unwrap().len(), 2);
        assert_eq!(
            page["operation_logs"][0]["id"],
            all["operation_logs"][1]["id"]
        );
        let one = &all["operation_logs"][0];
        let shown = store
            .show_op_log(PROJECT, one["id"].as_str().unwrap(), now)
            .unwrap();
        assert_eq!(&shown["operation_log"], one);
        let restores = store
            .list_op_logs(PROJECT, Some("operation_type=restore"), now)
            .unwrap();
        assert_eq!(restores["count"], 1);
        assert_eq!(
            store.show_op_log(PROJECT, "nope", now).unwrap_err().code,
            "BackupService.6500"
        );
    }
}
