//! One long-running operation, read from upstream as GetOperation,
//! WaitOperation and WatchOperation see it (LIFECYCLE.md §3.5, §4.2, §10):
//!
//! * a restore with an operation log: that log;
//! * a restore accepted without `job_id`: the first `restore` log of its
//!   backup since it was sent; until one appears, the backup's status
//!   (`restoring`), for at most [`RESTORE_LOG_GRACE_SECONDS`];
//! * a deletion: the backup — `deleting` is running, gone is done — and, when
//!   it stays in any other status, its `delete` log, which says why.
//!
//! Every reading is fresh: the name carries all it needs, so any replica
//! answers the same.

use prost_types::{Any, Timestamp};
use tokio::time::Instant;

use super::hub::{Snapshot, Subject};
use crate::{
    domain::{self, OperationId, OperationName, Outcome, RESTORE_LOG_GRACE_SECONDS, Reading},
    error::{self, GatewayError},
    proto::{self as pb, google::longrunning as lro, google::rpc},
    upstream::{Auth, UpstreamClient},
};

/// Reads `name`'s operation now.
pub(crate) async fn observe(
    upstream: &UpstreamClient,
    auth: &Auth,
    deadline: Option<Instant>,
    name: &OperationName,
) -> Result<OperationState, GatewayError> {
    let reading = read(upstream, auth, deadline, name).await?;
    Ok(OperationState::new(name, reading))
}

