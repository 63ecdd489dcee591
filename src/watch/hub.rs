//! The hub behind WatchCheckpoint, WatchOperation and WaitOperation: one
//! shared poller per watched [`Subject`] (a checkpoint, an operation) and
//! credential identity, any number of watchers.
//!
//! ```text
//! watcher ─┐                       ┌─ Subject::fetch (GET checkpoint, + ListBackups, …)
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
    upstream::{Auth, FailureClass, UpstreamClient, regional::Upstreams},
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

/// What a hub watches: a key (which poller a watcher shares, including the
/// credential identity that reads it), how to read its state, and how that
/// state reads as a stream message.
pub(crate) trait Subject: Clone + Eq + std::hash::Hash + Send + Sync + 'static {
    /// One observed state.
    type State: PartialEq + Send + Sync + 'static;
    /// The message watchers stream.
    type Message: Send + 'static;

    /// Reads the current state upstream (no deadline: the upstream timeout
    /// bounds each poll).
    fn fetch(
        &self,
        upstream: &UpstreamClient,
        auth: &Auth,
    ) -> impl std::future::Future<Output = Result<Self::State, GatewayError>> + Send;
    /// Whether nothing more will change.
    fn is_terminal(state: &Self::State) -> bool;
    /// What differs from `before`, as short human-readable lines.
    fn changes(state: &Self::State, before: &Self::State) -> Vec<String>;
    /// The message carrying `snap`.
    fn message(
        kind: pb::WatchEventKind,
        snap: &Snapshot<Self::State>,
        changes: Vec<String>,
    ) -> Self::Message;
    /// A heartbeat before the first state is known.
    fn empty_heartbeat(now: Timestamp) -> Self::Message;
    /// What the log lines name it by.
    fn label(&self) -> String;
    /// The region it is read in: each region's pollers use that region's
    /// upstream client (and so its slots and retry budget).
    fn region(&self) -> &str;
}

/// What a poller publishes.
#[derive(Debug)]
pub(crate) enum Published<S> {
    /// Nothing fetched yet.
    Pending,
    /// The latest state.
    State(Arc<Snapshot<S>>),
    /// A permanent failure: watchers end with this status.
    Failed(Status),
}

impl<S> Clone for Published<S> {
    fn clone(&self) -> Self {
        match self {
            Published::Pending => Published::Pending,
            Published::State(s) => Published::State(s.clone()),
            Published::Failed(status) => Published::Failed(status.clone()),
        }
    }
}

/// One observed state and when it was observed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot<S> {
    /// The state.
    pub state: S,
    /// When the poller observed it.
    pub observed_at: Timestamp,
}

struct Entry<K: Subject> {
    /// Tells entries apart when a key is reused after its poller ended.
    generation: u64,
    sender: Arc<watch::Sender<Published<K::State>>>,
}

/// The one owner of every running poller of one kind of subject.
pub(crate) struct WatchHub<K: Subject> {
    upstreams: Arc<Upstreams>,
    settings: WatchSettings,
    pollers: Mutex<HashMap<K, Entry<K>>>,
    generations: std::sync::atomic::AtomicU64,
}

impl<K: Subject> std::fmt::Debug for WatchHub<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub")
            .field("settings", &self.settings)
            .field("pollers", &self.poller_count())
            .finish()
    }
}

