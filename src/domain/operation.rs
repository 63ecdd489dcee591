//! Restores and deletions as long-running operations (AIP-151, contract §9):
//! the checks of RestoreBackup, DeleteBackup and the `Operations` calls, the
//! operation names, and how upstream's state reads as an operation.
//!
//! A name is `projects/{project_id}/operations/{id}`, and the id says where
//! upstream keeps the operation's state, so that any replica, before or after
//! a restart, answers for it the same way — nothing the gateway keeps is the
//! source of truth:
//!
//! | id | what it follows |
//! |---|---|
//! | `restore.{operation_log_id}` | a restore whose operation log upstream gave (`job_id`) or listed |
//! | `restore.{backup_id}.{unix_seconds}` | a restore upstream accepted without a `job_id`: the first `restore` operation log of that backup since then (LIFECYCLE.md §3.5) |
//! | `delete.{backup_id}` | a deletion: the backup until it is gone, and its `delete` operation log when it fails (§4.2) |
//!
//! Identifiers follow the gateway's one rule (`[A-Za-z0-9_-]{1,64}`), so no
//! `.` can appear inside one and the parts split unambiguously.

use std::fmt;

use uuid::Uuid;

use super::{
    Checker, MAX_TEXT, MAX_VOLUMES, ValidationError, enums, is_valid_id, project, request_id,
};
use crate::{
    proto::{self as pb, google::longrunning as lro},
    upstream::{OperationLogQuery, dto},
};

/// How long after a restore without `job_id` its operation log may take to
/// appear before the operation is reported lost. Upstream queues tasks; a
/// log that has not appeared in this long is not coming.
pub const RESTORE_LOG_GRACE_SECONDS: i64 = 600;

/// How far before the restore request its operation log's `start_time` filter
/// reaches: the gateway's clock and upstream's differ, and upstream filters
/// by whole seconds.
pub(super) const RESTORE_LOG_SLACK_SECONDS: i64 = 120;

/// Most operations one ListOperations page holds (AIP-158's usual cap; the
/// upstream page it reads is no larger).
pub(super) const MAX_OPERATIONS_PAGE: i32 = 100;

/// What an operation follows upstream (the id part of its name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OperationId {
    /// A restore, by its operation log.
    RestoreLog(String),
    /// A restore accepted without a `job_id`: found again as the first
    /// `restore` log of `backup_id` since `since` (Unix seconds).
    RestoreSince {
        /// The restored backup.
        backup_id: String,
        /// When the gateway sent the restore.
        since: i64,
    },
    /// A backup's deletion.
    Delete(String),
}

impl OperationId {
    /// RESTORE or DELETE.
    pub fn kind(&self) -> pb::OperationType {
        match self {
            OperationId::RestoreLog(_) | OperationId::RestoreSince { .. } => {
                pb::OperationType::Restore
            }
            OperationId::Delete(_) => pb::OperationType::Delete,
        }
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperationId::RestoreLog(log) => write!(f, "restore.{log}"),
            OperationId::RestoreSince { backup_id, since } => {
                write!(f, "restore.{backup_id}.{since}")
            }
            OperationId::Delete(backup) => write!(f, "delete.{backup}"),
        }
    }
}

/// A parsed operation name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperationName {
    /// The project.
    pub project_id: String,
    /// What it follows.
    pub id: OperationId,
    /// The region, written `@{region}` after the id, when it is not the
    /// gateway's default: a name alone then finds its region, even through
    /// Google's `Operations` requests, which have no region field.
    pub region: Option<String>,
}

impl fmt::Display for OperationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/operations/{}", self.project_id, self.id)?;
        match &self.region {
            Some(region) => write!(f, "@{region}"),
            None => Ok(()),
        }
    }
}

/// The form every name takes, for error messages.
const NAME_FORM: &str = "must be projects/{project_id}/operations/{id} as RestoreBackup, DeleteBackup or ListOperations returned it";

/// Checks an operation name sent in `field`.
pub fn check_operation_name(field: &str, raw: &str) -> Result<OperationName, ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::single(field, "is required"));
    }
    parse_name(raw).ok_or_else(|| ValidationError::single(field, NAME_FORM))
}

