//! Idempotent CreateCheckpoint, RestoreBackup and DeleteBackup by
//! `request_id` (contract §5, §9): "create" below is any of the three.
//!
//! A create carrying a `request_id` is keyed by who sends it, the project and
//! the id ([`Key`]); what it asks for is summed up in a [`Fingerprint`]. The
//! first call with a key leads: its upstream request runs in a detached task,
//! so its outcome is recorded even when that caller cancels or its deadline
//! passes (the upstream client's own `--upstream-timeout` bounds the request
//! instead). Every caller — the leader too — waits for the outcome until its
//! own deadline. Repeats while the create runs wait for it; repeats after it
//! get the recorded outcome until `--idempotency-ttl` passes. The same key with
//! another fingerprint is refused, whether the first create runs or is done.
//!
//! What is recorded: a success (the response and upstream's request id), and
//! any failure that may have reached upstream, replayed as the identical
//! status. A failure that certainly never reached upstream
//! ([`UpstreamError::certainly_not_sent`]) is forgotten, so a repeat tries again.
//!
//! Two stores: `memory.rs` (this process only) and `redis.rs` (shared by every
//! replica; the leader is elected with `SET NX`, the others poll).

mod memory;
mod redis;

use prost_types::Any;
use std::{future::Future, sync::Arc, time::Duration};

use sha2::{Digest, Sha256};
use tokio::{sync::watch, time::Instant};
use uuid::Uuid;

use crate::upstream::{Reply, Service, UpstreamError, dto};

/// What one call answers, as stored: its response packed in an `Any`.
pub type CreateResult = Result<Reply<Any>, IdempotencyError>;

/// Which create a `request_id` names: a SHA-256 of the caller's credential
/// identity, the project and the id. The identity is part of it so that one
/// caller can never read another's outcome by guessing its `request_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    /// The key of `request_id` sent by `identity` (see
    /// [`crate::upstream::Auth::identity`]) for `project_id`.
    pub fn new(identity: &str, project_id: &str, request_id: Uuid) -> Self {
        let mut h = Sha256::new();
        // NUL separators: neither identities nor project ids contain one, so
        // no two different triples hash the same input.
        h.update(identity.as_bytes());
        h.update([0]);
        h.update(project_id.as_bytes());
        h.update([0]);
        h.update(request_id.as_bytes());
        Self(h.finalize().into())
    }

    /// Lowercase hex, for the Redis key.
    fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// What a create asks for: a SHA-256 of the project and the exact JSON body
