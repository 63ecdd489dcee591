//! IAM tokens for the gateway's own IAM user (REFERENCE.md §5.1).
//!
//! `POST {endpoint}/v3/auth/tokens` with a password identity and a project scope
//! returns the token in `X-Subject-Token` and its expiry in `token.expires_at`.
//! Tokens are cached per project and used until `expires_at - refresh_ahead`;
//! then one request refreshes a project's token however many calls want it
//! (single flight: a per-project async lock, the cache re-checked under it). While
//! a refresh is in flight, or after it failed, a token that has not expired yet
//! is still handed out, so a slow or failing IAM costs nothing until the token
//! really expires. A failed refresh is shared with the calls that waited for it
//! instead of being repeated by each of them.
//!
//! The password and the tokens never reach a log line: the debug line of a
//! request names only the project, the HTTP status, IAM's request id and the
//! latency.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::{
    StatusCode,
    header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue},
};
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use super::{
    auth::AuthToken,
    dto,
    error::{Service, UpstreamError},
    paths,
    secrets::SecretSource,
    untrusted,
};

const SERVICE: Service = Service::Iam;

/// Lifetime assumed when IAM's answer carries no readable expiry (IAM tokens are
/// valid for 24 hours).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest lifetime believed, whatever IAM says.
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Largest IAM response body read (the catalog is not requested).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Projects kept before entries with no usable token are dropped.
const MAX_PROJECTS: usize = 1024;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");
const X_SUBJECT_TOKEN: &str = "x-subject-token";
const X_REQUEST_ID: &str = "x-request-id";
const X_IAM_TRACE_ID: &str = "x-iam-trace-id";

/// Where and as whom the gateway logs in to IAM. `Debug` never shows the password.
#[derive(Debug)]
pub struct IamSettings {
    /// IAM base URL, e.g. `https://iam.myhuaweicloud.com`.
    pub endpoint: Url,
    /// Account (domain) name of the IAM user.
    pub domain: String,
    /// IAM user name.
    pub user: String,
    /// The user's password, inline or from a file re-read when it changes.
    pub password: SecretSource,
    /// Refresh a token this long before it expires (at most half its lifetime).
    pub refresh_ahead: Duration,
    /// Time allowed for one token request.
    pub request_timeout: Duration,
}

/// Project-scoped IAM tokens, cached and refreshed ahead of expiry. Share it in
/// an `Arc`.
pub struct IamTokenProvider {
    http: reqwest::Client,
    settings: IamSettings,
    projects: Mutex<HashMap<String, Arc<Slot>>>,
}

impl fmt::Debug for IamTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamTokenProvider")
            .field("settings", &self.settings)
            .field("projects", &lock(&self.projects).len())
            .finish()
    }
}

/// One project's token and the lock that makes its refresh a single flight.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct SlotState {
    cached: Option<Cached>,
    /// Token requests completed (successful or not) for this project.
    attempts: u64,
    /// Why the latest completed request failed, if it did.
    failure: Option<UpstreamError>,
}

#[derive(Clone)]
struct Cached {
    token: AuthToken,
    refresh_at: Instant,
    expires_at: Instant,
}

impl Cached {
    fn fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
    fn unexpired(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, SlotState> {
        lock(&self.state)
    }

    /// The cached token if it has not expired yet.
    fn unexpired(&self) -> Option<AuthToken> {
        let now = Instant::now();
        self.state()
            .cached
            .as_ref()
            .filter(|c| c.unexpired(now))
            .map(|c| c.token.clone())
    }

    /// Stores the outcome of a token request.
    fn record(&self, result: &Result<Cached, UpstreamError>) {
        let mut st = self.state();
        match result {
            Ok(cached) => {
                st.cached = Some(cached.clone());
                st.failure = None;
                st.attempts += 1;
            }
            // The caller's own deadline says nothing about IAM: the calls waiting
            // behind this one try for themselves.
            Err(UpstreamError::DeadlineExceeded { .. }) => {}
            Err(err) => {
                st.failure = Some(err.clone());
                st.attempts += 1;
            }
        }
    }
}

/// The time one call may take: the caller's deadline or the request timeout.
struct Budget {
    until: Instant,
    by_caller: bool,
}

impl Budget {
    fn expired(&self) -> UpstreamError {
        if self.by_caller {
            UpstreamError::DeadlineExceeded { service: SERVICE }
        } else {
            UpstreamError::Timeout { service: SERVICE }
        }
    }