fn parse_name(raw: &str) -> Option<OperationName> {
    // Longest possible name: three 64-character ids and a timestamp.
    if raw.len() > 270 {
        return None;
    }
    let mut parts = raw.split('/');
    let (Some("projects"), Some(project), Some("operations"), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if !is_valid_id(project) {
        return None;
    }
    let (id, region) = match id.split_once('@') {
        Some((id, region)) if is_valid_id(region) => (id, Some(region.to_owned())),
        Some(_) => return None,
        None => (id, None),
    };
    let mut pieces = id.split('.');
    let id = match (pieces.next(), pieces.next(), pieces.next(), pieces.next()) {
        (Some("restore"), Some(log), None, None) if is_valid_id(log) => {
            OperationId::RestoreLog(log.to_owned())
        }
        (Some("restore"), Some(backup), Some(since), None) if is_valid_id(backup) => {
            // Digits only: `i64::from_str` would also take a sign.
            if since.is_empty() || since.len() > 12 || !since.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            OperationId::RestoreSince {
                backup_id: backup.to_owned(),
                since: since.parse().ok()?,
            }
        }
        (Some("delete"), Some(backup), None, None) if is_valid_id(backup) => {
            OperationId::Delete(backup.to_owned())
        }
        _ => return None,
    };
    Some(OperationName {
        project_id: project.to_owned(),
        id,
        region,
    })
}

// ---------------------------------------------------------------- RestoreBackup

/// A checked RestoreBackup.
#[derive(Debug, Clone)]
pub struct RestoreBackup {
    /// Project ID.
    pub project_id: String,
    /// The backup restored.
    pub backup_id: String,
    /// Upstream's body.
    pub body: dto::RestoreBackupBody,
    /// Idempotency key, normalised.
    pub request_id: Option<Uuid>,
}

/// Checks a RestoreBackup request: every field of upstream's body, and which
/// combinations name a target (LIFECYCLE.md §3.1-§3.2).
pub fn check_restore_backup(
    req: pb::RestoreBackupRequest,
    default_project: Option<&str>,
) -> Result<RestoreBackup, ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);
    let backup_id = c.id("backup_id", &req.backup_id);
    let request_id = request_id(&mut c, &req.request_id);
    let Some(r) = req.restore else {
        c.fail(
            "restore",
            "is required (server_id with mappings, volume_id, resource_id or details)",
        );
        return c.finish(RestoreBackup {
            project_id,
            backup_id,
            body: dto::RestoreBackupBody {
                restore: dto::BackupRestore::default(),
            },
            request_id,
        });
    };
    let server_id = c.opt_id("restore.server_id", &r.server_id);
    let volume_id = c.opt_id("restore.volume_id", &r.volume_id);
    let resource_id = c.opt_id("restore.resource_id", &r.resource_id);
    let mut mappings = Vec::new();
    if c.at_most("restore.mappings", &r.mappings, MAX_VOLUMES) {
        let mut volumes = std::collections::HashSet::new();
        for (i, m) in r.mappings.iter().enumerate() {
            let at = format!("restore.mappings[{i}]");
            let backup_id = c.id(&format!("{at}.backup_id"), &m.backup_id);
            let volume_id = c.id(&format!("{at}.volume_id"), &m.volume_id);
            if !volume_id.is_empty() && !volumes.insert(volume_id.clone()) {
                c.fail(
                    format!("{at}.volume_id"),
                    "is already the target of another mapping",
                );
            }
            mappings.push(dto::RestoreMapping {
                backup_id,
                volume_id,
            });
        }
    }
    let details = r.details.map(|d| {
        if d.destination_path.is_empty() {
            c.fail("restore.details.destination_path", "is required");
        } else {
            c.text(
                "restore.details.destination_path",
                &d.destination_path,
                MAX_TEXT,
            );
        }
        dto::RestoreDetails {
            destination_path: d.destination_path,
        }
    });
    // Which target: a server (with its disks mapped), a disk, another
    // resource, or files. Upstream refuses a server restore without mappings
    // with a bare 9900; saying which field is missing is kinder.
    match (&server_id, mappings.is_empty()) {
        (Some(_), true) => c.fail(
            "restore.mappings",
            "is required with server_id (one disk backup per target disk)",
        ),
        (None, false) => c.fail("restore.server_id", "is required with mappings"),
        _ => {}
    }
    if server_id.is_some() && volume_id.is_some() {
        c.fail(
            "restore.volume_id",
            "must not be set with server_id (a server restore maps its disks in mappings)",
        );
    }
    if server_id.is_none() && volume_id.is_none() && resource_id.is_none() && details.is_none() {
        c.fail(
            "restore",
            "must name a target: server_id with mappings, volume_id, resource_id or details",
        );
    }
    c.finish(RestoreBackup {
        project_id,
        backup_id,
        body: dto::RestoreBackupBody {
            restore: dto::BackupRestore {
                server_id,
                mappings: (!mappings.is_empty()).then_some(mappings),
                volume_id,
                resource_id,
                power_on: r.power_on,
                details,
            },
        },
        request_id,
    })
}