impl<K: Subject> WatchHub<K> {
    /// A hub polling through `upstream`.
    pub(crate) fn new(upstreams: Arc<Upstreams>, settings: WatchSettings) -> Arc<Self> {
        Arc::new(Self {
            upstreams,
            settings,
            pollers: Mutex::new(HashMap::new()),
            generations: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Running pollers.
    pub(crate) fn poller_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<K>>> {
        self.pollers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the poller for `key`, starting one if none runs.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        key: K,
        auth: Auth,
    ) -> watch::Receiver<Published<K::State>> {
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
    fn retire(&self, key: &K, generation: u64, force: bool) -> bool {
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
        key: K,
        generation: u64,
        sender: Arc<watch::Sender<Published<K::State>>>,
        auth: Auth,
    ) {
        let s = self.settings;
        let mut interval = s.poll_interval;
        let mut last: Option<Arc<Snapshot<K::State>>> = None;
        // Failures that may pass, since the last successful poll.
        let mut passing_failures = 0u32;
        // The call that started the poller settled the region already.
        let upstream = self
            .upstreams
            .get(key.region())
            .map_or_else(|_| self.upstreams.default_client().clone(), |(_, c)| c);
        loop {
            // A poll can hang up to the upstream timeout; no one should wait
            // for it once every watcher has left. Dropping the fetch drops the
            // upstream request, which aborts it.
            let fetched = tokio::select! {
                fetched = key.fetch(&upstream, &auth) => fetched,
                () = sender.closed() => {
                    if self.retire(&key, generation, false) {
                        return;
                    }
                    // A watcher joined as the last one left: poll for it.
                    continue;
                }
            };
            let wait = match fetched {
                Ok(state) => {
                    passing_failures = 0;
                    let changed = last.as_deref().is_none_or(|l| l.state != state);
                    let terminal = K::is_terminal(&state);
                    if changed {
                        let snap = Arc::new(Snapshot {
                            state,
                            observed_at: Timestamp::from(std::time::SystemTime::now()),
                        });
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
                        tracing::info!(watched = %key.label(), %error, passing_failures, "watch poll failed; ending the watch");
                        let status = error.to_status();
                        sender.send_replace(Published::Failed(status));
                        self.retire(&key, generation, true);
                        return;
                    }
                    tracing::debug!(watched = %key.label(), %error, passing_failures, "watch poll failed; retrying");
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
struct Watcher<K: Subject> {
    rx: watch::Receiver<Published<K::State>>,
    last: Option<Arc<Snapshot<K::State>>>,
    heartbeat: Duration,
    next_heartbeat: Instant,
    done: bool,
}

/// A heartbeat: the last state sent again, or, before the first state, no
/// state and the time now.
fn heartbeat_message<K: Subject>(last: Option<&Snapshot<K::State>>) -> K::Message {
    match last {
        Some(snap) => K::message(pb::WatchEventKind::Heartbeat, snap, Vec::new()),
        None => K::empty_heartbeat(Timestamp::from(std::time::SystemTime::now())),
    }
}

/// The stream of one watcher over `rx`: the current state at once, then a
/// message per change, heartbeats while nothing changes (and while the first
/// state is still coming), and the end (OK) after a terminal state.
pub(crate) fn watcher_stream<K: Subject>(
    rx: watch::Receiver<Published<K::State>>,
    heartbeat: Duration,
) -> BoxStream<K::Message> {
    let state = Watcher::<K> {
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
                            let changes = K::changes(&snap.state, &last.state);
                            (!changes.is_empty()).then_some((pb::WatchEventKind::Changed, changes))
                        }
                    };
                    if let Some((kind, changes)) = kind_changes {
                        w.last = Some(snap.clone());
                        w.next_heartbeat = Instant::now() + w.heartbeat;
                        w.done = K::is_terminal(&snap.state);
                        return Some((Ok(K::message(kind, &snap, changes)), w));
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
                    return Some((Ok(heartbeat_message::<K>(w.last.as_deref())), w));
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

    use crate::watch::checkpoint::{CheckpointState, WatchKey};

    fn snapshot(status: pb::CheckpointStatus) -> Arc<Snapshot<CheckpointState>> {
        Arc::new(Snapshot {
            state: CheckpointState {
                checkpoint: pb::Checkpoint {
                    id: "c".into(),
                    status: status as i32,
                    ..Default::default()
                },
                backups: vec![],
            },
            observed_at: Timestamp {
                seconds: 1000,
                nanos: 0,
            },
        })
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_flow_before_the_first_state_then_carry_it() {
        let (tx, rx) = watch::channel(Published::Pending);
        let mut stream = watcher_stream::<WatchKey>(rx, Duration::from_secs(10));
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
        let mut stream = watcher_stream::<WatchKey>(rx, Duration::from_secs(10));
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
