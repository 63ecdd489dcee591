//! RestoreBackup and DeleteBackup (LIFECYCLE.md §3, §4): upstream accepts
//! them at once and finishes later.
//!
//! * A restore answers 202 — with `{"job_id": …}` (what terraform reads) or
//!   no body at all (what the documents say), per
//!   [`crate::SimulatorSettings::restore_job_id`]. The backup shows
//!   `restoring` for the restore's duration, then `available` again; its
//!   `restore` operation log runs (`running`, progress rising) to `success`,
//!   or to `failed` with `BackupService.2008` (a disk: `2011`) when the
//!   target's ID starts with `sim-error`. A resource is restored once at a time (2010), and
//!   not while one of its backups is being taken (2002).
//! * A delete answers 204 with no body. The backup (with its disk backups)
//!   shows `deleting` for the deletion's duration, then is gone (404
//!   `BackupService.6200`); a checkpoint whose last backup went is gone too
//!   (404 `BackupService.6217`). Its `delete` operation log runs to `success`
//!   and stays listed.
//!
//! As everywhere in the simulator nothing runs in the background: statuses
//! are computed from the clock when read, and a deletion that has ended is
//! swept from the store by the next request ([`Store::sweep`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{
    error::ApiError,
    model::{Backup, Busy, ResourceKind, TimeStyle},
    store::{FAIL_PREFIX, Store},
};

/// Most restores and deletions remembered (their operation logs): a loop of
/// requests must not grow the simulator without bound. The oldest finished
/// ones go first.
pub const MAX_TASKS: usize = 10_000;

/// The `error_info` of a restore the simulator fails, by what it restores
/// (LIFECYCLE.md §3.6): a server's status does not allow it (2008), a
/// disk's (2011); other targets fail as servers do.
fn restore_failure(kind: ResourceKind) -> (&'static str, &'static str) {
    match kind {
        ResourceKind::Volume => (
            "BackupService.2011",
            "The disk status does not allow restoration.",
        ),
        ResourceKind::Server | ResourceKind::SfsTurbo => (
            "BackupService.2008",
            "The ECS status does not allow restoration.",
        ),
    }
}

/// Restore or deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// `restore`.
    Restore,
    /// `delete`.
    Delete,
}

/// One restore or deletion upstream accepted, and everything its operation
/// log shows (kept after the backup is gone).
#[derive(Debug, Clone)]
pub struct Task {
    /// Operation log ID (a restore's `job_id`).
    pub id: String,
    /// Restore or deletion.
    pub kind: TaskKind,
    /// Project.
    pub project_id: String,
    /// The backup.
    pub backup_id: String,
    /// Its name.
    pub backup_name: String,
    /// Its checkpoint.
    pub checkpoint_id: String,
    /// Its vault, and the vault's name.
    pub vault: (String, Option<String>),
    /// Its provider.
    pub provider_id: &'static str,
    /// The backed-up resource: ID, name, kind.
    pub resource: (String, String, ResourceKind),
    /// What a restore writes to: ID and name.
    pub target: (String, String),
    /// When upstream accepted it.
    pub started: DateTime<Utc>,
    /// How long it runs.
    pub duration: Duration,
    /// Whether it ends `failed`.
    pub fails: bool,
    /// A deletion's: the backup's own `backup` operation log as it had
    /// ended, listed on once the backup is gone. Upstream keeps a deleted
    /// backup's operation logs (its list is a history, not an inventory);
    /// the simulator renders that log from the backup, so it keeps the last
    /// rendering here, bounded with the tasks ([`MAX_TASKS`]).
    pub backup_log: Option<Value>,
}

impl Task {
    /// When it ends.
    pub fn ends(&self) -> DateTime<Utc> {
        self.started + chrono::Duration::from_std(self.duration).unwrap_or_default()
    }

