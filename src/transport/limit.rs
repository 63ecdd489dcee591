//! Limits on what one call may take: its request size, the time to send it,
//! and a slot in the one budget of server streams.
//!
//! gRPC's status table says a message larger than the configured maximum is
//! RESOURCE_EXHAUSTED; tonic's own decoder answers OUT_OF_RANGE. This layer
//! counts the request body of each API call as it streams in and fails it with
//! RESOURCE_EXHAUSTED as soon as it passes `--max-request-bytes`, without
//! buffering more than that. Every API request carries exactly one message, so
//! the body is that message plus its 5-byte gRPC frame header — which must
//! also arrive within `--request-read-timeout`, or a client trickling bytes
//! would hold a call (and its connection) open for ever.
//!
//! Server streams are long-lived, and tower's concurrency limits free their
//! slot when the response headers go out (PITFALLS.md), so [`StreamBudget`]
//! holds a permit of `--max-server-streams` for each stream — of every kind,
//! watches, listings, health `Watch` and reflection alike — until its response
//! body is dropped.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use futures_util::future::Either;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use crate::error::GatewayError;

/// Path prefix of the API's own services (health and reflection keep tonic's limits).
const API_PREFIX: &str = "/cbr.gateway.v1.";

/// The length-prefixed message header of gRPC framing.
const FRAME_HEADER: u64 = 5;

/// Applies [`RequestSize`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestSizeLayer {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: u64,
    /// Time the whole message gets to arrive.
    pub read_timeout: Duration,
}

impl<S> Layer<S> for RequestSizeLayer {
    type Service = RequestSize<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestSize {
            inner,
            max_body_bytes: self.max_message_bytes.saturating_add(FRAME_HEADER),
            read_timeout: self.read_timeout,
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct RequestSize<S> {
    inner: S,
    max_body_bytes: u64,
    read_timeout: Duration,
}

impl<S, B> Service<Request<B>> for RequestSize<S>
where
    S: Service<Request<Limited<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let api = req.uri().path().starts_with(API_PREFIX);
        let limit = api.then_some(self.max_body_bytes);
        let timeout = self.read_timeout;
        let read_by = api.then(|| Box::pin(tokio::time::sleep(timeout)));
        self.inner.call(req.map(|inner| Limited {
            inner,
            limit,
            seen: 0,
            read_by,
            timeout,
        }))
    }
}

/// A request body that fails once it grows past its limit, or when it has not
/// ended by its read timeout.
#[derive(Debug)]
pub(crate) struct Limited<B> {
    inner: B,
    /// `None`: unlimited (not an API call).
    limit: Option<u64>,
    seen: u64,
    /// `None`: no time limit (not an API call, or the body has ended).
    read_by: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Duration,
}

impl<B> HttpBody for Limited<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => {
                if let Some(read_by) = &mut self.read_by
                    && read_by.as_mut().poll(cx).is_ready()
                {
                    self.read_by = None;
                    let timeout = self.timeout;
                    return Poll::Ready(Some(Err(
                        GatewayError::RequestTimeout(timeout).to_status()
                    )));
                }
                return Poll::Pending;
            }
            Poll::Ready(None) => {
                self.read_by = None;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => {
                return Poll::Ready(Some(Err(Status::from_error(e.into()))));
            }
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if let (Some(limit), Some(data)) = (self.limit, polled.data_ref()) {
            self.seen = self.seen.saturating_add(data.len() as u64);
            if self.seen > limit {
                let max = limit - FRAME_HEADER;
                return Poll::Ready(Some(Err(GatewayError::RequestTooLarge(max).to_status())));
            }
        }
        Poll::Ready(Some(Ok(polled)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Holds one of `--max-server-streams` permits for each server stream until
/// its response body is dropped; refuses a stream with RESOURCE_EXHAUSTED
/// (`TOO_MANY_STREAMS`) when none is left.
#[derive(Debug, Clone)]
pub(crate) struct StreamBudgetLayer {
    slots: Arc<Semaphore>,
}

impl StreamBudgetLayer {
    /// A budget of `max` open streams.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max.max(1))),
        }
    }

    /// Slots left now.
    pub(crate) fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

impl<S> Layer<S> for StreamBudgetLayer {
    type Service = StreamBudget<S>;
    fn layer(&self, inner: S) -> Self::Service {
        StreamBudget {
            inner,
            slots: self.slots.clone(),
        }
    }
}

/// See [`StreamBudgetLayer`].
#[derive(Debug, Clone)]
pub(crate) struct StreamBudget<S> {
    inner: S,
    slots: Arc<Semaphore>,
}

impl<S, B> Service<Request<B>> for StreamBudget<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    // Unary calls (most) pass through unboxed.
    type Future =
        Either<S::Future, Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let stream = crate::rpcs::by_path(req.uri().path()).is_some_and(|r| r.is_stream());
        if !stream {
            return Either::Left(self.inner.call(req));
        }
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            let status = GatewayError::TooManyStreams.to_status();
            let response = crate::error::status_response(&status);
            return Either::Right(Box::pin(std::future::ready(Ok(response))));
        };
        let fut = self.inner.call(req);
        Either::Right(Box::pin(async move {
            let response = fut.await?;
            Ok(response.map(|inner| {
                Body::new(Permitted {
                    inner,
                    _permit: permit,
                })
            }))
        }))
    }
}

/// A response body holding a stream permit.
struct Permitted {
    inner: Body,
    _permit: OwnedSemaphorePermit,
}

impl HttpBody for Permitted {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