/// sent upstream. Two calls with one `request_id` must have the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of creating `body` in `project_id`.
    pub fn of_create(project_id: &str, body: &dto::CreateCheckpointBody) -> Self {
        // Serialising plain structs of strings cannot fail; if it ever did,
        // the upstream client would refuse to send the body too.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Self::new(project_id, &bytes)
    }

    /// The fingerprint of calling `method` on `target` in `project_id` with
    /// `body` (RestoreBackup, DeleteBackup): the method is part of it, so one
    /// `request_id` cannot name two different calls.
    pub fn of_call(method: &str, project_id: &str, target: &str, body: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(method.len() + target.len() + body.len() + 2);
        bytes.extend_from_slice(method.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(target.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(body);
        Self::new(project_id, &bytes)
    }

    /// The fingerprint of sending `body` to `project_id`.
    pub fn new(project_id: &str, body: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(project_id.as_bytes());
        h.update([0]);
        h.update(body);
        Self(h.finalize().into())
    }
}

/// A failed create, as [`Answer`] sees it.
#[derive(Debug)]
pub enum Failure<'a> {
    /// Upstream's error, which may have created the checkpoint.
    Upstream(&'a UpstreamError),
    /// The shutdown gave up on the create before it finished.
    Interrupted,
}

/// The status a failed create is answered with, its repeats included: the
/// gateway's one mapping to a status (`crate::error`), handed in when the
/// store is built so that this module does not depend on it.
pub type Answer = fn(&Failure<'_>) -> tonic::Status;

/// A failed create's status, kept so that repeats get exactly the same answer
/// (code, message and `google.rpc` details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFailure {
    code: i32,
    message: String,
    details: Vec<u8>,
    request_id: Option<String>,
}

impl RecordedFailure {
    /// Records the status `answer` gives `failure`.
    fn from_failure(failure: &Failure<'_>, answer: Answer) -> Self {
        let status = answer(failure);
        Self {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: status.details().to_vec(),
            request_id: match failure {
                Failure::Upstream(err) => err.request_id().map(str::to_owned),
                Failure::Interrupted => None,
            },
        }
    }

    /// The gRPC status code.
    pub fn code(&self) -> tonic::Code {
        tonic::Code::from(self.code)
    }

    /// The status message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The encoded `google.rpc.Status` details (`grpc-status-details-bin`).
    pub fn details(&self) -> &[u8] {
        &self.details
    }

    /// Upstream's request id of the failed create, when it answered.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

/// Why an idempotent create did not return a checkpoint.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IdempotencyError {
    /// The `request_id` was used before with other parameters.
    #[error("request_id was already used with different parameters")]
    Mismatch,
    /// The shared store could not be reached; nothing was sent upstream.
    #[error("the idempotency store is unavailable; nothing was sent upstream")]
    StoreUnavailable,
    /// The create failed — in this call or in the one it repeats — in a way
    /// that may have reached upstream; its status is replayed exactly.
    #[error("{}", .0.message)]
    Failed(Arc<RecordedFailure>),
    /// The create failed without reaching upstream (nothing is remembered), or
    /// the caller's deadline passed while it waited.
    #[error(transparent)]
    Upstream(UpstreamError),
    /// The remembered answer cannot be read back (another gateway version
    /// wrote it, or the shared store was tampered with).
    #[error("the remembered answer for this request_id is unreadable; retry with a new request_id")]
    Corrupt,
    /// The call ended without an outcome — the gateway shut down while it
    /// ran, or its task vanished; whether upstream acted is unknown.
    #[error(
        "the call was interrupted (the gateway shut down while it ran); whether upstream acted on it is unknown: look before retrying with a new request_id"
    )]
    Interrupted,
}

impl IdempotencyError {
    /// Upstream's request id behind the failure, when upstream answered.
    pub fn upstream_request_id(&self) -> Option<&str> {
        match self {
            IdempotencyError::Failed(f) => f.request_id(),
            IdempotencyError::Upstream(u) => u.request_id(),
            _ => None,
        }
    }
}

/// The store could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The Redis URL was refused by the client library.
    #[error("the Redis URL is not usable: {0}")]
    BadUrl(String),
    /// Redis refused the connection or a command.
    #[error("cannot reach Redis: {0}")]
    Unreachable(String),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// What a finished create left: an outcome to remember, or a failure that
/// never reached upstream and is forgotten.
#[derive(Debug, Clone)]
pub(crate) enum Finished {
    /// Recorded for repeats.
    Remember(Outcome),
    /// Not recorded: the request certainly never reached upstream.
    Forget(UpstreamError),
}

impl Finished {
    fn into_result(self) -> CreateResult {
        match self {
            Finished::Remember(outcome) => outcome.into_result(),
            Finished::Forget(err) => Err(IdempotencyError::Upstream(err)),
        }
    }
}

/// A recorded outcome.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The checkpoint and upstream's request id (shared: every waiter gets it).
    Created(Arc<Reply<Any>>),
    /// The status of a failure that may have reached upstream.
    Failed(Arc<RecordedFailure>),
}

impl Outcome {
    fn into_result(self) -> CreateResult {
        match self {
            Outcome::Created(reply) => Ok(Arc::unwrap_or_clone(reply)),
            Outcome::Failed(f) => Err(IdempotencyError::Failed(f)),
        }
    }
}