    async fn run<F: Future>(&self, f: F) -> Result<F::Output, UpstreamError> {
        tokio::time::timeout_at(self.until, f)
            .await
            .map_err(|_| self.expired())
    }
}

/// One IAM answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl IamTokenProvider {
    /// A provider logging in with `settings` over `http` (which should not follow
    /// redirects, like the upstream client's).
    pub fn new(http: reqwest::Client, settings: IamSettings) -> Self {
        Self {
            http,
            settings,
            projects: Mutex::new(HashMap::new()),
        }
    }

    /// A token scoped to `project_id`: the cached one while it is fresh, else a
    /// new one (one request per project however many calls wait for it). A token
    /// past its refresh time but not expired is still returned when another
    /// call is refreshing it or the refresh fails.
    pub async fn token(
        &self,
        project_id: &str,
        deadline: Option<Instant>,
    ) -> Result<AuthToken, UpstreamError> {
        let budget = self.budget(deadline);
        let slot = self.slot(project_id);
        let seen = {
            let st = slot.state();
            if let Some(c) = &st.cached
                && c.fresh(Instant::now())
            {
                return Ok(c.token.clone());
            }
            st.attempts
        };
        let _flight = match slot.refresh.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Another call is refreshing: a token that has not expired is
                // still good; without one, wait for that call's result.
                if let Some(token) = slot.unexpired() {
                    return Ok(token);
                }
                budget.run(slot.refresh.lock()).await?
            }
        };
        {
            let st = slot.state();
            let now = Instant::now();
            if let Some(c) = &st.cached
                && c.fresh(now)
            {
                return Ok(c.token.clone());
            }
            if st.attempts != seen
                && let Some(err) = &st.failure
            {
                // The request this call waited for failed: share its outcome
                // rather than repeat it.
                return match st.cached.as_ref().filter(|c| c.unexpired(now)) {
                    Some(c) => Ok(c.token.clone()),
                    None => Err(err.clone()),
                };
            }
        }
        let result = self.fetch(project_id, &budget).await;
        slot.record(&result);
        match result {
            Ok(cached) => Ok(cached.token),
            Err(err) => match slot.unexpired() {
                Some(token) => {
                    tracing::warn!(
                        upstream = SERVICE.name(),
                        project_id,
                        error = %err,
                        "IAM token refresh failed; the current token is used until it expires"
                    );
                    Ok(token)
                }
                None => Err(err),
            },
        }
    }

    /// Upstream answered 401 to `rejected`. If it is still the cached token of
    /// `project_id`, it is dropped and a new one fetched (one request however
    /// many calls report it); if another call already replaced it, the
    /// replacement is returned without a request.
    pub async fn refresh_after_rejection(
        &self,
        project_id: &str,
        rejected: &AuthToken,
        deadline: Option<Instant>,
    ) -> Result<AuthToken, UpstreamError> {
        let budget = self.budget(deadline);
        let slot = self.slot(project_id);
        let seen = {
            let mut st = slot.state();
            match &st.cached {
                Some(c) if same(&c.token, rejected) => st.cached = None,
                Some(c) if c.unexpired(Instant::now()) => return Ok(c.token.clone()),
                _ => {}
            }
            st.attempts
        };
        let _flight = budget.run(slot.refresh.lock()).await?;
        {
            let st = slot.state();
            if let Some(c) = &st.cached
                && c.unexpired(Instant::now())
                && !same(&c.token, rejected)
            {
                return Ok(c.token.clone());
            }
            if st.attempts != seen
                && let Some(err) = &st.failure
            {
                return Err(err.clone());
            }
        }
        let result = self.fetch(project_id, &budget).await;
        slot.record(&result);
        result.map(|c| c.token)
    }

    fn budget(&self, deadline: Option<Instant>) -> Budget {
        let now = Instant::now();
        let own = now
            .checked_add(self.settings.request_timeout)
            .unwrap_or(now + MAX_LIFETIME);
        match deadline {
            Some(d) if d <= own => Budget {
                until: d,
                by_caller: true,
            },
            _ => Budget {
                until: own,
                by_caller: false,
            },
        }
    }

    fn slot(&self, project_id: &str) -> Arc<Slot> {
        let mut projects = lock(&self.projects);
        if let Some(slot) = projects.get(project_id) {
            return slot.clone();
        }
        if projects.len() >= MAX_PROJECTS {
            // Keep projects in use or holding a usable token.
            projects.retain(|_, s| Arc::strong_count(s) > 1 || s.unexpired().is_some());
        }
        let slot = Arc::new(Slot::default());
        projects.insert(project_id.to_owned(), slot.clone());
        slot
    }

    /// One token request.
    async fn fetch(&self, project_id: &str, budget: &Budget) -> Result<Cached, UpstreamError> {
        if budget.until <= Instant::now() {
            return Err(budget.expired());
        }
        let password = self.settings.password.current().map_err(|err| {
            tracing::warn!(upstream = SERVICE.name(), error = %err, "cannot read the IAM password");
            UpstreamError::NotConfigured { service: SERVICE }
        })?;
        let mut url =
            paths::build(&self.settings.endpoint, &["v3", "auth", "tokens"]).map_err(|source| {
                UpstreamError::Url {
                    service: SERVICE,
                    source,
                }
            })?;
        // The service catalog is large and unused.
        url.set_query(Some("nocatalog=true"));
        let body = json!({"auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {
                    "domain": {"name": self.settings.domain},
                    "name": self.settings.user,
                    "password": password.expose(),
                }},
            },
            "scope": {"project": {"id": project_id}},
        }});
        let request = self
            .http
            .post(url)
            .header(ACCEPT, JSON)
            .header(CONTENT_TYPE, JSON_UTF8)
            .body(body.to_string());
        drop(body);
        let started = Instant::now();
        let sent_at = Utc::now();
        let answer = budget.run(exchange(request)).await??;
        let request_id = request_id(&answer.headers);
        tracing::debug!(
            upstream = SERVICE.name(),
            project_id,
            http_status = answer.status.as_u16(),
            upstream_request_id = request_id.as_deref().unwrap_or(""),
            latency_us = started.elapsed().as_micros() as u64,
            "IAM token request"
        );
        if !answer.status.is_success() {
            let parsed = dto::ErrorBody::parse(&answer.body);
            return Err(UpstreamError::Status {
                service: SERVICE,
                status: answer.status.as_u16(),
                code: parsed.code,
                message: parsed.message,
                request_id,
            });
        }
        let Some(token) = answer
            .headers
            .get(X_SUBJECT_TOKEN)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| AuthToken::parse(v).ok())
        else {
            tracing::warn!(
                upstream = SERVICE.name(),
                project_id,
                "IAM answered without a usable X-Subject-Token"
            );
            return Err(UpstreamError::Decode {
                service: SERVICE,
                request_id,
            });
        };
        let lifetime = token_lifetime(&answer.body, sent_at).unwrap_or(DEFAULT_LIFETIME);
        let (refresh_in, expires_in) = schedule(lifetime, self.settings.refresh_ahead);
        Ok(Cached {
            token,
            refresh_at: started + refresh_in,
            expires_at: started + expires_in,
        })
    }
}

