//! The stages every upstream request shares, whichever service it goes to
//! (CBR, CSBS, IAM): the time it may take ([`Budget`]), sending it and reading
//! the answer with its body capped ([`exchange`]), and sorting a transport
//! failure by kind ([`classify`]).

use std::{future::Future, time::Duration};

use reqwest::{
    StatusCode,
    header::{HeaderMap, RETRY_AFTER},
};
use tokio::time::Instant;

use super::{
    error::{Service, UpstreamError},
    retry, untrusted,
};

/// The time one request may take: the caller's deadline or the service's own
/// timeout, whichever comes first — and which of the two it was, since
/// running out of each is a different failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    service: Service,
    until: Instant,
    by_caller: bool,
}

impl Budget {
    /// A budget of `timeout` from now, cut to the caller's `deadline`.
    pub(crate) fn new(service: Service, timeout: Duration, deadline: Option<Instant>) -> Self {
        let now = Instant::now();
        let own = now
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(86_400));
        match deadline {
            Some(d) if d <= own => Self {
                service,
                until: d,
                by_caller: true,
            },
            _ => Self {
                service,
                until: own,
                by_caller: false,
            },
        }
    }

    /// When it runs out.
    pub(crate) fn until(&self) -> Instant {
        self.until
    }

    /// Whether it has run out.
    pub(crate) fn spent(&self) -> bool {
        self.until <= Instant::now()
    }

    /// The failure of running out: the caller's deadline, or a timeout.
    pub(crate) fn expired(&self) -> UpstreamError {
        let service = self.service;
        if self.by_caller {
            UpstreamError::DeadlineExceeded { service }
        } else {
            UpstreamError::Timeout { service }
        }
    }

    /// Runs `f` within the budget.
    pub(crate) async fn run<F: Future>(&self, f: F) -> Result<F::Output, UpstreamError> {
        tokio::time::timeout_at(self.until, f)
            .await
            .map_err(|_| self.expired())
    }
}

/// What upstream answered to one request.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: HeaderMap,
    /// Upstream's request id (`X-Request-Id`, else `X-Iam-Trace-Id`), capped
    /// and cleaned.
    pub(crate) request_id: Option<String>,
    /// `Retry-After`, when upstream asked for a pause.
    pub(crate) retry_after: Option<Duration>,
    /// The body, at most the limit it was read with.
    pub(crate) bytes: Vec<u8>,
}

/// Sends `request` and reads the answer, its body capped at `max_body`.
pub(crate) async fn exchange(
    http: &reqwest::Client,
    service: Service,
    request: reqwest::Request,
    max_body: u64,
) -> Result<Answer, UpstreamError> {
    let mut resp = http
        .execute(request)
        .await
        .map_err(|e| classify(service, &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    // Capped and cleaned here, once: it reaches statuses, response metadata
    // and log lines.
    let request_id = headers
        .get("x-request-id")
        .and_then(untrusted::request_id)
        .or_else(|| {
            headers
                .get("x-iam-trace-id")
                .and_then(untrusted::request_id)
        });
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now()));
    let too_large = |request_id| UpstreamError::BodyTooLarge {
        service,
        limit: max_body,
        request_id,
    };
    if resp.content_length().is_some_and(|len| len > max_body) {
        return Err(too_large(request_id));
    }
    let hint = resp.content_length().unwrap_or(8 * 1024).min(max_body);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(service, &e))? {
        if (bytes.len() + chunk.len()) as u64 > max_body {
            return Err(too_large(request_id));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        request_id,
        retry_after,
        bytes,
    })
}

/// Sorts a reqwest failure into connect (never reached upstream), timeout, or
/// transport (may have reached upstream). Only the kind is kept: reqwest's
/// text names the URL, and the gateway's messages stay short; the text
/// (without the URL) goes to the debug log.
pub(crate) fn classify(service: Service, err: &reqwest::Error) -> UpstreamError {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    tracing::debug!(upstream = service.name(), error = %text, "upstream transport error");
    if err.is_connect() {
        UpstreamError::Connect { service }
    } else if err.is_timeout() {
        UpstreamError::Timeout { service }
    } else {
        UpstreamError::Transport { service }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_budget_is_the_nearer_of_the_timeout_and_the_deadline() {
        let soon = Instant::now() + Duration::from_secs(1);
        let by_caller = Budget::new(Service::Cbr, Duration::from_secs(30), Some(soon));
        assert_eq!(by_caller.until(), soon);
        assert!(matches!(
            by_caller.expired(),
            UpstreamError::DeadlineExceeded { .. }
        ));
        let own = Budget::new(Service::Iam, Duration::from_secs(5), None);
        assert!(matches!(own.expired(), UpstreamError::Timeout { .. }));
        assert!(!own.spent());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(own.spent());
        let late = own.run(std::future::pending::<()>()).await;
        assert!(matches!(late, Err(UpstreamError::Timeout { .. })));
    }
}