/// Where remembered creates live; cheap to clone.
#[derive(Clone)]
pub struct Idempotency {
    backend: Backend,
    /// Where answers are counted by kind.
    metrics: Arc<crate::metrics::Metrics>,
    /// Longest a detached create may run before its outcome is recorded as a
    /// timeout (it may still have reached upstream).
    create_limit: Duration,
    /// The creates running detached, for the shutdown to wait for.
    detached: Arc<Detached>,
    /// How failed creates are answered.
    answer: Answer,
}

/// The detached creates of one gateway.
#[derive(Default)]
pub(crate) struct Detached {
    tracker: tokio_util::task::TaskTracker,
    /// Cancelled at the end of the shutdown's grace: creates still running
    /// record an interrupted outcome instead of vanishing.
    give_up: tokio_util::sync::CancellationToken,
}

impl Detached {
    /// Runs a leader's create in its own task, tracked, and hands its outcome
    /// to `record` — or, if the shutdown gives up on it first, an outcome
    /// saying it was interrupted (upstream may or may not have created it).
    pub(crate) fn spawn<F, R, Fut>(&self, limit: Duration, answer: Answer, create: F, record: R)
    where
        F: Future<Output = Result<Reply<Any>, UpstreamError>> + Send + 'static,
        R: FnOnce(Finished) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let give_up = self.give_up.clone();
        crate::trace::spawn(self.tracker.track_future(async move {
            let finished = tokio::select! {
                finished = run_create(limit, answer, create) => finished,
                () = give_up.cancelled() => Finished::Remember(Outcome::Failed(Arc::new(
                    RecordedFailure::from_failure(&Failure::Interrupted, answer),
                ))),
            };
            record(finished).await;
        }));
    }
}

#[derive(Clone)]
enum Backend {
    Memory(Arc<memory::MemoryStore>),
    Redis(Arc<redis::RedisStore>),
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the Redis URL: it may carry a password.
        let store = match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("Idempotency")
            .field("store", &store)
            .field("create_limit", &self.create_limit)
            .finish()
    }
}

/// Where `request_id`s are remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// In this process only.
    Memory,
    /// A Redis server shared by every replica (`redis://` or `rediss://` URL,
    /// which may carry a password: never logged).
    Redis(crate::upstream::Secret),
}

/// Settings of the idempotency store.
#[derive(Debug, Clone)]
pub struct IdempotencySettings {
    /// Where outcomes are remembered.
    pub store: Store,
    /// How long a finished create is remembered.
    pub ttl: Duration,
    /// Most finished creates the memory store remembers.
    pub max_entries: usize,
    /// Longest a detached create may run: an IAM token fetch, then the
    /// request, each within the upstream timeout.
    pub create_limit: Duration,
}

impl Idempotency {
    /// The store `settings` describe, answering failures with `answer`. A
    /// Redis store is connected (and pinged) within a few seconds, or this
    /// fails.
    pub async fn connect(
        settings: &IdempotencySettings,
        answer: Answer,
    ) -> Result<Self, ConnectError> {
        let limit = settings.create_limit;
        let backend = match &settings.store {
            Store::Memory => Backend::Memory(Arc::new(memory::MemoryStore::new(
                settings.ttl,
                settings.max_entries,
            ))),
            Store::Redis(url) => Backend::Redis(Arc::new(
                redis::RedisStore::connect(url, settings.ttl, limit + redis::LEASE_MARGIN).await?,
            )),
        };
        Ok(Self {
            backend,
            create_limit: limit,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            detached: Arc::default(),
            answer,
        })
    }

