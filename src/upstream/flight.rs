//! Single flight for upstream reads: identical GETs in flight at the same
//! moment, under the same credentials, share one upstream request.
//!
//! CBR is a rate-limited API with tens of milliseconds per call, so a burst of
//! identical reads (a dashboard refreshing, a fleet of services asking for the
//! same backup) costs one upstream request instead of one each. What may be
//! shared, and what never is:
//!
//! - **Only reads** (`GET`): a write is never joined, however alike.
//! - **Only the same credentials**: the key holds the caller's token itself
//!   (compared in full, never a hash that could collide), the gateway's access
//!   key or its IAM user, with the project and the full URL (endpoint, path,
//!   query). Each region has its own client, so its own flights.
//! - **Never an answer older than the call**: a call joins only a request
//!   still in flight, and a flight leaves the table the moment it ends,
//!   before anyone reads its answer. Nothing is cached.
//! - **Deadlines**: the request runs within the deadline of the call that
//!   started it. A call joins only a flight whose deadline is at most
//!   [`JOIN_SLACK`] earlier than its own (so a short-deadline call cannot end
//!   a long one early), and stops waiting at its own deadline. The flight runs
//!   as long as any caller still waits for it: the one that started it going
//!   away does not cancel it for the others.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::future::{BoxFuture, FutureExt, Shared, WeakShared};
use tokio::time::Instant;

use super::{Reply, UpstreamError, auth::Auth, error::Service, token::AuthToken};

/// How much earlier than a call's own deadline a flight's may end for the
/// call to join it anyway. Callers setting the same timeout have deadlines
/// microseconds apart; one asking for 100 ms must not cut short one asking
/// for 30 s.
pub(crate) const JOIN_SLACK: Duration = Duration::from_millis(500);

/// Flights kept before ended ones (whose every caller went away) are swept.
const SWEEP_ABOVE: usize = 1024;

/// What a flight ends with: the answer's body, unparsed (each caller parses
/// its own copy), or the failure.
pub(crate) type Outcome = Result<Reply<hyper::body::Bytes>, UpstreamError>;

/// Who a request acts as, compared in full.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    Token(AuthToken),
    AccessKey(String),
    Iam,
}

impl From<&Auth> for Who {
    fn from(auth: &Auth) -> Self {
        match auth {
            Auth::Token(t) => Who::Token(t.clone()),
            Auth::AkSk(k) => Who::AccessKey(k.access_key.clone()),
            Auth::Iam(_) => Who::Iam,
        }
    }
}

/// What identical reads have in common.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FlightKey {
    url: String,
    project_id: String,
    who: Who,
}

impl FlightKey {
    /// The key of a GET of `url` in `project_id` as `auth`.
    pub(crate) fn new(url: &url::Url, project_id: &str, auth: &Auth) -> Self {
        Self {
            url: url.as_str().to_owned(),
            project_id: project_id.to_owned(),
            who: auth.into(),
        }
    }
}

struct Entry {
    id: u64,
    deadline: Option<Instant>,
    flight: WeakShared<BoxFuture<'static, Outcome>>,
}

/// The reads in flight of one upstream client.
#[derive(Default)]
pub(crate) struct Flights {
    table: Mutex<HashMap<FlightKey, Entry>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &self.lock().len())
            .finish()
    }
}

impl Flights {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FlightKey, Entry>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The outcome of the read `key` names: a flight already in flight that
    /// the call may join, else a new one `start` makes (given the call's
    /// `deadline`). The flag says whether the call joined another's request.
    pub(crate) async fn run(
        self: &Arc<Self>,
        key: FlightKey,
        deadline: Option<Instant>,
        service: Service,
        start: impl FnOnce(Option<Instant>) -> BoxFuture<'static, Outcome>,
    ) -> (Outcome, bool) {
        let (flight, joined) = self.join_or_start(key, deadline, start);
        let outcome = match deadline {
            // A joined flight may run past this call's deadline.
            Some(at) if joined => tokio::time::timeout_at(at, flight)
                .await
                .unwrap_or(Err(UpstreamError::DeadlineExceeded { service })),
            _ => flight.await,
        };
        (outcome, joined)
    }

