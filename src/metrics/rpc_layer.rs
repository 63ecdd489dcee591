//! The tower layer that counts and times every RPC, from arrival to the last
//! byte of the response, by the method labels of the RPC table.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Bytes;
use tokio::time::Instant;
use tonic::{Code, body::Body};
use tower::{Layer, Service};

use super::registry::{MethodLabels, Metrics};

/// The labels of a request path in `region`; `unknown` for anything the
/// gateway does not serve.
fn method_of(path: &str, region: &'static str) -> MethodLabels {
    let (grpc_service, grpc_method) = match crate::rpcs::by_path(path) {
        Some(rpc) => (rpc.service, rpc.method),
        None => ("unknown", "unknown"),
    };
    MethodLabels {
        grpc_service,
        grpc_method,
        region,
    }
}

/// The region of one RPC, settled by its handler once the request says it
/// (in the request's extensions); the RPC counts as started then. An RPC
/// that ends unsettled counts in the default region.
#[derive(Debug, Clone)]
pub(crate) struct RpcRegion(Arc<Settled>);

#[derive(Debug)]
struct Settled {
    region: OnceLock<&'static str>,
    metrics: Arc<Metrics>,
    method: MethodLabels,
}

impl RpcRegion {
    /// The RPC acts in `region`: it counts as started there (once; a
    /// second call changes nothing).
    pub(crate) fn settle(&self, region: &'static str) {
        let mut fresh = false;
        self.0.region.get_or_init(|| {
            fresh = true;
            region
        });
        if fresh {
            self.0.metrics.rpc_started(&self.labels());
        }
    }

    /// The labels, in the settled region or the default one.
    fn labels(&self) -> MethodLabels {
        MethodLabels {
            region: self.0.region.get().copied().unwrap_or(self.0.method.region),
            ..self.0.method.clone()
        }
    }
}

/// The gRPC code in `headers`, if they carry one.
fn code_in(headers: &HeaderMap) -> Option<Code> {
    let raw = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(raw.parse().ok()?))
}

/// Counts and times every RPC, from arrival to the last byte of the response.
#[derive(Debug, Clone)]
pub(crate) struct RpcMetricsLayer {
    metrics: Arc<Metrics>,
    default_region: &'static str,
}

impl RpcMetricsLayer {
    /// The layer recording into `metrics`; RPCs whose handler settles no
    /// region count in `default_region`.
    pub(crate) fn new(metrics: Arc<Metrics>, default_region: &'static str) -> Self {
        Self {
            metrics,
            default_region,
        }
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            metrics: self.metrics.clone(),
            default_region: self.default_region,
        }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub(crate) struct RpcMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
    default_region: &'static str,
}

impl<S, B> Service<Request<B>> for RpcMetrics<S>
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

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let region = RpcRegion(Arc::new(Settled {
            region: OnceLock::new(),
            metrics: self.metrics.clone(),
            method: method_of(req.uri().path(), self.default_region),
        }));
        req.extensions_mut().insert(region.clone());
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut record = Record {
                region,
                started,
                done: false,
            };
            let response = fut.await?;
            // Trailers-only answers (most errors) carry the code in the headers.
            if let Some(code) = code_in(response.headers()) {
                record.finish(code);
            }
            Ok(response.map(|inner| Body::new(Observed { inner, record })))
        })
    }
}

/// Records one RPC once: with its code, or as cancelled if dropped first.
struct Record {
    region: RpcRegion,
    started: Instant,
    done: bool,
}

impl Record {
    fn finish(&mut self, code: Code) {
        if !self.done {
            self.done = true;
            let seconds = self.started.elapsed().as_secs_f64();
            // Refused before its region was known: the default region's.
            self.region.settle(self.region.0.method.region);
            self.region
                .0
                .metrics
                .rpc_handled(&self.region.labels(), code, seconds);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // The client went away (or the connection closed) before the end.
        self.finish(Code::Cancelled);
    }
}

/// A response body that records its RPC when the trailers go out.
struct Observed {
    inner: Body,
    record: Record,
}

impl HttpBody for Observed {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(code_in) {
                    self.record.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = status.code();
                self.record.finish(code);
            }
            Poll::Ready(None) => self.record.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_methods_become_labels() {
        let m = method_of("/cbr.gateway.v1.BackupService/GetBackup", "r");
        assert_eq!(
            (m.grpc_service, m.grpc_method),
            ("cbr.gateway.v1.BackupService", "GetBackup")
        );
        for junk in [
            "/x.Y/Z",
            "/cbr.gateway.v1.BackupService/Nope",
            "/",
            "",
            "/a",
        ] {
            assert_eq!(method_of(junk, "r").grpc_method, "unknown", "{junk}");
        }
    }
}
