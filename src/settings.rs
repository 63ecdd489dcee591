//! Everything the gateway runs with, typed per subsystem. The command line
//! ([`crate::config::Config::settings`]) builds it after checking every
//! value; tests build it directly and change what they need, so no test
//! configures the gateway through strings.

use std::{net::SocketAddr, time::Duration};

use crate::{
    access::{AccessSettings, CorsOrigins},
    idempotency::IdempotencySettings,
    transport::tls::TlsFiles,
    upstream::{Held, UpstreamSettings},
    watch::hub::WatchSettings,
};

/// The gateway's settings.
#[derive(Debug)]
pub struct Settings {
    /// Connections, TLS, limits, shutdown.
    pub transport: TransportSettings,
    /// Deadlines and the default project of API calls.
    pub calls: CallSettings,
    /// Who may call, and what.
    pub access: AccessSettings,
    /// The upstream client.
    pub upstream: UpstreamSettings,
    /// The credentials the gateway holds (AK/SK, an IAM user).
    pub credentials: Held,
    /// The pollers of WatchCheckpoint, WatchOperation and WaitOperation.
    pub watch: WatchSettings,
    /// Idempotent CreateCheckpoint, RestoreBackup and DeleteBackup.
    pub idempotency: IdempotencySettings,
    /// Where `GET /metrics` listens, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The held key is the built-in simulator's: it opens no cloud account.
    pub builtin_simulator: bool,
    /// The regions calls may name.
    pub regions: RegionSettings,
}

/// Which regions the gateway serves (contract §10).
#[derive(Debug, Clone)]
pub struct RegionSettings {
    /// The region of calls that name none; its endpoints are
    /// [`Settings::upstream`]'s.
    pub default: String,
    /// Every other region calls may name, with its endpoints (none: the
    /// default region only).
    pub table: Option<crate::upstream::regions::RegionTable>,
}

/// How connections and calls are served.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// TLS (mutual with a client CA); `None`: plaintext.
    pub tls: Option<TlsFiles>,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_streams_per_connection: u32,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time a connection gets for its first request, a request for its
    /// headers and an API call for its message.
    pub request_read_timeout: Duration,
    /// A connection with no call in flight for this long is closed.
    pub idle_connection_timeout: Duration,
    /// Largest request message.
    pub max_request_bytes: u64,
    /// Largest response message.
    pub max_response_bytes: u64,
    /// Most server streams open at once, all kinds together.
    pub max_server_streams: usize,
    /// Browser origins allowed (gRPC-Web, CORS).
    pub cors_allowed_origins: CorsOrigins,
    /// After a signal: time health reports NOT_SERVING while still serving.
    pub shutdown_delay: Duration,
    /// Then: time in-flight calls get to finish.
    pub shutdown_grace: Duration,
}

/// What every API call gets.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// Deadline of unary calls that set none.
    pub default_deadline: Duration,
    /// Longest deadline a unary call gets.
    pub max_deadline: Duration,
    /// Project used when a request leaves `project_id` empty.
    pub default_project: Option<String>,
}
