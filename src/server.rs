//! The HTTP/2 server: an accept loop over a bound listener, optional TLS, hyper
//! connections with keepalive, and a bounded graceful drain.
//!
//! The gateway runs tonic's routes on hyper directly instead of through
//! `tonic::transport::Server`, so that its own layers (deadlines first) see each
//! request before anything else, and so that shutdown can be bounded.
//!
//! With [`ServerSettings::tls`] set, each accepted connection does its TLS
//! handshake (bounded by [`ServerSettings::tls_handshake_timeout`]) in its own
//! task, so a slow or silent client never holds up the accept loop; see
//! [`crate::tls`] for how the configuration is built.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto,
        graceful::{GracefulShutdown, Watcher},
    },
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::shutdown::Drain;

/// Connection-level settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Interval of HTTP/2 keepalive pings to idle clients.
    pub http2_keepalive_interval: Duration,
    /// Time to wait for a ping acknowledgement before closing the connection.
    pub http2_keepalive_timeout: Duration,
    /// Time in-flight calls get to finish after shutdown starts.
    pub drain_timeout: Duration,
    /// TLS for every connection (built by [`crate::tls::server_config`]);
    /// `None` serves plaintext.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Time a client gets to complete the TLS handshake before it is dropped.
    pub tls_handshake_timeout: Duration,
    /// Most concurrent HTTP/2 streams per connection (watch streams are long).
    pub max_streams_per_connection: u32,
    /// Started when the listener closes; long-lived streams and unfinished TLS
    /// handshakes end on it (see [`crate::shutdown`]).
    pub drain: Drain,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            http2_keepalive_interval: Duration::from_secs(30),
            http2_keepalive_timeout: Duration::from_secs(20),
            drain_timeout: Duration::from_secs(10),
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            max_streams_per_connection: 1_000,
            drain: Drain::new(),
        }
    }
}

/// Accepts connections on `listener` and serves `service` on each until
/// `shutdown` resolves; then stops accepting, starts `settings.drain`
/// (abandoning unfinished TLS handshakes), and lets open connections finish
/// within `settings.drain_timeout`.
pub async fn run<S, B>(
    listener: TcpListener,
    service: S,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(settings.http2_keepalive_interval)
        .keep_alive_timeout(settings.http2_keepalive_timeout)
        .max_concurrent_streams(settings.max_streams_per_connection);
    let builder = Arc::new(builder);
    let acceptor = settings.tls.clone().map(TlsAcceptor::from);
    let handshake_timeout = settings.tls_handshake_timeout;
    let graceful = GracefulShutdown::new();
    let drain = settings.drain.clone();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    // Taken now, so the drain below also waits for this connection.
                    let watcher = graceful.watcher();
                    let builder = builder.clone();
                    let service = service.clone();
                    match &acceptor {
                        None => {
                            tokio::spawn(async move {
                                serve_io(&builder, stream, service, watcher, peer).await;
                            });
                        }
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            let draining = drain.started();
                            tokio::spawn(async move {
                                let tls = tokio::select! {
                                    tls = handshake(&acceptor, stream, handshake_timeout, peer) => tls,
                                    () = draining => None,
                                };
                                let Some(stream) = tls else { return };
                                serve_io(&builder, stream, service, watcher, peer).await;
                            });
                        }
                    }
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    drain.start();
    tracing::info!(grace = ?settings.drain_timeout, "listener closed; draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(settings.drain_timeout) => {
            tracing::warn!(timeout = ?settings.drain_timeout, "drain timed out; closing remaining connections");
        }
    }
}

/// The server side of a TLS handshake, bounded by `timeout`; failures are
/// logged at debug (scanners and plaintext clients are routine) and yield `None`.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(err)) => {
            tracing::debug!(%peer, error = %err, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, ?timeout, "TLS handshake timed out");
            None
        }
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one connection until it ends; `watcher` starts a
/// graceful close when the server shuts down.
async fn serve_io<I, S, B>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    service: S,
    watcher: Watcher,
    peer: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    if let Err(err) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}
