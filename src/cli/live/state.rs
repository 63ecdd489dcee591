//! What the client knows of the checkpoint, merged message by message from
//! the stream: one item per resource, with its status, progress and run time.

use std::time::{Duration, SystemTime};

use prost_types::Timestamp;

use super::format::human;
use crate::{
    cli::render::{backup_status, checkpoint_status, or_id, protect_status},
    proto as pb,
};

/// What the client knows of the checkpoint, merged from the stream.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) checkpoint: Option<pb::Checkpoint>,
    /// One per resource, in the order they appeared.
    pub(super) items: Vec<Item>,
    /// When the checkpoint reached its final status.
    pub(super) finished: Option<SystemTime>,
    /// The checkpoint was seen running: its elapsed time means something
    /// (one that ended long ago has no run time to show).
    pub(super) seen_running: bool,
}

/// One resource being backed up.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) resource_id: String,
    /// Resource name (its ID when upstream has none).
    pub(super) name: String,
    /// Resource type, e.g. `OS::Nova::Server`.
    pub(super) kind: String,
    /// Its backup's status when the stream carries backups, else its `protect_status`.
    pub(super) status: String,
    /// 0–100.
    pub(super) progress: u64,
    /// When its backup (or the checkpoint) started.
    pub(super) started: Option<SystemTime>,
    /// When it reached a final status.
    pub(super) finished: Option<SystemTime>,
    /// Its run time is known: seen running, or timed by upstream's update time.
    pub(super) timed: bool,
}

impl Item {
    pub(super) fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "available" | "error")
    }

    pub(super) fn failed(&self) -> bool {
        self.status == "error"
    }

    pub(super) fn elapsed(&self) -> Duration {
        since(self.started, self.finished)
    }

    /// `4s`, or nothing when the run time is unknown.
    pub(super) fn elapsed_text(&self) -> String {
        if self.timed {
            human(self.elapsed())
        } else {
            String::new()
        }
    }
}

/// What one message changed.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// The checkpoint's status, when it changed (or was first seen).
    pub(super) checkpoint: bool,
    /// Indexes of items that appeared or changed.
    pub(super) items: Vec<usize>,
}

