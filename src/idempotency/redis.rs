//! The Redis store: remembered creates shared by every gateway replica.
//!
//! One key per create, `cbr-gateway:idempotency:v1:<hex of the Key>`, holding a
//! small protobuf [`Record`]. The first replica to `SET key <pending> NX PX
//! <lease>` leads and runs the create; when it finishes, the leader replaces its
//! own pending record with the done one (`PX <ttl>`), or deletes it if the
//! failure never reached upstream. Everyone else polls the key every 20–40 ms
//! until it is done, their deadline passes, or it vanishes — the leader
//! forgot it, or crashed and its lease ran out — and then tries to lead.
//!
//! Nothing is sent upstream unless this replica holds the lease: when Redis
//! cannot be reached the call fails with UNAVAILABLE rather than risk a
//! duplicate. The Redis URL may carry a password; it never reaches a log line
//! or an error message (see [`Redactor`]).

use prost_types::Any;
use std::{
    fmt::{self, Display},
    future::Future,
    sync::Arc,
    time::Duration,
};

use ::redis::{
    Cmd, FromRedisValue, RedisResult,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use prost::Message;
use tokio::{sync::watch, time::Instant};

use super::{
    ConnectError, CreateResult, Fingerprint, Finished, IdempotencyError, Key, Outcome,
    RecordedFailure, deadline_exceeded, wait_for_outcome,
};
use crate::upstream::{Reply, Secret, UpstreamError};

/// Longest the gateway waits for Redis at start (connect and PING).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Added to the longest a create may run to make the pending lease: time to
/// write the done record after the create ends.
pub(crate) const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// Longest one Redis command may take before the store counts as unavailable.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between two looks at another replica's pending create, plus jitter
/// (so waiters spread out).
const POLL: Duration = Duration::from_millis(20);
const POLL_JITTER_MS: u64 = 20;

/// Prefix of every key; `v1` names the record format.
// v2: outcomes are stored as `google.protobuf.Any` (CreateCheckpoint,
// RestoreBackup and DeleteBackup share the store); v1 records are never read.
const KEY_PREFIX: &str = "cbr-gateway:idempotency:v2:";

/// Replaces the leader's pending record (`ARGV[1]`) with the done one
/// (`ARGV[2]`, expiring in `ARGV[3]` ms). Also writes when the key vanished
/// (the lease ran out and nobody took over): the outcome is still the truth.
/// Another leader's record is left alone.
const SET_IF_OURS: &str = "local v = redis.call('GET', KEYS[1]) \
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end \
return 0";

/// Deletes the key if it still holds this leader's pending record (`ARGV[1]`).
const DELETE_IF_OURS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
return redis.call('DEL', KEYS[1]) end return 0";

/// What is stored under a key. Pending: `fingerprint` and `owner`. Done:
/// `fingerprint` and either `created` (with `upstream_request_id`) or `failed`.
#[derive(Clone, PartialEq, Message)]
struct Record {
    /// [`Fingerprint`] of the create.
    #[prost(bytes = "vec", tag = "1")]
    fingerprint: Vec<u8>,
    /// Pending only: random bytes naming the leader, so that it can only
    /// replace or delete its own record.
    #[prost(bytes = "vec", tag = "2")]
    owner: Vec<u8>,
    /// The successful answer (a CreateCheckpointResponse, or the Operation
    /// of a restore or delete).
    #[prost(message, optional, tag = "3")]
    created: Option<Any>,
    /// Upstream's request id of the successful create.
    #[prost(string, optional, tag = "4")]
    upstream_request_id: Option<String>,
    /// The status of a failure that may have reached upstream.
    #[prost(message, optional, tag = "5")]
    failed: Option<FailedRecord>,
}

/// A [`RecordedFailure`] on the wire.
#[derive(Clone, PartialEq, Message)]
struct FailedRecord {
    /// gRPC code.
    #[prost(int32, tag = "1")]
    code: i32,
    /// Status message.
    #[prost(string, tag = "2")]
    message: String,
    /// Encoded `google.rpc.Status` details.
    #[prost(bytes = "vec", tag = "3")]
    details: Vec<u8>,
    /// Upstream's request id.
    #[prost(string, optional, tag = "4")]
    request_id: Option<String>,
}

impl Record {
    fn done(fingerprint: &Fingerprint, outcome: &Outcome) -> Self {
        let mut record = Record {
            fingerprint: fingerprint.0.to_vec(),
            ..Record::default()
        };
        match outcome {
            Outcome::Created(reply) => {
                record.created = Some(reply.value.clone());
                record.upstream_request_id = reply.request_id.clone();
            }
            Outcome::Failed(f) => {
                record.failed = Some(FailedRecord {
                    code: f.code,
                    message: f.message.clone(),
                    details: f.details.clone(),
                    request_id: f.request_id.clone(),
                });
            }
        }
        record
    }
}

/// Scrubs the Redis URL and its password out of texts (library errors) before
/// they are logged or returned.
struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    fn of(url: &Secret) -> Self {
        let mut secrets = vec![url.clone()];
        if let Ok(parsed) = url::Url::parse(url.expose())
            && let Some(password) = parsed.password()
        {
            secrets.push(Secret::new(password));
            let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
            secrets.push(Secret::new(decoded.into_owned()));
        }
        secrets.retain(|s| !s.expose().is_empty());
        Self { secrets }
    }

    fn text(&self, what: &dyn Display) -> String {
        let mut text = what.to_string();
        for secret in &self.secrets {
            text = text.replace(secret.expose(), "<redacted>");
        }
        text
    }
}