    /// Runs `create` at most once per `key` while it is remembered, and answers
    /// its outcome; waits at most until `deadline` (then DEADLINE_EXCEEDED,
    /// while a create already started goes on and is recorded). `M` is the
    /// call's response (CreateCheckpointResponse, or the Operation of a
    /// restore or delete); the fingerprint tells the calls apart.
    pub async fn create<M, F>(
        &self,
        key: Key,
        fingerprint: Fingerprint,
        deadline: Option<Instant>,
        create: F,
    ) -> Result<Reply<M>, IdempotencyError>
    where
        M: prost::Name + Default,
        F: Future<Output = Result<Reply<M>, UpstreamError>> + Send + 'static,
    {
        let packed = async move {
            create.await.map(|reply| {
                reply.map(|m| Any {
                    type_url: M::type_url(),
                    value: m.encode_to_vec(),
                })
            })
        };
        let reply = self
            .create_packed(key, fingerprint, deadline, packed)
            .await?;
        let Reply { value, request_id } = reply;
        // A key's fingerprint names the call, so a stored answer is always
        // this call's type; anything else is a corrupt record.
        let value = (value.type_url == M::type_url())
            .then(|| M::decode(value.value.as_slice()).ok())
            .flatten()
            .ok_or(IdempotencyError::Corrupt)?;
        Ok(Reply { value, request_id })
    }

    async fn create_packed<F>(
        &self,
        key: Key,
        fingerprint: Fingerprint,
        deadline: Option<Instant>,
        create: F,
    ) -> CreateResult
    where
        F: Future<Output = Result<Reply<Any>, UpstreamError>> + Send + 'static,
    {
        use crate::metrics::IdempotentResult;
        let limit = self.create_limit;
        // Whether this call's own create ran, i.e. it was not deduplicated.
        let sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = sent.clone();
        let create = async move {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            create.await
        };
        let leader = Leader {
            detached: &self.detached,
            limit,
            answer: self.answer,
        };
        let result = match &self.backend {
            Backend::Memory(store) => {
                memory::create(store, &leader, key, fingerprint, deadline, create).await
            }
            Backend::Redis(store) => {
                redis::create(store, &leader, key, fingerprint, deadline, create).await
            }
        };
        self.metrics.idempotent_create(match &result {
            Err(IdempotencyError::Mismatch) => IdempotentResult::Mismatch,
            Err(IdempotencyError::StoreUnavailable) => IdempotentResult::StoreUnavailable,
            _ if sent.load(std::sync::atomic::Ordering::Relaxed) => IdempotentResult::Sent,
            _ => IdempotentResult::Deduplicated,
        });
        result
    }

    /// Waits for the creates still running detached, until shortly before
    /// `until` (the end of the shutdown's grace); then records the ones still
    /// running as interrupted, so that a repeat of their `request_id` — on
    /// another replica, or after a restart with a shared store — answers
    /// that instead of creating a second checkpoint.
    pub async fn drain(&self, until: Instant) {
        /// Time left to the stragglers to record their outcome.
        const RECORD: Duration = Duration::from_secs(1);
        let detached = &self.detached;
        detached.tracker.close();
        if detached.tracker.is_empty() {
            return;
        }
        tracing::info!(
            creates = detached.tracker.len(),
            "waiting for CreateCheckpoint calls running detached"
        );
        let give_up_at = until.checked_sub(RECORD).unwrap_or(until);
        if tokio::time::timeout_at(give_up_at, detached.tracker.wait())
            .await
            .is_ok()
        {
            tracing::info!("every detached create finished and was recorded");
            return;
        }
        tracing::warn!(
            creates = detached.tracker.len(),
            "creates still running at the end of the grace period: recorded as interrupted"
        );
        detached.give_up.cancel();
        let _ = tokio::time::timeout(RECORD, detached.tracker.wait()).await;
    }

    /// Counts answers into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// What a store needs to run a leader's create.
pub(crate) struct Leader<'a> {
    pub(crate) detached: &'a Detached,
    pub(crate) limit: Duration,
    pub(crate) answer: Answer,
}

impl Leader<'_> {
    /// Runs `create` detached, then `record`s its outcome.
    pub(crate) fn spawn<F, R, Fut>(&self, create: F, record: R)
    where
        F: Future<Output = Result<Reply<Any>, UpstreamError>> + Send + 'static,
        R: FnOnce(Finished) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.detached.spawn(self.limit, self.answer, create, record);
    }
}

