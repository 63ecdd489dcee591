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
//! A failed login backs off, per project ([`LoginBackoff`]): until the backoff
//! passes, calls for that project get the recorded failure (or the token that
//! has not expired yet) and IAM sees no request, so callers cannot make the
//! gateway repeat a wrong password until IAM locks the user. The backoff
//! doubles with each failure in a row, up to a longer cap when IAM refused the
//! credentials (400, 401, 403) than when it was down or slow; a success ends
//! it, and so does a changed password (a rotated secret file is tried at
//! once). The caller's own deadline expiring is no failure of IAM's and starts
//! no backoff. Projects nobody calls for are never logged in to.
//!
//! The password and the tokens never reach a log line: the debug line of a
//! request names only the project, the HTTP status, IAM's request id and the
//! latency; the warning of a failed login names the project, the failure and
//! when the next attempt may be made.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;
use url::Url;

use super::{
    dto,
    error::{Service, UpstreamError},
    exchange::{self, Budget},
    paths,
    secrets::{Secret, SecretError, SecretSource},
    token::AuthToken,
};

const SERVICE: Service = Service::Iam;

/// Lifetime assumed when IAM's answer carries no readable expiry (IAM tokens are
/// valid for 24 hours).
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest lifetime believed, whatever IAM says.
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Largest IAM response body read (the catalog is not requested).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Projects kept before entries with no usable token are dropped.
const MAX_PROJECTS: usize = 1024;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");
const X_SUBJECT_TOKEN: &str = "x-subject-token";

/// Where and as whom the gateway logs in to IAM. `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct IamSettings {
    /// IAM base URL, e.g. `https://iam.myhuaweicloud.com`.
    pub endpoint: Url,
    /// Account (domain) name of the IAM user.
    pub domain: String,
    /// IAM user name.
    pub user: String,
    /// The user's password, inline or from a file re-read when it changes
    /// (shared by every region's login).
    pub password: std::sync::Arc<SecretSource>,
    /// Refresh a token this long before it expires (at most half its lifetime).
    pub refresh_ahead: Duration,
    /// Time allowed for one token request.
    pub request_timeout: Duration,
}

/// How long a project's logins pause after a failure (see the module
/// documentation). The defaults suit IAM's lockout of users after repeated
/// wrong passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginBackoff {
    /// The pause after the first failure; it doubles with each further one.
    pub initial: Duration,
    /// Longest pause after IAM refused the credentials (HTTP 400, 401, 403):
    /// a wrong password stays wrong until someone changes it.
    pub max_refused: Duration,
    /// Longest pause after any other failure (no connection, timeout, 5xx,
    /// an unreadable answer): IAM may be back any moment.
    pub max_transient: Duration,
}

impl Default for LoginBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max_refused: Duration::from_secs(15 * 60),
            max_transient: Duration::from_secs(60),
        }
    }
}

impl LoginBackoff {
    /// The pause after `streak` failures in a row, the last one `err`:
    /// `initial` doubled `streak - 1` times, at most the cap for `err`'s kind.
    fn pause(&self, streak: u32, err: &UpstreamError) -> Duration {
        let cap = if refused(err) {
            self.max_refused
        } else {
            self.max_transient
        };
        let factor = 2u32.saturating_pow(streak.saturating_sub(1));
        self.initial.saturating_mul(factor).min(cap)
    }
}

/// Whether IAM refused the credentials themselves, rather than failing to
/// answer: repeating them cannot help and counts towards IAM's lockout.
fn refused(err: &UpstreamError) -> bool {
    matches!(
        err,
        UpstreamError::Status {
            status: 400 | 401 | 403,
            ..
        }
    )
}

/// Project-scoped IAM tokens, cached and refreshed ahead of expiry. Share it in
/// an `Arc`.
pub struct IamTokenProvider {
    http: reqwest::Client,
    settings: IamSettings,
    backoff: LoginBackoff,
    projects: Mutex<HashMap<String, Arc<Slot>>>,
    /// Project IDs found by name ([`IamTokenProvider::project_named`]).
    named: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for IamTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamTokenProvider")
            .field("settings", &self.settings)
            .field("backoff", &self.backoff)
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
    /// Why the latest completed request failed, if it did, and the backoff it
    /// started.
    failure: Option<Failure>,
}

/// A failed login and the pause it imposes on the project's next one.
struct Failure {
    error: UpstreamError,
    /// Failures in a row with this password.
    streak: u32,
    /// No login before this, unless the password changed.
    retry_at: Instant,
    /// The SHA-256 of the password the login used (`None`: it could not be
    /// read), so a changed password is noticed without keeping the old one.
    password: Option<[u8; 32]>,
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