/// The Redis connection and settings.
pub(crate) struct RedisStore {
    /// Reconnects by itself after Redis comes back.
    conn: ConnectionManager,
    /// How long done records live.
    ttl: Duration,
    /// How long a pending record lives: the longest a create may run, plus a margin.
    lease: Duration,
    redact: Redactor,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// What a look at a key found.
enum Begin {
    Done(Outcome),
    Mismatch,
    /// Another create (on any replica) runs.
    Pending,
    /// This call holds the lease; its pending record is this.
    Lead(Vec<u8>),
}

impl RedisStore {
    /// Connects to `url` and checks Redis answers, within [`CONNECT_TIMEOUT`].
    pub(crate) async fn connect(
        url: &Secret,
        ttl: Duration,
        lease: Duration,
    ) -> Result<Self, ConnectError> {
        // rediss:// uses rustls: make sure its one crypto provider is chosen.
        crate::install_crypto_provider();
        let redact = Redactor::of(url);
        let client = ::redis::Client::open(url.expose())
            .map_err(|e| ConnectError::BadUrl(redact.text(&e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            // Few, quick reconnect attempts: during an outage calls must fail
            // fast with UNAVAILABLE, not hang on a retry schedule.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connecting = async {
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            ::redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await?;
            Ok::<_, ::redis::RedisError>(conn)
        };
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| ConnectError::Timeout(CONNECT_TIMEOUT))?
            .map_err(|e| ConnectError::Unreachable(redact.text(&e)))?;
        tracing::info!(
            store = "redis",
            ttl_s = ttl.as_secs(),
            "idempotency store connected"
        );
        Ok(Self {
            conn,
            ttl,
            lease,
            redact,
        })
    }

    /// Runs one command within [`OP_TIMEOUT`] and the caller's deadline.
    async fn op<T>(
        &self,
        deadline: Option<Instant>,
        command: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, IdempotencyError> {
        let own = Instant::now() + OP_TIMEOUT;
        let (until, by_caller) = match deadline {
            Some(d) if d < own => (d, true),
            _ => (own, false),
        };
        match tokio::time::timeout_at(until, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                tracing::warn!(error = %self.redact.text(&e), "idempotency store failed");
                Err(IdempotencyError::StoreUnavailable)
            }
            Err(_) if by_caller => Err(deadline_exceeded()),
            Err(_) => {
                tracing::warn!("idempotency store did not answer in time");
                Err(IdempotencyError::StoreUnavailable)
            }
        }
    }

    /// Sends `command` on the shared connection; see [`Self::op`].
    async fn query<T: FromRedisValue>(
        &self,
        deadline: Option<Instant>,
        command: Cmd,
    ) -> Result<T, IdempotencyError> {
        let mut conn = self.conn.clone();
        self.op(deadline, command.query_async::<T>(&mut conn)).await
    }

    async fn get(
        &self,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<u8>>, IdempotencyError> {
        let mut get = ::redis::cmd("GET");
        get.arg(key);
        self.query(deadline, get).await
    }

    /// `SET key value NX PX lease`: whether this call now holds the key.
    async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        deadline: Option<Instant>,
    ) -> Result<bool, IdempotencyError> {
        let mut set = ::redis::cmd("SET");
        set.arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(self.lease));
        Ok(self.query::<Option<String>>(deadline, set).await?.is_some())
    }