async fn read(
    upstream: &UpstreamClient,
    auth: &Auth,
    deadline: Option<Instant>,
    name: &OperationName,
) -> Result<Reading, GatewayError> {
    let project = name.project_id.as_str();
    match &name.id {
        OperationId::RestoreLog(log_id) => {
            let log = upstream
                .get_operation_log(auth, deadline, project, log_id)
                .await?;
            Ok(domain::read_log(project, log.value.into()))
        }
        OperationId::RestoreSince { backup_id, since } => {
            let page = upstream
                .list_operation_logs(auth, deadline, project, &domain::restore_log_query(*since))
                .await?;
            // The first restore of this backup since it was sent: one
            // restore of a backup runs at a time (upstream's 2010).
            let found = about(page.value, backup_id)
                .min_by_key(|l| l.created_at.map_or(i64::MAX, |t| t.seconds));
            if let Some(log) = found {
                return Ok(domain::read_log(project, log));
            }
            let backup = pb::Backup::from(
                upstream
                    .get_backup(auth, deadline, project, backup_id)
                    .await?
                    .value,
            );
            let restoring = matches!(
                backup.status(),
                pb::BackupStatus::Restoring | pb::BackupStatus::WaitingRestore
            );
            let age = chrono::Utc::now().timestamp() - since;
            let status = if restoring {
                pb::OperationLogStatus::Running
            } else {
                pb::OperationLogStatus::Waiting
            };
            let mut metadata =
                domain::backup_metadata(project, pb::OperationType::Restore, &backup, status);
            metadata.start_time = Some(Timestamp {
                seconds: *since,
                nanos: 0,
            });
            let outcome = if restoring || age < RESTORE_LOG_GRACE_SECONDS {
                Outcome::Running
            } else {
                Outcome::Failed {
                    status: "lost",
                    code: String::new(),
                    message: format!(
                        "none within {} minutes of the request; look for the restore among the backup's operation logs",
                        RESTORE_LOG_GRACE_SECONDS / 60
                    ),
                }
            };
            Ok(Reading { metadata, outcome })
        }
        OperationId::Delete(backup_id) => {
            let backup = match upstream
                .get_backup(auth, deadline, project, backup_id)
                .await
            {
                Ok(b) => pb::Backup::from(b.value),
                // Gone: the deletion is done (§4.2; also after the 401
                // "Malformed request url" some regions answer instead).
                Err(e) if error::is_not_found(&e) => {
                    return Ok(Reading {
                        metadata: pb::OperationMetadata {
                            operation_type: pb::OperationType::Delete as i32,
                            project_id: project.to_owned(),
                            status: pb::OperationLogStatus::Success as i32,
                            backup_id: backup_id.clone(),
                            ..Default::default()
                        },
                        outcome: Outcome::Deleted,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            if matches!(
                backup.status(),
                pb::BackupStatus::Deleting | pb::BackupStatus::WaitingDelete
            ) {
                let metadata = domain::backup_metadata(
                    project,
                    pb::OperationType::Delete,
                    &backup,
                    pb::OperationLogStatus::Running,
                );
                return Ok(Reading {
                    metadata,
                    outcome: Outcome::Running,
                });
            }
            // Still there and not being deleted: its latest delete log says
            // how the deletion ended — or there was none.
            let page = upstream
                .list_operation_logs(
                    auth,
                    deadline,
                    project,
                    &domain::delete_log_query(&backup.resource_id),
                )
                .await?;
            let log = about(page.value, backup_id)
                .max_by_key(|l| l.created_at.map_or(i64::MIN, |t| t.seconds));
            let Some(log) = log else {
                return Err(GatewayError::OperationNotFound(format!(
                    "backup {backup_id} is {} and no deletion of it is recorded",
                    crate::domain::enums::backup_status_to_upstream(backup.status)
                        .unwrap_or("in an unknown status")
                )));
            };
            let mut reading = domain::read_log(project, log);
            reading.metadata.backup_status = backup.status;
            if reading.outcome == Outcome::Deleted {
                // The log says done but the backup is still listed: upstream
                // has not caught up; done is when it is gone.
                reading.outcome = Outcome::Running;
            }
            Ok(reading)
        }
    }
}

/// The restore and delete logs of `page` about `backup_id` (upstream has no
/// backup filter: the match is the gateway's).
fn about(
    page: crate::upstream::dto::OperationLogListDto,
    backup_id: &str,
) -> impl Iterator<Item = pb::OperationLog> + '_ {
    page.operation_logs
        .0
        .into_iter()
        .map(pb::OperationLog::from)
        .filter(move |l| {
            let extra = l.extra_info.as_ref();
            let restored = extra.and_then(|e| e.restore.as_ref()).map(|r| &r.backup_id);
            let deleted = extra.and_then(|e| e.delete.as_ref()).map(|d| &d.backup_id);
            restored.or(deleted).is_some_and(|id| id == backup_id)
        })
}

/// One reading of an operation, and the `Operation` it makes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OperationState {
    /// What was read.
    pub reading: Reading,
    /// As the API returns it.
    pub operation: lro::Operation,
}

impl OperationState {
    /// The operation `name` is, as `reading` tells it.
    pub(crate) fn new(name: &OperationName, reading: Reading) -> Self {
        let operation = operation(name, &reading);
        Self { reading, operation }
    }
}

/// `google.protobuf.Empty`, a deletion's response.
const EMPTY_TYPE_URL: &str = "type.googleapis.com/google.protobuf.Empty";

fn pack<M: prost::Name>(m: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: m.encode_to_vec(),
    }
}

/// The `Operation` of `reading`.
fn operation(name: &OperationName, reading: &Reading) -> lro::Operation {
    let result = match &reading.outcome {
        Outcome::Running => None,
        Outcome::Restored(response) => {
            Some(lro::operation::Result::Response(pack(response.as_ref())))
        }
        Outcome::Deleted => Some(lro::operation::Result::Response(Any {
            type_url: EMPTY_TYPE_URL.to_owned(),
            value: Vec::new(),
        })),
        Outcome::Failed {
            status,
            code,
            message,
        } => {
            let failure = GatewayError::OperationFailed {
                status,
                code: code.clone(),
                message: message.clone(),
                operation_log_id: reading.metadata.operation_log_id.clone(),
            };
            Some(lro::operation::Result::Error(rpc_status(
                &failure.to_status(),
            )))
        }
    };
    lro::Operation {
        name: name.to_string(),
        metadata: Some(pack(&reading.metadata)),
        done: result.is_some(),
        result,
    }
}

/// `status` as a `google.rpc.Status` message, its details included.
fn rpc_status(status: &tonic::Status) -> rpc::Status {
    // A status built with details carries the whole `google.rpc.Status`
    // encoded in them (tonic-types); without, only code and message.
    use prost::Message as _;
    rpc::Status::decode(status.details()).unwrap_or_else(|_| rpc::Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: Vec::new(),
    })
}

/// Which poller a WatchOperation or WaitOperation shares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OperationKey {
    /// The operation.
    pub name: OperationName,
    /// Whose credentials read it: never the credentials themselves.
    pub identity: String,
    /// The region: never shared across regions.
    pub region: std::sync::Arc<str>,
}

impl Subject for OperationKey {
    type State = OperationState;
    type Message = pb::WatchOperationResponse;