/// IAM's request id: `X-Request-Id`, else `X-Iam-Trace-Id`, capped and
/// cleaned (it reaches statuses and log lines); one that is blank once cleaned
/// counts as absent.
fn request_id(headers: &HeaderMap) -> Option<String> {
    [X_REQUEST_ID, X_IAM_TRACE_ID]
        .into_iter()
        .find_map(|name| headers.get(name).and_then(untrusted::request_id))
}

/// Sends the request and reads the answer, its body capped.
async fn exchange(request: reqwest::RequestBuilder) -> Result<Answer, UpstreamError> {
    let mut resp = request.send().await.map_err(classify)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let too_large = || UpstreamError::BodyTooLarge {
        service: SERVICE,
        limit: MAX_BODY_BYTES as u64,
        request_id: request_id(&headers),
    };
    if resp
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sorts a reqwest failure by kind; its text (without the URL) goes to the debug log.
fn classify(err: reqwest::Error) -> UpstreamError {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    tracing::debug!(upstream = SERVICE.name(), error = %text, "IAM transport error");
    if err.is_connect() {
        UpstreamError::Connect { service: SERVICE }
    } else if err.is_timeout() {
        UpstreamError::Timeout { service: SERVICE }
    } else {
        UpstreamError::Transport { service: SERVICE }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether two tokens are the same token.
fn same(a: &AuthToken, b: &AuthToken) -> bool {
    a.header_value().as_bytes() == b.header_value().as_bytes()
}

/// When to refresh and when the token expires, counted from when it was requested:
/// `refresh_ahead` before expiry, but never earlier than half the lifetime (so a
/// short-lived token is not fetched again on every call).
fn schedule(lifetime: Duration, refresh_ahead: Duration) -> (Duration, Duration) {
    let lifetime = lifetime.min(MAX_LIFETIME);
    (lifetime - refresh_ahead.min(lifetime / 2), lifetime)
}

/// How long a token stays valid, from IAM's body: `token.expires_at` minus
/// `token.issued_at` (both IAM's clock, so clock skew does not matter), or minus
/// `requested_at` when `issued_at` is missing. `None` when there is no readable
/// `expires_at`; zero when the token is already expired.
fn token_lifetime(body: &[u8], requested_at: DateTime<Utc>) -> Option<Duration> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let time = |path: &str| {
        doc.pointer(path)
            .and_then(Value::as_str)
            .and_then(parse_time)
    };
    let expires = time("/token/expires_at")?;
    let issued = time("/token/issued_at")
        .filter(|issued| *issued <= expires)
        .unwrap_or(requested_at);
    Some((expires - issued).to_std().unwrap_or(Duration::ZERO))
}

/// An ISO 8601 time as IAM writes it (`2026-11-24T10:00:00.000000Z`); without an
/// offset it is taken as UTC.
fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Secret;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    #[test]
    fn iam_times_parse() {
        let want = at("2026-11-24T10:00:00Z");
        for raw in [
            "2026-11-24T10:00:00.000000Z",
            "2026-11-24T10:00:00Z",
            "2026-11-24T18:00:00.000+08:00",
            "2026-11-24T10:00:00.000000",
            " 2026-11-24T10:00:00 ",
        ] {
            assert_eq!(parse_time(raw), Some(want), "{raw}");
        }
        for bad in ["", "tomorrow", "2026-11-24", "2026-13-24T10:00:00Z"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn lifetime_comes_from_iams_own_clock() {
        let local = at("2030-01-01T00:00:00Z"); // far from IAM's clock: ignored
        let body = br#"{"token":{"expires_at":"2026-11-24T10:00:00.000000Z",
                                  "issued_at":"2026-11-23T10:00:00.000000Z"}}"#;
        assert_eq!(
            token_lifetime(body, local),
            Some(Duration::from_secs(86_400))
        );
        // Without issued_at, the local request time is the start.
        let body = br#"{"token":{"expires_at":"2026-11-24T10:00:30.000000Z"}}"#;
        assert_eq!(
            token_lifetime(body, at("2026-11-24T10:00:00Z")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            token_lifetime(body, at("2026-11-24T11:00:00Z")),
            Some(Duration::ZERO)
        );
        for bad in [
            &b""[..],
            b"not json",
            br#"{"token":{}}"#,
            br#"{"token":{"expires_at":"soon"}}"#,
            br#"{"token":{"expires_at":42}}"#,
        ] {
            assert_eq!(token_lifetime(bad, local), None);
        }
    }

    #[test]
    fn refresh_is_ahead_of_expiry_but_not_before_half_life() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        let m = |n: u64| Duration::from_secs(n * 60);
        assert_eq!(schedule(h(24), m(10)), (h(24) - m(10), h(24)));
        assert_eq!(schedule(h(24), Duration::ZERO), (h(24), h(24)));
        assert_eq!(
            schedule(Duration::from_secs(2), m(10)),
            (Duration::from_secs(1), Duration::from_secs(2))
        );
        assert_eq!(schedule(h(10_000), m(10)).1, MAX_LIFETIME);
        assert_eq!(
            schedule(Duration::ZERO, m(10)),
            (Duration::ZERO, Duration::ZERO)
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let settings = IamSettings {
            endpoint: Url::parse("https://iam.example.com").unwrap(),
            domain: "acme".into(),
            user: "alice".into(),
            password: SecretSource::Inline(Secret::new("hunter2")),
            refresh_ahead: Duration::from_secs(600),
            request_timeout: Duration::from_secs(5),
        };
        crate::install_crypto_provider();
        let provider = IamTokenProvider::new(reqwest::Client::new(), settings);
        let shown = format!("{provider:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