    /// Looks `key` up; when nobody has it, tries to lead.
    async fn begin(
        self: &Arc<Self>,
        key: &str,
        fingerprint: &Fingerprint,
        deadline: Option<Instant>,
    ) -> Result<Begin, IdempotencyError> {
        // Lost races (the key appears between GET and SET, then vanishes
        // again) are rare; after a few, count it as pending and poll.
        for _ in 0..3 {
            if let Some(bytes) = self.get(key, deadline).await? {
                return self.classify(&bytes, fingerprint);
            }
            let pending = Record {
                fingerprint: fingerprint.0.to_vec(),
                owner: uuid::Uuid::new_v4().as_bytes().to_vec(),
                ..Record::default()
            }
            .encode_to_vec();
            match self.set_nx(key, &pending, deadline).await {
                Ok(true) => return Ok(Begin::Lead(pending)),
                Ok(false) => continue,
                Err(e) => {
                    // The SET may have landed: take the lease back, or every
                    // repeat would wait for it to run out.
                    let store = self.clone();
                    let key = key.to_owned();
                    tokio::spawn(async move { store.release(&key, &pending).await });
                    return Err(e);
                }
            }
        }
        Ok(Begin::Pending)
    }

    fn classify(&self, bytes: &[u8], fingerprint: &Fingerprint) -> Result<Begin, IdempotencyError> {
        let record = Record::decode(bytes).map_err(|_| {
            tracing::warn!("unreadable record in the idempotency store");
            IdempotencyError::StoreUnavailable
        })?;
        if record.fingerprint != fingerprint.0 {
            return Ok(Begin::Mismatch);
        }
        if let Some(value) = record.created {
            return Ok(Begin::Done(Outcome::Created(Arc::new(Reply {
                value,
                request_id: record.upstream_request_id,
            }))));
        }
        if let Some(f) = record.failed {
            return Ok(Begin::Done(Outcome::Failed(Arc::new(RecordedFailure {
                code: f.code,
                message: f.message,
                details: f.details,
                request_id: f.request_id,
            }))));
        }
        Ok(Begin::Pending)
    }

