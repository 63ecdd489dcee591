//! The simulator's HTTP server: HTTP/1.1 and HTTP/2 on a bound listener until
//! a shutdown future resolves.
//!
//! Kept small and separate from the gateway's transport on purpose: the
//! simulator stands in for a cloud API and shares nothing with the gateway but
//! the wire (and the signer). Its front service may fail a request on
//! purpose ([`crate::front::Dropped`]); hyper then drops the connection
//! without an answer, which is how a fault drops a connection.

use std::{future::Future, pin::pin, sync::Arc, time::Duration};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::Service;

/// How long an idle HTTP/1.1 connection is kept. Clients pool idle
/// connections (reqwest: 90 s), and hyper's header timeout also runs while a
/// kept-alive connection waits for its next request: close them after the
/// client would, never in a race with its next request.
const KEEP_ALIVE: Duration = Duration::from_secs(120);

/// Time open connections get to finish once `shutdown` resolves.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `service` on `listener` until `shutdown` resolves, then lets open
/// connections finish for at most [`DRAIN`].
pub async fn run<S, B>(listener: TcpListener, service: S, shutdown: impl Future<Output = ()>)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(KEEP_ALIVE);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let builder = builder.clone();
                let service = TowerToHyperService::new(service.clone());
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(err) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %err, "simulator connection ended");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}
