//! Configuration: one clap struct, every setting a flag and an environment variable.
//!
//! Values are checked while parsing (clap value parsers), so a bad setting stops the
//! process before it binds anything, with clap's message and exit code 2.

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use clap::{Args, Parser};
use url::Url;

use crate::{
    access::{AccessSettings, CorsOrigins, JwtSettings},
    domain,
    idempotency::{IdempotencySettings, Store},
    settings::{CallSettings, RegionSettings, Settings, TransportSettings},
    telemetry::LogFormat,
    transport::tls::TlsFiles,
    upstream::{
        AkSk, Held, Secret, SecretSource, UpstreamSettings,
        credentials::{CredentialError, IamUser, source},
        regions::{RegionInputs, RegionTable},
        retry::RetryPolicy,
    },
    watch::hub::WatchSettings,
};

impl CredentialArgs {
    /// Whether any credential of the gateway's own is configured (flags,
    /// environment, files, or Huawei's `CLOUD_SDK_AK`).
    pub fn any_configured(&self) -> bool {
        self.ak.is_some()
            || self.sk.is_some()
            || self.sk_file.is_some()
            || self.iam_user.is_some()
            || std::env::var_os("CLOUD_SDK_AK").is_some()
    }
}

impl CredentialArgs {
    /// Resolves the configured credentials; `CLOUD_SDK_AK` / `CLOUD_SDK_SK` fill
    /// in for unset `HUAWEICLOUD_SDK_AK` / `HUAWEICLOUD_SDK_SK`.
    pub fn held(&self) -> Result<Held, CredentialError> {
        let args = self;
        let env_secret = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
        };
        let ak = args
            .ak
            .clone()
            .or_else(|| std::env::var("CLOUD_SDK_AK").ok())
            .filter(|a| !a.trim().is_empty());
        let sk = match (&args.sk, &args.sk_file) {
            (None, None) => env_secret("CLOUD_SDK_SK").map(SecretSource::Inline),
            (sk, file) => source(sk.as_ref(), file.as_deref())?,
        };
        let security_token = source(
            args.security_token.as_ref(),
            args.security_token_file.as_deref(),
        )?;
        let aksk = match (ak, sk) {
            (Some(access_key), Some(secret_key)) => Some(AkSk {
                access_key: access_key.trim().to_owned(),
                secret_key,
                security_token,
            }),
            (None, None) if security_token.is_none() => None,
            (None, None) => {
                return Err(CredentialError::Incomplete(
                    "a security token needs an AK and an SK",
                ));
            }
            (Some(_), None) => {
                return Err(CredentialError::Incomplete(
                    "an AK needs an SK (HUAWEICLOUD_SDK_SK or --sk-file)",
                ));
            }
            (None, Some(_)) => {
                return Err(CredentialError::Incomplete(
                    "an SK needs an AK (HUAWEICLOUD_SDK_AK)",
                ));
            }
        };
        let password = source(
            args.iam_password.as_ref(),
            args.iam_password_file.as_deref(),
        )?;
        let iam = match (&args.iam_domain, &args.iam_user, password) {
            (None, None, None) => None,
            (Some(domain), Some(user), Some(password)) => Some(IamUser {
                endpoint: args.iam_endpoint.clone().unwrap_or_else(|| {
                    Url::parse("https://iam.myhuaweicloud.com").expect("static URL")
                }),
                domain: domain.clone(),
                user: user.clone(),
                password,
                refresh_ahead: args.iam_refresh_ahead,
            }),
            _ => {
                return Err(CredentialError::Incomplete(
                    "IAM login needs --iam-domain, --iam-user and a password (IAM_PASSWORD or --iam-password-file)",
                ));
            }
        };
        Ok(Held { aksk, iam })
    }
}

/// Command-line and environment configuration of the gateway.
#[derive(Debug, Clone, Parser)]
#[command(name = "cbr-gateway", version, about, long_about = None)]
pub struct Config {
    /// Address the gRPC server listens on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,