/// A checked DeleteBackup.
#[derive(Debug, Clone)]
pub struct DeleteBackup {
    /// Project ID.
    pub project_id: String,
    /// The backup deleted.
    pub backup_id: String,
    /// Idempotency key, normalised.
    pub request_id: Option<Uuid>,
}

/// Checks a DeleteBackup request.
pub fn check_delete_backup(
    req: &pb::DeleteBackupRequest,
    default_project: Option<&str>,
) -> Result<DeleteBackup, ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);
    let backup_id = c.id("backup_id", &req.backup_id);
    let request_id = request_id(&mut c, &req.request_id);
    c.finish(DeleteBackup {
        project_id,
        backup_id,
        request_id,
    })
}

// ---------------------------------------------------------------- ListOperations

/// The operation types ListOperations walks, in its order.
pub(super) const LISTED_KINDS: [&str; 2] = ["restore", "delete"];

/// A checked ListOperations: which operation logs to read, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOperations {
    /// Project ID.
    pub project_id: String,
    /// The types still to walk, the current one first.
    pub kinds: Vec<&'static str>,
    /// The filters (`operation_type` is set per page from `kinds`), with
    /// `offset` and `limit` of this page.
    pub query: OperationLogQuery,
}

impl ListOperations {
    /// The token of the page after one that held `got` logs out of `count`
    /// (upstream's total for the current type): the next offset of the same
    /// type, else the start of the next type, else none.
    pub fn next_page_token(&self, got: usize, count: Option<i64>) -> String {
        let offset = i64::from(self.query.offset.unwrap_or(0));
        let limit = i64::from(self.query.limit.unwrap_or(MAX_OPERATIONS_PAGE));
        let got = i64::try_from(got).unwrap_or(i64::MAX);
        let next = offset.saturating_add(got);
        // More of this type: a full page, and the total (when upstream gave
        // one) not yet reached.
        let more = got >= limit && count.is_none_or(|c| next < c);
        let Some(kind) = self.kinds.first() else {
            return String::new();
        };
        if more && let Ok(next) = i32::try_from(next) {
            return format!("{kind}:{next}");
        }
        match self.kinds.get(1) {
            Some(following) => format!("{following}:0"),
            None => String::new(),
        }
    }
}

