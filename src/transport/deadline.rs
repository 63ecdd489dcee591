//! Caller deadlines, owned by the gateway rather than by tonic.
//!
//! tonic's own server answers an expired `grpc-timeout` with CANCELLED ("Timeout
//! expired"); gRPC clients expect DEADLINE_EXCEEDED. This tower layer sits in
//! front of every service: it parses and removes `grpc-timeout`, puts the
//! absolute [`Deadline`] in the request's extensions for handlers (which bound
//! their upstream calls by it and answer DEADLINE_EXCEEDED with details), and, as
//! a backstop, answers DEADLINE_EXCEEDED itself shortly after the deadline if a
//! handler has not.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use tokio::time::Instant;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::error::{GatewayError, status_response};

/// When the caller stops waiting. Present in a request's extensions when the
/// caller sent `grpc-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline(pub Instant);

/// How long after the deadline the backstop answers, so that the handler's own,
/// more detailed DEADLINE_EXCEEDED normally wins.
const BACKSTOP_GRACE: Duration = Duration::from_millis(50);

/// Adds [`DeadlineService`] around a service.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeadlineLayer;

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct DeadlineService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for DeadlineService<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible> + Send,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let arrived = Instant::now();
        let deadline = match req.headers_mut().remove("grpc-timeout") {
            None => None,
            Some(raw) => match raw.to_str().ok().and_then(parse_grpc_timeout) {
                Some(timeout) => Some(arrived + timeout),
                None => {
                    let status = GatewayError::MalformedTimeout.to_status();
                    return Box::pin(async move { Ok(status_response(&status)) });
                }
            },
        };
        let Some(deadline) = deadline else {
            return Box::pin(self.inner.call(req));
        };
        req.extensions_mut().insert(Deadline(deadline));
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline + BACKSTOP_GRACE, fut).await {
                Ok(response) => response,
                Err(_) => Ok(status_response(&GatewayError::DeadlineExceeded.to_status())),
            }
        })
    }
}

/// Parses a `grpc-timeout` value: 1-8 digits and a unit (`H M S m u n`).
pub(crate) fn parse_grpc_timeout(raw: &str) -> Option<Duration> {
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