    /// Its operation log's status and progress at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> (&'static str, i64) {
        if now >= self.ends() {
            return if self.fails {
                // A restore that fails gets some way first.
                ("failed", 30)
            } else {
                ("success", 100)
            };
        }
        let elapsed = (now - self.started).to_std().unwrap_or_default();
        let pct = elapsed.as_millis() * 100 / self.duration.as_millis().max(1);
        ("running", i64::try_from(pct).unwrap_or(99).min(99))
    }

    /// Upstream `operation_type`.
    pub fn operation_type(&self) -> &'static str {
        match self.kind {
            TaskKind::Restore => "restore",
            TaskKind::Delete => "delete",
        }
    }

    /// Its operation log at `now` (times in the naive style of every log).
    pub fn render(&self, now: DateTime<Utc>) -> Value {
        let (status, progress) = self.status(now);
        let done = status != "running";
        let ts = |t: DateTime<Utc>| TimeStyle::Naive.render(t);
        let error_info = if status == "failed" {
            let (code, message) = restore_failure(self.resource.2);
            json!({"code": code, "message": message})
        } else {
            json!({"code": "", "message": ""})
        };
        let mut extra = json!({
            "common": {
                "progress": progress,
                "request_id": format!("req-{}", self.id),
                "task_id": format!("task-{}", self.id),
            },
            "resource": {
                "id": self.resource.0,
                "name": self.resource.1,
                "type": self.resource.2.type_name(),
                "extra_info": {"exclude_volumes": [], "include_volumes": []},
            },
        });
        match self.kind {
            TaskKind::Restore => {
                extra["restore"] = json!({
                    "backup_id": self.backup_id,
                    "backup_name": self.backup_name,
                    "target_resource_id": self.target.0,
                    "target_resource_name": self.target.1,
                });
            }
            TaskKind::Delete => {
                extra["delete"] = json!({
                    "backup_id": self.backup_id,
                    "backup_name": self.backup_name,
                });
            }
        }
        json!({
            "id": self.id,
            "project_id": self.project_id,
            "operation_type": self.operation_type(),
            "status": status,
            "checkpoint_id": self.checkpoint_id,
            "policy_id": null,
            "provider_id": self.provider_id,
            "vault_id": self.vault.0,
            "vault_name": self.vault.1,
            "created_at": ts(self.started),
            "started_at": ts(self.started),
            "updated_at": ts(if done { self.ends() } else { now }),
            "ended_at": done.then(|| ts(self.ends())),
            "error_info": error_info,
            "extra_info": extra,
        })
    }
}

/// A restore body's target, as upstream checks it (§3.1-§3.2).
fn restore_target(b: &Backup, restore: &Value, children: &[String]) -> Result<String, ApiError> {
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match &restore[key] {
            Value::Null => Ok(None),
            Value::String(s) if !s.is_empty() && s.len() <= 64 => Ok(Some(s.clone())),
            _ => Err(ApiError::parameter(&format!("restore.{key} is invalid."))),
        }
    };
    if !matches!(restore["power_on"], Value::Null | Value::Bool(_)) {
        return Err(ApiError::parameter("restore.power_on must be a boolean."));
    }
    // `details` (file backups, §3.1) is checked for its shape only: no
    // backup of the simulator is restored by path.
    match &restore["details"] {
        Value::Null => {}
        Value::Object(d)
            if d.get("destination_path")
                .and_then(Value::as_str)
                .is_some_and(|p| (1..=255).contains(&p.chars().count())) => {}
        _ => {
            return Err(ApiError::parameter(
                "restore.details.destination_path is invalid.",
            ));
        }
    }
    let (server, volume, resource) = (text("server_id")?, text("volume_id")?, text("resource_id")?);
    match b.kind {
        ResourceKind::Server => {
            let server =
                server.ok_or_else(|| ApiError::parameter("restore.server_id is required."))?;
            let mappings = restore["mappings"]
                .as_array()
                .filter(|m| !m.is_empty())
                .ok_or_else(|| ApiError::parameter("restore.mappings is required."))?;
            for m in mappings {
                let (Some(backup), Some(volume)) =
                    (m["backup_id"].as_str(), m["volume_id"].as_str())
                else {
                    return Err(ApiError::parameter(
                        "restore.mappings need backup_id and volume_id.",
                    ));
                };
                // A mapping restores one of this backup's disk backups.
                if !children.iter().any(|c| c == backup) || volume.is_empty() {
                    return Err(ApiError::parameter(&format!(
                        "restore.mappings: {backup} is not a disk backup of {}.",
                        b.id
                    )));
                }
            }
            Ok(server)
        }
        ResourceKind::Volume => {
            volume.ok_or_else(|| ApiError::parameter("restore.volume_id is required."))
        }
        // SFS Turbo backups are restored by creating a new file system, not
        // through this API (§3.2); other kinds name their target.
        ResourceKind::SfsTurbo => {
            resource.ok_or_else(|| ApiError::parameter("restore.resource_id is required."))
        }
    }
}

