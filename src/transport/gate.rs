//! A check in front of the services: it lets a request through (perhaps
//! noting something in its extensions) or refuses it with a gRPC status, as a
//! trailers-only answer, before any service sees it. The browser-origin guard
//! and the access rules ([`crate::access`]) are gates.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use futures_util::future::{Either, Ready, ready};
use http::{Request, Response};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// What a gate decides about one request.
pub trait Gate: Clone + Send + 'static {
    /// `Ok` lets `req` through; `Err` answers it with that status.
    fn admit<B>(&self, req: &mut Request<B>) -> Result<(), Status>;
}

/// The layer putting `G` in front of a service.
#[derive(Debug, Clone)]
pub struct GateLayer<G>(pub G);

impl<G: Gate, S> Layer<S> for GateLayer<G> {
    type Service = Gated<G, S>;
    fn layer(&self, inner: S) -> Self::Service {
        Gated {
            gate: self.0.clone(),
            inner,
        }
    }
}

/// A service behind a gate.
#[derive(Debug, Clone)]
pub struct Gated<G, S> {
    gate: G,
    inner: S,
}

impl<G, S, B> Service<Request<B>> for Gated<G, S>
where
    G: Gate,
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    // Not boxed: a gate runs on every call, and passing through should cost
    // nothing but the check.
    type Future = Either<S::Future, Ready<Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match self.gate.admit(&mut req) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(status) => Either::Right(ready(Ok(crate::error::status_response(&status)))),
        }
    }
}
