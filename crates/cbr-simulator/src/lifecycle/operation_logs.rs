//! ListOpLogs and ShowOpLog (LIFECYCLE.md §5): what CBR did.
//!
//! Every top-level backup the simulator holds (seeded, generated or created
//! by CreateCheckpoint) is one `backup` operation log, so a checkpoint of
//! several resources has several. Nothing is stored for it: the log is
//! rendered from its backup when read, its status and progress from the
//! backup's lifecycle (`waiting` → `running` with rising
//! `extra_info.common.progress` → `success`, or `failed` with `error_info`
//! when the simulator fails the checkpoint), and its ID is the backup's ID
//! with fixed bits flipped. So a log is found again from its ID alone, and
//! goes when the store evicts its backup (`MAX_CREATED`): memory stays
//! bounded.
//!
//! Restores and deletions the simulator accepted (`tasks.rs`) are logs of
//! their own, kept after their backup is gone; so is the `backup` log of a
//! backup deleted with DeleteBackup (as upstream keeps it), unlike that of a
//! backup the store evicted.
//!
//! The documents' example log and the constructed restore, delete,
//! vault_delete and replication logs of §5.5, plus a sync and a
//! remove_resource one built from §5.4's models, are seeds
//! (`seeds/operation_logs.json`), served verbatim so that every `extra_info`
//! variant with an `operation_type` can be read.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Page, Params, bad, in_enterprise_project, seed_time};
use crate::{
    error::ApiError,
    model::{Backup, Lifecycle, TimeStyle},
    store::Store,
};

/// The documents' example operation log (a finished manual backup).
pub const DOCUMENTED_LOG: &str = "4827f2da-b008-4507-ab7d-42d0df5ed912";

/// Flipped in a backup's ID to make its operation log's ID (and back).
const LOG_ID_MASK: u128 = 0x0000_0000_0000_0000_8000_0000_0000_5A5A;

/// `operation_type` values upstream takes as a filter (the SDKs' and API
/// definition's, plus `migrate_resources` from Huawei's 2025 documents).
const OPERATION_TYPES: &[&str] = &[
    "backup",
    "copy",
    "replication",
    "delete",
    "restore",
    "vault_delete",
    "remove_resource",
    "sync",
    "migrate_resources",
];

/// `status` values of an operation log.
const STATUSES: &[&str] = &[
    "success", "skipped", "failed", "running", "timeout", "waiting",
];

/// The `error_info` of a backup the simulator failed: upstream's "Backup is
/// not allowed in the current resource status." (OTC error table).
const FAILURE: (&str, &str) = (
    "BackupService.6215",
    "Backup is not allowed in the current resource status.",
);

/// The operation log ID of a backup's `backup` operation.
pub fn log_id(backup_id: &str) -> Option<String> {
    flip(backup_id)
}

/// The backup whose `backup` operation log has `log_id`.
fn backup_id(log_id: &str) -> Option<String> {
    flip(log_id)
}

fn flip(id: &str) -> Option<String> {
    let u = uuid::Uuid::parse_str(id).ok()?;
    Some(
        uuid::Uuid::from_u128(u.as_u128() ^ LOG_ID_MASK)
            .hyphenated()
            .to_string(),
    )
}

/// The status of the `backup` operation of a backup in `backup_status`:
/// queued, running, failed, or done (a backup being restored or deleted was
/// taken successfully).
fn log_status(backup_status: &str) -> &'static str {
    match backup_status {
        "waiting_protect" => "waiting",
        "protecting" => "running",
        "error" => "failed",
        _ => "success",
    }
}

/// Whether an operation in `status` has ended.
fn terminal(status: &str) -> bool {
    !matches!(status, "waiting" | "running")
}

/// When a backup's operation ended (or will end).
fn ended(b: &Backup) -> DateTime<Utc> {
    match &b.lifecycle {
        Lifecycle::Running {
            started, duration, ..
        } => *started + chrono::Duration::from_std(*duration).unwrap_or_default(),
        Lifecycle::Fixed(_) => b.created_at,
    }
}

