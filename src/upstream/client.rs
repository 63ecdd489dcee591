//! One pooled reqwest client for CBR and CSBS.
//!
//! Connections are kept alive and reused; redirects are never followed (a custom
//! auth header must not travel to another host); connect and request timeouts are
//! explicit, and the caller's deadline shortens the request timeout; response
//! bodies are read up to a cap. Dropping a call's future aborts the request, so a
//! cancelled gRPC call cancels its upstream request too.
//!
//! Transient failures are retried per [`super::retry`], within the caller's
//! deadline and each service's retry budget. At most `max_inflight` requests are
//! in flight at once; a call that cannot get a slot within `queue_timeout` is
//! shed with [`UpstreamError::Overloaded`] rather than queued without bound.

use std::{sync::Arc, time::Duration};

use cbr_wire::{self as wire, Route};
use futures_util::FutureExt as _;
use reqwest::{
    Method, StatusCode,
    header::{ACCEPT, CONTENT_TYPE, HeaderValue},
};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::regions;
use super::{
    auth::Auth,
    dto,
    error::{Service, UpstreamError},
    exchange::{self, Answer, Budget},
    paths,
    query::{BackupQuery, OperationLogQuery, PolicyQuery, VaultQuery},
    retry::{self, RetryBudget, RetryPolicy},
};
use crate::metrics::{Metrics, UpstreamStatus};

/// Settings of the upstream client, taken from the configuration.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// CBR v3 base URL.
    pub cbr_endpoint: Option<Url>,
    /// CSBS v1 base URL.
    pub csbs_endpoint: Option<Url>,
    /// IAM v3 base URL (the region's project lookup).
    pub iam_endpoint: Option<Url>,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time for one request, including reading the body.
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: u64,
    /// Idle connections kept per host.
    pub pool_max_idle: usize,
    /// Retries and their budget.
    pub retry: RetryPolicy,
    /// Most requests in flight at once.
    pub max_inflight: usize,
    /// Longest wait for an in-flight slot before the call is shed.
    pub queue_timeout: Duration,
    /// Whether identical reads in flight share one request ([`super::flight`]).
    pub share_reads: bool,
}

/// A successful upstream call: the parsed body and upstream's request id.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The parsed response.
    pub value: T,
    /// Upstream's `X-Request-Id`, if it sent one (capped and cleaned, see
    /// `untrusted`).
    pub request_id: Option<String>,
}

impl<T> Reply<T> {
    /// Transforms the value, keeping the request id.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            value: f(self.value),
            request_id: self.request_id,
        }
    }
}

/// The upstream client. Cheap to clone: clones share the connection pool, the
/// in-flight slots and the retry budgets.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    settings: Arc<UpstreamSettings>,
    /// One permit per request in flight.
    slots: Arc<tokio::sync::Semaphore>,
    /// Retry budgets of CBR and CSBS (an outage of one spends only its own).
    budgets: Arc<[RetryBudget; 2]>,
    /// Where attempts, retries and shed calls are counted.
    metrics: Arc<Metrics>,
    /// The region its metrics are labelled with.
    region: &'static str,
    /// Identical reads in flight, shared ([`super::flight`]).
    flights: Arc<super::flight::Flights>,
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");
const X_REQUEST_ID: &str = "x-request-id";
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