impl Store {
    /// Upstream's RestoreBackup: `Ok(job_id)` once accepted.
    pub fn restore_backup(
        &mut self,
        project: &str,
        backup_id: &str,
        body: &Value,
        now: DateTime<Utc>,
        duration: Duration,
    ) -> Result<String, ApiError> {
        let restore = body
            .get("restore")
            .filter(|r| r.is_object())
            .ok_or_else(|| ApiError::parameter("restore is required."))?;
        let b = self
            .backups
            .get(backup_id)
            .filter(|b| b.project_id == project && b.parent_id.is_none())
            .ok_or_else(|| ApiError::backup_not_found(backup_id))?;
        match b.state(now).0 {
            "available" => {}
            "restoring" => return Err(ApiError::restoring(&b.resource_id)),
            _ => return Err(ApiError::restore_not_allowed()),
        }
        let target = restore_target(b, restore, &b.children)?;
        // Upstream restores one resource at a time (2010, "Concurrent data
        // restoration is not supported") and not while it is being backed
        // up (2002), whichever of its backups is involved.
        let siblings = || {
            self.listing
                .iter()
                .filter_map(|id| self.backups.get(id))
                .filter(|o| o.project_id == project && o.resource_id == b.resource_id)
                .map(|o| o.state(now).0)
        };
        if siblings().any(|s| s == "restoring") {
            return Err(ApiError::restoring(&b.resource_id));
        }
        if siblings().any(|s| matches!(s, "protecting" | "waiting_protect")) {
            return Err(ApiError::being_backed_up());
        }
        let mut task = self.task_on(b, TaskKind::Restore, now, duration);
        task.fails = target.starts_with(FAIL_PREFIX);
        // The simulator knows no names but its resources': restored onto
        // itself, the target is named as the resource is; elsewhere, by its ID.
        let target_name = if target == b.resource_id {
            b.resource_name.clone()
        } else {
            target.clone()
        };
        task.target = (target, target_name);
        let busy = Busy {
            status: "restoring",
            until: task.ends(),
        };
        if let Some(b) = self.backups.get_mut(backup_id) {
            b.busy = Some(busy);
        }
        let id = task.id.clone();
        self.push_task(task, now);
        Ok(id)
    }

    /// Upstream's DeleteBackup: `Ok(())` once accepted.
    ///
    /// A backup already being deleted, or being restored, is refused with
    /// 400 `BackupService.6201` ("cannot be deleted"): upstream documents no
    /// "already deleting" answer, and a client tells the cases apart by the
    /// backup's status.
    pub fn delete_backup(
        &mut self,
        project: &str,
        backup_id: &str,
        now: DateTime<Utc>,
        duration: Duration,
    ) -> Result<(), ApiError> {
        let b = self
            .backups
            .get(backup_id)
            .filter(|b| b.project_id == project && b.parent_id.is_none())
            .ok_or_else(|| ApiError::backup_not_found(backup_id))?;
        if !matches!(b.state(now).0, "available" | "error") {
            return Err(ApiError::cannot_delete(backup_id));
        }
        let mut task = self.task_on(b, TaskKind::Delete, now, duration);
        // Only an `available` or `error` backup gets here, so its log has
        // ended and this rendering is final.
        task.backup_log = Some(self.backup_log(b, now));
        let busy = Busy {
            status: "deleting",
            until: task.ends(),
        };
        let children = b.children.clone();
        for id in std::iter::once(backup_id).chain(children.iter().map(String::as_str)) {
            if let Some(b) = self.backups.get_mut(id) {
                b.busy = Some(busy.clone());
            }
        }
        self.push_task(task, now);
        Ok(())
    }

