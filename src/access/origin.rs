//! Browsers (contract §8): a request carrying an `Origin` header is served
//! only when that origin is listed in `--cors-allowed-origins`.
//!
//! CORS alone does not protect a gateway: tower-http's `CorsLayer` only adds
//! headers, and a DNS-rebinding page (`evil.test` resolving to the gateway's
//! address) is same-origin to the browser, so the browser never asks. Every
//! browser sends `Origin` with a POST, which every gRPC-Web call is, so
//! refusing unlisted origins here shuts out both cross-origin pages and
//! rebinding ones. Native gRPC clients send no `Origin` and are unaffected.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response, header::ORIGIN};
use tokio::time::Instant;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::{config::CorsOrigins, error::GatewayError};

/// Longest origin quoted back in a refusal.
const MAX_QUOTED: usize = 100;

/// Refuses requests from unlisted browser origins.
#[derive(Debug, Clone)]
pub struct OriginGuardLayer {
    allowed: CorsOrigins,
}

impl OriginGuardLayer {
    /// Allows the origins of `--cors-allowed-origins` (none when empty).
    pub fn new(allowed: CorsOrigins) -> Self {
        Self { allowed }
    }
}

impl<S> Layer<S> for OriginGuardLayer {
    type Service = OriginGuard<S>;
    fn layer(&self, inner: S) -> Self::Service {
        OriginGuard {
            inner,
            allowed: self.allowed.clone(),
        }
    }
}

/// See [`OriginGuardLayer`].
#[derive(Debug, Clone)]
pub struct OriginGuard<S> {
    inner: S,
    allowed: CorsOrigins,
}

impl<S> OriginGuard<S> {
    fn allows(&self, origin: &http::HeaderValue) -> bool {
        match &self.allowed {
            CorsOrigins::None => false,
            CorsOrigins::Any => true,
            // Listed origins are normalised as browsers send them.
            CorsOrigins::List(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())),
        }
    }
}

impl<S, B> Service<Request<B>> for OriginGuard<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let refused = req.headers().get(ORIGIN).filter(|o| !self.allows(o));
        let Some(origin) = refused else {
            return Box::pin(self.inner.call(req));
        };
        let started = Instant::now();
        let shown: String = String::from_utf8_lossy(origin.as_bytes())
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_QUOTED)
            .collect();
        let status = GatewayError::OriginNotAllowed(shown).to_status();
        let method = crate::rpcs::by_path(req.uri().path()).map_or("unknown", |r| r.method);
        crate::telemetry::log_refused(method, &status, started, None, "origin_denied");
        Box::pin(std::future::ready(Ok(crate::error::status_response(
            &status,
        ))))
    }
}
