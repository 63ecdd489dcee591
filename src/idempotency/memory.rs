//! The in-process store: a map from [`Key`] to an in-flight create (a watch
//! channel its waiters subscribe to) or a finished one (its outcome and expiry),
//! plus a queue of finished keys in the order they finished.
//!
//! Every finished entry lives for the same TTL, so that queue is also the order
//! of expiry: expired entries are dropped from its front, and when more than
//! `max_entries` finished ones are held the oldest go first. In-flight entries
//! are never evicted (their callers are waiting, and forgetting one would let a
//! repeat create twice) and do not count: their number is bounded by the calls
//! in flight.

use prost_types::Any;
use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::{sync::watch, time::Instant};

use super::{
    CreateResult, Fingerprint, Finished, IdempotencyError, Key, Outcome, wait_for_outcome,
};
use crate::upstream::{Reply, UpstreamError};

/// Remembered creates of this process.
pub(crate) struct MemoryStore {
    ttl: Duration,
    max_entries: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Finished entries, oldest first, with the serial of the entry they name
    /// (a key may since have been removed and led again).
    finished: VecDeque<(Key, u64)>,
    next_serial: u64,
}

struct Entry {
    fingerprint: Fingerprint,
    /// Tells this entry from a later one under the same key.
    serial: u64,
    slot: Slot,
}

enum Slot {
    /// The create runs; waiters subscribe here.
    InFlight(watch::Sender<Option<Finished>>),
    /// The create finished; repeats get this until `expires`.
    Done { outcome: Outcome, expires: Instant },
}

/// What a call with a key finds.
pub(crate) enum Begin {
    /// A remembered outcome.
    Done(Outcome),
    /// The key was used with another fingerprint.
    Mismatch,
    /// Another call's create runs: wait for it.
    Wait(watch::Receiver<Option<Finished>>),
    /// Nobody has it: this call leads, and records the outcome through [`Lead`].
    Lead(Lead, watch::Receiver<Option<Finished>>),
}

/// The right and duty to record one key's outcome. Dropped without
/// [`Lead::finish`] (the task panicked or the runtime stopped), it removes its
/// in-flight entry, so waiters are released and a repeat can lead.
pub(crate) struct Lead {
    store: Arc<MemoryStore>,
    key: Key,
    serial: u64,
    done: bool,
}

impl MemoryStore {
    /// A store remembering at most `max_entries` finished creates for `ttl`.
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path leaves the state half-updated on a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks `key` up, and leads when nobody has it.
    pub(crate) fn begin(self: &Arc<Self>, key: Key, fingerprint: Fingerprint) -> Begin {
        let mut state = self.lock();
        state.drop_expired(Instant::now());
        if let Some(entry) = state.entries.get(&key) {
            if entry.fingerprint != fingerprint {
                return Begin::Mismatch;
            }
            return match &entry.slot {
                Slot::InFlight(tx) => Begin::Wait(tx.subscribe()),
                Slot::Done { outcome, .. } => Begin::Done(outcome.clone()),
            };
        }
        let (tx, rx) = watch::channel(None);
        let serial = state.next_serial;
        state.next_serial += 1;
        state.entries.insert(
            key,
            Entry {
                fingerprint,
                serial,
                slot: Slot::InFlight(tx),
            },
        );
        let lead = Lead {
            store: self.clone(),
            key,
            serial,
            done: false,
        };
        Begin::Lead(lead, rx)
    }

    /// How many keys are held (in flight or finished).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

impl State {
    /// Drops finished entries whose time is up (they sit at the queue's front).
    fn drop_expired(&mut self, now: Instant) {
        while let Some((key, serial)) = self.finished.front().copied() {
            match self.entries.get(&key) {
                Some(Entry {
                    serial: s,
                    slot: Slot::Done { expires, .. },
                    ..
                }) if *s == serial => {
                    if *expires > now {
                        return;
                    }
                    self.entries.remove(&key);
                }
                // A queue item whose entry is gone: skip it.
                _ => {}
            }
            self.finished.pop_front();
        }
    }