    /// Address of the Prometheus endpoint (`GET /metrics`); `off` disables it.
    #[arg(long, env = "METRICS_LISTEN", default_value = "0.0.0.0:9090",
          value_parser = parse_metrics_listen)]
    pub metrics_listen: MetricsListen,

    /// Base URL of CBR v3, e.g. `https://cbr.cn-north-4.myhuaweicloud.com`.
    /// Unset: the gateway serves from its built-in simulator.
    #[arg(long, env = "CBR_ENDPOINT", value_parser = parse_endpoint)]
    pub cbr_endpoint: Option<Url>,

    /// Base URL of CSBS v1, e.g. `https://csbs.cn-north-4.myhuaweicloud.com`.
    /// Defaults to the CBR endpoint with its leading `cbr.` host label replaced by `csbs.`.
    #[arg(long, env = "CSBS_ENDPOINT", value_parser = parse_endpoint)]
    pub csbs_endpoint: Option<Url>,

    /// Project used when a request leaves `project_id` empty.
    #[arg(long, env = "HUAWEICLOUD_SDK_PROJECT_ID", value_parser = parse_project_id)]
    pub project_id: Option<String>,

    /// The cloud's region and its endpoints.
    #[command(flatten)]
    pub regions: RegionArgs,

    /// The regions as [`Config::apply_region`] resolved them.
    #[arg(skip)]
    pub region_table: Option<RegionTable>,

    /// Time allowed to open a TCP/TLS connection to upstream (e.g. `5s`, `500ms`).
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub upstream_connect_timeout: Duration,

    /// Time allowed for one upstream request, from sending it to reading the whole
    /// body. The caller's gRPC deadline shortens it further.
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Largest upstream response body accepted, in bytes.
    #[arg(long, env = "UPSTREAM_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub upstream_max_body_bytes: u64,

    /// Idle keep-alive connections kept per upstream host.
    #[arg(long, env = "UPSTREAM_POOL_MAX_IDLE", default_value_t = 64)]
    pub upstream_pool_max_idle: usize,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// OTLP/gRPC collector to export spans to, e.g. `http://otel-collector:4317`:
    /// one span per RPC and per upstream request, children of the caller's
    /// `traceparent`. Unset: no spans are exported (trace context is still
    /// forwarded upstream and logged).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_parser = parse_endpoint)]
    pub otlp_endpoint: Option<Url>,

    /// Threads serving calls. Default: `TOKIO_WORKER_THREADS` if set, else
    /// one less than the CPUs available (at least one): on two vCPUs, one
    /// worker spent 15-27 % less CPU per call than two and answered faster,
    /// the other core left to the network stack and a sidecar (BENCHMARKS.md).
    #[arg(long, env = "GATEWAY_WORKER_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,

    /// Log filter in `tracing` syntax, e.g. `info` or `cbr_gateway=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = parse_filter)]
    pub log_level: String,

    /// WatchCheckpoint: interval between upstream polls while the state changes.
    #[arg(long, env = "WATCH_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub watch_poll_interval: Duration,

    /// WatchCheckpoint: longest poll interval the adaptive slow-down reaches.
    #[arg(long, env = "WATCH_MAX_POLL_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub watch_max_poll_interval: Duration,

    /// WatchCheckpoint: a stream with no change for this long gets a heartbeat
    /// message (keeps proxies and meshes from cutting idle streams).
    #[arg(long, env = "WATCH_HEARTBEAT", default_value = "30s", value_parser = parse_duration)]
    pub watch_heartbeat: Duration,

    /// Most server streams open at once (WatchCheckpoint, StreamBackups, health
    /// Watch, reflection), one budget for all; beyond it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "MAX_SERVER_STREAMS", default_value_t = 10_000, alias = "max-watch-streams",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_server_streams: u32,

    /// Most client connections open at once; beyond it new connections are
    /// closed as soon as they are accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Time a client gets to send a request's headers and, for API calls, its
    /// whole message. A new connection must complete its first request within
    /// it too (after the TLS handshake), so silent and half-sent connections
    /// are closed after it.
    #[arg(long, env = "REQUEST_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_read_timeout: Duration,

    /// A connection with no call in flight for this long is closed (HTTP/2
    /// GOAWAY first, so clients reconnect cleanly).
    #[arg(long, env = "IDLE_CONNECTION_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub idle_connection_timeout: Duration,

    /// Most concurrent HTTP/2 streams (calls) per client connection.
    #[arg(long, env = "MAX_STREAMS_PER_CONNECTION", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_connection: u32,

    /// Retries of upstream reads, and their budget.
    #[command(flatten)]
    pub retry: RetryArgs,

    /// Unary calls without a `grpc-timeout` get this deadline.
    #[arg(long, env = "DEFAULT_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    pub default_deadline: Duration,

    /// Longest deadline a unary call may have; longer `grpc-timeout`s are cut to it.
    #[arg(long, env = "MAX_DEADLINE", default_value = "5m", value_parser = parse_duration)]
    pub max_deadline: Duration,

    /// Most upstream requests in flight at once (pollers included). Beyond it a
    /// call waits at most `--upstream-queue-timeout` for a slot, then is shed
    /// with UNAVAILABLE (reason OVERLOADED).
    #[arg(long, env = "MAX_UPSTREAM_INFLIGHT", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_upstream_inflight: u32,

    /// Longest a call waits for an upstream slot before it is shed.
    #[arg(long, env = "UPSTREAM_QUEUE_TIMEOUT", default_value = "100ms", value_parser = parse_duration)]
    pub upstream_queue_timeout: Duration,

    /// Identical reads in flight at the same moment (same URL, project,
    /// region and credentials) share one upstream request. `false` sends
    /// each call's own (for measuring, or an upstream that must see every
    /// read).
    #[arg(long, env = "UPSTREAM_SHARE_READS", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub upstream_share_reads: bool,

    /// Largest gRPC request message accepted, in bytes (RESOURCE_EXHAUSTED beyond).
    #[arg(long, env = "MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=256 * 1024 * 1024))]
    pub max_request_bytes: u64,

    /// Largest gRPC response message sent, in bytes.
    #[arg(long, env = "MAX_RESPONSE_BYTES", default_value_t = 16 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub max_response_bytes: u64,

    /// Browser origins allowed to call the gateway with gRPC-Web (CORS),
    /// comma-separated, e.g. `https://app.example.com`; `*` allows any origin.
    /// Empty: no CORS headers, so browsers refuse calls from pages on other
    /// origins (same-origin pages and non-browser clients are unaffected).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", hide_default_value = true,
          value_parser = parse_cors_origins)]
    pub cors_allowed_origins: CorsOrigins,

    /// Idempotent CreateCheckpoint (`request_id`).
    #[command(flatten)]
    pub idempotency: IdempotencyArgs,

    /// After SIGTERM/SIGINT: time health reports NOT_SERVING while still serving,
    /// so load balancers stop sending new calls. A second signal skips it.
    #[arg(long, env = "SHUTDOWN_DELAY", default_value = "5s", value_parser = parse_duration_or_zero)]
    pub shutdown_delay: Duration,

    /// After the delay: time in-flight calls get to finish before connections close.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "15s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Credentials the gateway holds (used when a caller sends no token).
    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// PEM certificate chain: serve gRPC over TLS.
    #[arg(long, env = "GATEWAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "GATEWAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA bundle: require client certificates it signed (mutual TLS).
    #[arg(long, env = "GATEWAY_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Projects the gateway may act on, comma-separated. Empty: any project.
    /// Calls for other projects are PERMISSION_DENIED before any upstream call.
    #[arg(long, env = "GATEWAY_ALLOWED_PROJECTS", value_delimiter = ',', value_parser = parse_project_id)]
    pub allowed_projects: Vec<String>,

    /// Who may call, and what.
    #[command(flatten)]
    pub access: AccessArgs,

    /// Set when the gateway serves from its built-in simulator: the key it
    /// holds then is the simulator's, not a cloud account's.
    #[arg(skip)]
    pub builtin_simulator: bool,

    /// How the built-in simulator behaves, when no CBR endpoint is set (its
    /// credentials are the gateway's own generated key).
    #[command(flatten)]
    pub simulator: cbr_simulator::Behaviour,
}

