//! The hub behind WatchCheckpoint: one shared poller per checkpoint and
//! credential identity, any number of watchers.
//!
//! ```text
//! watcher ─┐                       ┌─ GET checkpoint (+ ListBackups checkpoint_id=…)
//! watcher ─┼─ watch::Receiver ◄── Poller ── every interval (adaptive, jittered)
//! watcher ─┘   (latest state)      └─ publishes only when something changed
//! ```
//!
//! * A watcher joining a running poller gets its latest state at once and costs no
//!   upstream call. Pollers are keyed by the caller's credential identity (a hash
//!   of the caller's token, or the gateway's own identity), so a watcher never
//!   receives what its own credentials could not read.
//! * Failed polls fall in three classes ([`FailureClass`]): transient ones
//!   (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED: connect errors, 502,
//!   503, 504, 429, timeouts) are retried with backoff and never end a stream;
//!   ones that may pass (INTERNAL, UNKNOWN, ABORTED: a 500, an odd answer) are
//!   retried too, but the [`MAX_PASSING_FAILURES`]th since the last successful
//!   poll is published to every watcher; permanent ones (404, 403, 401, 400, …)
//!   are published at once.
//! * The poller stops when the state is terminal, on a published failure, or as
//!   soon as the last watcher leaves, even in the middle of a poll (the upstream
//!   request is dropped, which aborts it).
//! * A watcher is a stream over its receiver, not a task: an idle watcher costs a
//!   receiver, a timer and the `Arc` of the state it last sent. It sends
//!   heartbeats whenever it has sent nothing for the heartbeat interval, also
//!   before the first state (then without a checkpoint), so proxies' idle
//!   timeouts never cut a watch whose first poll keeps failing.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use prost_types::Timestamp;
use tokio::{sync::watch, time::Instant};
use tonic::Status;

use crate::{
    error::GatewayError,
    proto as pb,
    upstream::BackupQuery,
    upstream::{Auth, FailureClass, UpstreamClient, UpstreamError},
};

use super::BoxStream;

/// Timing of pollers and watchers.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// Interval between polls while things change.
    pub poll_interval: Duration,
    /// Longest interval the adaptive slow-down reaches for long jobs.
    pub max_poll_interval: Duration,
    /// A watcher that has sent nothing for this long sends a heartbeat.
    pub heartbeat: Duration,
}

/// What a poller publishes.
#[derive(Debug, Clone)]
pub(crate) enum Published {
    /// Nothing fetched yet.
    Pending,
    /// The latest state.
    State(Arc<Snapshot>),
    /// A permanent failure: watchers end with this status.
    Failed(Status),
}

/// One observed state of a checkpoint (and its backups).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// The checkpoint.
    pub checkpoint: pb::Checkpoint,
    /// Its backups (with `include_backups`).
    pub backups: Vec<pb::Backup>,
    /// When the poller observed it.
    pub observed_at: Timestamp,
}

impl Snapshot {
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
    pub(crate) fn changes_since(&self, before: &Snapshot) -> Vec<String> {
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
}

struct Entry {
    /// Tells entries apart when a key is reused after its poller ended.
    generation: u64,
    sender: Arc<watch::Sender<Published>>,
}

/// The one owner of every running poller.
pub(crate) struct WatchHub {
    upstream: UpstreamClient,
    settings: WatchSettings,
    pollers: Mutex<HashMap<WatchKey, Entry>>,
    generations: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub")
            .field("settings", &self.settings)
            .field("pollers", &self.poller_count())
            .finish()
    }
}