    async fn fetch(
        &self,
        upstream: &UpstreamClient,
        auth: &Auth,
    ) -> Result<OperationState, GatewayError> {
        observe(upstream, auth, None, &self.name).await
    }

    fn is_terminal(state: &OperationState) -> bool {
        state.operation.done
    }

    fn changes(state: &OperationState, before: &OperationState) -> Vec<String> {
        let (new, old) = (&state.reading.metadata, &before.reading.metadata);
        let mut out = Vec::new();
        let status = |m: &pb::OperationMetadata| {
            crate::domain::enums::operation_log_status_to_upstream(m.status).unwrap_or("unknown")
        };
        if new.status != old.status {
            out.push(format!("status: {} -> {}", status(old), status(new)));
        }
        if new.progress != old.progress {
            let show = |p: Option<i32>| p.map_or("-".to_owned(), |p| p.to_string());
            out.push(format!(
                "progress: {} -> {}",
                show(old.progress),
                show(new.progress)
            ));
        }
        if new.backup_status != old.backup_status {
            let word =
                |s: i32| crate::domain::enums::backup_status_to_upstream(s).unwrap_or("(none)");
            out.push(format!(
                "backup status: {} -> {}",
                word(old.backup_status),
                word(new.backup_status)
            ));
        }
        if new.operation_log_id != old.operation_log_id && !new.operation_log_id.is_empty() {
            out.push(format!("operation log: {}", new.operation_log_id));
        }
        if state.operation.done && !before.operation.done {
            out.push(match &state.operation.result {
                Some(lro::operation::Result::Error(e)) => format!("done: {}", e.message),
                _ => "done".to_owned(),
            });
        }
        out
    }

    fn message(
        kind: pb::WatchEventKind,
        snap: &Snapshot<OperationState>,
        changes: Vec<String>,
    ) -> pb::WatchOperationResponse {
        pb::WatchOperationResponse {
            kind: kind as i32,
            operation: Some(snap.state.operation.clone()),
            changes,
            observed_at: Some(snap.observed_at),
        }
    }

    fn empty_heartbeat(now: Timestamp) -> pb::WatchOperationResponse {
        pb::WatchOperationResponse {
            kind: pb::WatchEventKind::Heartbeat as i32,
            observed_at: Some(now),
            ..Default::default()
        }
    }

    fn label(&self) -> String {
        self.name.to_string()
    }

    fn region(&self) -> &str {
        &self.region
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::{Message as _, Name as _};

    fn name() -> OperationName {
        crate::domain::check_operation_name("name", "projects/p/operations/restore.l1").unwrap()
    }

    #[test]
    fn failures_carry_upstreams_code_as_every_other_error() {
        let reading = Reading {
            metadata: pb::OperationMetadata {
                operation_log_id: "l1".into(),
                ..Default::default()
            },
            outcome: Outcome::Failed {
                status: "failed",
                code: "BackupService.2008".into(),
                message: "The ECS status does not allow restoration.".into(),
            },
        };
        let op = operation(&name(), &reading);
        assert!(op.done);
        let Some(lro::operation::Result::Error(e)) = op.result else {
            panic!("an error")
        };
        assert_eq!(e.code, tonic::Code::FailedPrecondition as i32);
        assert!(e.message.contains("BackupService.2008"), "{}", e.message);
        let status = tonic::Status::with_details(
            tonic::Code::FailedPrecondition,
            e.message.clone(),
            e.encode_to_vec().into(),
        );
        use tonic_types::StatusExt as _;
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "BackupService.2008");
        assert_eq!(info.domain, "cbr.myhuaweicloud.com");
        assert_eq!(info.metadata["operation_log_id"], "l1");
        assert_eq!(info.metadata["operation_status"], "failed");
    }

    #[test]
    fn deletions_answer_empty_and_metadata_is_an_any() {
        let reading = Reading {
            metadata: pb::OperationMetadata {
                backup_id: "b".into(),
                ..Default::default()
            },
            outcome: Outcome::Deleted,
        };
        let op = operation(&name(), &reading);
        let Some(lro::operation::Result::Response(r)) = op.result else {
            panic!("a response")
        };
        assert_eq!(r.type_url, EMPTY_TYPE_URL);
        let meta = op.metadata.unwrap();
        assert_eq!(meta.type_url, pb::OperationMetadata::type_url());
        use prost::Message as _;
        assert_eq!(
            pb::OperationMetadata::decode(meta.value.as_slice())
                .unwrap()
                .backup_id,
            "b"
        );
    }
}