/// Checks a ListOperations request. `name` is the collection
/// (`projects/{project_id}/operations`, or empty for the default project);
/// `filter` is a conjunction (`AND`) of `field = value` terms over `type`
/// (`restore`, `delete`), `status` (upstream's words: `running`, `failed`,
/// …), `resource_id` and `vault_id`; `page_token` is one this call returned.
pub fn check_list_operations(
    req: &lro::ListOperationsRequest,
    default_project: Option<&str>,
) -> Result<ListOperations, ValidationError> {
    let mut c = Checker::default();
    let requested = match req.name.as_str() {
        "" => "",
        name => match name
            .strip_prefix("projects/")
            .and_then(|rest| rest.strip_suffix("/operations"))
        {
            Some(p) => p,
            None => {
                c.fail("name", "must be projects/{project_id}/operations or empty");
                ""
            }
        },
    };
    let project_id = match (requested, default_project) {
        ("", Some(d)) if req.name.is_empty() => d.to_owned(),
        ("", None) if req.name.is_empty() => {
            c.fail(
                "name",
                "is required: projects/{project_id}/operations (or set HUAWEICLOUD_SDK_PROJECT_ID)",
            );
            String::new()
        }
        ("", _) => String::new(),
        (p, _) => project(&mut c, p, default_project),
    };
    let mut query = OperationLogQuery::default();
    let mut kinds: Vec<&'static str> = LISTED_KINDS.to_vec();
    if req.filter.len() > 1024 {
        c.fail("filter", "must be at most 1024 characters");
    } else if !req.filter.trim().is_empty() {
        for term in req.filter.split(" AND ") {
            let Some((field, value)) = term.split_once('=') else {
                c.fail(
                    "filter",
                    format!("`{}` is not `field = value`", term.trim()),
                );
                continue;
            };
            let field = field.trim();
            let value = value.trim().trim_matches('"');
            match field {
                "type" => match LISTED_KINDS.iter().find(|k| **k == value) {
                    Some(k) => kinds = vec![*k],
                    None => c.fail("filter", "type must be restore or delete"),
                },
                "status" => match enums::operation_log_status_to_upstream(
                    enums::operation_log_status(Some(value)) as i32,
                ) {
                    Some(s) if s == value => query.status = Some(s),
                    _ => c.fail(
                        "filter",
                        "status must be one of waiting, running, success, failed, timeout, skipped",
                    ),
                },
                "resource_id" => query.resource_id = c.opt_id("filter", value),
                "vault_id" => query.vault_id = c.opt_id("filter", value),
                other => c.fail(
                    "filter",
                    format!(
                        "unknown field `{other}` (filterable: type, status, resource_id, vault_id)"
                    ),
                ),
            }
        }
    }
    if req.page_size < 0 {
        c.fail("page_size", "must be 0 or more");
    }
    let limit = match req.page_size {
        0 => MAX_OPERATIONS_PAGE,
        n => n.min(MAX_OPERATIONS_PAGE),
    };
    let mut offset = 0;
    if !req.page_token.is_empty() {
        let parsed = req.page_token.split_once(':').and_then(|(kind, at)| {
            let at: i32 = at.parse().ok().filter(|n| *n >= 0)?;
            let from = kinds.iter().position(|k| *k == kind)?;
            Some((from, at))
        });
        match parsed {
            Some((from, at)) => {
                kinds.drain(..from);
                offset = at;
            }
            None => c.fail("page_token", "is not a token this listing returned"),
        }
    }
    query.limit = Some(limit);
    query.offset = Some(offset);
    c.finish(ListOperations {
        project_id,
        kinds,
        query,
    })
}

/// Checks WaitOperation's `timeout`: unset waits as long as the call's
/// deadline allows; a negative or out-of-range one is refused.
pub fn check_wait_timeout(
    timeout: Option<&prost_types::Duration>,
) -> Result<Option<std::time::Duration>, ValidationError> {
    let Some(t) = timeout else {
        return Ok(None);
    };
    std::time::Duration::try_from(*t)
        .map(Some)
        .map_err(|_| ValidationError::single("timeout", "must be a non-negative duration"))
}

// ---------------------------------------------------------------- upstream state

/// How an operation stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Still running (or queued).
    Running,
    /// A restore that succeeded (boxed: it carries the whole log).
    Restored(Box<pb::RestoreBackupResponse>),
    /// A deletion that succeeded: the backup is gone.
    Deleted,
    /// Upstream's task failed: its status word (`failed`, `timeout`,
    /// `skipped`), and `error_info`'s code and message.
    Failed {
        /// Upstream's status.
        status: &'static str,
        /// Upstream's error code (may be empty).
        code: String,
        /// Upstream's message (may be empty).
        message: String,
    },
}

/// One reading of an operation: its metadata and outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// What the operation's metadata says.
    pub metadata: pb::OperationMetadata,
    /// Where it stands.
    pub outcome: Outcome,
}