impl WatchHub {
    /// A hub polling through `upstream`.
    pub(crate) fn new(upstream: UpstreamClient, settings: WatchSettings) -> Arc<Self> {
        Arc::new(Self {
            upstream,
            settings,
            pollers: Mutex::new(HashMap::new()),
            generations: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Running pollers.
    pub(crate) fn poller_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WatchKey, Entry>> {
        self.pollers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the poller for `key`, starting one if none runs.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        key: WatchKey,
        auth: Auth,
    ) -> watch::Receiver<Published> {
        let mut pollers = self.lock();
        if let Some(entry) = pollers.get(&key) {
            return entry.sender.subscribe();
        }
        let (sender, receiver) = watch::channel(Published::Pending);
        let sender = Arc::new(sender);
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        pollers.insert(
            key.clone(),
            Entry {
                generation,
                sender: sender.clone(),
            },
        );
        tokio::spawn(self.clone().poll(key, generation, sender, auth));
        receiver
    }

    /// Removes the entry if it is still this poller's and, unless `force`, no
    /// one watches; returns whether the poller should stop.
    fn retire(&self, key: &WatchKey, generation: u64, force: bool) -> bool {
        let mut pollers = self.lock();
        let Some(entry) = pollers.get(key) else {
            return true;
        };
        if entry.generation != generation {
            return true;
        }
        if force || entry.sender.receiver_count() == 0 {
            pollers.remove(key);
            return true;
        }
        false
    }

    async fn poll(
        self: Arc<Self>,
        key: WatchKey,
        generation: u64,
        sender: Arc<watch::Sender<Published>>,
        auth: Auth,
    ) {
        let s = self.settings;
        let mut interval = s.poll_interval;
        let mut last: Option<Arc<Snapshot>> = None;
        // Failures that may pass, since the last successful poll.
        let mut passing_failures = 0u32;
        loop {
            // A poll can hang up to the upstream timeout; no one should wait
            // for it once every watcher has left. Dropping the fetch drops the
            // upstream request, which aborts it.
            let fetched = tokio::select! {
                fetched = self.fetch(&key, &auth) => fetched,
                () = sender.closed() => {
                    if self.retire(&key, generation, false) {
                        return;
                    }
                    // A watcher joined as the last one left: poll for it.
                    continue;
                }
            };
            let wait = match fetched {
                Ok(snap) => {
                    passing_failures = 0;
                    let changed = last.as_deref().is_none_or(|l| {
                        l.checkpoint != snap.checkpoint || l.backups != snap.backups
                    });
                    let terminal = snap.is_terminal();
                    if changed {
                        let snap = Arc::new(snap);
                        last = Some(snap.clone());
                        sender.send_replace(Published::State(snap));
                        interval = s.poll_interval;
                    } else {
                        // Long jobs change rarely: poll less often, up to the cap.
                        interval = (interval.mul_f32(1.5)).min(s.max_poll_interval);
                    }
                    if terminal {
                        self.retire(&key, generation, true);
                        return;
                    }
                    interval
                }
                Err(error) => {
                    let class = error.class();
                    if class == FailureClass::MayPass {
                        passing_failures += 1;
                    }
                    let retry = match class {
                        FailureClass::Transient => true,
                        FailureClass::MayPass => passing_failures < MAX_PASSING_FAILURES,
                        FailureClass::Permanent => false,
                    };
                    if !retry {
                        tracing::info!(checkpoint = %key.checkpoint_id, %error, passing_failures, "watch poll failed; ending the watch");
                        let status = GatewayError::Upstream(error).to_status();
                        sender.send_replace(Published::Failed(status));
                        self.retire(&key, generation, true);
                        return;
                    }
                    tracing::debug!(checkpoint = %key.checkpoint_id, %error, passing_failures, "watch poll failed; retrying");
                    interval = (interval * 2).min(s.max_poll_interval);
                    interval
                }
            };
            let jittered = jitter(wait);
            tokio::select! {
                () = tokio::time::sleep(jittered) => {}
                () = sender.closed() => {}
            }
            if sender.receiver_count() == 0 && self.retire(&key, generation, false) {
                return;
            }
        }
    }

    async fn fetch(&self, key: &WatchKey, auth: &Auth) -> Result<Snapshot, UpstreamError> {
        let cp = self
            .upstream
            .get_checkpoint(auth, None, &key.project_id, &key.checkpoint_id)
            .await?;
        let backups = if key.include_backups {
            let query = BackupQuery {
                checkpoint_id: Some(key.checkpoint_id.clone()),
                ..Default::default()
            };
            let page = self
                .upstream
                .list_backups(auth, None, &key.project_id, &query)
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
        let now = std::time::SystemTime::now();
        Ok(Snapshot {
            checkpoint: pb::Checkpoint::from(cp.value),
            backups,
            observed_at: Timestamp::from(now),
        })
    }
}

/// Failed polls of the [`FailureClass::MayPass`] class since the last
/// successful poll after which a watch ends with the last one (transient
/// failures in between neither count nor reset): an upstream answering 500
/// for ever must not hold its watchers for ever with nothing to show.
pub const MAX_PASSING_FAILURES: u32 = 5;

/// ±10 % so that many pollers started together do not poll in lockstep.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.9 + fastrand::f64() * 0.2)
}

/// State of one watcher's stream.
struct Watcher {
    rx: watch::Receiver<Published>,
    last: Option<Arc<Snapshot>>,
    heartbeat: Duration,
    next_heartbeat: Instant,
    done: bool,
}

fn message(
    kind: pb::WatchEventKind,
    snap: &Snapshot,
    changes: Vec<String>,
) -> pb::WatchCheckpointResponse {
    pb::WatchCheckpointResponse {
        kind: kind as i32,
        checkpoint: Some(snap.checkpoint.clone()),
        backups: snap.backups.clone(),
        changes,
        observed_at: Some(snap.observed_at),
    }
}

/// A heartbeat: the last state sent again, or, before the first state, no
/// checkpoint and the time now.
fn heartbeat_message(last: Option<&Snapshot>) -> pb::WatchCheckpointResponse {
    match last {
        Some(snap) => message(pb::WatchEventKind::Heartbeat, snap, Vec::new()),
        None => pb::WatchCheckpointResponse {
            kind: pb::WatchEventKind::Heartbeat as i32,
            observed_at: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        },
    }
}

/// The stream of one watcher over `rx`: the current state at once, then a
/// message per change, heartbeats while nothing changes (and while the first
/// state is still coming), and the end (OK) after a terminal state.
pub(crate) fn watcher_stream(
    rx: watch::Receiver<Published>,
    heartbeat: Duration,
) -> BoxStream<pb::WatchCheckpointResponse> {
    let state = Watcher {
        rx,
        last: None,
        heartbeat,
        next_heartbeat: Instant::now() + heartbeat,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut w| async move {
        if w.done {
            return None;
        }
        loop {
            let current = w.rx.borrow_and_update().clone();
            match current {
                Published::Failed(status) => {
                    w.done = true;
                    return Some((Err(status), w));
                }
                Published::State(snap) => {
                    let kind_changes = match &w.last {
                        None => Some((pb::WatchEventKind::Initial, Vec::new())),
                        Some(last) if Arc::ptr_eq(last, &snap) => None,
                        Some(last) => {
                            let changes = snap.changes_since(last);
                            (!changes.is_empty()).then_some((pb::WatchEventKind::Changed, changes))
                        }
                    };
                    if let Some((kind, changes)) = kind_changes {
                        w.last = Some(snap.clone());
                        w.next_heartbeat = Instant::now() + w.heartbeat;
                        w.done = snap.is_terminal();
                        return Some((Ok(message(kind, &snap, changes)), w));
                    }
                }
                Published::Pending => {}
            }
            tokio::select! {
                changed = w.rx.changed() => {
                    if changed.is_err() {
                        // The poller ended without a terminal state or a failure
                        // it published: nothing more will come.
                        w.done = true;
                        return Some((Err(GatewayError::WatchEnded.to_status()), w));
                    }
                }
                // Also before the first state: a first poll that keeps
                // failing must not leave the stream silent for proxies
                // (Envoy cuts streams idle for 5 minutes).
                () = tokio::time::sleep_until(w.next_heartbeat) => {
                    w.next_heartbeat = Instant::now() + w.heartbeat;
                    return Some((Ok(heartbeat_message(w.last.as_deref())), w));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;
    use tonic::Code;

    fn snapshot(status: pb::CheckpointStatus) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            checkpoint: pb::Checkpoint {
                id: "c".into(),
                status: status as i32,
                ..Default::default()
            },
            backups: vec![],
            observed_at: Timestamp {
                seconds: 1000,
                nanos: 0,
            },
        })
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_flow_before_the_first_state_then_carry_it() {
        let (tx, rx) = watch::channel(Published::Pending);
        let mut stream = watcher_stream(rx, Duration::from_secs(10));
        let started = Instant::now();
        for n in 1..=3 {
            let beat = stream.next().await.unwrap().unwrap();
            assert_eq!(beat.kind(), pb::WatchEventKind::Heartbeat);
            assert!(beat.checkpoint.is_none() && beat.backups.is_empty());
            assert!(beat.changes.is_empty());
            assert!(beat.observed_at.is_some());
            assert_eq!(started.elapsed(), Duration::from_secs(10 * n));
        }
        tx.send_replace(Published::State(snapshot(pb::CheckpointStatus::Protecting)));
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.kind(), pb::WatchEventKind::Initial);
        let beat = stream.next().await.unwrap().unwrap();
        assert_eq!(beat.kind(), pb::WatchEventKind::Heartbeat);
        assert_eq!(beat.checkpoint.unwrap().id, "c");
        assert_eq!(beat.observed_at.unwrap().seconds, 1000, "the state's time");
    }

    #[tokio::test(start_paused = true)]
    async fn a_published_failure_ends_a_watcher_that_had_only_heartbeats() {
        let (tx, rx) = watch::channel(Published::Pending);
        let mut stream = watcher_stream(rx, Duration::from_secs(10));
        assert_eq!(
            stream.next().await.unwrap().unwrap().kind(),
            pb::WatchEventKind::Heartbeat
        );
        tx.send_replace(Published::Failed(Status::internal("upstream 500")));
        let end = stream.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), Code::Internal);
        assert!(stream.next().await.is_none());
    }
}