    /// A task of `kind` on backup `b`, starting `now`, with no target yet.
    fn task_on(&self, b: &Backup, kind: TaskKind, now: DateTime<Utc>, duration: Duration) -> Task {
        Task {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            project_id: b.project_id.clone(),
            backup_id: b.id.clone(),
            backup_name: b.name.clone(),
            checkpoint_id: b.checkpoint_id.clone(),
            vault: (
                b.vault_id.clone(),
                self.vaults.get(&b.vault_id).map(|v| v.name.clone()),
            ),
            provider_id: b.provider_id,
            resource: (b.resource_id.clone(), b.resource_name.clone(), b.kind),
            target: (String::new(), String::new()),
            fails: false,
            backup_log: None,
            started: now,
            duration,
        }
    }

    fn push_task(&mut self, task: Task, now: DateTime<Utc>) {
        if self.tasks.len() >= MAX_TASKS {
            // The oldest finished one (tasks are in start order).
            if let Some(at) = self.tasks.iter().position(|t| now >= t.ends()) {
                self.tasks.remove(at);
            }
        }
        self.tasks.push(task);
    }

    /// Whether a deletion has ended and its backup is still stored.
    pub fn sweep_due(&self, now: DateTime<Utc>) -> bool {
        self.tasks.iter().any(|t| {
            t.kind == TaskKind::Delete && now >= t.ends() && self.backups.contains_key(&t.backup_id)
        })
    }

    /// Removes the backups whose deletion has ended (with their disk
    /// backups), and the checkpoints left without backups.
    pub fn sweep(&mut self, now: DateTime<Utc>) {
        let gone: Vec<String> = self
            .tasks
            .iter()
            .filter(|t| t.kind == TaskKind::Delete && now >= t.ends() && !t.fails)
            .map(|t| t.backup_id.clone())
            .filter(|id| self.backups.contains_key(id))
            .collect();
        for id in &gone {
            let Some(b) = self.backups.remove(id) else {
                continue;
            };
            for child in &b.children {
                self.backups.remove(child);
            }
            self.listing.retain(|l| l != id);
            if let Some(cp) = self.checkpoints.get_mut(&b.checkpoint_id) {
                cp.resources.retain(|(_, top)| top != id);
                if cp.resources.is_empty() {
                    self.checkpoints.remove(&b.checkpoint_id);
                }
            }
        }
    }

    /// The `backup` operation logs of backups deleted from `project`.
    pub fn deleted_backup_logs<'a>(&'a self, project: &'a str) -> impl Iterator<Item = &'a Value> {
        self.tasks
            .iter()
            .filter(move |t| t.project_id == project && !self.backups.contains_key(&t.backup_id))
            .filter_map(|t| t.backup_log.as_ref())
    }