/// An operation as its operation log tells it (restores always; deletions
/// once they failed).
pub fn read_log(project_id: &str, log: pb::OperationLog) -> Reading {
    use pb::OperationLogStatus as S;
    let extra = log.extra_info.clone().unwrap_or_default();
    let resource = extra.resource.unwrap_or_default();
    let restore = extra.restore.unwrap_or_default();
    let delete = extra.delete.unwrap_or_default();
    let kind = log.operation_type();
    let (backup_id, backup_name) = match kind {
        pb::OperationType::Delete => (delete.backup_id, delete.backup_name),
        _ => (restore.backup_id.clone(), restore.backup_name),
    };
    let status = log.status();
    let metadata = pb::OperationMetadata {
        operation_type: kind as i32,
        project_id: project_id.to_owned(),
        status: status as i32,
        progress: extra.common.map(|c| c.progress),
        backup_id: backup_id.clone(),
        backup_name,
        resource_id: resource.id,
        resource_type: resource.r#type,
        resource_name: resource.name.unwrap_or_default(),
        target_resource_id: restore.target_resource_id.clone(),
        target_resource_name: restore.target_resource_name.clone(),
        vault_id: log.vault_id.clone(),
        checkpoint_id: log.checkpoint_id.clone(),
        start_time: log.started_at.or(log.created_at),
        end_time: log.ended_at,
        operation_log_id: log.id.clone(),
        backup_status: 0,
    };
    let outcome = match status {
        S::Success => match kind {
            pb::OperationType::Delete => Outcome::Deleted,
            _ => Outcome::Restored(Box::new(pb::RestoreBackupResponse {
                backup_id,
                target_resource_id: restore.target_resource_id,
                target_resource_name: restore.target_resource_name,
                operation_log: Some(log.clone()),
            })),
        },
        S::Failed | S::Timeout | S::Skipped => {
            let info = log.error_info.clone().unwrap_or_default();
            Outcome::Failed {
                status: enums::operation_log_status_to_upstream(status as i32).unwrap_or("failed"),
                code: info.code,
                message: info.message,
            }
        }
        // Waiting, running, and words the gateway does not know: pending
        // (LIFECYCLE.md §10, rule 1).
        _ => Outcome::Running,
    };
    Reading { metadata, outcome }
}

/// The operation of a restore upstream just accepted at `since` (Unix
/// seconds), with the operation log upstream named (`job_id`), if any, in
/// `region` (none: the default region).
pub fn accepted_restore(
    input: &RestoreBackup,
    region: Option<&str>,
    job_id: Option<String>,
    since: i64,
) -> (OperationName, Reading) {
    let r = &input.body.restore;
    let id = match &job_id {
        Some(log) => OperationId::RestoreLog(log.clone()),
        None => OperationId::RestoreSince {
            backup_id: input.backup_id.clone(),
            since,
        },
    };
    let metadata = pb::OperationMetadata {
        operation_type: pb::OperationType::Restore as i32,
        project_id: input.project_id.clone(),
        status: pb::OperationLogStatus::Waiting as i32,
        backup_id: input.backup_id.clone(),
        target_resource_id: r
            .server_id
            .clone()
            .or_else(|| r.volume_id.clone())
            .or_else(|| r.resource_id.clone())
            .unwrap_or_default(),
        start_time: Some(prost_types::Timestamp {
            seconds: since,
            nanos: 0,
        }),
        operation_log_id: job_id.unwrap_or_default(),
        ..Default::default()
    };
    let name = OperationName {
        project_id: input.project_id.clone(),
        id,
        region: region.map(str::to_owned),
    };
    (
        name,
        Reading {
            metadata,
            outcome: Outcome::Running,
        },
    )
}

/// The operation of deleting `backup_id`, just accepted (or already
/// running: `backup` is what upstream showed of it), in `region` (none: the
/// default region).
pub fn accepted_delete(
    project_id: &str,
    region: Option<&str>,
    backup_id: &str,
    backup: Option<&pb::Backup>,
) -> (OperationName, Reading) {
    let metadata = match backup {
        Some(b) => backup_metadata(
            project_id,
            pb::OperationType::Delete,
            b,
            pb::OperationLogStatus::Running,
        ),
        None => pb::OperationMetadata {
            operation_type: pb::OperationType::Delete as i32,
            project_id: project_id.to_owned(),
            status: pb::OperationLogStatus::Running as i32,
            backup_id: backup_id.to_owned(),
            ..Default::default()
        },
    };
    let name = OperationName {
        project_id: project_id.to_owned(),
        id: OperationId::Delete(backup_id.to_owned()),
        region: region.map(str::to_owned),
    };
    (
        name,
        Reading {
            metadata,
            outcome: Outcome::Running,
        },
    )
}

