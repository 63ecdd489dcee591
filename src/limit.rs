//! The request size limit of the API services.
//!
//! gRPC's status table says a message larger than the configured maximum is
//! RESOURCE_EXHAUSTED; tonic's own decoder answers OUT_OF_RANGE. This layer
//! counts the request body of each API call as it streams in and fails it with
//! RESOURCE_EXHAUSTED as soon as it passes `--max-request-bytes`, without
//! buffering more than that. Every API request carries exactly one message, so
//! the body is that message plus its 5-byte gRPC frame header.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Bytes;
use tonic::Status;
use tower::{Layer, Service};

use crate::error::GatewayError;

/// Path prefix of the API's own services (health and reflection keep tonic's limits).
const API_PREFIX: &str = "/cbr.gateway.v1.";

/// The length-prefixed message header of gRPC framing.
const FRAME_HEADER: u64 = 5;

/// Applies [`RequestSize`].
#[derive(Debug, Clone, Copy)]
pub struct RequestSizeLayer {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: u64,
}

impl<S> Layer<S> for RequestSizeLayer {
    type Service = RequestSize<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestSize {
            inner,
            max_body_bytes: self.max_message_bytes.saturating_add(FRAME_HEADER),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct RequestSize<S> {
    inner: S,
    max_body_bytes: u64,
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
        let limit = req
            .uri()
            .path()
            .starts_with(API_PREFIX)
            .then_some(self.max_body_bytes);
        self.inner.call(req.map(|inner| Limited {
            inner,
            limit,
            seen: 0,
        }))
    }
}

/// A request body that fails once it grows past its limit.
#[derive(Debug)]
pub struct Limited<B> {
    inner: B,
    /// `None`: unlimited (not an API call).
    limit: Option<u64>,
    seen: u64,
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
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
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
