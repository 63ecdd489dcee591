//! The HTTP/2 server: an accept loop over a bound listener, optional TLS, hyper
//! connections with keepalive, connection limits, and a bounded graceful drain.
//!
//! The gateway runs tonic's routes on hyper directly instead of through
//! `tonic::transport::Server`, so that its own layers (deadlines first) see each
//! request before anything else, and so that shutdown can be bounded.
//!
//! # Callers who mean harm
//!
//! Every connection costs a task, buffers and a file descriptor, so none may
//! be held without doing work:
//! - at most [`ServerSettings::max_connections`] are open at once; beyond it a
//!   new connection is closed as soon as it is accepted (clients retry, and
//!   the slots come back as the limits below close idle holders);
//! - the TLS handshake has [`ServerSettings::tls_handshake_timeout`], in the
//!   connection's own task so a silent client never holds up the accept loop;
//! - a connection must complete its first request within
//!   [`ServerSettings::request_read_timeout`] (protocol detection has no
//!   timeout of its own, and an HTTP/2 client may send the preface and then
//!   nothing), and HTTP/1.1 gets the same bound on every request's headers
//!   (hyper enforces it only when the HTTP/1 builder has a timer, PITFALLS.md);
//! - a connection with no call in flight for [`ServerSettings::idle_timeout`]
//!   is closed gracefully (GOAWAY), so idle holders give their slot back.
//!
//! Every request carries a [`ConnInfo`] in its extensions: the peer address
//! and, with mutual TLS, the client certificate's identity, for
//! [`crate::access`].

use std::{
    future::Future,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::Instant,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::transport::drain::Drain;

/// What the server reports about connections (implemented by
/// `crate::metrics::Metrics`).
pub trait ConnectionEvents: Send + Sync + 'static {
    /// A connection opened; it counts as open until the returned guard drops.
    fn opened(&self) -> Box<dyn Send + Sync>;
    /// The gateway closed a connection itself.
    fn closed(&self, why: Closed);
}

impl std::fmt::Debug for dyn ConnectionEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionEvents")
    }
}

/// Names the holder of a verified client certificate (see
/// [`ClientCertificate::Named`]); `None` when it names no one.
pub type NameCertificate = fn(&rustls::pki_types::CertificateDer<'_>) -> Option<String>;

/// Connection-level settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Interval of HTTP/2 keepalive pings to idle clients.
    pub http2_keepalive_interval: Duration,
    /// Time to wait for a ping acknowledgement before closing the connection.
    pub http2_keepalive_timeout: Duration,
    /// Time in-flight calls get to finish after shutdown starts.
    pub drain_timeout: Duration,
    /// TLS for every connection (built by [`crate::transport::tls::server_config`]);
    /// `None` serves plaintext.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Time a client gets to complete the TLS handshake before it is dropped.
    pub tls_handshake_timeout: Duration,
    /// Most concurrent HTTP/2 streams per connection (watch streams are long).
    pub max_streams_per_connection: u32,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time a connection gets to complete its first request, and an HTTP/1.1
    /// request to send its headers.
    pub request_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Where connections are counted, if anywhere.
    pub events: Option<Arc<dyn ConnectionEvents>>,
    /// How a client certificate names its holder (mutual TLS only).
    pub name_certificate: Option<NameCertificate>,
    /// Started when the listener closes; long-lived streams and unfinished TLS
    /// handshakes end on it (see [`crate::transport::drain`]).
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
            max_connections: 10_000,
            request_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            events: None,
            name_certificate: None,
            drain: Drain::new(),
        }
    }
}

/// The connection a request arrived on, in every request's extensions.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client certificate of a mutual-TLS connection, if any.
    pub client_certificate: Option<ClientCertificate>,
}

/// A verified client certificate, as far as the gateway names its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCertificate {
    /// Its first URI SAN, else its first DNS SAN, else its subject CN.
    Named(Arc<str>),
    /// It names no one the gateway can use: calls on it are refused.
    Unnamed,
}

