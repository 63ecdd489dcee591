//! When to send an upstream request again, how long to wait first, and the
//! budget that keeps retries from multiplying load during an outage.
//!
//! Reads (GET) are retried on failures that say nothing about the resource:
//! connect errors, connections lost before an answer, 502/503/504 and 429.
//! A create is re-sent only when the connection could not even be opened, so
//! its bytes certainly never left the gateway (contract §5). A failed IAM
//! login is not retried here: the token provider backs off on its own.
//!
//! Waits follow exponential backoff (`backon`'s schedule) with full jitter
//! (each wait uniform below the ceiling, so synchronized clients spread out);
//! upstream's `Retry-After` is honoured as a floor. Every attempt and wait fits
//! in the caller's deadline: when the next wait would not leave room for an
//! attempt, the call ends with the last error instead of waiting in vain.
//!
//! The budget is a token bucket in the spirit of gRPC retry throttling and
//! Finagle's retry budgets: each call earns `ratio` tokens, each retry spends
//! one, and a reserve refills at `min_per_second` (up to ten seconds' worth),
//! so a quiet gateway can always retry a little, while a total outage costs
//! upstream at most about `1 + ratio` attempts per call.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime},
};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::Method;
use tokio::time::Instant;

use super::error::{FailureClass, Service, UpstreamError};

/// How upstream calls are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Most attempts of one read, the first included.
    pub max_attempts: u32,
    /// Backoff ceiling before the first retry.
    pub initial_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Longest `Retry-After` worth waiting for.
    pub max_retry_after: Duration,
    /// Tokens each call earns for the budget.
    pub budget_ratio: f64,
    /// Retries per second the reserve allows.
    pub budget_min_per_second: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
            budget_ratio: 0.2,
            budget_min_per_second: 10,
        }
    }
}

impl RetryPolicy {
    /// The backoff ceilings of one call, in order: `initial_backoff` doubling up
    /// to `max_backoff`.
    pub fn ceilings(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff.max(self.initial_backoff))
            .with_factor(2.0)
            .with_max_times(usize::try_from(self.max_attempts).unwrap_or(usize::MAX))
            .build()
    }
}

/// Whether a failed attempt may be sent again.
pub(crate) fn retryable(method: &Method, error: &UpstreamError) -> bool {
    // A failed IAM login pauses that project's logins (`iam::LoginBackoff`):
    // a retry within the pause would only get the same failure back, after
    // waiting and spending the CBR retry budget for nothing.
    if error.service() == Service::Iam {
        return false;
    }
    if *method != Method::GET {
        // Only a connection that never opened proves the body was not sent.
        return matches!(error, UpstreamError::Connect { .. });
    }
    match error {
        // A timed-out attempt already spent its time, and a shed call would be
        // shed again: transient, but not worth another attempt now.
        UpstreamError::Timeout { .. }
        | UpstreamError::DeadlineExceeded { .. }
        | UpstreamError::Overloaded { .. } => false,
        other => other.class() == FailureClass::Transient,
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(raw: &str, now: SystemTime) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let at = SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A uniformly random wait below `ceiling` (full jitter).
pub(crate) fn full_jitter(ceiling: Duration) -> Duration {
    ceiling.mul_f64(fastrand::f64())
}

/// The retry budget of one upstream service; see the module documentation.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    per_second: f64,
    capacity: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RetryBudget {
    /// A full budget.
    pub fn new(ratio: f64, min_per_second: u32) -> Self {
        let per_second = f64::from(min_per_second);
        // Ten seconds of reserve, like Finagle's default TTL; at least a few
        // tokens so `min_per_second = 0` still allows the odd retry.
        let capacity = (per_second * 10.0).max(10.0);
        Self {
            ratio,
            per_second,
            capacity,
            state: Mutex::new(Bucket {
                tokens: capacity,
                refilled: Instant::now(),
            }),
        }
    }

    /// Records one new call: it earns `ratio` tokens.
    pub fn deposit(&self) {
        let mut b = self.lock();
        b.tokens = (b.tokens + self.ratio).min(self.capacity);
    }

    /// Takes one token for a retry, if there is one.
    pub fn try_withdraw(&self) -> bool {
        let mut b = self.lock();
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(b.refilled).as_secs_f64();
        b.refilled = now;
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.capacity);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // Plain arithmetic under the lock: a poisoned bucket is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> UpstreamError {
        UpstreamError::Status {
            service: Service::Cbr,
            status: code,
            code: None,
            message: None,
            request_id: None,
        }
    }

    #[test]
    fn reads_retry_transient_failures_only() {
        let get = Method::GET;
        for code in [429, 502, 503, 504] {
            assert!(retryable(&get, &status(code)), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 500, 501] {
            assert!(!retryable(&get, &status(code)), "{code}");
        }
        let service = Service::Cbr;
        assert!(retryable(&get, &UpstreamError::Connect { service }));
        assert!(retryable(&get, &UpstreamError::Transport { service }));
        assert!(!retryable(&get, &UpstreamError::Timeout { service }));
        assert!(!retryable(
            &get,
            &UpstreamError::DeadlineExceeded { service }
        ));
        assert!(!retryable(&get, &UpstreamError::Overloaded { service }));
    }

    #[test]
    fn iam_failures_are_not_retried_here() {
        // The token provider has its own backoff; see `retryable`.
        let service = Service::Iam;
        let iam_503 = UpstreamError::Status {
            service,
            status: 503,
            code: None,
            message: None,
            request_id: None,
        };
        for method in [Method::GET, Method::POST] {
            assert!(!retryable(&method, &iam_503));
            assert!(!retryable(&method, &UpstreamError::Connect { service }));
            assert!(!retryable(&method, &UpstreamError::Transport { service }));
        }
    }

    #[test]
    fn creates_retry_only_when_nothing_was_sent() {
        let post = Method::POST;
        let service = Service::Cbr;
        assert!(retryable(&post, &UpstreamError::Connect { service }));
        assert!(!retryable(&post, &UpstreamError::Transport { service }));
        assert!(!retryable(&post, &status(503)));
        assert!(!retryable(&post, &status(429)));
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 7,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        let got: Vec<u128> = p.ceilings().take(5).map(|d| d.as_millis()).collect();
        assert_eq!(got, [50, 100, 200, 300, 300]);
        for _ in 0..100 {
            assert!(full_jitter(Duration::from_millis(80)) < Duration::from_millis(80));
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        // RFC 9110's example date is 784111777 seconds after the epoch.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_caps_retries_at_the_ratio_plus_the_reserve() {
        let budget = RetryBudget::new(0.2, 10);
        let mut retries = 0;
        // A total outage: every call wants four retries.
        for _ in 0..1000 {
            budget.deposit();
            for _ in 0..4 {
                if !budget.try_withdraw() {
                    break;
                }
                retries += 1;
            }
        }
        // 100 reserve + 0.2 × 1000 earned (give or take rounding), no time passed.
        assert!((299..=300).contains(&retries), "{retries}");
        assert!(!budget.try_withdraw());
        tokio::time::advance(Duration::from_secs(1)).await;
        let refilled = (0..100).filter(|_| budget.try_withdraw()).count();
        assert_eq!(refilled, 10, "the reserve refills at min_per_second");
    }
}