    /// Writes the leader's outcome over its pending record, or deletes that
    /// record if the outcome is forgotten; a few tries, as Redis may blink.
    async fn record(
        &self,
        key: &str,
        pending: &[u8],
        fingerprint: &Fingerprint,
        finished: &Finished,
    ) {
        let done = match finished {
            Finished::Remember(outcome) => Record::done(fingerprint, outcome).encode_to_vec(),
            Finished::Forget(_) => return self.release(key, pending).await,
        };
        for attempt in 0..3u32 {
            let mut write = ::redis::cmd("EVAL");
            write
                .arg(SET_IF_OURS)
                .arg(1)
                .arg(key)
                .arg(pending)
                .arg(&done)
                .arg(millis(self.ttl));
            match self.query::<i64>(None, write).await {
                Ok(1) => return,
                Ok(_) => {
                    // Our lease ran out and another replica leads now.
                    tracing::warn!(
                        "a create outlived its idempotency lease; another replica took the key over"
                    );
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
            }
        }
        tracing::warn!(
            "could not record a create's outcome in the idempotency store; a repeat after the lease may create again"
        );
    }

    /// Deletes `key` if it still holds `pending`; a few tries.
    async fn release(&self, key: &str, pending: &[u8]) {
        for attempt in 0..3u32 {
            let mut delete = ::redis::cmd("EVAL");
            delete.arg(DELETE_IF_OURS).arg(1).arg(key).arg(pending);
            if self.query::<i64>(None, delete).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        tracing::warn!("could not release an idempotency lease; repeats wait until it runs out");
    }
}

/// [`super::Idempotency::create`] on the Redis store.
pub(crate) async fn create<F>(
    store: &Arc<RedisStore>,
    leader: &super::Leader<'_>,
    key: Key,
    fingerprint: Fingerprint,
    deadline: Option<Instant>,
    create: F,
) -> CreateResult
where
    F: Future<Output = Result<Reply<Any>, UpstreamError>> + Send + 'static,
{
    let redis_key = format!("{KEY_PREFIX}{}", key.hex());
    loop {
        match store.begin(&redis_key, &fingerprint, deadline).await? {
            Begin::Done(outcome) => return outcome.into_result(),
            Begin::Mismatch => return Err(IdempotencyError::Mismatch),
            Begin::Pending => {
                let wake =
                    Instant::now() + POLL + Duration::from_millis(fastrand::u64(0..POLL_JITTER_MS));
                if let Some(at) = deadline
                    && at <= wake
                {
                    tokio::time::sleep_until(at).await;
                    return Err(deadline_exceeded());
                }
                tokio::time::sleep_until(wake).await;
            }
            Begin::Lead(pending) => {
                let (tx, mut rx) = watch::channel(None);
                let store = store.clone();
                // Detached: the outcome is recorded even if this caller leaves.
                leader.spawn(create, move |finished| async move {
                    tx.send_replace(Some(finished.clone()));
                    store
                        .record(&redis_key, &pending, &fingerprint, &finished)
                        .await;
                });
                return match wait_for_outcome(&mut rx, deadline).await? {
                    Some(finished) => finished.into_result(),
                    None => Err(IdempotencyError::Interrupted),
                };
            }
        }
    }
}

/// A duration in whole milliseconds for `PX`, at least 1.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_in_texts() {
        let url = Secret::new("redis://user:p%40ss@localhost:6379/0");
        let r = Redactor::of(&url);
        let text = r.text(&"failed at redis://user:p%40ss@localhost:6379/0 with p@ss and p%40ss");
        assert!(!text.contains("p@ss") && !text.contains("p%40ss"), "{text}");
    }

    #[test]
    fn records_round_trip() {
        let fp = Fingerprint([3; 32]);
        let created = Outcome::Created(Arc::new(Reply {
            value: Any::default(),
            request_id: Some("r".into()),
        }));
        let bytes = Record::done(&fp, &created).encode_to_vec();
        let decoded = Record::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.created, Some(Any::default()));
        assert_eq!(decoded.upstream_request_id.as_deref(), Some("r"));
        assert_eq!(decoded.fingerprint, fp.0.to_vec());
        let failed = Outcome::Failed(Arc::new(RecordedFailure {
            code: 13,
            message: "m".into(),
            details: vec![1, 2],
            request_id: None,
        }));
        let decoded =
            Record::decode(Record::done(&fp, &failed).encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.created, None);
        assert_eq!(decoded.failed.unwrap().details, vec![1, 2]);
    }
}