/// Why a connection was closed by the gateway rather than by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// `max_connections` were already open.
    Limit,
    /// No complete first request (or HTTP/1.1 headers) in time.
    ReadTimeout,
    /// No request in flight for `idle_timeout`.
    Idle,
    /// The TLS handshake did not complete in time or failed.
    Handshake,
}

impl Closed {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Closed::Limit => "limit",
            Closed::ReadTimeout => "read_timeout",
            Closed::Idle => "idle",
            Closed::Handshake => "tls_handshake",
        }
    }
}

/// Accepts connections on `listener` and serves `service` on each until
/// `shutdown` resolves; then stops accepting, starts `settings.drain`
/// (abandoning unfinished TLS handshakes, sending GOAWAY), lets open
/// connections finish within `settings.drain_timeout`, and closes the rest.
pub async fn run<S, B>(
    listener: TcpListener,
    service: S,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    B: HttpBody + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.request_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(settings.http2_keepalive_interval)
        .keep_alive_timeout(settings.http2_keepalive_timeout)
        .max_concurrent_streams(settings.max_streams_per_connection);
    let builder = Arc::new(builder);
    let acceptor = settings.tls.clone().map(TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let connections = TaskTracker::new();
    // Fired when the drain times out: connections still open close at once.
    let force = Drain::new();
    let limits = Limits {
        read_timeout: settings.request_read_timeout,
        idle_timeout: settings.idle_timeout,
    };
    let metrics = settings.events.clone();
    let name_certificate = settings.name_certificate;
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::debug!(%peer, "connection limit reached; closing a new connection");
                        if let Some(m) = &metrics {
                            m.closed(Closed::Limit);
                        }
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let conn = Conn {
                        builder: builder.clone(),
                        service: service.clone(),
                        limits,
                        drain: settings.drain.clone(),
                        force: force.clone(),
                        metrics: metrics.clone(),
                    };
                    let acceptor = acceptor.clone();
                    let handshake_timeout = settings.tls_handshake_timeout;
                    connections.spawn(async move {
                        let _slot = slot;
                        let _open = conn.metrics.as_ref().map(|m| m.opened());
                        match acceptor {
                            None => {
                                let info = ConnInfo { peer, client_certificate: None };
                                conn.serve(stream, info).await;
                            }
                            Some(acceptor) => {
                                let draining = conn.drain.started();
                                let tls = tokio::select! {
                                    tls = handshake(&acceptor, stream, handshake_timeout, peer) => tls,
                                    () = draining => None,
                                };
                                let Some(stream) = tls else {
                                    if let Some(m) = &conn.metrics {
                                        m.closed(Closed::Handshake);
                                    }
                                    return;
                                };
                                let client_certificate = stream
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(<[_]>::first)
                                    .map(|leaf| {
                                        name_certificate
                                            .and_then(|name| name(leaf))
                                            .map_or(ClientCertificate::Unnamed, |name| {
                                                ClientCertificate::Named(name.into())
                                            })
                                    });
                                let info = ConnInfo { peer, client_certificate };
                                conn.serve(stream, info).await;
                            }
                        }
                    });
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
    settings.drain.start();
    connections.close();
    tracing::info!(grace = ?settings.drain_timeout, "listener closed; draining connections");
    tokio::select! {
        () = connections.wait() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(settings.drain_timeout) => {
            tracing::warn!(timeout = ?settings.drain_timeout, "drain timed out; closing remaining connections");
            force.start();
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

/// The time limits of one connection.
#[derive(Debug, Clone, Copy)]
struct Limits {
    read_timeout: Duration,
    idle_timeout: Duration,
}

/// What one connection needs to be served.
struct Conn<S> {
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: S,
    limits: Limits,
    drain: Drain,
    force: Drain,
    metrics: Option<Arc<dyn ConnectionEvents>>,
}

impl<S> Conn<S> {
    /// Serves HTTP/1.1 or HTTP/2 on `io` until the connection ends, the
    /// drain closes it, or a limit does.
    async fn serve<I, B>(self, io: I, info: ConnInfo)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        S::Future: Send + 'static,
        B: HttpBody + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let peer = info.peer;
        let activity = Arc::new(Activity::new());
        let service = Tracked {
            inner: self.service,
            info,
            activity: activity.clone(),
        };
        let conn = self
            .builder
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let mut conn = pin!(conn);
        let mut draining = pin!(self.drain.started());
        let mut forced = pin!(self.force.started());
        let mut check = pin!(tokio::time::sleep(self.limits.read_timeout));
        let mut closing = false;
        loop {
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(err) = ended {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                    return;
                }
                () = &mut draining, if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = &mut forced => return,
                () = &mut check, if !closing => match activity.verdict(Instant::now(), self.limits) {
                    Verdict::Open(next) => check.as_mut().reset(next),
                    Verdict::NoRequest => {
                        tracing::debug!(%peer, timeout = ?self.limits.read_timeout, "no request in time; closing the connection");
                        if let Some(m) = &self.metrics {
                            m.closed(Closed::ReadTimeout);
                        }
                        return;
                    }
                    Verdict::Idle => {
                        tracing::debug!(%peer, timeout = ?self.limits.idle_timeout, "idle connection; closing it");
                        if let Some(m) = &self.metrics {
                            m.closed(Closed::Idle);
                        }
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                },
            }
        }
    }
}

/// Requests seen on one connection: how many are in flight, and when the
/// last one started or ended.
struct Activity {
    born: Instant,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    /// Milliseconds after `born` of the last request start or end.
    last_ms: AtomicU64,
}

/// What the watchdog decides about a connection.
enum Verdict {
    /// Fine; look again at this time.
    Open(Instant),
    /// No first request within the read timeout.
    NoRequest,
    /// Nothing in flight for the idle timeout.
    Idle,
}

impl Activity {
    fn new() -> Self {
        Self {
            born: Instant::now(),
            requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    fn ended(&self) {
        self.touch();
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    fn verdict(&self, now: Instant, limits: Limits) -> Verdict {
        if self.requests.load(Ordering::Relaxed) == 0 {
            let due = self.born + limits.read_timeout;
            return if now >= due {
                Verdict::NoRequest
            } else {
                Verdict::Open(due)
            };
        }
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Verdict::Open(now + limits.idle_timeout);
        }
        let last = self.born + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        let due = last + limits.idle_timeout;
        if now >= due {
            Verdict::Idle
        } else {
            Verdict::Open(due)
        }
    }
}

/// The per-connection service: puts [`ConnInfo`] into every request and
/// counts requests in flight until their response bodies end.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    info: ConnInfo,
    activity: Arc<Activity>,
}

impl<S, B> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.info.clone());
        TrackedFuture {
            guard: Some(InFlight::new(self.activity.clone())),
            inner: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Tracked`]: hands its in-flight count to the
    /// body. (Not boxed: every request of every connection goes through it.)
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlight>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let guard = this.guard.take();
        Poll::Ready(Ok(response.map(|inner| TrackedBody {
            inner,
            _guard: guard,
        })))
    }
}

/// One request in flight; its end is counted when dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.started();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.ended();
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted in flight until it is
    /// dropped (sent in full, or abandoned).
    struct TrackedBody<B> {
        #[pin]
        inner: B,
        _guard: Option<InFlight>,
    }
}

impl<B: HttpBody> HttpBody for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
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

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_closes_silent_then_idle_connections() {
        let limits = Limits {
            read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        };
        let a = Activity::new();
        assert!(matches!(
            a.verdict(Instant::now(), limits),
            Verdict::Open(_)
        ));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(matches!(
            a.verdict(Instant::now(), limits),
            Verdict::NoRequest
        ));

        let a = Activity::new();
        a.started();
        tokio::time::advance(Duration::from_secs(600)).await;
        // A long call in flight is never idle.
        assert!(matches!(
            a.verdict(Instant::now(), limits),
            Verdict::Open(_)
        ));
        a.ended();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(matches!(
            a.verdict(Instant::now(), limits),
            Verdict::Open(_)
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(a.verdict(Instant::now(), limits), Verdict::Idle));
    }
}
