//! Shutdown: signals, and the drain that ends long-lived streams.
//!
//! The sequence (driven by [`crate::serve`] and [`crate::transport::server::run`]):
//! 1. SIGTERM or SIGINT ([`signal`]): health turns NOT_SERVING for every
//!    service, and the gateway keeps serving for `--shutdown-delay`, so load
//!    balancers and meshes notice and stop sending new calls.
//! 2. The listener closes and [`Drain::start`] fires: HTTP/2 connections get
//!    GOAWAY, in-flight unary calls run to completion, and calls that would
//!    otherwise live until cancelled (WatchCheckpoint, health Watch,
//!    reflection) end at once with UNAVAILABLE, so their clients reconnect to
//!    another replica instead of holding this one open. A StreamBackups walk
//!    still running shortly before the grace ends gets the same status
//!    rather than a cut connection. CreateCheckpoint calls running detached
//!    (`request_id`) are awaited and their outcome recorded
//!    ([`crate::idempotency::Idempotency::drain`]).
//! 3. After `--shutdown-grace` whatever is left is closed, and the process
//!    exits 0.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Bytes;
use tokio_util::sync::CancellationToken;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use crate::{
    error::GatewayError,
    rpcs::{self, Shape},
};

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// The moment the server stops accepting and starts draining. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Drain(CancellationToken);

impl Drain {
    /// A drain that has not started.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts draining (idempotent).
    pub fn start(&self) {
        self.0.cancel();
    }

    /// Resolves once draining has started.
    pub fn started(&self) -> impl Future<Output = ()> + Send + 'static {
        self.0.clone().cancelled_owned()
    }

    /// The layer that ends server streams: endless ones (watches, health
    /// `Watch`, reflection) when draining starts, bounded ones (StreamBackups)
    /// when `bounded_grace` has passed since, so a walk near its end can
    /// finish but none is cut without a status when the connection closes.
    pub fn layer(&self, bounded_grace: Duration) -> EndStreamsLayer {
        EndStreamsLayer {
            drain: self.clone(),
            bounded_grace,
        }
    }
}

/// See [`Drain::layer`].
#[derive(Debug, Clone)]
pub struct EndStreamsLayer {
    drain: Drain,
    bounded_grace: Duration,
}

impl<S> Layer<S> for EndStreamsLayer {
    type Service = EndStreams<S>;
    fn layer(&self, inner: S) -> Self::Service {
        EndStreams {
            inner,
            drain: self.drain.clone(),
            bounded_grace: self.bounded_grace,
        }
    }
}

/// Wraps the response bodies of server streams so that they end with
/// UNAVAILABLE (`SHUTTING_DOWN`) when the drain reaches them.
#[derive(Debug, Clone)]
pub struct EndStreams<S> {
    inner: S,
    drain: Drain,
    bounded_grace: Duration,
}

impl<S, B> Service<Request<B>> for EndStreams<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shape = rpcs::by_path(req.uri().path()).map(|r| r.shape);
        let fut = self.inner.call(req);
        let after = match shape {
            Some(Shape::EndlessStream) => Duration::ZERO,
            Some(Shape::BoundedStream) => self.bounded_grace,
            Some(Shape::Unary) | None => return Box::pin(fut),
        };
        let started = self.drain.started();
        let end: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            started.await;
            tokio::time::sleep(after).await;
        });
        Box::pin(async move {
            let response = fut.await?;
            Ok(response.map(|body| {
                Body::new(EndOnDrain {
                    inner: body,
                    drain: end,
                    done: false,
                })
            }))
        })
    }
}

/// A response body that ends with UNAVAILABLE trailers once draining starts.
struct EndOnDrain {
    inner: Body,
    drain: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
}

impl HttpBody for EndOnDrain {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.drain.as_mut().poll(cx).is_ready() {
            self.done = true;
            let mut trailers = HeaderMap::new();
            // Encoding a fixed, short status cannot fail.
            let _ = GatewayError::ShuttingDown
                .to_status()
                .add_header(&mut trailers);
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.done = true,
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => self.done = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn started_resolves_for_every_clone_once_drain_starts() {
        let drain = Drain::new();
        let waiting = tokio::spawn(drain.clone().started());
        assert!(!waiting.is_finished());
        drain.clone().start();
        waiting.await.unwrap();
        // Late subscribers see it at once.
        drain.started().await;
    }
}