    /// The moment and password of the failure that pauses logins, if any.
    fn paused_until(&self) -> Option<(Instant, Option<[u8; 32]>)> {
        self.state()
            .failure
            .as_ref()
            .map(|f| (f.retry_at, f.password))
    }
}

impl IamTokenProvider {
    /// A provider logging in with `settings` over `http` (which should not follow
    /// redirects, like the upstream client's), backing off failed logins by
    /// [`LoginBackoff::default`].
    pub fn new(http: reqwest::Client, settings: IamSettings) -> Self {
        Self {
            http,
            settings,
            backoff: LoginBackoff::default(),
            projects: Mutex::new(HashMap::new()),
            named: Mutex::new(HashMap::new()),
        }
    }

    /// The same provider, backing off failed logins by `backoff`.
    pub fn with_backoff(mut self, backoff: LoginBackoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// A token scoped to `project_id`: the cached one while it is fresh, else a
    /// new one (one request per project however many calls wait for it). A token
    /// past its refresh time but not expired is still returned when another
    /// call is refreshing it or the refresh fails. While a failed login backs
    /// off, the failure is returned without a request.
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
        if let Some(answer) = self.paused(&slot) {
            return answer;
        }
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
                && let Some(failure) = &st.failure
            {
                // The request this call waited for failed: share its outcome
                // rather than repeat it.
                return match st.cached.as_ref().filter(|c| c.unexpired(now)) {
                    Some(c) => Ok(c.token.clone()),
                    None => Err(failure.error.clone()),
                };
            }
        }
        match self.login(project_id, &slot, &budget).await {
            Ok(cached) => Ok(cached.token),
            // The failure was logged, with the backoff it started.
            Err(err) => slot.unexpired().ok_or(err),
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
        if let Some(answer) = self.paused(&slot) {
            return answer;
        }
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
                && let Some(failure) = &st.failure
            {
                return Err(failure.error.clone());
            }
        }
        self.login(project_id, &slot, &budget)
            .await
            .map(|c| c.token)
    }

    /// What a call gets while `slot`'s last login failure pauses logins: the
    /// token that has not expired yet, else that failure. `None` when a login
    /// may be made: no failure, its pause has passed, or the password changed
    /// since (read outside the state lock: it may stat a file).
    fn paused(&self, slot: &Slot) -> Option<Result<AuthToken, UpstreamError>> {
        let (retry_at, failed_with) = slot.paused_until()?;
        if Instant::now() >= retry_at {
            return None;
        }
        let current = self.settings.password.current().ok();
        if current.as_ref().map(fingerprint) != failed_with {
            return None;
        }
        let st = slot.state();
        if let Some(c) = st.cached.as_ref().filter(|c| c.unexpired(Instant::now())) {
            return Some(Ok(c.token.clone()));
        }
        st.failure.as_ref().map(|f| Err(f.error.clone()))
    }

    /// One login for `project_id` (the caller holds the slot's flight lock),
    /// its outcome recorded in `slot`: a token, or a failure that pauses the
    /// project's logins (logged once, here).
    async fn login(
        &self,
        project_id: &str,
        slot: &Slot,
        budget: &Budget,
    ) -> Result<Cached, UpstreamError> {
        let password = self.settings.password.current();
        let used = password.as_ref().ok().map(fingerprint);
        let result = self.fetch(project_id, budget, password).await;
        self.record(project_id, slot, &result, used);
        result
    }

    /// Stores the outcome of a login made with the password whose
    /// fingerprint is `used`; a failure starts or extends the pause.
    fn record(
        &self,
        project_id: &str,
        slot: &Slot,
        result: &Result<Cached, UpstreamError>,
        used: Option<[u8; 32]>,
    ) {
        let mut st = slot.state();
        match result {
            Ok(cached) => {
                st.cached = Some(cached.clone());
                st.failure = None;
                st.attempts += 1;
            }
            // The caller's own deadline says nothing about IAM: the calls waiting
            // behind this one try for themselves, and no backoff starts.
            Err(UpstreamError::DeadlineExceeded { .. }) => {}
            Err(err) => {
                // A new password starts afresh: the pause protects IAM from
                // the same refused password, not from its replacement.
                let streak = match &st.failure {
                    Some(f) if f.password == used => f.streak.saturating_add(1),
                    _ => 1,
                };
                let pause = self.backoff.pause(streak, err);
                let now = Instant::now();
                let token_valid = st.cached.as_ref().is_some_and(|c| c.unexpired(now));
                st.failure = Some(Failure {
                    error: err.clone(),
                    streak,
                    retry_at: now.checked_add(pause).unwrap_or(now + MAX_LIFETIME),
                    password: used,
                });
                st.attempts += 1;
                drop(st);
                let (http_status, error_code) = match err {
                    UpstreamError::Status { status, code, .. } => {
                        (*status, code.as_deref().unwrap_or(""))
                    }
                    _ => (0, ""),
                };
                tracing::warn!(
                    upstream = SERVICE.name(),
                    project_id,
                    error = %err,
                    http_status,
                    error_code,
                    failures_in_a_row = streak,
                    next_attempt_in = %humantime::format_duration(pause),
                    token_still_valid = token_valid,
                    "IAM login failed; the project's logins pause until the next attempt"
                );
            }
        }
    }

    fn budget(&self, deadline: Option<Instant>) -> Budget {
        Budget::new(SERVICE, self.settings.request_timeout, deadline)
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

    /// One token request with `password`, scoped to `project_id`.
    async fn fetch(
        &self,
        project_id: &str,
        budget: &Budget,
        password: Result<Secret, SecretError>,
    ) -> Result<Cached, UpstreamError> {
        self.fetch_scoped(Scope::Id(project_id), budget, password)
            .await
            .map(|(cached, _)| cached)
    }

    /// One token request with `password`, scoped to `scope`: the token, and
    /// the ID of the project IAM scoped it to (from the answer's body).
    async fn fetch_scoped(
        &self,
        scope: Scope<'_>,
        budget: &Budget,
        password: Result<Secret, SecretError>,
    ) -> Result<(Cached, Option<String>), UpstreamError> {
        let project_id = scope.label();
        if budget.spent() {
            return Err(budget.expired());
        }
        let password = password.map_err(|err| {
            tracing::warn!(upstream = SERVICE.name(), error = %err, "cannot read the IAM password");
            UpstreamError::NotConfigured { service: SERVICE }
        })?;
        let route = &cbr_wire::IAM_TOKENS;
        let mut url = route
            .segments(&[])
            .ok_or(paths::PathError::UnsafeSegment)
            .and_then(|segments| paths::build(&self.settings.endpoint, &segments))
            .map_err(|source| UpstreamError::Url {
                service: route.api,
                source,
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
            "scope": {"project": scope.json()},
        }});
        let request = self
            .http
            .post(url)
            .header(ACCEPT, JSON)
            .header(CONTENT_TYPE, JSON_UTF8)
            .body(body.to_string())
            .build()
            .map_err(|e| exchange::classify(SERVICE, &e))?;
        drop(body);
        let started = Instant::now();
        let sent_at = Utc::now();
        let answer = budget
            .run(exchange::exchange(
                &self.http,
                SERVICE,
                request,
                MAX_BODY_BYTES as u64,
            ))
            .await??;
        let request_id = answer.request_id.clone();
        tracing::debug!(
            upstream = SERVICE.name(),
            project_id,
            http_status = answer.status.as_u16(),
            upstream_request_id = request_id.as_deref().unwrap_or(""),
            latency_us = started.elapsed().as_micros() as u64,
            "IAM token request"
        );
        if !answer.status.is_success() {
            let parsed = dto::ErrorBody::parse(&answer.bytes);
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
        let lifetime = token_lifetime(&answer.bytes, sent_at).unwrap_or(DEFAULT_LIFETIME);
        let (refresh_in, expires_in) = schedule(lifetime, self.settings.refresh_ahead);
        let cached = Cached {
            token,
            refresh_at: started + refresh_in,
            expires_at: started + expires_in,
        };
        Ok((cached, scoped_project(&answer.bytes)))
    }

    /// The ID of the project IAM names `name` (a region's project is named
    /// after the region), found the way a password login can: a token scoped
    /// to the project by name, whose answer gives the project's ID. The token
    /// is kept as that project's, so the call that asked uses it at once;
    /// the ID is kept for good (one login per name however many calls ask).
    pub async fn project_named(
        &self,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<String, UpstreamError> {
        if let Some(id) = lock(&self.named).get(name) {
            return Ok(id.clone());
        }
        let budget = self.budget(deadline);
        // A key no project ID can be: the name's logins have their own flight
        // lock and backoff.
        let key = format!("@{name}");
        let slot = self.slot(&key);
        if let Some(Err(failed)) = self.paused(&slot) {
            return Err(failed);
        }
        let _flight = budget.run(slot.refresh.lock()).await?;
        if let Some(id) = lock(&self.named).get(name) {
            return Ok(id.clone());
        }
        let password = self.settings.password.current();
        let used = password.as_ref().ok().map(fingerprint);
        let result = self
            .fetch_scoped(Scope::Name(name), &budget, password)
            .await
            .and_then(|(cached, id)| match id {
                Some(id) => Ok((cached, id)),
                None => Err(UpstreamError::Decode {
                    service: SERVICE,
                    request_id: None,
                }),
            });
        self.record(
            &key,
            &slot,
            &result
                .as_ref()
                .map(|(c, _)| c.clone())
                .map_err(Clone::clone),
            used,
        );
        let (cached, id) = result?;
        self.slot(&id).state().cached = Some(cached);
        lock(&self.named).insert(name.to_owned(), id.clone());
        Ok(id)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A password's SHA-256: enough to tell that it changed, without keeping it.
fn fingerprint(password: &Secret) -> [u8; 32] {
    Sha256::digest(password.expose().as_bytes()).into()
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

/// The ID of the project a token answer is scoped to (`token.project.id`).
fn scoped_project(body: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let id = doc.pointer("/token/project/id")?.as_str()?;
    // An ID that goes into URLs and keys: IAM's are 32 hex digits.
    super::paths::is_valid_id(id).then(|| id.to_owned())
}

/// What a login is scoped to.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// A project, by ID.
    Id(&'a str),
    /// A project, by name (a region's project is named after the region).
    Name(&'a str),
}

impl<'a> Scope<'a> {
    /// `scope.project` of the login.
    fn json(self) -> Value {
        match self {
            Scope::Id(id) => json!({ "id": id }),
            Scope::Name(name) => json!({ "name": name }),
        }
    }

    /// How log lines name it.
    fn label(self) -> &'a str {
        match self {
            Scope::Id(id) | Scope::Name(id) => id,
        }
    }
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
    fn a_login_by_project_name_gives_the_projects_id() {
        let body = br#"{"token":{"project":{"id":"4229d7a45436489f8c3dc2b1d35d4987","name":"ap-southeast-3"}}}"#;
        assert_eq!(
            scoped_project(body).as_deref(),
            Some("4229d7a45436489f8c3dc2b1d35d4987")
        );
        for bad in [
            &b""[..],
            br#"{"token":{}}"#,
            br#"{"token":{"project":{"id":42}}}"#,
            br#"{"token":{"project":{"id":""}}}"#,
            br#"{"token":{"project":{"id":"../x"}}}"#,
        ] {
            assert_eq!(scoped_project(bad), None);
        }
        assert_eq!(Scope::Name("r").json(), json!({"name": "r"}));
        assert_eq!(Scope::Id("p").json(), json!({"id": "p"}));
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

    fn provider(password: SecretSource) -> IamTokenProvider {
        crate::install_crypto_provider();
        IamTokenProvider::new(
            reqwest::Client::new(),
            IamSettings {
                // Nothing listens there: a login that was made would fail to connect.
                endpoint: Url::parse("http://127.0.0.1:9").unwrap(),
                domain: "acme".into(),
                user: "alice".into(),
                password: std::sync::Arc::new(password),
                refresh_ahead: Duration::from_secs(600),
                request_timeout: Duration::from_secs(5),
            },
        )
    }

    fn inline(password: &str) -> SecretSource {
        SecretSource::Inline(Secret::new(password))
    }

    fn refused() -> UpstreamError {
        UpstreamError::Status {
            service: SERVICE,
            status: 401,
            code: Some("401".into()),
            message: Some("The username or password is wrong.".into()),
            request_id: None,
        }
    }

    /// Records a failed login made with the provider's current password.
    fn fail(iam: &IamTokenProvider, slot: &Slot, err: UpstreamError) {
        let used = iam
            .settings
            .password
            .current()
            .ok()
            .map(|p| fingerprint(&p));
        iam.record("p1", slot, &Err(err), used);
    }

    fn is_refusal(answer: Option<Result<AuthToken, UpstreamError>>) -> bool {
        matches!(answer, Some(Err(UpstreamError::Status { status: 401, .. })))
    }

    #[test]
    fn pauses_double_up_to_the_cap_of_their_kind() {
        let b = LoginBackoff::default();
        let secs = |streak, err: &UpstreamError| b.pause(streak, err).as_secs();
        let down = UpstreamError::Connect { service: SERVICE };
        let got: Vec<u64> = (1..=12).map(|n| secs(n, &refused())).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        let got: Vec<u64> = (1..=8).map(|n| secs(n, &down)).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60]);
        // Refusals are 400, 401 and 403; every other failure is transient.
        for (status, refusal) in [(400, true), (403, true), (429, false), (503, false)] {
            let err = UpstreamError::Status {
                service: SERVICE,
                status,
                code: None,
                message: None,
                request_id: None,
            };
            assert_eq!(b.pause(20, &err) == b.max_refused, refusal, "{status}");
        }
        assert_eq!(secs(u32::MAX, &down), 60, "no overflow");
        assert_eq!(secs(0, &down), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_login_pauses_the_projects_logins() {
        let iam = provider(inline("wrong"));
        let slot = iam.slot("p1");
        assert!(iam.paused(&slot).is_none(), "nothing failed yet");
        fail(&iam, &slot, refused());
        assert!(is_refusal(iam.paused(&slot)));
        // Calls get the failure at once; no login is made (one would fail to connect).
        let err = iam.token("p1", None).await.unwrap_err();
        assert!(
            matches!(err, UpstreamError::Status { status: 401, .. }),
            "{err:?}"
        );
        assert_eq!(slot.state().attempts, 1);
        // Other projects are not paused.
        assert!(iam.paused(&iam.slot("p2")).is_none());

        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(is_refusal(iam.paused(&slot)));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(iam.paused(&slot).is_none(), "the pause has passed");

        // The next failure in a row pauses twice as long.
        fail(&iam, &slot, refused());
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(is_refusal(iam.paused(&slot)));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(iam.paused(&slot).is_none());

        // A success ends the streak and the pause.
        let token = AuthToken::parse("MIIok").unwrap();
        let now = Instant::now();
        let ok = Cached {
            token: token.clone(),
            refresh_at: now + Duration::from_secs(60),
            expires_at: now + Duration::from_secs(120),
        };
        iam.record("p1", &slot, &Ok(ok), None);
        assert!(slot.state().failure.is_none());
        assert!(same(&iam.token("p1", None).await.unwrap(), &token));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unexpired_token_serves_through_the_pause() {
        let iam = provider(inline("pw"));
        let slot = iam.slot("p1");
        let token = AuthToken::parse("MIIstill-good").unwrap();
        let now = Instant::now();
        slot.state().cached = Some(Cached {
            token: token.clone(),
            // Due for a refresh, not yet expired.
            refresh_at: now,
            expires_at: now + Duration::from_secs(2),
        });
        fail(&iam, &slot, UpstreamError::Timeout { service: SERVICE });
        let served = iam.token("p1", None).await.unwrap();
        assert!(same(&served, &token));
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!(same(&iam.token("p1", None).await.unwrap(), &token));
        assert_eq!(slot.state().attempts, 1, "no refresh during the pause");
        // Expired during a later pause (0.9 s + 2 s): the failure shows.
        fail(&iam, &slot, UpstreamError::Timeout { service: SERVICE });
        tokio::time::advance(Duration::from_millis(1500)).await;
        let err = iam.token("p1", None).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Timeout { .. }), "{err:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_password_ends_the_pause_and_the_streak() {
        let dir = std::env::temp_dir().join(format!("cbr-iam-backoff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("password");
        std::fs::write(&path, "wrong\n").unwrap();
        let iam = provider(SecretSource::File(
            crate::upstream::SecretFile::open(&path).unwrap(),
        ));
        let slot = iam.slot("p1");
        for _ in 0..5 {
            fail(&iam, &slot, refused());
        }
        assert_eq!(slot.state().failure.as_ref().unwrap().streak, 5);
        assert!(is_refusal(iam.paused(&slot)));
        // A different length: a change even within the mtime's resolution.
        std::fs::write(&path, "the-new-password\n").unwrap();
        assert!(
            iam.paused(&slot).is_none(),
            "a new password is tried at once"
        );
        fail(&iam, &slot, refused());
        let failure_streak = slot.state().failure.as_ref().unwrap().streak;
        assert_eq!(failure_streak, 1, "and starts a new streak");
        assert!(is_refusal(iam.paused(&slot)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_callers_deadline_starts_no_pause() {
        let iam = provider(inline("pw"));
        let slot = iam.slot("p1");
        let err = UpstreamError::DeadlineExceeded { service: SERVICE };
        fail(&iam, &slot, err);
        assert!(slot.state().failure.is_none());
        assert_eq!(slot.state().attempts, 0);
        assert!(iam.paused(&slot).is_none());
    }

    #[test]
    fn debug_hides_the_password() {
        let settings = IamSettings {
            endpoint: Url::parse("https://iam.example.com").unwrap(),
            domain: "acme".into(),
            user: "alice".into(),
            password: std::sync::Arc::new(SecretSource::Inline(Secret::new("hunter2"))),
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
