//! Upstream JSON: every document the upstream client parses (the envelopes of
//! 2xx responses and `ErrorBody::parse` of the others) and `convert` take any
//! bytes without panicking, and any JSON value is a valid lenient scalar, so
//! upstream's type quirks never fail a response.
//!
//! Shared by the property tests (`properties::upstream_json`) and the fuzz
//! target `fuzz/fuzz_targets/upstream_json.rs`, which include this file.

use cbr_gateway::{
    domain,
    domain::BackupQuery,
    proto as pb,
    upstream::{
        dto,
        lenient::{Flag, Int, List, Text},
    },
};
use prost_types::Timestamp;
use serde_json::{Value, json};

/// A document of a 2xx response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Checkpoint,
    Backup,
    BackupList,
    CheckpointItem,
    Vault,
    VaultList,
    Policy,
    PolicyList,
    OperationLog,
    OperationLogList,
}

pub const DOCS: &[Doc] = &[
    Doc::Checkpoint,
    Doc::Backup,
    Doc::BackupList,
    Doc::CheckpointItem,
    Doc::Vault,
    Doc::VaultList,
    Doc::Policy,
    Doc::PolicyList,
    Doc::OperationLog,
    Doc::OperationLogList,
];

impl Doc {
    /// The envelope key, if the document has one.
    pub fn envelope(self) -> Option<&'static str> {
        match self {
            Doc::Checkpoint => Some("checkpoint"),
            Doc::Backup => Some("backup"),
            Doc::BackupList | Doc::VaultList | Doc::PolicyList | Doc::OperationLogList => None,
            Doc::CheckpointItem => Some("checkpoint_item"),
            Doc::Vault => Some("vault"),
            Doc::Policy => Some("policy"),
            Doc::OperationLog => Some("operation_log"),
        }
    }

    /// Parses `bytes` as the client does and converts the result to proto;
    /// returns the timestamps of the result.
    pub fn parse(self, bytes: &[u8]) -> Result<Vec<Timestamp>, serde_json::Error> {
        Ok(match self {
            Doc::Checkpoint => {
                let e: dto::CheckpointEnvelope = serde_json::from_slice(bytes)?;
                let c = pb::Checkpoint::from(e.checkpoint);
                c.created_at.into_iter().collect()
            }
            Doc::Backup => {
                let e: dto::BackupEnvelope = serde_json::from_slice(bytes)?;
                backup_times(&pb::Backup::from(e.backup))
            }
            Doc::BackupList => {
                let d: dto::BackupListDto = serde_json::from_slice(bytes)?;
                // Also with the largest paging a request may carry for the
                // conversion to fall back on.
                let query = BackupQuery {
                    limit: Some(1000),
                    offset: Some(i32::MAX),
                    ..BackupQuery::default()
                };
                let _ = domain::list_backups(d.clone(), &query);
                let r = domain::list_backups(d, &BackupQuery::default());
                r.backups.iter().flat_map(backup_times).collect()
            }
            Doc::CheckpointItem => {
                let e: dto::CheckpointItemEnvelope = serde_json::from_slice(bytes)?;
                let i = pb::CheckpointItem::from(e.checkpoint_item);
                let mut out: Vec<Timestamp> =
                    [i.created_at, i.updated_at, i.protected_at, i.expired_at]
                        .into_iter()
                        .flatten()
                        .collect();
                out.extend(i.extend_info.and_then(|e| e.finished_at));
                out.extend(
                    i.replication_records
                        .into_iter()
                        .filter_map(|r| r.created_at),
                );
                out
            }
            Doc::Vault => {
                let e: dto::VaultEnvelope = serde_json::from_slice(bytes)?;
                pb::Vault::from(e.vault).created_at.into_iter().collect()
            }
            Doc::VaultList => {
                let d: dto::VaultListDto = serde_json::from_slice(bytes)?;
                pb::ListVaultsResponse::from(d)
                    .vaults
                    .into_iter()
                    .filter_map(|v| v.created_at)
                    .collect()
            }
            Doc::Policy => {
                let e: dto::PolicyEnvelope = serde_json::from_slice(bytes)?;
                policy_times(pb::Policy::from(e.policy))
            }
            Doc::PolicyList => {
                let d: dto::PolicyListDto = serde_json::from_slice(bytes)?;
                pb::ListPoliciesResponse::from(d)
                    .policies
                    .into_iter()
                    .flat_map(policy_times)
                    .collect()
            }
            Doc::OperationLog => {
                let e: dto::OperationLogEnvelope = serde_json::from_slice(bytes)?;
                operation_times(pb::OperationLog::from(e.operation_log))
            }
            Doc::OperationLogList => {
                let d: dto::OperationLogListDto = serde_json::from_slice(bytes)?;
                pb::ListOperationLogsResponse::from(d)
                    .operation_logs
                    .into_iter()
                    .flat_map(operation_times)
                    .collect()
            }
        })
    }
}

fn policy_times(p: pb::Policy) -> Vec<Timestamp> {
    p.trigger
        .and_then(|t| t.properties)
        .and_then(|p| p.start_time)
        .into_iter()
        .collect()
}

fn operation_times(o: pb::OperationLog) -> Vec<Timestamp> {
    [o.created_at, o.started_at, o.updated_at, o.ended_at]
        .into_iter()
        .flatten()
        .collect()
}

/// Every timestamp of a converted backup, its children's included.
pub fn backup_times(b: &pb::Backup) -> Vec<Timestamp> {
    let mut out: Vec<Timestamp> = [b.created_at, b.expired_at, b.protected_at, b.updated_at]
        .into_iter()
        .flatten()
        .collect();
    out.extend(b.replication_records.iter().filter_map(|r| r.created_at));
    out.extend(b.children.iter().flat_map(backup_times));
    out
}

/// Any bytes go through every document and the error-body parser: each
/// parses (and converts) or fails cleanly; nothing panics.
pub fn parse_every_document(bytes: &[u8]) {
    for doc in DOCS {
        let _ = doc.parse(bytes);
    }
    let _ = dto::ErrorBody::parse(bytes);
}

/// `Text`, `Int` and `Flag` take every JSON value, from its text (`bytes`)
/// and from the `value` it parses to, and a `List` takes `null` and arrays of
/// what its items take.
pub fn assert_lenient(bytes: &[u8], value: &Value) {
    assert!(serde_json::from_slice::<Text>(bytes).is_ok(), "Text");
    assert!(serde_json::from_slice::<Int>(bytes).is_ok(), "Int");
    assert!(serde_json::from_slice::<Flag>(bytes).is_ok(), "Flag");
    assert!(
        serde_json::from_value::<Text>(value.clone()).is_ok(),
        "Text from a Value"
    );
    assert!(
        serde_json::from_value::<Int>(value.clone()).is_ok(),
        "Int from a Value"
    );
    assert!(
        serde_json::from_value::<Flag>(value.clone()).is_ok(),
        "Flag from a Value"
    );
    if value.is_array() {
        assert!(
            serde_json::from_slice::<List<Text>>(bytes).is_ok(),
            "List<Text>"
        );
    }
    let list = serde_json::to_vec(&json!([value, null])).expect("a JSON array");
    assert_eq!(
        serde_json::from_slice::<List<Text>>(&list)
            .map(|l| l.0.len())
            .ok(),
        Some(2),
        "List<Text> of the value and null"
    );
    assert!(serde_json::from_slice::<List<Text>>(b"null").is_ok_and(|l| l.0.is_empty()));
}