impl UpstreamClient {
    /// The underlying HTTP client (pooled, no redirects), for the IAM token provider.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Builds the client. Fails only if the TLS stack cannot be set up.
    pub fn new(settings: UpstreamSettings) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("cbr-gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(settings.pool_max_idle)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(60))
            .build()?;
        let budget = || {
            RetryBudget::new(
                settings.retry.budget_ratio,
                settings.retry.budget_min_per_second,
            )
        };
        Ok(Self {
            http,
            slots: Arc::new(tokio::sync::Semaphore::new(settings.max_inflight.max(1))),
            budgets: Arc::new([budget(), budget()]),
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::new()),
            region: regions::UNNAMED_REGION,
            flights: Arc::default(),
        })
    }

    /// Labels its metrics with `region`.
    pub fn in_region(mut self, region: &str) -> Self {
        self.region = regions::intern(region);
        self
    }

    /// The region its metrics are labelled with.
    pub fn region(&self) -> &'static str {
        self.region
    }

    /// Counts into `metrics` (by default, a private registry nobody scrapes).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Upstream requests in flight now.
    pub fn inflight(&self) -> usize {
        self.settings.max_inflight.max(1) - self.slots.available_permits()
    }

    /// The retry budget of `service`.
    pub fn budget(&self, service: Service) -> &RetryBudget {
        match service {
            Service::Csbs => &self.budgets[1],
            Service::Cbr | Service::Iam => &self.budgets[0],
        }
    }

    /// `POST /v3/{project_id}/checkpoints`.
    pub async fn create_checkpoint(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        body: &dto::CreateCheckpointBody,
    ) -> Result<Reply<dto::CheckpointDto>, UpstreamError> {
        let route = &wire::CREATE_CHECKPOINT;
        // Serialising plain structs of strings cannot fail.
        let bytes = serde_json::to_vec(body).map_err(|_| UpstreamError::Decode {
            service: route.api,
            request_id: None,
        })?;
        let out = self.outgoing(route, &[project_id], Some(bytes))?;
        let reply: Reply<dto::CheckpointEnvelope> =
            self.send(out, auth, project_id, deadline).await?;
        Ok(reply.map(|e| e.checkpoint))
    }

    /// `GET /v3/{project_id}/checkpoints/{checkpoint_id}`.
    pub async fn get_checkpoint(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        checkpoint_id: &str,
    ) -> Result<Reply<dto::CheckpointDto>, UpstreamError> {
        let out = self.outgoing(&wire::GET_CHECKPOINT, &[project_id, checkpoint_id], None)?;
        let reply: Reply<dto::CheckpointEnvelope> =
            self.send(out, auth, project_id, deadline).await?;
        Ok(reply.map(|e| e.checkpoint))
    }

    /// `GET /v3/{project_id}/backups?…`, one page.
    pub async fn list_backups(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        query: &BackupQuery,
    ) -> Result<Reply<dto::BackupListDto>, UpstreamError> {
        let mut out = self.outgoing(&wire::LIST_BACKUPS, &[project_id], None)?;
        let pairs = paths::backup_query_pairs(query);
        if !pairs.is_empty() {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            out.url.set_query(Some(&paths::encode_query(&refs)));
        }
        self.send(out, auth, project_id, deadline).await
    }

    /// `GET /v3/{project_id}/backups/{backup_id}`.
    pub async fn get_backup(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        backup_id: &str,
    ) -> Result<Reply<dto::BackupDto>, UpstreamError> {
        let out = self.outgoing(&wire::GET_BACKUP, &[project_id, backup_id], None)?;
        let reply: Reply<dto::BackupEnvelope> = self.send(out, auth, project_id, deadline).await?;
        Ok(reply.map(|e| e.backup))
    }

    /// `GET /v3/projects?name={region}` on IAM: the caller's project of
    /// `region` (the SDKs' way of finding a region's project ID).
    pub async fn region_project(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        region: &str,
    ) -> Result<Reply<Option<String>>, UpstreamError> {
        let mut out = self.outgoing(&wire::IAM_PROJECTS, &[], None)?;
        out.url
            .set_query(Some(&paths::encode_query(&[("name", region)])));
        let reply: Reply<dto::ProjectListDto> = self.send(out, auth, "", deadline).await?;
        let region = region.to_owned();
        Ok(reply.map(|list| {
            list.projects
                .0
                .into_iter()
                .find(|p| p.name.0.as_deref() == Some(region.as_str()))
                .and_then(|p| p.id.0)
                .filter(|id| paths::is_valid_id(id))
        }))
    }

    /// `POST /v3/{project_id}/backups/{backup_id}/restore`: 202, with the
    /// restore's operation log id as `job_id` when upstream sends one
    /// (LIFECYCLE.md §3.4: the docs say no body, terraform reads `job_id`).
    /// Never fails once upstream accepted: an unreadable or unsafe body only
    /// means no `job_id`.
    pub async fn restore_backup(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        backup_id: &str,
        body: &dto::RestoreBackupBody,
    ) -> Result<Reply<Option<String>>, UpstreamError> {
        let route = &wire::RESTORE_BACKUP;
        let bytes = serde_json::to_vec(body).map_err(|_| UpstreamError::Decode {
            service: route.api,
            request_id: None,
        })?;
        let out = self.outgoing(route, &[project_id, backup_id], Some(bytes))?;
        let reply = self.send_raw(out, auth, project_id, deadline).await?;
        Ok(reply.map(|bytes| dto::RestoreAccepted::job_id(&bytes)))
    }

    /// `DELETE /v3/{project_id}/backups/{backup_id}`: 204 and no body; the
    /// backup is deleted in the background.
    pub async fn delete_backup(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        backup_id: &str,
    ) -> Result<Reply<()>, UpstreamError> {
        let out = self.outgoing(&wire::DELETE_BACKUP, &[project_id, backup_id], None)?;
        let reply = self.send_raw(out, auth, project_id, deadline).await?;
        Ok(reply.map(|_| ()))
    }

    /// `GET /v3/{project_id}/vaults?…`, one page.
    pub async fn list_vaults(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        query: &VaultQuery,
    ) -> Result<Reply<dto::VaultListDto>, UpstreamError> {
        let out = self.listing(&wire::LIST_VAULTS, project_id, &query.pairs())?;
        self.send(out, auth, project_id, deadline).await
    }

    /// `GET /v3/{project_id}/vaults/{vault_id}`.
    pub async fn get_vault(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        vault_id: &str,
    ) -> Result<Reply<dto::VaultDto>, UpstreamError> {
        let out = self.outgoing(&wire::GET_VAULT, &[project_id, vault_id], None)?;
        let reply: Reply<dto::VaultEnvelope> = self.send(out, auth, project_id, deadline).await?;
        Ok(reply.map(|e| e.vault))
    }

    /// `GET /v3/{project_id}/policies?…`.
    pub async fn list_policies(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        query: &PolicyQuery,
    ) -> Result<Reply<dto::PolicyListDto>, UpstreamError> {
        let out = self.listing(&wire::LIST_POLICIES, project_id, &query.pairs())?;
        self.send(out, auth, project_id, deadline).await
    }

    /// `GET /v3/{project_id}/policies/{policy_id}`.
    pub async fn get_policy(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        policy_id: &str,
    ) -> Result<Reply<dto::PolicyDto>, UpstreamError> {
        let out = self.outgoing(&wire::GET_POLICY, &[project_id, policy_id], None)?;
        let reply: Reply<dto::PolicyEnvelope> = self.send(out, auth, project_id, deadline).await?;
        Ok(reply.map(|e| e.policy))
    }

    /// `GET /v3/{project_id}/operation-logs?…`, one page.
    pub async fn list_operation_logs(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        query: &OperationLogQuery,
    ) -> Result<Reply<dto::OperationLogListDto>, UpstreamError> {
        let out = self.listing(&wire::LIST_OPERATION_LOGS, project_id, &query.pairs())?;
        self.send(out, auth, project_id, deadline).await
    }

    /// `GET /v3/{project_id}/operation-logs/{operation_log_id}`.
    pub async fn get_operation_log(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        operation_log_id: &str,
    ) -> Result<Reply<dto::OperationLogDto>, UpstreamError> {
        let out = self.outgoing(
            &wire::GET_OPERATION_LOG,
            &[project_id, operation_log_id],
            None,
        )?;
        let reply: Reply<dto::OperationLogEnvelope> =
            self.send(out, auth, project_id, deadline).await?;
        Ok(reply.map(|e| e.operation_log))
    }

    /// `GET /v1/{project_id}/checkpoint_items/{checkpoint_item_id}` on CSBS.
    pub async fn get_checkpoint_item(
        &self,
        auth: &Auth,
        deadline: Option<Instant>,
        project_id: &str,
        checkpoint_item_id: &str,
    ) -> Result<Reply<dto::CheckpointItemDto>, UpstreamError> {
        let out = self.outgoing(
            &wire::GET_CHECKPOINT_ITEM,
            &[project_id, checkpoint_item_id],
            None,
        )?;
        let reply: Reply<dto::CheckpointItemEnvelope> =
            self.send(out, auth, project_id, deadline).await?;
        Ok(reply.map(|e| e.checkpoint_item))
    }

    /// The request of `route` with `params` in its path, on its service's
    /// endpoint: every upstream URL is built here, from the wire's templates.
    fn outgoing(
        &self,
        route: &'static Route,
        params: &[&str],
        body: Option<Vec<u8>>,
    ) -> Result<Outgoing, UpstreamError> {
        let service = route.api;
        let endpoint = match service {
            Service::Cbr => self.settings.cbr_endpoint.as_ref(),
            Service::Csbs => self.settings.csbs_endpoint.as_ref(),
            // IAM: the project lookup (the token provider calls it itself).
            Service::Iam => self.settings.iam_endpoint.as_ref(),
        }
        .ok_or(UpstreamError::NotConfigured { service })?;
        let url_error = |source| UpstreamError::Url { service, source };
        let segments = route
            .segments(params)
            .ok_or(url_error(paths::PathError::UnsafeSegment))?;
        let url = paths::build(endpoint, &segments).map_err(url_error)?;
        // Every wire method is a standard one (cbr-wire's tests), which
        // parses without allocating.
        let method = Method::from_bytes(route.method.as_bytes())
            .map_err(|_| url_error(paths::PathError::BadEndpoint))?;
        Ok(Outgoing {
            route,
            method,
            url,
            body,
        })
    }

    /// Sends one request, retrying per [`super::retry`], and parses a 2xx body
    /// as `T`. Every attempt and wait ends by the caller's `deadline`.
    /// A GET of a project-level collection with its query (only the pairs
    /// that are set; none sends no `?`).
    fn listing(
        &self,
        route: &'static Route,
        project_id: &str,
        pairs: &[(&'static str, String)],
    ) -> Result<Outgoing, UpstreamError> {
        let mut out = self.outgoing(route, &[project_id], None)?;
        if !pairs.is_empty() {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            out.url.set_query(Some(&paths::encode_query(&refs)));
        }
        Ok(out)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        out: Outgoing,
        auth: &Auth,
        project_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Reply<T>, UpstreamError> {
        let (api, route) = (out.route.api, out.route.name);
        let path = out.url.path().to_owned();
        let Reply {
            value: bytes,
            request_id,
        } = self.read_or_send(out, auth, project_id, deadline).await?;
        match serde_json::from_slice::<T>(&bytes) {
            Ok(value) => Ok(Reply { value, request_id }),
            Err(err) => {
                // serde quotes the offending value: capped and cleaned as any
                // other upstream text.
                let error = super::untrusted::error_msg(&err.to_string()).unwrap_or_default();
                tracing::warn!(
                    upstream = api.name(),
                    route,
                    path,
                    error,
                    "unreadable upstream response"
                );
                Err(UpstreamError::Decode {
                    service: api,
                    request_id,
                })
            }
        }
    }

    /// A read joins an identical one in flight ([`super::flight`]); anything
    /// else is sent as it is.
    async fn read_or_send(
        &self,
        out: Outgoing,
        auth: &Auth,
        project_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Reply<hyper::body::Bytes>, UpstreamError> {
        if out.method != Method::GET || !self.settings.share_reads {
            let reply = self.send_raw(out, auth, project_id, deadline).await?;
            return Ok(reply.map(hyper::body::Bytes::from));
        }
        let (api, route) = (out.route.api, out.route.name);
        let key = super::flight::FlightKey::new(&out.url, project_id, auth);
        let (this, auth, project) = (self.clone(), auth.clone(), project_id.to_owned());
        let start = move |deadline| {
            async move {
                let reply = this.send_raw(out, &auth, &project, deadline).await?;
                Ok(reply.map(hyper::body::Bytes::from))
            }
            .boxed()
        };
        let (outcome, joined) = self.flights.run(key, deadline, api, start).await;
        if joined {
            self.metrics.upstream_shared(self.region, api.name(), route);
        }
        outcome
    }

    /// Sends one request, retrying per [`super::retry`], and returns a 2xx
    /// answer's body unread. Every attempt and wait ends by the caller's
    /// `deadline`.
    async fn send_raw(
        &self,
        out: Outgoing,
        auth: &Auth,
        project_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Reply<Vec<u8>>, UpstreamError> {
        let policy = &self.settings.retry;
        let budget = self.budget(out.route.api);
        budget.deposit();
        let mut ceilings = policy.ceilings();
        let mut attempt = 1;
        let answer = loop {
            // Boxed: the attempt's state is over 2 KiB, and unboxed it is
            // copied again by every future that holds this one.
            let one = Box::pin(self.attempt(&out, auth, project_id, deadline));
            let (error, retry_after) = match one.await {
                Ok(answer) if answer.status.is_success() => break answer,
                Ok(answer) => {
                    let retry_after = answer.retry_after;
                    (into_error(answer, out.route.api), retry_after)
                }
                Err(error) => (error, None),
            };
            if attempt >= policy.max_attempts || !retry::retryable(&out.method, &error) {
                return Err(error);
            }
            let mut wait = retry::full_jitter(ceilings.next().unwrap_or(policy.max_backoff));
            if let Some(asked) = retry_after {
                if asked > policy.max_retry_after {
                    tracing::debug!(upstream = out.route.api.name(), retry_after = ?asked, "Retry-After too long; giving up");
                    return Err(error);
                }
                wait = wait.max(asked);
            }
            // No room for another attempt before the deadline: answer now.
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                return Err(error);
            }
            if !budget.try_withdraw() {
                tracing::debug!(upstream = out.route.api.name(), "retry budget exhausted");
                self.metrics
                    .retry_budget_exhausted(self.region, out.route.api.name());
                return Err(error);
            }
            self.metrics
                .retry(self.region, out.route.api.name(), out.route.name);
            tracing::debug!(
                upstream = out.route.api.name(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "retrying upstream request"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        };
        let Answer {
            status,
            request_id,
            bytes,
            ..
        } = answer;
        debug_assert!(status.is_success());
        Ok(Reply {
            value: bytes,
            request_id,
        })
    }

    /// One attempt, in stages: an in-flight [`slot`](Self::slot), the
    /// request [built](Self::build), [authenticated](Auth::apply),
    /// [exchanged](exchange::exchange) and [recorded](Self::record) — all
    /// within the request timeout and the caller's deadline, whichever comes
    /// first. With IAM-issued tokens, one 401 earns one refresh and one more
    /// exchange: the token may have been revoked early, and a 401 comes from
    /// upstream's API gateway before the service acts, so re-sending a create
    /// is safe.
    async fn attempt(
        &self,
        out: &Outgoing,
        auth: &Auth,
        project_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Answer, UpstreamError> {
        let service = out.route.api;
        let budget = Budget::new(service, self.settings.request_timeout, deadline);
        if budget.spent() {
            return Err(budget.expired());
        }
        let _slot = self.slot(service, &budget).await?;
        let started = Instant::now();
        let mut rejected = None;
        loop {
            let span = tracing::info_span!(
                "upstream",
                otel.name = out.route.name,
                otel.kind = "client",
                http.request.method = %out.method,
                upstream.service = service.name(),
                http.response.status_code = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let mut request = self.build(out, &span)?;
            let refreshing = rejected.is_some();
            let token = auth
                .apply(&mut request, project_id, deadline, rejected.take())
                .await?;
            let sent = Instant::now();
            let max_body = self.settings.max_body_bytes;
            let exchanged = budget
                .run(tracing::Instrument::instrument(
                    exchange::exchange(&self.http, service, request, max_body),
                    span.clone(),
                ))
                .await
                .and_then(|answer| answer);
            self.record(out, &span, &exchanged, sent.elapsed());
            let answer = exchanged?;
            match token {
                Some(token) if answer.status == StatusCode::UNAUTHORIZED && !refreshing => {
                    tracing::debug!(upstream = service.name(), "token refused; refreshing once");
                    rejected = Some(token);
                }
                _ => {
                    tracing::debug!(
                        upstream = service.name(),
                        method = %out.method,
                        path = %out.url.path(),
                        http_status = answer.status.as_u16(),
                        upstream_request_id = answer.request_id.as_deref().unwrap_or(""),
                        latency_us = started.elapsed().as_micros() as u64,
                        "upstream call"
                    );
                    return Ok(answer);
                }
            }
        }
    }

    /// One of the in-flight slots: at once, or within the queue timeout, or
    /// the call is shed ([`UpstreamError::Overloaded`]) rather than queued
    /// without bound.
    async fn slot(
        &self,
        service: Service,
        budget: &Budget,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, UpstreamError> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Ok(slot);
        }
        let give_up = budget
            .until()
            .min(Instant::now() + self.settings.queue_timeout);
        match tokio::time::timeout_at(give_up, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(slot),
            _ if give_up == budget.until() => Err(budget.expired()),
            _ => {
                tracing::debug!(upstream = service.name(), "no in-flight slot; shedding");
                self.metrics.shed(self.region, service.name());
                Err(UpstreamError::Overloaded { service })
            }
        }
    }

    /// The request of `out`, carrying the call's trace context (with `span` as
    /// the parent when spans are exported).
    fn build(
        &self,
        out: &Outgoing,
        span: &tracing::Span,
    ) -> Result<reqwest::Request, UpstreamError> {
        let mut req = self
            .http
            .request(out.method.clone(), out.url.clone())
            .header(ACCEPT, JSON);
        if let Some(bytes) = &out.body {
            req = req.header(CONTENT_TYPE, JSON_UTF8).body(bytes.clone());
        }
        // Building cannot fail: the URL is already parsed and every header valid.
        let mut request = req.build().map_err(|_| UpstreamError::Url {
            service: out.route.api,
            source: paths::PathError::BadEndpoint,
        })?;
        if let Some(trace) = crate::trace::current() {
            let headers = request.headers_mut();
            headers.insert(
                TRACEPARENT,
                crate::trace::upstream_traceparent(span, &trace),
            );
            if let Some(state) = trace.tracestate {
                headers.insert(TRACESTATE, state);
            }
            if let Some(id) = trace.request_id {
                headers.insert(X_REQUEST_ID, id);
            }
        }
        Ok(request)
    }

    /// Counts one exchange in the metrics and notes its outcome on its span.
    fn record(
        &self,
        out: &Outgoing,
        span: &tracing::Span,
        exchanged: &Result<Answer, UpstreamError>,
        took: Duration,
    ) {
        let status = match exchanged {
            Ok(answer) => UpstreamStatus::Http(answer.status.as_u16()),
            Err(UpstreamError::Connect { .. }) => UpstreamStatus::ConnectError,
            Err(UpstreamError::Timeout { .. } | UpstreamError::DeadlineExceeded { .. }) => {
                UpstreamStatus::Timeout
            }
            Err(_) => UpstreamStatus::TransportError,
        };
        if let UpstreamStatus::Http(code) = status {
            span.record("http.response.status_code", i64::from(code));
        }
        if !matches!(status, UpstreamStatus::Http(code) if (200..300).contains(&code)) {
            span.record("otel.status_code", "ERROR");
        }
        self.metrics.upstream_request(
            self.region,
            out.route.api.name(),
            out.route.name,
            status,
            took.as_secs_f64(),
        );
    }
}

/// The error a non-2xx answer stands for.
fn into_error(answer: Answer, service: Service) -> UpstreamError {
    let parsed = dto::ErrorBody::parse(&answer.bytes);
    UpstreamError::Status {
        service,
        status: answer.status.as_u16(),
        code: parsed.code,
        message: parsed.message,
        request_id: answer.request_id,
    }
}

/// The parts of one upstream request that do not depend on credentials.
struct Outgoing {
    /// The operation: its service, and its name for metrics and spans.
    route: &'static Route,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
}