impl State {
    pub(super) fn apply(&mut self, event: &pb::WatchCheckpointResponse) -> Changes {
        let mut changes = Changes::default();
        // A heartbeat before the first state carries no checkpoint: nothing
        // to merge, nothing to show.
        let Some(c) = &event.checkpoint else {
            return changes;
        };
        let observed = event
            .observed_at
            .as_ref()
            .and_then(to_system)
            .unwrap_or_else(SystemTime::now);
        self.seen_running |= !is_final_checkpoint(c.status());
        if self.checkpoint.as_ref().map(|old| old.status) != Some(c.status) {
            changes.checkpoint = true;
            if is_final_checkpoint(c.status()) && self.finished.is_none() {
                self.finished = Some(observed);
            }
        }
        let checkpoint_start = c.created_at.as_ref().and_then(to_system);
        self.checkpoint = Some(c.clone());
        for r in c.vault.iter().flat_map(|v| &v.resources) {
            let status = protect_status(r.protect_status());
            let i = self.item(&r.id, &r.name, &r.r#type, checkpoint_start);
            // Once backups are known, theirs is the finer status.
            if event.backups.iter().any(|b| b.resource_id == r.id) {
                continue;
            }
            let progress = if status == "available" {
                100
            } else {
                self.items[i].progress
            };
            if self.update(i, status, progress, None, observed) {
                changes.items.push(i);
            }
        }
        let ids: Vec<&str> = event.backups.iter().map(|b| b.id.as_str()).collect();
        // Volume backups of a server backup are its parts, not resources of their own.
        for b in event
            .backups
            .iter()
            .filter(|b| !ids.contains(&b.parent_id.as_str()))
        {
            let start = b
                .created_at
                .as_ref()
                .and_then(to_system)
                .or(checkpoint_start);
            let i = self.item(&b.resource_id, &b.resource_name, &b.resource_type, start);
            if let Some(s) = start {
                self.items[i].started = Some(s);
            }
            let status = backup_status(b.status());
            let progress = match b.extend_info.as_ref().and_then(|e| e.progress) {
                Some(p) => u64::try_from(p.clamp(0, 100)).unwrap_or(0),
                None if status == "available" => 100,
                None => self.items[i].progress,
            };
            let updated = b.updated_at.as_ref().and_then(to_system);
            if self.update(i, status, progress, updated, observed) && !changes.items.contains(&i) {
                changes.items.push(i);
            }
        }
        changes
    }

    /// The item of this resource, added when new.
    pub(super) fn item(
        &mut self,
        id: &str,
        name: &str,
        kind: &str,
        started: Option<SystemTime>,
    ) -> usize {
        if let Some(i) = self.items.iter().position(|it| it.resource_id == id) {
            return i;
        }
        self.items.push(Item {
            resource_id: id.to_owned(),
            name: or_id(name, id),
            kind: kind.to_owned(),
            status: String::new(),
            progress: 0,
            started,
            finished: None,
            timed: false,
        });
        self.items.len() - 1
    }

    /// Sets an item's status and progress; whether anything changed.
    pub(super) fn update(
        &mut self,
        i: usize,
        status: String,
        progress: u64,
        updated: Option<SystemTime>,
        observed: SystemTime,
    ) -> bool {
        let item = &mut self.items[i];
        if item.status == status && item.progress == progress {
            return false;
        }
        item.status = status;
        item.progress = progress;
        if !item.is_final() {
            item.timed = true;
        } else if item.finished.is_none() {
            // Upstream's update time is when it really finished; the poll that
            // saw it can be a while later.
            item.finished = Some(match (updated, item.started) {
                (Some(u), Some(s)) if u > s && u <= observed => {
                    item.timed = true;
                    u
                }
                _ => observed,
            });
        }
        true
    }

    pub(super) fn checkpoint_elapsed(&self) -> Duration {
        let start = self
            .checkpoint
            .as_ref()
            .and_then(|c| c.created_at.as_ref())
            .and_then(to_system);
        since(start, self.finished)
    }

    /// `4s`, or nothing for a checkpoint that had ended before the watch.
    pub(super) fn elapsed_text(&self) -> String {
        if self.seen_running {
            human(self.checkpoint_elapsed())
        } else {
            String::new()
        }
    }

    pub(super) fn summary(&self) -> Vec<String> {
        let Some(c) = &self.checkpoint else {
            return vec![];
        };
        let failed: Vec<&Item> = self.items.iter().filter(|i| i.failed()).collect();
        let done = self
            .items
            .iter()
            .filter(|i| i.status == "available")
            .count();
        let status = checkpoint_status(c.status());
        let mut lines = vec![format!(
            "checkpoint {} {status}{}: {done} of {} resource(s) backed up{}",
            c.id,
            if self.seen_running {
                format!(" after {}", self.elapsed_text())
            } else {
                String::new()
            },
            self.items.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(", {} failed", failed.len())
            }
        )];
        for i in failed {
            lines.push(format!(
                "  failed: {} ({}, {})",
                i.name, i.kind, i.resource_id
            ));
        }
        lines
    }
}

pub(super) fn is_final_checkpoint(s: pb::CheckpointStatus) -> bool {
    use pb::CheckpointStatus as S;
    matches!(s, S::Available | S::Error | S::Deleted | S::ErrorDeleting)
}

pub(super) fn to_system(t: &Timestamp) -> Option<SystemTime> {
    SystemTime::try_from(*t).ok()
}

/// From `start` to `end` (now while running); zero when unknown or when the
/// clocks disagree.
pub(super) fn since(start: Option<SystemTime>, end: Option<SystemTime>) -> Duration {
    let Some(start) = start else {
        return Duration::ZERO;
    };
    end.unwrap_or_else(SystemTime::now)
        .duration_since(start)
        .unwrap_or_default()
}