/// Credentials the gateway holds: AK/SK (optionally temporary) or an IAM user.
/// Secrets are best passed by environment or file; `--help` never shows their values.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// Access key ID for SDK-HMAC-SHA256 signing (also read from `CLOUD_SDK_AK`).
    #[arg(long, env = "HUAWEICLOUD_SDK_AK")]
    pub ak: Option<String>,

    /// Secret access key (also read from `CLOUD_SDK_SK`).
    #[arg(
        long,
        env = "HUAWEICLOUD_SDK_SK",
        hide_env_values = true,
        conflicts_with = "sk_file"
    )]
    pub sk: Option<Secret>,

    /// File holding the secret access key, re-read when it changes (Kubernetes Secrets).
    #[arg(long, env = "HUAWEICLOUD_SDK_SK_FILE")]
    pub sk_file: Option<PathBuf>,

    /// Security token of temporary AK/SK credentials, sent as `X-Security-Token`.
    #[arg(
        long,
        env = "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        hide_env_values = true,
        conflicts_with = "security_token_file"
    )]
    pub security_token: Option<Secret>,

    /// File holding the security token, re-read when it changes.
    #[arg(long, env = "HUAWEICLOUD_SDK_SECURITY_TOKEN_FILE")]
    pub security_token_file: Option<PathBuf>,

    /// IAM endpoint for password logins, e.g. `https://iam.myhuaweicloud.com`.
    #[arg(long, env = "IAM_ENDPOINT", value_parser = parse_endpoint)]
    pub iam_endpoint: Option<Url>,

    /// IAM account (domain) name of the IAM user.
    #[arg(long, env = "IAM_DOMAIN")]
    pub iam_domain: Option<String>,

    /// IAM user name.
    #[arg(long, env = "IAM_USER")]
    pub iam_user: Option<String>,

    /// IAM user password.
    #[arg(
        long,
        env = "IAM_PASSWORD",
        hide_env_values = true,
        conflicts_with = "iam_password_file"
    )]
    pub iam_password: Option<Secret>,

    /// File holding the IAM user password, re-read when it changes.
    #[arg(long, env = "IAM_PASSWORD_FILE")]
    pub iam_password_file: Option<PathBuf>,

    /// Refresh IAM tokens this long before they expire.
    #[arg(long, env = "IAM_REFRESH_AHEAD", default_value = "10m", value_parser = parse_duration)]
    pub iam_refresh_ahead: Duration,
}