    /// The restore or deletion whose operation log is `id`, in `project`.
    pub fn task(&self, project: &str, id: &str) -> Option<&Task> {
        self.tasks
            .iter()
            .find(|t| t.id == id && t.project_id == project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn restore_body(target: &str) -> Value {
        json!({"restore": {"server_id": target, "mappings": [
            {"backup_id": seed::CHILD_BACKUP, "volume_id": "v-1"}]}})
    }

    #[test]
    fn a_restore_shows_restoring_then_available_and_its_log_runs_to_the_end() {
        let mut store = seed::store(0);
        let t0 = Utc::now();
        let mut body = restore_body(seed::SERVER);
        body["restore"]["details"] = json!({"destination_path": "/data"});
        let id = store
            .restore_backup(seed::PROJECT, seed::BACKUP, &body, t0, ms(1000))
            .unwrap();
        let b = &store.backups[seed::BACKUP];
        assert_eq!(
            b.state(t0 + chrono::Duration::milliseconds(500)).0,
            "restoring"
        );
        assert_eq!(
            b.state(t0 + chrono::Duration::milliseconds(1000)).0,
            "available"
        );
        let task = store.task(seed::PROJECT, &id).unwrap();
        assert_eq!(
            task.status(t0 + chrono::Duration::milliseconds(500)),
            ("running", 50)
        );
        let done = task.render(t0 + chrono::Duration::seconds(2));
        assert_eq!(done["status"], "success");
        assert_eq!(
            done["extra_info"]["restore"]["target_resource_id"],
            seed::SERVER
        );
        assert_eq!(done["extra_info"]["common"]["progress"], 100);
        assert!(done["ended_at"].is_string());
        // A second restore while it runs: 2010.
        let again = store
            .restore_backup(
                seed::PROJECT,
                seed::BACKUP,
                &restore_body(seed::SERVER),
                t0 + chrono::Duration::milliseconds(10),
                ms(1000),
            )
            .unwrap_err();
        assert_eq!(again.code, "BackupService.2010");
    }

    #[test]
    fn restores_are_checked_as_upstream_checks_them() {
        let mut store = seed::store(0);
        let now = Utc::now();
        let mut code = |body: Value, id: &str| {
            store
                .restore_backup(seed::PROJECT, id, &body, now, ms(10))
                .unwrap_err()
                .code
        };
        assert_eq!(code(json!({}), seed::BACKUP), "BackupService.9900");
        assert_eq!(
            code(json!({"restore": {"server_id": "s"}}), seed::BACKUP),
            "BackupService.9900"
        );
        assert_eq!(
            code(
                json!({"restore": {"server_id": "s", "mappings": [{"backup_id": "x", "volume_id": "v"}]}}),
                seed::BACKUP
            ),
            "BackupService.9900"
        );
        for details in [json!("/data"), json!({}), json!({"destination_path": ""})] {
            let mut body = restore_body("s");
            body["restore"]["details"] = details;
            assert_eq!(code(body, seed::BACKUP), "BackupService.9900");
        }
        assert_eq!(code(restore_body("s"), "nope"), "BackupService.6200");
        assert_eq!(
            code(restore_body("s"), seed::CHILD_BACKUP),
            "BackupService.6200"
        );
    }

    #[test]
    fn a_deleted_backup_goes_with_its_disks_and_its_checkpoint_and_its_log_stays() {
        let mut store = seed::store(0);
        let t0 = Utc::now();
        let cp = store.backups[seed::BACKUP].checkpoint_id.clone();
        store
            .delete_backup(seed::PROJECT, seed::BACKUP, t0, ms(100))
            .unwrap();
        assert_eq!(
            store.backups[seed::CHILD_BACKUP].state(t0).0,
            "deleting",
            "its disks too"
        );
        let again = store
            .delete_backup(seed::PROJECT, seed::BACKUP, t0, ms(100))
            .unwrap_err();
        assert_eq!(again.code, "BackupService.6201");
        let later = t0 + chrono::Duration::milliseconds(100);
        assert!(!store.sweep_due(t0));
        assert!(store.sweep_due(later));
        store.sweep(later);
        assert!(!store.backups.contains_key(seed::BACKUP));
        assert!(!store.backups.contains_key(seed::CHILD_BACKUP));
        let only_backup = !store.checkpoints.contains_key(&cp);
        assert!(
            only_backup
                || store.checkpoints[&cp]
                    .resources
                    .iter()
                    .all(|(_, b)| b != seed::BACKUP)
        );
        let log = store.tasks.last().unwrap().render(later);
        assert_eq!(
            (log["operation_type"].as_str(), log["status"].as_str()),
            (Some("delete"), Some("success"))
        );
        assert_eq!(log["extra_info"]["delete"]["backup_id"], seed::BACKUP);
    }

    #[test]
    fn a_resource_is_restored_once_at_a_time_and_not_while_backed_up() {
        let mut store = seed::store(0);
        let t0 = Utc::now();
        // A second backup of the example server, being taken for a second.
        let body = json!({"checkpoint": {"vault_id": seed::VAULT}});
        let cp = store
            .create_checkpoint(seed::PROJECT, &body, t0, Duration::from_secs(1))
            .unwrap();
        let cp = cp["checkpoint"]["id"].as_str().unwrap().to_owned();
        let (_, second) = store.checkpoints[&cp].resources[0].clone();
        let second_disk = store.backups[&second].children[0].clone();
        let restore = |disk: &str| {
            json!({"restore": {"server_id": seed::SERVER, "mappings": [
                {"backup_id": disk, "volume_id": "v-1"}]}})
        };
        let refused = store
            .restore_backup(
                seed::PROJECT,
                seed::BACKUP,
                &restore_body(seed::SERVER),
                t0,
                ms(1000),
            )
            .unwrap_err();
        assert_eq!(refused.code, "BackupService.2002");
        assert_eq!(refused.status, http::StatusCode::BAD_REQUEST);
        // Taken: the first backup is restored, and the resource shows it.
        let t1 = t0 + chrono::Duration::seconds(1);
        store
            .restore_backup(
                seed::PROJECT,
                seed::BACKUP,
                &restore_body(seed::SERVER),
                t1,
                ms(1000),
            )
            .unwrap();
        let vault = store.show_vault(seed::PROJECT, seed::VAULT, t1).unwrap();
        assert_eq!(
            vault["vault"]["resources"][0]["protect_status"],
            "restoring"
        );
        // The second backup of the same server must wait for it.
        let busy = store
            .restore_backup(seed::PROJECT, &second, &restore(&second_disk), t1, ms(1000))
            .unwrap_err();
        assert_eq!(busy.code, "BackupService.2010");
        assert_eq!(
            busy.message,
            format!("Resource {} is restoring.", seed::SERVER)
        );
        let t2 = t1 + chrono::Duration::seconds(1);
        store
            .restore_backup(seed::PROJECT, &second, &restore(&second_disk), t2, ms(1000))
            .unwrap();
        let vault = store
            .show_vault(
                seed::PROJECT,
                seed::VAULT,
                t2 + chrono::Duration::seconds(1),
            )
            .unwrap();
        assert_eq!(
            vault["vault"]["resources"][0]["protect_status"],
            "available"
        );
    }

    #[test]
    fn a_deleted_backups_own_log_is_still_listed_and_shown() {
        let mut store = seed::store(0);
        let t0 = Utc::now();
        let log_id = crate::lifecycle::operation_logs::log_id(seed::BACKUP).unwrap();
        let before = store.show_op_log(seed::PROJECT, &log_id, t0).unwrap();
        store
            .delete_backup(seed::PROJECT, seed::BACKUP, t0, ms(100))
            .unwrap();
        let later = t0 + chrono::Duration::seconds(1);
        store.sweep(later);
        assert!(!store.backups.contains_key(seed::BACKUP));
        let after = store.show_op_log(seed::PROJECT, &log_id, later).unwrap();
        assert_eq!(after, before, "as it had ended");
        assert_eq!(after["operation_log"]["status"], "success");
        let q = format!("operation_type=backup&resource_id={}", seed::SERVER);
        let listed = store.list_op_logs(seed::PROJECT, Some(&q), later).unwrap();
        let ids: Vec<&Value> = listed["operation_logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| &l["id"])
            .collect();
        assert_eq!(ids.iter().filter(|i| **i == &log_id).count(), 1, "{ids:?}");
        // Filtered out like any other log.
        let failed = store
            .list_op_logs(
                seed::PROJECT,
                Some("operation_type=backup&status=failed"),
                later,
            )
            .unwrap();
        assert!(
            failed["operation_logs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["id"] != log_id.as_str())
        );
        // Another project does not see it.
        assert!(store.show_op_log("other", &log_id, later).is_err());
    }

    #[test]
    fn a_restore_onto_a_sim_error_target_fails_with_2008() {
        let mut store = seed::store(0);
        let t0 = Utc::now();
        let id = store
            .restore_backup(
                seed::PROJECT,
                seed::BACKUP,
                &restore_body("sim-error-1"),
                t0,
                ms(10),
            )
            .unwrap();
        let log = store
            .task(seed::PROJECT, &id)
            .unwrap()
            .render(t0 + chrono::Duration::seconds(1));
        assert_eq!(log["status"], "failed");
        assert_eq!(log["error_info"]["code"], "BackupService.2008");
        assert_eq!(
            store.backups[seed::BACKUP]
                .state(t0 + chrono::Duration::seconds(1))
                .0,
            "available"
        );
    }
}