    /// Evicts the oldest finished entries while more than `max` are held.
    /// Every finished entry has exactly one item in the queue, so its length
    /// is their number.
    fn shrink(&mut self, max: usize) {
        while self.finished.len() > max {
            let Some((key, serial)) = self.finished.pop_front() else {
                return;
            };
            if matches!(self.entries.get(&key),
                Some(Entry { serial: s, slot: Slot::Done { .. }, .. }) if *s == serial)
            {
                self.entries.remove(&key);
            }
        }
    }
}

impl Lead {
    /// Records `finished` (or forgets the key) and hands it to every waiter.
    pub(crate) fn finish(mut self, finished: Finished) {
        self.done = true;
        let store = self.store.clone();
        let mut state = store.lock();
        let Some(entry) = state.entries.get_mut(&self.key) else {
            return;
        };
        if entry.serial != self.serial {
            return;
        }
        let slot = match &finished {
            Finished::Remember(outcome) => {
                let done = Slot::Done {
                    outcome: outcome.clone(),
                    expires: Instant::now() + store.ttl,
                };
                let slot = std::mem::replace(&mut entry.slot, done);
                state.finished.push_back((self.key, self.serial));
                state.shrink(store.max_entries);
                slot
            }
            Finished::Forget(_) => match state.entries.remove(&self.key) {
                Some(entry) => entry.slot,
                None => return,
            },
        };
        drop(state);
        if let Slot::InFlight(tx) = slot {
            // send_replace: the value must land even when nobody listens now.
            tx.send_replace(Some(finished));
        }
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.store.lock();
        if matches!(state.entries.get(&self.key),
            Some(Entry { serial, slot: Slot::InFlight(_), .. }) if *serial == self.serial)
        {
            // Dropping the sender closes every waiter's receiver.
            state.entries.remove(&self.key);
        }
    }
}

/// [`super::Idempotency::create`] on the memory store.
pub(crate) async fn create<F>(
    store: &Arc<MemoryStore>,
    leader: &super::Leader<'_>,
    key: Key,
    fingerprint: Fingerprint,
    deadline: Option<Instant>,
    create: F,
) -> CreateResult
where
    F: Future<Output = Result<Reply<Any>, UpstreamError>> + Send + 'static,
{
    let mut create = Some(create);
    loop {
        let mut rx = match store.begin(key, fingerprint) {
            Begin::Done(outcome) => return Finished::Remember(outcome).into_result(),
            Begin::Mismatch => return Err(IdempotencyError::Mismatch),
            Begin::Wait(rx) => rx,
            Begin::Lead(lead, rx) => {
                // Having led once, a vanished create must not be re-sent.
                let Some(create) = create.take() else {
                    return Err(IdempotencyError::Interrupted);
                };
                // Detached: the outcome is recorded even if this caller leaves.
                leader.spawn(create, |finished| async move {
                    lead.finish(finished);
                });
                rx
            }
        };
        match wait_for_outcome(&mut rx, deadline).await? {
            Some(finished) => return finished.into_result(),
            // The leader vanished without an outcome: look again.
            None => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{idempotency::Fingerprint, upstream::Service};

    fn key(n: u8) -> Key {
        Key([n; 32])
    }

    const FP: Fingerprint = Fingerprint([1; 32]);

    fn created(id: &str) -> Finished {
        Finished::Remember(Outcome::Created(Arc::new(Reply {
            value: Any {
                type_url: id.into(),
                value: vec![],
            },
            request_id: Some(format!("req-{id}")),
        })))
    }

    fn lead(store: &Arc<MemoryStore>, k: Key) -> Lead {
        match store.begin(k, FP) {
            Begin::Lead(lead, _) => lead,
            _ => panic!("expected to lead"),
        }
    }

    fn done_id(store: &Arc<MemoryStore>, k: Key) -> Option<String> {
        match store.begin(k, FP) {
            Begin::Done(Outcome::Created(r)) => Some(r.value.type_url.clone()),
            Begin::Lead(..) => None,
            _ => panic!("unexpected state"),
        }
    }

    #[tokio::test]
    async fn the_oldest_finished_entries_are_evicted_first_never_in_flight_ones() {
        let store = Arc::new(MemoryStore::new(Duration::from_secs(3600), 2));
        let a = lead(&store, key(1));
        let b = lead(&store, key(2));
        let c = lead(&store, key(3));
        b.finish(created("b"));
        a.finish(created("a"));
        assert_eq!(store.len(), 3, "two finished, one in flight");
        // A third finished one goes over the bound: b, the first to finish, goes.
        c.finish(created("c"));
        assert_eq!(store.len(), 2);
        assert_eq!(done_id(&store, key(1)).as_deref(), Some("a"));
        assert_eq!(done_id(&store, key(3)).as_deref(), Some("c"));
        // In-flight entries are never evicted, however many.
        let _d = lead(&store, key(4));
        let _e = lead(&store, key(5));
        assert!(matches!(store.begin(key(4), FP), Begin::Wait(_)));
        assert!(matches!(store.begin(key(5), FP), Begin::Wait(_)));
        assert_eq!(done_id(&store, key(1)).as_deref(), Some("a"));
        // b was forgotten: looking it up leads again.
        assert_eq!(done_id(&store, key(2)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn finished_entries_expire_after_the_ttl() {
        let store = Arc::new(MemoryStore::new(Duration::from_secs(10), 100));
        lead(&store, key(1)).finish(created("x"));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(done_id(&store, key(1)).as_deref(), Some("x"));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(done_id(&store, key(1)), None, "expired: leads again");
    }

    #[tokio::test]
    async fn a_different_fingerprint_is_refused_in_flight_and_after() {
        let store = Arc::new(MemoryStore::new(Duration::from_secs(10), 100));
        let l = lead(&store, key(1));
        assert!(matches!(
            store.begin(key(1), Fingerprint([2; 32])),
            Begin::Mismatch
        ));
        l.finish(created("x"));
        assert!(matches!(
            store.begin(key(1), Fingerprint([2; 32])),
            Begin::Mismatch
        ));
    }

    #[tokio::test]
    async fn waiters_get_the_outcome_and_forgotten_keys_lead_again() {
        let store = Arc::new(MemoryStore::new(Duration::from_secs(10), 100));
        let l = lead(&store, key(1));
        let Begin::Wait(mut rx) = store.begin(key(1), FP) else {
            panic!("expected to wait");
        };
        l.finish(Finished::Forget(UpstreamError::Connect {
            service: Service::Cbr,
        }));
        let got = wait_for_outcome(&mut rx, None).await.unwrap();
        assert!(matches!(got, Some(Finished::Forget(_))));
        assert_eq!(store.len(), 0);
        assert!(matches!(store.begin(key(1), FP), Begin::Lead(..)));
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_waiters() {
        let store = Arc::new(MemoryStore::new(Duration::from_secs(10), 100));
        let l = lead(&store, key(1));
        let Begin::Wait(mut rx) = store.begin(key(1), FP) else {
            panic!("expected to wait");
        };
        drop(l);
        assert!(wait_for_outcome(&mut rx, None).await.unwrap().is_none());
        assert_eq!(store.len(), 0);
    }

    #[tokio::test]
    async fn concurrent_calls_share_one_create() {
        let store = Arc::new(MemoryStore::new(Duration::from_secs(10), 100));
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut calls = Vec::new();
        for _ in 0..10 {
            let (store, runs) = (store.clone(), runs.clone());
            calls.push(tokio::spawn(async move {
                create(
                    &store,
                    &super::super::Leader {
                        detached: &super::super::Detached::default(),
                        limit: Duration::from_secs(5),
                        answer: crate::error::failed_create,
                    },
                    key(7),
                    FP,
                    None,
                    async move {
                        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let Finished::Remember(Outcome::Created(r)) = created("one") else {
                            unreachable!()
                        };
                        Ok(Arc::unwrap_or_clone(r))
                    },
                )
                .await
            }));
        }
        for call in calls {
            let reply = call.await.unwrap().unwrap();
            assert_eq!(reply.value.type_url, "one");
            assert_eq!(reply.request_id.as_deref(), Some("req-one"));
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