/// Who may call the gateway (contract §8): caller identities, the policy, and
/// per-caller fairness.
#[derive(Debug, Clone, Args)]
pub struct AccessArgs {
    /// YAML authorization policy: rules of callers × projects × methods. Once
    /// set, a call no rule allows is PERMISSION_DENIED. Re-read when it
    /// changes; a broken file keeps the last good policy.
    #[arg(long, env = "AUTHZ_POLICY")]
    pub authz_policy: Option<PathBuf>,

    /// Start while holding cloud credentials on a non-loopback address with
    /// neither `--tls-client-ca` nor `--authz-policy`: anyone who can reach
    /// the port acts with those credentials.
    #[arg(long, env = "ALLOW_ANONYMOUS_CALLERS", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_anonymous_callers: bool,

    /// Trust a mesh sidecar's forwarded caller identity
    /// (`x-forwarded-client-cert`, `l5d-client-id`) on connections from a
    /// loopback peer. Without it, or from any other peer, those headers make a
    /// call UNAUTHENTICATED.
    #[arg(long, env = "TRUST_FORWARDED_IDENTITY", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_forwarded_identity: bool,

    /// JWKS file (JSON) of the keys that sign callers' bearer JWTs
    /// (`authorization: Bearer …`; RS256/384/512, PS256/384/512, ES256/384,
    /// EdDSA). Re-read when it changes.
    #[arg(long, env = "JWT_JWKS_FILE", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwt_jwks_file: Option<PathBuf>,

    /// The `iss` a caller's JWT must carry.
    #[arg(long, env = "JWT_ISSUER", requires = "jwt_jwks_file")]
    pub jwt_issuer: Option<String>,

    /// The `aud` a caller's JWT must include.
    #[arg(long, env = "JWT_AUDIENCE", requires = "jwt_jwks_file")]
    pub jwt_audience: Option<String>,

    /// Calls per second each caller identity may make (a token bucket per
    /// caller); beyond it RESOURCE_EXHAUSTED with RetryInfo. Unset: no limit.
    #[arg(long, env = "MAX_CALLS_PER_SECOND_PER_CALLER",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_calls_per_second_per_caller: Option<u32>,

    /// Calls a caller may make at once beyond its rate (the bucket's size).
    /// Default: one second's worth.
    #[arg(long, env = "CALLER_BURST", requires = "max_calls_per_second_per_caller",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub caller_burst: Option<u32>,

    /// How often the policy and JWKS files are checked for changes.
    #[arg(long, env = "ACCESS_RELOAD_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub access_reload_interval: Duration,
}

/// Retries of upstream reads (GET): which failures, how many attempts, how long
/// between them, and the budget that keeps an outage from multiplying load.
#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    /// Most attempts of one upstream read (1 disables retries). Creates are re-sent
    /// only when the connection could not be opened.
    #[arg(long = "retry-max-attempts", env = "RETRY_MAX_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: u32,

    /// Backoff ceiling before the first retry; it doubles per retry, and each wait is
    /// drawn uniformly below the ceiling (full jitter).
    #[arg(long = "retry-initial-backoff", env = "RETRY_INITIAL_BACKOFF", default_value = "50ms",
          value_parser = parse_duration)]
    pub initial_backoff: Duration,

    /// Largest backoff ceiling.
    #[arg(long = "retry-max-backoff", env = "RETRY_MAX_BACKOFF", default_value = "2s",
          value_parser = parse_duration)]
    pub max_backoff: Duration,

    /// Longest `Retry-After` the gateway waits for; a longer one ends the call.
    #[arg(long = "retry-max-retry-after", env = "RETRY_MAX_RETRY_AFTER", default_value = "10s",
          value_parser = parse_duration)]
    pub max_retry_after: Duration,

    /// Retry budget: each upstream request earns this many retry tokens (0.2: retries
    /// add at most 20 % to the load upstream sees, beyond the reserve).
    #[arg(long = "retry-budget-ratio", env = "RETRY_BUDGET_RATIO", default_value_t = 0.2,
          value_parser = parse_ratio)]
    pub budget_ratio: f64,

    /// Retry budget: retries per second always allowed (the reserve refills at this
    /// rate, up to ten seconds' worth), so quiet gateways still retry.
    #[arg(long = "retry-budget-min-per-second", env = "RETRY_BUDGET_MIN_PER_SECOND",
          default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub budget_min_per_second: u32,
}

