//! WatchCheckpoint's subject: a checkpoint (and, with `include_backups`, its
//! backups), read by GetCheckpoint and ListBackups, done once the checkpoint
//! and every resource in it are settled.

use prost_types::Timestamp;
use std::collections::HashMap;

use super::hub::{Snapshot, Subject};
use crate::{
    error::GatewayError,
    proto as pb,
    upstream::{Auth, BackupQuery, UpstreamClient},
};

/// One observed state of a checkpoint (and its backups).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckpointState {
    /// The checkpoint.
    pub checkpoint: pb::Checkpoint,
    /// Its backups (with `include_backups`).
    pub backups: Vec<pb::Backup>,
}

impl CheckpointState {
    /// Terminal: the checkpoint's status is final and no resource is still in
    /// a transitional `protect_status` (upstream reports the checkpoint
    /// `available` while resources may still be finishing).
    pub(crate) fn is_terminal(&self) -> bool {
        use pb::CheckpointStatus as S;
        let status_final = matches!(
            self.checkpoint.status(),
            S::Available | S::Error | S::Deleted | S::ErrorDeleting
        );
        let resources_settled = self.checkpoint.vault.as_ref().is_none_or(|v| {
            v.resources.iter().all(|r| {
                !matches!(
                    r.protect_status(),
                    pb::ProtectStatus::Protecting
                        | pb::ProtectStatus::Restoring
                        | pb::ProtectStatus::Removing
                )
            })
        });
        status_final && resources_settled
    }

    /// What differs from `before`, as short human-readable lines.
    pub(crate) fn changes_since(&self, before: &CheckpointState) -> Vec<String> {
        let mut out = Vec::new();
        let (old, new) = (&before.checkpoint, &self.checkpoint);
        if old.status != new.status {
            out.push(format!(
                "status: {} -> {}",
                old.status().as_str_name(),
                new.status().as_str_name()
            ));
        }
        let resources = |c: &pb::Checkpoint| -> HashMap<String, i32> {
            c.vault
                .iter()
                .flat_map(|v| &v.resources)
                .map(|r| (r.id.clone(), r.protect_status))
                .collect()
        };
        let old_resources = resources(old);
        for r in new.vault.iter().flat_map(|v| &v.resources) {
            if old_resources.get(&r.id) != Some(&r.protect_status) {
                out.push(format!(
                    "resource {} protect_status: {} -> {}",
                    r.id,
                    old_resources
                        .get(&r.id)
                        .and_then(|s| pb::ProtectStatus::try_from(*s).ok())
                        .map_or("(none)", |s| s.as_str_name()),
                    r.protect_status().as_str_name()
                ));
            }
        }
        let old_backups: HashMap<&str, &pb::Backup> =
            before.backups.iter().map(|b| (b.id.as_str(), b)).collect();
        for b in &self.backups {
            let progress = |b: &pb::Backup| b.extend_info.as_ref().and_then(|e| e.progress);
            match old_backups.get(b.id.as_str()) {
                None => out.push(format!(
                    "backup {} appeared: {}",
                    b.id,
                    b.status().as_str_name()
                )),
                Some(o) => {
                    if o.status != b.status {
                        out.push(format!(
                            "backup {} status: {} -> {}",
                            b.id,
                            o.status().as_str_name(),
                            b.status().as_str_name()
                        ));
                    }
                    if progress(o) != progress(b) {
                        let show = |p: Option<i32>| p.map_or("-".to_owned(), |p| p.to_string());
                        out.push(format!(
                            "backup {} progress: {} -> {}",
                            b.id,
                            show(progress(o)),
                            show(progress(b))
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Which poller a watcher shares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct WatchKey {
    /// Project.
    pub project_id: String,
    /// Checkpoint.
    pub checkpoint_id: String,
    /// Whether backups are polled too.
    pub include_backups: bool,
    /// Whose credentials read it: never the credentials themselves.
    pub identity: String,
    /// The region: never shared across regions.
    pub region: std::sync::Arc<str>,
}

impl Subject for WatchKey {
    type State = CheckpointState;
    type Message = pb::WatchCheckpointResponse;

    async fn fetch(
        &self,
        upstream: &UpstreamClient,
        auth: &Auth,
    ) -> Result<CheckpointState, GatewayError> {
        let cp = upstream
            .get_checkpoint(auth, None, &self.project_id, &self.checkpoint_id)
            .await?;
        let backups = if self.include_backups {
            let query = BackupQuery {
                checkpoint_id: Some(self.checkpoint_id.clone()),
                ..Default::default()
            };
            let page = upstream
                .list_backups(auth, None, &self.project_id, &query)
                .await?;
            page.value
                .backups
                .0
                .into_iter()
                .map(pb::Backup::from)
                .collect()
        } else {
            Vec::new()
        };
        Ok(CheckpointState {
            checkpoint: pb::Checkpoint::from(cp.value),
            backups,
        })
    }

    fn is_terminal(state: &CheckpointState) -> bool {
        state.is_terminal()
    }

    fn changes(state: &CheckpointState, before: &CheckpointState) -> Vec<String> {
        state.changes_since(before)
    }

    fn message(
        kind: pb::WatchEventKind,
        snap: &Snapshot<CheckpointState>,
        changes: Vec<String>,
    ) -> pb::WatchCheckpointResponse {
        pb::WatchCheckpointResponse {
            kind: kind as i32,
            checkpoint: Some(snap.state.checkpoint.clone()),
            backups: snap.state.backups.clone(),
            changes,
            observed_at: Some(snap.observed_at),
        }
    }

    fn empty_heartbeat(now: Timestamp) -> pb::WatchCheckpointResponse {
        pb::WatchCheckpointResponse {
            kind: pb::WatchEventKind::Heartbeat as i32,
            observed_at: Some(now),
            ..Default::default()
        }
    }

    fn label(&self) -> String {
        format!("checkpoint {}", self.checkpoint_id)
    }

    fn region(&self) -> &str {
        &self.region
    }
}