    fn join_or_start(
        self: &Arc<Self>,
        key: FlightKey,
        deadline: Option<Instant>,
        start: impl FnOnce(Option<Instant>) -> BoxFuture<'static, Outcome>,
    ) -> (Shared<BoxFuture<'static, Outcome>>, bool) {
        let mut table = self.lock();
        if let Some(entry) = table.get(&key)
            && joinable(entry.deadline, deadline)
            && let Some(flight) = entry.flight.upgrade()
        {
            return (flight, true);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let flights = Arc::downgrade(self);
        let leaving = key.clone();
        let request = start(deadline);
        let flight = async move {
            let outcome = request.await;
            // Out of the table before anyone reads the answer: a call
            // arriving from now on sends its own request.
            if let Some(flights) = flights.upgrade() {
                let mut table = flights.lock();
                if table.get(&leaving).is_some_and(|e| e.id == id) {
                    table.remove(&leaving);
                }
            }
            outcome
        }
        .boxed()
        .shared();
        if let Some(weak) = flight.downgrade() {
            if table.len() >= SWEEP_ABOVE {
                // Flights whose callers all went away before they ended.
                table.retain(|_, e| e.flight.upgrade().is_some());
            }
            table.insert(
                key,
                Entry {
                    id,
                    deadline,
                    flight: weak,
                },
            );
        }
        (flight, false)
    }

    /// Reads in flight now (for tests and debugging).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Whether a call with deadline `mine` may join a flight running within
/// `flight`'s: the flight must not end (by its deadline) more than
/// [`JOIN_SLACK`] before the call would.
fn joinable(flight: Option<Instant>, mine: Option<Instant>) -> bool {
    match (flight, mine) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(flight), Some(mine)) => mine <= flight + JOIN_SLACK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str, token: &str) -> FlightKey {
        FlightKey::new(
            &url::Url::parse(url).unwrap(),
            "p",
            &Auth::Token(AuthToken::parse(token).unwrap()),
        )
    }

    fn answer(body: &'static str) -> Outcome {
        Ok(Reply {
            value: hyper::body::Bytes::from_static(body.as_bytes()),
            request_id: Some("r".into()),
        })
    }

    #[tokio::test]
    async fn identical_reads_in_flight_share_one_request_and_leave_when_done() {
        let flights = Arc::new(Flights::default());
        let started = Arc::new(AtomicU64::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let (flights, started, mut wait) = (flights.clone(), started.clone(), wait.clone());
                tokio::spawn(async move {
                    flights
                        .run(key("http://u/a", "t1"), None, Service::Cbr, |_| {
                            started.fetch_add(1, Ordering::SeqCst);
                            async move {
                                let _ = wait.wait_for(|go| *go).await;
                                answer("{}")
                            }
                            .boxed()
                        })
                        .await
                })
            })
            .collect();
        // Everyone has joined or started before the answer comes.
        while flights.len() == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        let mut joined = 0;
        for c in calls {
            let (outcome, j) = c.await.unwrap();
            assert_eq!(outcome.unwrap().value, "{}");
            joined += usize::from(j);
        }
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!(joined, 49);
        assert_eq!(flights.len(), 0, "an ended flight leaves the table");
    }

    #[tokio::test]
    async fn other_credentials_urls_and_far_deadlines_never_join() {
        let flights = Arc::new(Flights::default());
        let pending = || std::future::pending::<Outcome>().boxed();
        let now = Instant::now();
        let short = Some(now + Duration::from_millis(100));
        let (_a, joined) = flights.join_or_start(key("http://u/a", "t1"), short, |_| pending());
        assert!(!joined);
        let mut kept = Vec::new();
        for (k, deadline) in [
            (key("http://u/a", "t2"), short),
            (key("http://u/b", "t1"), short),
            (key("http://u/a?x=1", "t1"), short),
            // Its deadline is far later than the flight's.
            (key("http://u/a", "t1"), Some(now + Duration::from_secs(30))),
            (key("http://u/a", "t1"), None),
        ] {
            let (f, joined) = flights.join_or_start(k.clone(), deadline, |_| pending());
            assert!(!joined, "{k:?} {deadline:?}");
            kept.push(f);
        }
        // Within the slack, or earlier: joins.
        let (_f, joined) = flights.join_or_start(
            key("http://u/a", "t2"),
            Some(now + Duration::from_millis(300)),
            |_| pending(),
        );
        assert!(joined);
    }

    #[tokio::test]
    async fn a_joined_call_stops_at_its_own_deadline_and_the_flight_goes_on() {
        let flights = Arc::new(Flights::default());
        let (release, wait) = tokio::sync::watch::channel(false);
        let leader = {
            let (flights, mut wait) = (flights.clone(), wait.clone());
            tokio::spawn(async move {
                flights
                    .run(key("http://u/a", "t"), None, Service::Cbr, |_| {
                        async move {
                            let _ = wait.wait_for(|go| *go).await;
                            answer("late")
                        }
                        .boxed()
                    })
                    .await
            })
        };
        while flights.len() == 0 {
            tokio::task::yield_now().await;
        }
        let soon = Some(Instant::now() + Duration::from_millis(20));
        let (outcome, joined) = flights
            .run(key("http://u/a", "t"), soon, Service::Cbr, |_| {
                unreachable!("joins")
            })
            .await;
        assert!(joined);
        assert!(matches!(
            outcome,
            Err(UpstreamError::DeadlineExceeded { .. })
        ));
        release.send(true).unwrap();
        assert_eq!(leader.await.unwrap().0.unwrap().value, "late");
    }
}