/// Idempotent CreateCheckpoint settings.
#[derive(Debug, Clone, Args)]
pub struct IdempotencyArgs {
    /// `memory`, or a `redis://host:port/db` URL shared by all replicas so a
    /// `request_id` holds across them. The URL may carry a password; it is never logged.
    #[arg(long = "idempotency-store", env = "IDEMPOTENCY_STORE", default_value = "memory",
          hide_env_values = true, value_parser = parse_idempotency_store)]
    pub store: Store,

    /// How long a completed create is remembered by its `request_id`.
    #[arg(long = "idempotency-ttl", env = "IDEMPOTENCY_TTL", default_value = "1h",
          value_parser = parse_duration)]
    pub ttl: Duration,

    /// Most `request_id`s remembered in memory; the oldest are forgotten first.
    #[arg(long = "idempotency-max-entries", env = "IDEMPOTENCY_MAX_ENTRIES",
          default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_entries: u64,
}

impl IdempotencyArgs {
    /// The store's settings; a detached create may take two upstream timeouts
    /// (an IAM token fetch, then the request).
    pub fn settings(&self, upstream_timeout: Duration) -> IdempotencySettings {
        IdempotencySettings {
            store: self.store.clone(),
            ttl: self.ttl,
            max_entries: usize::try_from(self.max_entries).unwrap_or(usize::MAX),
            create_limit: upstream_timeout.saturating_mul(2),
        }
    }
}

/// Where the Prometheus endpoint listens, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen(pub Option<SocketAddr>);

fn parse_metrics_listen(raw: &str) -> Result<MetricsListen, String> {
    if raw.trim().eq_ignore_ascii_case("off") {
        return Ok(MetricsListen(None));
    }
    raw.trim()
        .parse::<SocketAddr>()
        .map(|a| MetricsListen(Some(a)))
        .map_err(|_| "expected host:port (e.g. 0.0.0.0:9090) or `off`".to_owned())
}