impl Store {
    /// `enterprise_project_id` of vault `vault_id`: its own, or the default
    /// project's for a vault the simulator does not model (every seeded one
    /// is in it).
    fn vault_eps(&self, vault_id: &str) -> Value {
        self.vaults
            .get(vault_id)
            .map_or_else(|| json!("0"), |v| v.dialect.default_eps())
    }

    /// The `backup` operation log of top-level backup `b` at `now`.
    pub(crate) fn backup_log(&self, b: &Backup, now: DateTime<Utc>) -> Value {
        let (backup_status, progress) = b.state(now);
        let status = log_status(backup_status);
        let ts = |t: DateTime<Utc>| TimeStyle::Naive.render(t);
        let error_info = if status == "failed" {
            json!({"code": FAILURE.0, "message": FAILURE.1})
        } else {
            json!({"code": "", "message": ""})
        };
        let policy_id = self.policy_of(b);
        json!({
            "id": log_id(&b.id).unwrap_or_default(),
            "project_id": b.project_id,
            "operation_type": "backup",
            "status": status,
            "checkpoint_id": b.checkpoint_id,
            "policy_id": policy_id,
            "provider_id": b.provider_id,
            "vault_id": b.vault_id,
            "vault_name": self.vaults.get(&b.vault_id).map(|v| v.name.as_str()),
            "created_at": ts(b.created_at),
            "started_at": ts(b.created_at),
            "updated_at": ts(if terminal(status) { ended(b) } else { now }),
            "ended_at": terminal(status).then(|| ts(ended(b))),
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
                    "extra_info": {"exclude_volumes": [], "include_volumes": []},
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
        if let Some(log) = self
            .literal_logs
            .iter()
            .find(|l| l["id"] == id && l["project_id"] == project)
        {
            return Ok(json!({"operation_log": log}));
        }
        if let Some(task) = self.task(project, id) {
            return Ok(json!({"operation_log": task.render(now)}));
        }
        if let Some(b) = backup_id(id)
            .and_then(|b| self.backups.get(&b))
            .filter(|b| b.project_id == project && b.parent_id.is_none())
        {
            return Ok(json!({"operation_log": self.backup_log(b, now)}));
        }
        self.deleted_backup_logs(project)
            .find(|l| l["id"] == id)
            .map(|log| json!({"operation_log": log}))
            .ok_or_else(ApiError::operation_log_not_found)
    }

    /// One page of ListOpLogs with every filter of LIFECYCLE.md §5.1,
    /// newest first; `count` is the number of all matches.
    pub fn list_op_logs(
        &self,
        project: &str,
        raw: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let q = LogQuery::parse(raw)?;
        let mut rows: Vec<(DateTime<Utc>, Row<'_>)> = Vec::new();
        // Cheap filters on the backups first; only the page is rendered.
        if q.may_be_backup() {
            for b in self
                .listing
                .iter()
                .filter_map(|id| self.backups.get(id))
                .filter(|b| b.project_id == project && b.parent_id.is_none())
            {
                let vault_name = self.vaults.get(&b.vault_id).map_or("", |v| v.name.as_str());
                if q.matches(&Fields {
                    operation_type: "backup",
                    status: log_status(b.state(now).0),
                    provider_id: b.provider_id,
                    resource_id: &b.resource_id,
                    resource_name: &b.resource_name,
                    vault_id: &b.vault_id,
                    vault_name,
                    eps: &self.vault_eps(&b.vault_id),
                    created: b.created_at,
                    destination: ("", ""),
                }) {
                    rows.push((b.created_at, Row::Backup(b)));
                }
            }
        }
        // Served as stored: the documents' logs, and those of deleted backups.
        let deleted = self.deleted_backup_logs(project);
        for log in self
            .literal_logs
            .iter()
            .filter(|l| l["project_id"] == project)
            .chain(deleted)
        {
            fn text(v: &Value) -> &str {
                v.as_str().unwrap_or("")
            }
            let resource = &log["extra_info"]["resource"];
            let replication = &log["extra_info"]["replication"];
            let created = seed_time(&log["created_at"]).unwrap_or_default();
            if q.matches(&Fields {
                operation_type: text(&log["operation_type"]),
                status: text(&log["status"]),
                provider_id: text(&log["provider_id"]),
                resource_id: text(&resource["id"]),
                resource_name: text(&resource["name"]),
                vault_id: text(&log["vault_id"]),
                vault_name: text(&log["vault_name"]),
                eps: &self.vault_eps(text(&log["vault_id"])),
                created,
                destination: (
                    text(&replication["destination_region"]),
                    text(&replication["destination_project_id"]),
                ),
            }) {
                rows.push((created, Row::Literal(log)));
            }
        }
        for task in self.tasks.iter().filter(|t| t.project_id == project) {
            let vault_name = task.vault.1.as_deref().unwrap_or("");
            if q.matches(&Fields {
                operation_type: task.operation_type(),
                status: task.status(now).0,
                provider_id: task.provider_id,
                resource_id: &task.resource.0,
                resource_name: &task.resource.1,
                vault_id: &task.vault.0,
                vault_name,
                eps: &self.vault_eps(&task.vault.0),
                created: task.started,
                destination: ("", ""),
            }) {
                rows.push((task.started, Row::Task(task)));
            }
        }
        // Newest first; equal times keep the listing's order.
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        let count = rows.len();
        let page: Vec<Value> = q
            .page
            .of(rows)
            .into_iter()
            .map(|(_, row)| match row {
                Row::Backup(b) => self.backup_log(b, now),
                Row::Literal(v) => v.clone(),
                Row::Task(t) => t.render(now),
            })
            .collect();
        Ok(json!({
            "operation_logs": page,
            "count": count,
            "limit": q.page.limit,
            "offset": q.page.offset,
        }))
    }
}

/// One operation log before it is rendered.
enum Row<'a> {
    Backup(&'a Backup),
    Literal(&'a Value),
    Task(&'a super::tasks::Task),
}

/// What ListOpLogs filters an operation log on.
struct Fields<'a> {
    operation_type: &'a str,
    status: &'a str,
    provider_id: &'a str,
    resource_id: &'a str,
    resource_name: &'a str,
    vault_id: &'a str,
    vault_name: &'a str,
    eps: &'a Value,
    created: DateTime<Utc>,
    /// Replication's destination region and project (empty otherwise).
    destination: (&'a str, &'a str),
}

/// A checked ListOpLogs query.
struct LogQuery {
    params: Params,
    page: Page,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl LogQuery {
    /// Checks what upstream constrains: `limit`, `offset`, the
    /// `operation_type` and `status` enums (single values), the strict time
    /// format, `destination_region`'s charset, `enterprise_project_id`.
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let params = Params::parse(raw);
        let page = params.page()?;
        params.one_of("operation_type", OPERATION_TYPES)?;
        params.one_of("status", STATUSES)?;
        params.enterprise_project()?;
        if let Some(region) = params.get("destination_region")
            && (region.len() > 255
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
        {
            return Err(bad("destination_region"));
        }
        let start = params.time("start_time")?;
        let end = params.time("end_time")?;
        Ok(Self {
            params,
            page,
            start,
            end,
        })
    }

    /// Whether a `backup` operation can match at all (so the backups need
    /// not be scanned): none has a replication destination.
    fn may_be_backup(&self) -> bool {
        let q = &self.params;
        q.get("operation_type").is_none_or(|t| t == "backup")
            && q.get("destination_region").is_none()
            && q.get("destination_project_id").is_none()
    }

    fn matches(&self, f: &Fields<'_>) -> bool {
        let q = &self.params;
        let eq = |key: &str, have: &str| q.get(key).is_none_or(|want| want == have);
        eq("operation_type", f.operation_type)
            && eq("status", f.status)
            && eq("provider_id", f.provider_id)
            && eq("resource_id", f.resource_id)
            && eq("resource_name", f.resource_name)
            && eq("vault_id", f.vault_id)
            && eq("vault_name", f.vault_name)
            && eq("destination_region", f.destination.0)
            && eq("destination_project_id", f.destination.1)
            && in_enterprise_project(q.get("enterprise_project_id"), f.eps)
            && self.start.is_none_or(|s| f.created >= s)
            && self.end.is_none_or(|e| f.created <= e)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        lifecycle::DAILY_POLICY,
        seed::{self, BACKUP, PROJECT, SERVER, VAULT},
        store::FAIL_PREFIX,
    };

    fn list(store: &Store, q: &str, now: DateTime<Utc>) -> Value {
        store.list_op_logs(PROJECT, Some(q), now).unwrap()
    }

    fn logs(page: &Value) -> &Vec<Value> {
        page["operation_logs"].as_array().unwrap()
    }

    /// Creates a checkpoint of the example vault named `name`, taking
    /// `takes`; its ID.
    fn create(store: &mut Store, name: &str, now: DateTime<Utc>, takes: Duration) -> String {
        let body = json!({"checkpoint": {"vault_id": VAULT, "parameters": {"name": name}}});
        let cp = store.create_checkpoint(PROJECT, &body, now, takes).unwrap();
        cp["checkpoint"]["id"].as_str().unwrap().to_owned()
    }

    fn log_of<'a>(page: &'a Value, checkpoint: &str) -> &'a Value {
        logs(page)
            .iter()
            .find(|l| l["checkpoint_id"] == checkpoint)
            .unwrap_or_else(|| panic!("no log of {checkpoint}"))
    }

    #[test]
    fn log_ids_map_back_to_their_backups() {
        let log = log_id(BACKUP).unwrap();
        assert_ne!(log, BACKUP);
        assert_eq!(backup_id(&log).as_deref(), Some(BACKUP));
        assert_eq!(log_id("not-a-uuid"), None);
    }

    #[test]
    fn statuses_follow_the_backup() {
        for (backup, log) in [
            ("waiting_protect", "waiting"),
            ("protecting", "running"),
            ("error", "failed"),
            ("available", "success"),
            ("restoring", "success"),
            ("deleting", "success"),
        ] {
            assert_eq!(log_status(backup), log, "{backup}");
        }
        assert!(!terminal("waiting") && !terminal("running"));
        assert!(terminal("success") && terminal("failed"));
    }

    #[test]
    fn a_checkpoint_runs_then_succeeds_and_a_failed_one_says_why() {
        let mut store = seed::store(0);
        let t0 = Utc::now();
        let takes = Duration::from_secs(100);
        let ok = create(&mut store, "nightly", t0, takes);
        let failing = create(&mut store, &format!("{FAIL_PREFIX}-disk"), t0, takes);

        let half = t0 + chrono::Duration::seconds(50);
        let page = list(&store, "operation_type=backup&status=running", half);
        assert_eq!(page["count"], 2);
        for id in [&ok, &failing] {
            let l = log_of(&page, id);
            assert_eq!(l["status"], "running");
            assert_eq!(l["extra_info"]["common"]["progress"], 50);
            assert_eq!(l["ended_at"], Value::Null);
            assert_eq!(l["error_info"], json!({"code": "", "message": ""}));
            assert_eq!(l["updated_at"], TimeStyle::Naive.render(half));
        }

        let after = t0 + chrono::Duration::seconds(101);
        let all = list(&store, "", after);
        let l = log_of(&all, &ok);
        assert_eq!(l["status"], "success");
        assert_eq!(l["operation_type"], "backup");
        assert_eq!(l["extra_info"]["common"]["progress"], 100);
        let end = TimeStyle::Naive.render(t0 + chrono::Duration::seconds(100));
        assert_eq!(l["ended_at"], end.as_str());
        assert_eq!(l["updated_at"], end.as_str());
        assert_eq!(l["vault_id"], VAULT);
        assert_eq!(l["vault_name"], "vault-be94");
        assert_eq!(l["project_id"], PROJECT);
        assert_eq!(l["provider_id"], "0daac4c5-6707-4851-97ba-169e36266b66");
        assert_eq!(l["policy_id"], Value::Null, "a manual backup");
        assert_eq!(l["extra_info"]["resource"]["id"], SERVER);
        assert_eq!(l["extra_info"]["resource"]["name"], "ecs-1f0f-0002");
        assert_eq!(l["extra_info"]["resource"]["type"], "OS::Nova::Server");
        let backup = &l["extra_info"]["backup"];
        assert_eq!(backup["backup_name"], "nightly");
        assert_eq!(backup["incremental"], "true", "a string");
        assert_eq!(backup["app_consistency_status"], "0");
        assert!(
            l["extra_info"]["common"]["request_id"]
                .as_str()
                .unwrap()
                .starts_with("req-")
        );
        // The log names the checkpoint's backup, and is found by its ID.
        let backup_id = backup["backup_id"].as_str().unwrap();
        assert_eq!(store.backups[backup_id].checkpoint_id, ok);
        let shown = store
            .show_op_log(PROJECT, l["id"].as_str().unwrap(), after)
            .unwrap();
        assert_eq!(&shown["operation_log"], l);

        let l = log_of(&all, &failing);
        assert_eq!(l["status"], "failed");
        assert_eq!(
            l["error_info"],
            json!({"code": "BackupService.6215", "message": "Backup is not allowed in the current resource status."})
        );
        assert!(l["ended_at"].is_string());
        let failed = list(&store, "status=failed", after);
        assert!(logs(&failed).iter().all(|l| l["status"] == "failed"));
        assert!(
            logs(&failed)
                .iter()
                .any(|l| l["checkpoint_id"] == failing.as_str())
        );
    }

    #[test]
    fn one_log_per_resource_and_policy_backups_name_their_policy() {
        let mut store = seed::store(0);
        let now = Utc::now();
        let (fleet_vault, resources) = store
            .vaults
            .values()
            .find(|v| v.name == "vault-servers-prod")
            .map(|v| (v.id.clone(), v.resources.len()))
            .unwrap();
        let body =
            json!({"checkpoint": {"vault_id": fleet_vault, "parameters": {"auto_trigger": true}}});
        let cp = store
            .create_checkpoint(PROJECT, &body, now, Duration::ZERO)
            .unwrap();
        let id = cp["checkpoint"]["id"].as_str().unwrap();
        let page = list(&store, &format!("vault_id={fleet_vault}"), now);
        let mine: Vec<&Value> = logs(&page)
            .iter()
            .filter(|l| l["checkpoint_id"] == id)
            .collect();
        assert_eq!(mine.len(), resources);
        let mut resource_ids: Vec<&str> = mine
            .iter()
            .map(|l| l["extra_info"]["resource"]["id"].as_str().unwrap())
            .collect();
        resource_ids.sort_unstable();
        resource_ids.dedup();
        assert_eq!(resource_ids.len(), resources, "one log per resource");
        assert!(mine.iter().all(|l| l["policy_id"] == DAILY_POLICY));
    }

    #[test]
    fn logs_go_with_their_evicted_backups() {
        let mut store = seed::store(0);
        let now = Utc::now();
        let first = create(&mut store, "first", now, Duration::ZERO);
        let log = log_of(&list(&store, "", now), &first)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(store.show_op_log(PROJECT, &log, now).is_ok());
        for _ in 0..crate::store::MAX_CREATED {
            create(&mut store, "more", now, Duration::ZERO);
        }
        assert_eq!(
            store.show_op_log(PROJECT, &log, now).unwrap_err().code,
            "BackupService.6500"
        );
        let all = list(&store, "operation_type=backup", now);
        assert!(
            logs(&all)
                .iter()
                .all(|l| l["checkpoint_id"] != first.as_str()),
            "gone from the list too"
        );
        assert_eq!(
            all["count"].as_u64(),
            Some(crate::store::MAX_CREATED as u64 + 2),
            "the kept ones, the seeded backup's and the documents' example"
        );
    }

    #[test]
    fn every_filter_applies_newest_first_and_count_is_every_match() {
        // A fleet large enough to hold every backup status.
        let store = seed::store(600);
        let now = Utc::now();
        let all = list(&store, "", now);
        let seeded = store.literal_logs.len();
        assert_eq!(seeded, 7);
        assert_eq!(all["count"].as_u64(), Some(601 + seeded as u64));
        assert_eq!(
            (all["limit"].as_u64(), all["offset"].as_u64()),
            (Some(1000), Some(0))
        );
        let created: Vec<DateTime<Utc>> = logs(&all)
            .iter()
            .map(|l| seed_time(&l["created_at"]).unwrap())
            .collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");

        let page = list(&store, "limit=5&offset=3", now);
        assert_eq!(page["count"], all["count"]);
        assert_eq!(logs(&page)[..], logs(&all)[3..8]);

        // Every filter keeps exactly the matching logs.
        let check = |q: &str, keep: &dyn Fn(&Value) -> bool| {
            let page = list(&store, q, now);
            let want: Vec<&Value> = logs(&all).iter().filter(|l| keep(l)).collect();
            assert!(!want.is_empty(), "{q} matches something");
            assert_eq!(page["count"].as_u64(), Some(want.len() as u64), "{q}");
            assert_eq!(logs(&page).iter().collect::<Vec<_>>(), want, "{q}");
        };
        check("operation_type=backup", &|l| {
            l["operation_type"] == "backup"
        });
        check("operation_type=vault_delete", &|l| {
            l["operation_type"] == "vault_delete"
        });
        check("status=failed", &|l| l["status"] == "failed");
        check("status=running", &|l| l["status"] == "running");
        check("status=waiting", &|l| l["status"] == "waiting");
        check("provider_id=d1603440-187d-4516-af25-121250c7cc97", &|l| {
            l["provider_id"] == "d1603440-187d-4516-af25-121250c7cc97"
        });
        check(&format!("resource_id={SERVER}"), &|l| {
            l["extra_info"]["resource"]["id"] == SERVER
        });
        check("resource_name=ECS-0001", &|l| {
            l["extra_info"]["resource"]["name"] == "ECS-0001"
        });
        check(&format!("vault_id={VAULT}"), &|l| l["vault_id"] == VAULT);
        check("vault_name=vault-volumes", &|l| {
            l["vault_name"] == "vault-volumes"
        });
        check("destination_region=region2", &|l| {
            l["extra_info"]["replication"]["destination_region"] == "region2"
        });
        check(
            "destination_project_id=68589cac08274b82b4e254268a3862d8",
            &|l| l["operation_type"] == "replication",
        );
        check("enterprise_project_id=0", &|_| true);
        check("enterprise_project_id=all_granted_eps", &|_| true);
        check(
            "start_time=2019-05-23T00:00:00Z&end_time=2019-05-24T00:00:00Z",
            &|l| l["id"] == DOCUMENTED_LOG,
        );
        check("start_time=2026-01-01T00:00:00Z", &|l| {
            seed_time(&l["created_at"]).unwrap()
                >= DateTime::from_timestamp(1_767_225_600, 0).unwrap()
        });
        check(
            &format!("operation_type=backup&status=success&vault_id={VAULT}&limit=1"),
            &|l| l["id"] == log_id(BACKUP).unwrap().as_str(),
        );
        assert_eq!(list(&store, "enterprise_project_id=other", now)["count"], 0);
        assert_eq!(list(&store, "resource_id=nope", now)["count"], 0);
        assert_eq!(list(&store, "unknown_parameter=1", now), all);
        assert_eq!(
            store.list_op_logs("other", None, now).unwrap()["count"],
            0,
            "another project has none"
        );
    }

    #[test]
    fn bad_values_are_9900() {
        let store = seed::store(0);
        let now = Utc::now();
        for bad in [
            "limit=0",
            "limit=1001",
            "offset=-1",
            "operation_type=snapshot",
            "status=ok",
            "status=success,failed",
            "start_time=2019-01-01",
            "end_time=2019-01-01T00:00:00",
            "enterprise_project_id=",
            "destination_region=a%20b",
        ] {
            let e = store.list_op_logs(PROJECT, Some(bad), now).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "BackupService.9900"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_seeded_logs_show_every_variant_as_documented() {
        let store = seed::store(0);
        let now = Utc::now();
        let shown = store.show_op_log(PROJECT, DOCUMENTED_LOG, now).unwrap();
        let want: Value = serde_json::from_str(
            r#"{"checkpoint_id":"b432511f-d889-428f-8b0e-5f47c524c6b6",
              "created_at":"2019-05-23T14:31:36.039365","ended_at":"2019-05-23T14:35:23.511155",
              "error_info":{"code":"","message":""},
              "extra_info":{"backup":{"backup_id":"0e5d0ef6-7f0a-4890-b98c-cb12490e31c1","backup_name":"manualbk_backup"},
                            "common":{"progress":100,"request_id":"req-cdb98cc4-e87b-4f40-9b4a-57ec036620bc"},
                            "resource":{"id":"1dab32fa-ebf2-415a-ab0b-eabe6353bc86","name":"ECS-0001","type":"OS::Nova::Server"}},
              "id":"4827f2da-b008-4507-ab7d-42d0df5ed912","operation_type":"backup","policy_id":null,
              "project_id":"4229d7a45436489f8c3dc2b1d35d4987","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
              "started_at":"2019-05-23T14:31:36.007230","status":"success","updated_at":"2019-05-23T14:35:23.584418",
              "vault_id":null,"vault_name":null}"#,
        )
        .unwrap();
        assert_eq!(shown["operation_log"], want);
        for (kind, variant) in [
            ("restore", "restore"),
            ("delete", "delete"),
            ("vault_delete", "vault_delete"),
            ("replication", "replication"),
            ("sync", "sync"),
            ("remove_resource", "remove_resources"),
        ] {
            let page = list(&store, &format!("operation_type={kind}"), now);
            assert_eq!(page["count"], 1, "{kind}");
            let l = &logs(&page)[0];
            assert!(l["extra_info"][variant].is_object(), "{kind}");
            assert!(l["extra_info"]["common"]["progress"].is_number(), "{kind}");
            assert!(l["extra_info"]["resource"]["id"].is_string(), "{kind}");
            for field in [
                "id",
                "project_id",
                "status",
                "created_at",
                "started_at",
                "updated_at",
                "provider_id",
            ] {
                assert!(l[field].is_string(), "{kind}.{field}");
            }
            for field in [
                "ended_at",
                "checkpoint_id",
                "policy_id",
                "vault_id",
                "vault_name",
            ] {
                assert!(l.get(field).is_some(), "{kind}.{field}");
            }
            assert_eq!(
                terminal(l["status"].as_str().unwrap()),
                l["ended_at"].is_string(),
                "{kind}: ended_at once terminal"
            );
        }
        let e = store.show_op_log(PROJECT, "nope", now).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code, e.message.as_str()),
            (404, "BackupService.6500", "Operation log does not exist.")
        );
        assert_eq!(
            store
                .show_op_log("other", DOCUMENTED_LOG, now)
                .unwrap_err()
                .code,
            "BackupService.6500"
        );
    }
}