/// What the backup itself says of an operation on it: the metadata the
/// backup gives, with `status` and `backup_status` from its status.
pub fn backup_metadata(
    project_id: &str,
    kind: pb::OperationType,
    backup: &pb::Backup,
    status: pb::OperationLogStatus,
) -> pb::OperationMetadata {
    pb::OperationMetadata {
        operation_type: kind as i32,
        project_id: project_id.to_owned(),
        status: status as i32,
        backup_id: backup.id.clone(),
        backup_name: backup.name.clone(),
        resource_id: backup.resource_id.clone(),
        resource_type: backup.resource_type.clone(),
        resource_name: backup.resource_name.clone(),
        vault_id: backup.vault_id.clone(),
        checkpoint_id: backup.checkpoint_id.clone(),
        backup_status: backup.status,
        ..Default::default()
    }
}

/// The query that finds a restore accepted without `job_id`: the `restore`
/// logs since shortly before `since` (the match by backup is the caller's:
/// upstream has no backup filter).
pub fn restore_log_query(since: i64) -> OperationLogQuery {
    let from = chrono::DateTime::from_timestamp(since - RESTORE_LOG_SLACK_SECONDS, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    OperationLogQuery {
        operation_type: Some("restore"),
        start_time: Some(from),
        limit: Some(MAX_OPERATIONS_PAGE),
        offset: Some(0),
        ..Default::default()
    }
}

/// The query that finds a backup's `delete` log: that resource's deletions,
/// newest first as upstream lists them.
pub fn delete_log_query(resource_id: &str) -> OperationLogQuery {
    OperationLogQuery {
        operation_type: Some("delete"),
        resource_id: is_valid_id(resource_id).then(|| resource_id.to_owned()),
        limit: Some(MAX_OPERATIONS_PAGE),
        offset: Some(0),
        ..Default::default()
    }
}

/// The name ListOperations gives an operation log of a restore or deletion
/// (`None` for other types, or a log without the ids a name needs): the same
/// name RestoreBackup (with `job_id`) and DeleteBackup returned in `region`
/// (none: the default region).
pub fn name_of_log(
    project_id: &str,
    region: Option<&str>,
    log: &pb::OperationLog,
) -> Option<OperationName> {
    let id = match log.operation_type() {
        pb::OperationType::Restore if is_valid_id(&log.id) => {
            OperationId::RestoreLog(log.id.clone())
        }
        pb::OperationType::Delete => {
            let backup = &log.extra_info.as_ref()?.delete.as_ref()?.backup_id;
            is_valid_id(backup).then(|| OperationId::Delete(backup.clone()))?
        }
        _ => return None,
    };
    Some(OperationName {
        project_id: project_id.to_owned(),
        id,
        region: region.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_refuse_anything_else() {
        for name in [
            "projects/p1/operations/restore.4827f2da-b008-4507-ab7d-42d0df5ed912",
            "projects/p1/operations/restore.b-1.1764900000",
            "projects/p1/operations/delete.b_2",
            "projects/p1/operations/delete.b_2@ap-southeast-3",
            "projects/p1/operations/restore.b-1.1764900000@eu-west-101",
        ] {
            assert_eq!(
                check_operation_name("name", name).unwrap().to_string(),
                name
            );
        }
        for bad in [
            "",
            "operations/restore.x",
            "projects/p1/operations/restore",
            "projects/p1/operations/restore.x.-5",
            "projects/p1/operations/restore.x.+5",
            "projects/p1/operations/restore.x.1.2",
            "projects/p1/operations/copy.x",
            "projects/p%2F/operations/delete.x",
            "projects/p1/operations/delete.x/extra",
            "projects/p1/operations/delete.",
            "projects/../operations/delete.x",
            "projects/p1/operations/delete.x@",
            "projects/p1/operations/delete.x@a@b",
            "projects/p1/operations/delete.x@a.b",
            "projects/p1/operations/delete.x@a/b",
        ] {
            let err = check_operation_name("name", bad).unwrap_err();
            assert_eq!(err.violations[0].field, "name", "{bad}");
        }
    }

    fn restore(r: pb::BackupRestore) -> Result<RestoreBackup, ValidationError> {
        check_restore_backup(
            pb::RestoreBackupRequest {
                project_id: "p".into(),
                backup_id: "b".into(),
                restore: Some(r),
                request_id: String::new(),
                region: String::new(),
            },
            None,
        )
    }

    fn fields(r: Result<RestoreBackup, ValidationError>) -> Vec<String> {
        r.unwrap_err()
            .violations
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn restores_name_one_target_and_send_only_what_is_set() {
        let ok = restore(pb::BackupRestore {
            server_id: "s".into(),
            mappings: vec![pb::BackupRestoreServerMapping {
                backup_id: "c".into(),
                volume_id: "v".into(),
            }],
            power_on: Some(false),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&ok.body).unwrap(),
            serde_json::json!({"restore": {"server_id": "s", "power_on": false,
                "mappings": [{"backup_id": "c", "volume_id": "v"}]}})
        );
        let disk = restore(pb::BackupRestore {
            volume_id: "v".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&disk.body).unwrap(),
            serde_json::json!({"restore": {"volume_id": "v"}})
        );
        assert_eq!(
            fields(restore(pb::BackupRestore::default())),
            vec!["restore"]
        );
        assert_eq!(
            fields(restore(pb::BackupRestore {
                server_id: "s".into(),
                ..Default::default()
            })),
            vec!["restore.mappings"]
        );
        assert_eq!(
            fields(restore(pb::BackupRestore {
                server_id: "s".into(),
                volume_id: "v".into(),
                mappings: vec![
                    pb::BackupRestoreServerMapping {
                        backup_id: "c".into(),
                        volume_id: "d".into(),
                    },
                    pb::BackupRestoreServerMapping {
                        backup_id: "c/..".into(),
                        volume_id: "d".into(),
                    },
                ],
                details: Some(pb::RestoreDetails {
                    destination_path: String::new(),
                }),
                ..Default::default()
            })),
            vec![
                "restore.mappings[1].backup_id",
                "restore.mappings[1].volume_id",
                "restore.details.destination_path",
                "restore.volume_id",
            ]
        );
    }

    #[test]
    fn list_filters_and_tokens_walk_restores_then_deletes() {
        let req = |filter: &str, token: &str, size: i32| lro::ListOperationsRequest {
            name: "projects/p/operations".into(),
            filter: filter.into(),
            page_size: size,
            page_token: token.into(),
            return_partial_success: false,
        };
        let l = check_list_operations(&req("", "", 0), None).unwrap();
        assert_eq!(l.kinds, vec!["restore", "delete"]);
        assert_eq!(l.query.limit, Some(MAX_OPERATIONS_PAGE));
        let l = check_list_operations(&req("", "", 2), None).unwrap();
        assert_eq!(l.next_page_token(2, Some(3)), "restore:2");
        assert_eq!(l.next_page_token(2, Some(2)), "delete:0");
        assert_eq!(l.next_page_token(1, None), "delete:0");
        let l = check_list_operations(&req("", "delete:4", 2), None).unwrap();
        assert_eq!((l.kinds.clone(), l.query.offset), (vec!["delete"], Some(4)));
        assert_eq!(l.next_page_token(1, None), "");
        let l = check_list_operations(
            &req(
                r#"type = "delete" AND status=failed AND vault_id = v1"#,
                "",
                0,
            ),
            None,
        )
        .unwrap();
        assert_eq!(l.kinds, vec!["delete"]);
        assert_eq!(l.query.status, Some("failed"));
        assert_eq!(l.query.vault_id.as_deref(), Some("v1"));
        for (filter, token, size) in [
            ("type = copy", "", 0),
            ("status = done", "", 0),
            ("colour = red", "", 0),
            ("type restore", "", 0),
            ("vault_id = a/b", "", 0),
            ("", "backup:0", 0),
            ("", "restore:-1", 0),
            ("type = delete", "restore:0", 0),
            ("", "", -1),
        ] {
            let err = check_list_operations(&req(filter, token, size), None).unwrap_err();
            assert!(
                ["filter", "page_token", "page_size"].contains(&err.violations[0].field.as_str()),
                "{filter} {token}"
            );
        }
        let mut bad_name = req("", "", 0);
        bad_name.name = "projects/p".into();
        assert_eq!(
            check_list_operations(&bad_name, None)
                .unwrap_err()
                .violations[0]
                .field,
            "name"
        );
    }
}