/// Why the configuration does not make settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The held credentials are incomplete or unreadable.
    #[error("invalid credentials configuration: {0}")]
    Credentials(#[from] CredentialError),
    /// TLS files given in an unusable combination.
    #[error("incomplete TLS settings: {0}")]
    Tls(&'static str),
}

impl Config {
    /// The typed settings this command line describes. Secret files are read
    /// (and the credentials checked for completeness) here.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            (None, None) if self.tls_client_ca.is_some() => {
                return Err(SettingsError::Tls(
                    "--tls-client-ca needs --tls-cert and --tls-key",
                ));
            }
            (None, None) => None,
            (Some(_), None) => return Err(SettingsError::Tls("--tls-cert needs --tls-key")),
            (None, Some(_)) => return Err(SettingsError::Tls("--tls-key needs --tls-cert")),
        };
        Ok(Settings {
            transport: TransportSettings {
                tls,
                max_streams_per_connection: self.max_streams_per_connection,
                max_connections: self.max_connections as usize,
                request_read_timeout: self.request_read_timeout,
                idle_connection_timeout: self.idle_connection_timeout,
                max_request_bytes: self.max_request_bytes,
                max_response_bytes: self.max_response_bytes,
                max_server_streams: self.max_server_streams as usize,
                cors_allowed_origins: self.cors_allowed_origins.clone(),
                shutdown_delay: self.shutdown_delay,
                shutdown_grace: self.shutdown_grace,
            },
            calls: CallSettings {
                default_deadline: self.default_deadline,
                max_deadline: self.max_deadline,
                default_project: self.project_id.clone(),
            },
            access: self.access_settings(),
            upstream: self.upstream(),
            credentials: self.credentials.held()?,
            watch: WatchSettings {
                poll_interval: self.watch_poll_interval,
                max_poll_interval: self.watch_max_poll_interval.max(self.watch_poll_interval),
                heartbeat: self.watch_heartbeat,
            },
            idempotency: self.idempotency.settings(self.upstream_timeout),
            metrics_listen: self.metrics_listen.0,
            builtin_simulator: self.builtin_simulator,
            regions: RegionSettings {
                default: self
                    .region_table
                    .as_ref()
                    .and_then(RegionTable::default_region)
                    .map_or_else(
                        || crate::upstream::regions::UNNAMED_REGION.to_owned(),
                        str::to_owned,
                    ),
                table: self.region_table.clone(),
            },
        })
    }

    /// Who may call, and what.
    pub fn access_settings(&self) -> AccessSettings {
        let access = &self.access;
        AccessSettings {
            authz_policy: access.authz_policy.clone(),
            allow_anonymous_callers: access.allow_anonymous_callers,
            trust_forwarded_identity: access.trust_forwarded_identity,
            jwt: match (
                &access.jwt_jwks_file,
                &access.jwt_issuer,
                &access.jwt_audience,
            ) {
                (Some(jwks_file), Some(issuer), Some(audience)) => Some(JwtSettings {
                    jwks_file: jwks_file.clone(),
                    issuer: issuer.clone(),
                    audience: audience.clone(),
                }),
                // clap requires all three together.
                _ => None,
            },
            fairness: access
                .max_calls_per_second_per_caller
                .and_then(NonZeroU32::new)
                .map(|rate| (rate, access.caller_burst.and_then(NonZeroU32::new))),
            reload_interval: access.access_reload_interval,
            allowed_projects: self.allowed_projects.clone(),
        }
    }

    /// The upstream client's settings.
    pub fn upstream(&self) -> UpstreamSettings {
        UpstreamSettings {
            iam_endpoint: self.credentials.iam_endpoint.clone(),
            cbr_endpoint: self.cbr_endpoint.clone(),
            csbs_endpoint: self.effective_csbs_endpoint(),
            connect_timeout: self.upstream_connect_timeout,
            request_timeout: self.upstream_timeout,
            max_body_bytes: self.upstream_max_body_bytes,
            pool_max_idle: self.upstream_pool_max_idle,
            retry: RetryPolicy {
                max_attempts: self.retry.max_attempts,
                initial_backoff: self.retry.initial_backoff,
                max_backoff: self.retry.max_backoff,
                max_retry_after: self.retry.max_retry_after,
                budget_ratio: self.retry.budget_ratio,
                budget_min_per_second: self.retry.budget_min_per_second,
            },
            max_inflight: self.max_upstream_inflight as usize,
            queue_timeout: self.upstream_queue_timeout,
            share_reads: self.upstream_share_reads,
        }
    }

    /// The worker threads of the runtime (see `--worker-threads`).
    pub fn runtime_workers(&self) -> usize {
        if let Some(n) = self.worker_threads {
            return usize::from(n);
        }
        if let Some(n) = std::env::var("TOKIO_WORKER_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
        {
            return n;
        }
        // Respects the cgroup's CPU quota (a pod's limit), not only the host's cores.
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        cpus.saturating_sub(1).max(1)
    }

    /// Resolves the regions (contract §10) and, when a region is named
    /// without CBR_ENDPOINT, takes its CBR, CSBS and IAM endpoints as
    /// Huawei's SDKs resolve them (an endpoint set explicitly stays). Errors
    /// name the setting at fault.
    pub fn apply_region(&mut self) -> Result<RegionTable, String> {
        let table = self.regions.table(
            self.cbr_endpoint.as_ref(),
            self.csbs_endpoint.as_ref(),
            self.credentials.iam_endpoint.as_ref(),
        )?;
        if self.cbr_endpoint.is_none()
            && let Some(region) = self.regions.region.as_deref()
            && let Some(endpoints) = table.get(region)
        {
            self.cbr_endpoint = Some(endpoints.cbr.url.clone());
            self.csbs_endpoint
                .get_or_insert_with(|| endpoints.csbs.url.clone());
            self.credentials
                .iam_endpoint
                .get_or_insert_with(|| endpoints.iam.url.clone());
        }
        self.region_table = Some(table.clone());
        Ok(table)
    }

    /// Serves the built-in simulator's regions (`regions`, the first the
    /// default) and no other: the simulator's key opens no cloud region.
    pub fn simulated_regions(
        &mut self,
        regions: &[cbr_simulator::RegionServer],
    ) -> Result<(), String> {
        let Some(first) = regions.first() else {
            return Ok(());
        };
        let url = |r: &cbr_simulator::RegionServer| format!("http://{}", r.addr);
        let first_url = Url::parse(&url(first)).map_err(|e| e.to_string())?;
        let mut environment = Vec::new();
        for r in &regions[1..] {
            let id = r.name.to_uppercase().replace('-', "_");
            for service in ["CBR", "CSBS", "IAM"] {
                environment.push((format!("HUAWEICLOUD_SDK_REGION_{service}_{id}"), url(r)));
            }
        }
        let table = RegionTable::resolve(&RegionInputs {
            default_region: Some(&first.name),
            cbr_endpoint: Some(&first_url),
            csbs_endpoint: Some(&first_url),
            environment,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?
        .only(regions.iter().map(|r| r.name.as_str()));
        self.regions.region = Some(first.name.clone());
        self.region_table = Some(table);
        Ok(())
    }

    /// The CSBS endpoint: the configured one, else derived from the CBR endpoint.
    pub fn effective_csbs_endpoint(&self) -> Option<Url> {
        if let Some(url) = &self.csbs_endpoint {
            return Some(url.clone());
        }
        let cbr = self.cbr_endpoint.as_ref()?;
        let host = cbr.host_str()?;
        let rest = host.strip_prefix("cbr.")?;
        let mut csbs = cbr.clone();
        csbs.set_host(Some(&format!("csbs.{rest}"))).ok()?;
        Some(csbs)
    }
}

/// Which region the gateway serves by default, and where region endpoints
/// are overridden (`HUAWEICLOUD_SDK_REGION_{CBR,CSBS,IAM}_<REGION_ID>` are
/// read from the environment as Huawei's SDKs read them).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegionArgs {
    /// Region, e.g. `ap-southeast-1`: with no CBR_ENDPOINT, its CBR, CSBS and
    /// IAM endpoints are used (Huawei's SDKs' table, overridable per region
    /// by HUAWEICLOUD_SDK_REGION_CBR_<REGION_ID> and the regions file).
    /// Unset: the region CBR_ENDPOINT's host names.
    #[arg(long = "region", env = "HUAWEICLOUD_SDK_REGION", value_parser = parse_region)]
    pub region: Option<String>,

    /// Regions file in the SDKs' YAML shape (`CBR: [{id: …, endpoint: …}]`);
    /// unset: `~/.huaweicloud/regions.yaml` when it exists.
    #[arg(long, env = "HUAWEICLOUD_SDK_REGIONS_FILE")]
    pub regions_file: Option<PathBuf>,
}

impl RegionArgs {
    /// The region table these settings, the process' environment and the
    /// given endpoint settings resolve to.
    pub fn table(
        &self,
        cbr: Option<&Url>,
        csbs: Option<&Url>,
        iam: Option<&Url>,
    ) -> Result<RegionTable, String> {
        let path = self.regions_file.clone().or_else(|| {
            let home = std::env::var_os("HOME")?;
            let path = PathBuf::from(home)
                .join(".huaweicloud")
                .join("regions.yaml");
            path.exists().then_some(path)
        });
        let text = match &path {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read regions file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        let inputs = RegionInputs {
            default_region: self.region.as_deref(),
            cbr_endpoint: cbr,
            csbs_endpoint: csbs,
            iam_endpoint: iam,
            regions_file: path.as_deref().zip(text.as_deref()),
            environment: std::env::vars().collect(),
        };
        RegionTable::resolve(&inputs).map_err(|e| e.to_string())
    }
}

/// A region ID: lower-case letters, digits and `-`, as every region is named.
fn parse_region(raw: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("a region ID is lower-case letters, digits and '-', e.g. ap-southeast-1".into())
    }
}

/// Accepts an absolute `http`/`https` URL with a host and nothing after the path.
fn parse_endpoint(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("scheme must be http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("URL must not have a query or fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URL must not carry credentials".into());
    }
    Ok(url)
}

fn parse_project_id(raw: &str) -> Result<String, String> {
    if domain::is_valid_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(domain::ID_RULE.into())
    }
}