/// Runs a leader's create, bounded by `limit`, and sorts its outcome.
async fn run_create<F>(limit: Duration, answer: Answer, create: F) -> Finished
where
    F: Future<Output = Result<Reply<Any>, UpstreamError>>,
{
    let result = match tokio::time::timeout(limit, create).await {
        Ok(result) => result,
        // The request may be on the wire: record a timeout, never forget it.
        Err(_) => Err(UpstreamError::Timeout {
            service: Service::Cbr,
        }),
    };
    match result {
        Ok(reply) => Finished::Remember(Outcome::Created(Arc::new(reply))),
        Err(err) if err.certainly_not_sent() => Finished::Forget(err),
        Err(err) => Finished::Remember(Outcome::Failed(Arc::new(RecordedFailure::from_failure(
            &Failure::Upstream(&err),
            answer,
        )))),
    }
}

/// Waits until `rx` holds an outcome or `deadline` passes. `Ok(None)`: the
/// leader vanished without one.
async fn wait_for_outcome(
    rx: &mut watch::Receiver<Option<Finished>>,
    deadline: Option<Instant>,
) -> Result<Option<Finished>, IdempotencyError> {
    let wait = async {
        match rx.wait_for(Option::is_some).await {
            Ok(finished) => finished.clone(),
            Err(_) => None,
        }
    };
    match deadline {
        Some(at) => tokio::time::timeout_at(at, wait)
            .await
            .map_err(|_| deadline_exceeded()),
        None => Ok(wait.await),
    }
}

/// The caller's deadline passed before the create finished.
fn deadline_exceeded() -> IdempotencyError {
    IdempotencyError::Upstream(UpstreamError::DeadlineExceeded {
        service: Service::Cbr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_callers_projects_and_ids() {
        let id = Uuid::new_v4();
        let base = Key::new("aksk:A", "p1", id);
        assert_eq!(base, Key::new("aksk:A", "p1", id));
        assert_ne!(base, Key::new("aksk:B", "p1", id));
        assert_ne!(base, Key::new("aksk:A", "p2", id));
        assert_ne!(base, Key::new("aksk:A", "p1", Uuid::new_v4()));
        assert_eq!(base.hex().len(), 64);
    }

    #[test]
    fn fingerprints_cover_project_and_body() {
        let a = Fingerprint::new("p1", b"{\"a\":1}");
        assert_eq!(a, Fingerprint::new("p1", b"{\"a\":1}"));
        assert_ne!(a, Fingerprint::new("p2", b"{\"a\":1}"));
        assert_ne!(a, Fingerprint::new("p1", b"{\"a\":2}"));
    }

    #[tokio::test]
    async fn only_failures_that_never_left_are_forgotten() {
        let limit = Duration::from_secs(5);
        let connect = UpstreamError::Connect {
            service: Service::Cbr,
        };
        assert!(matches!(
            run_create(limit, crate::error::failed_create, async { Err(connect) }).await,
            Finished::Forget(_)
        ));
        let status = UpstreamError::Status {
            service: Service::Cbr,
            status: 500,
            code: Some("BackupService.9910".into()),
            message: Some("boom".into()),
            request_id: Some("r1".into()),
        };
        let Finished::Remember(Outcome::Failed(f)) =
            run_create(limit, crate::error::failed_create, async { Err(status) }).await
        else {
            panic!("a 500 may have created: remembered");
        };
        assert_eq!(f.code(), tonic::Code::Internal);
        assert_eq!(f.message(), "boom");
        assert_eq!(f.request_id(), Some("r1"));
        assert!(!f.details().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_past_its_limit_is_recorded_as_a_timeout() {
        let finished = run_create(
            Duration::from_secs(1),
            crate::error::failed_create,
            std::future::pending(),
        )
        .await;
        let Finished::Remember(Outcome::Failed(f)) = finished else {
            panic!("an overdue create may have reached upstream");
        };
        assert_eq!(f.code(), tonic::Code::DeadlineExceeded);
    }
}