pub(crate) fn parse_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_duration_or_zero(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| e.to_string())
}

fn parse_ratio(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|r| (0.0..=10.0).contains(r))
        .ok_or_else(|| "must be a number from 0 to 10".to_owned())
}

fn parse_idempotency_store(raw: &str) -> Result<Store, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("memory") {
        return Ok(Store::Memory);
    }
    // The message must not echo the value: it may hold a password.
    let url = Url::parse(raw).map_err(|_| "expected `memory` or a redis:// URL".to_owned())?;
    if !matches!(url.scheme(), "redis" | "rediss") {
        return Err("expected `memory` or a redis:// or rediss:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the Redis URL has no host".into());
    }
    raw.parse::<Secret>()
        .map(Store::Redis)
        .map_err(|_| "the Redis URL is not valid".to_owned())
}

fn parse_cors_origins(raw: &str) -> Result<CorsOrigins, String> {
    let entries: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return Ok(CorsOrigins::None);
    }
    if entries.contains(&"*") {
        if entries.len() > 1 {
            return Err("`*` allows any origin and cannot be combined with others".into());
        }
        return Ok(CorsOrigins::Any);
    }
    entries
        .into_iter()
        .map(parse_origin)
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

/// One origin: `http(s)://host[:port]` and nothing else (a trailing `/` is tolerated).
fn parse_origin(raw: &str) -> Result<http::HeaderValue, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not an origin: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?}: an origin's scheme is http or https"));
    }
    if url.host_str().is_none_or(str::is_empty)
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "{raw:?} is not an origin: expected scheme://host[:port] and nothing more"
        ));
    }
    http::HeaderValue::from_str(&url.origin().ascii_serialization())
        .map_err(|_| format!("{raw:?} is not an origin"))
}

pub(crate) fn parse_duration(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut argv = vec!["cbr-gateway"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv)
    }

    #[test]
    fn worker_threads_are_one_less_than_the_cpus_unless_set() {
        assert_eq!(
            parse(&["--worker-threads", "3"]).unwrap().runtime_workers(),
            3
        );
        assert!(parse(&["--worker-threads", "0"]).is_err());
        // Unset (and TOKIO_WORKER_THREADS unset in the test environment, or
        // set: either way at least one).
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let workers = parse(&[]).unwrap().runtime_workers();
        assert!(workers >= 1);
        if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
            assert_eq!(workers, cpus.saturating_sub(1).max(1));
        }
    }

    #[test]
    fn defaults_listen_on_50051() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:50051");
        assert_eq!(c.upstream_timeout, Duration::from_secs(30));
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn csbs_endpoint_is_derived_from_cbr() {
        let c = parse(&["--cbr-endpoint", "https://cbr.cn-north-4.myhuaweicloud.com"]).unwrap();
        assert_eq!(
            c.effective_csbs_endpoint().unwrap().as_str(),
            "https://csbs.cn-north-4.myhuaweicloud.com/"
        );
        let c = parse(&["--cbr-endpoint", "http://127.0.0.1:9000"]).unwrap();
        assert!(c.effective_csbs_endpoint().is_none());
    }

    #[test]
    fn cors_origins_are_parsed_and_normalized() {
        assert_eq!(parse(&[]).unwrap().cors_allowed_origins, CorsOrigins::None);
        let none = parse(&["--cors-allowed-origins", " , "]).unwrap();
        assert_eq!(none.cors_allowed_origins, CorsOrigins::None);
        let any = parse(&["--cors-allowed-origins", "*"]).unwrap();
        assert_eq!(any.cors_allowed_origins, CorsOrigins::Any);
        let list = parse(&[
            "--cors-allowed-origins",
            "https://App.Example.com/, http://localhost:8080,https://x.example:443",
        ])
        .unwrap();
        assert_eq!(
            list.cors_allowed_origins,
            CorsOrigins::List(vec![
                http::HeaderValue::from_static("https://app.example.com"),
                http::HeaderValue::from_static("http://localhost:8080"),
                http::HeaderValue::from_static("https://x.example"),
            ])
        );
        for bad in [
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/path",
            "https://app.example.com?q=1",
            "https://user@app.example.com",
            "https://app.example.com,*",
            "null",
        ] {
            let err = parse(&["--cors-allowed-origins", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let config = parse(&[
            "--sk",
            "sk-sentinel",
            "--security-token",
            "token-sentinel",
            "--iam-user",
            "bot",
            "--iam-password",
            "password-sentinel",
            "--idempotency-store",
            "redis://:redis-sentinel@127.0.0.1:6379",
        ])
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("sentinel"), "{shown}");
    }

    #[test]
    fn access_switches_take_an_optional_value() {
        assert!(!parse(&[]).unwrap().access.trust_forwarded_identity);
        assert!(
            parse(&["--trust-forwarded-identity"])
                .unwrap()
                .access
                .trust_forwarded_identity
        );
        for (value, want) in [
            ("true", true),
            ("false", false),
            ("yes", true),
            ("0", false),
        ] {
            let flag = format!("--allow-anonymous-callers={value}");
            assert_eq!(
                parse(&[&flag]).unwrap().access.allow_anonymous_callers,
                want,
                "{value}"
            );
        }
        // The request timeouts protect against silent connections: bounded by default.
        let c = parse(&[]).unwrap();
        assert!(c.request_read_timeout <= Duration::from_secs(30));
        assert_eq!(c.max_connections, 10_000);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--cbr-endpoint", "ftp://x"][..],
            &["--cbr-endpoint", "https://x/?a=b"],
            &["--cbr-endpoint", "https://user:pw@x"],
            &["--upstream-timeout", "soon"],
            &["--upstream-timeout", "0s"],
            &["--listen", "nowhere"],
            &["--log-format", "xml"],
            &["--project-id", "../etc"],
            &["--log-level", "info,[[["],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
