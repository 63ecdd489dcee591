//! Logging: `tracing` with a text or JSON formatter and an env-filter.
//!
//! Nothing in the gateway logs request metadata wholesale: the caller's token
//! lives in a redacted type, and each RPC logs only method, code, latency and the
//! upstream request id.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` was checked by the config parser.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
}

/// Counters of a server stream, logged with its RPC line.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamCounts {
    /// Messages sent.
    pub backups: u64,
    /// Upstream pages fetched.
    pub pages: u64,
}

/// The one log line per RPC: method, gRPC code, latency, upstream request id
/// (and, for streams, what was sent). Failures the gateway cannot explain
/// (INTERNAL, UNKNOWN, DATA_LOSS) are warnings with the status message.
pub fn log_rpc(
    method: &str,
    status: &tonic::Status,
    started: tokio::time::Instant,
    upstream_request_id: Option<&str>,
    stream: Option<StreamCounts>,
) {
    use tonic::Code;
    let latency_us = started.elapsed().as_micros() as u64;
    let code = status.code();
    let upstream_request_id = upstream_request_id.unwrap_or("");
    let backups = stream.map(|s| s.backups);
    let pages = stream.map(|s| s.pages);
    let trace = crate::trace::current();
    let trace_id = trace.as_ref().map(|t| t.trace_id.as_str()).unwrap_or("");
    let request_id = trace.as_ref().and_then(|t| t.request_id()).unwrap_or("");
    if matches!(code, Code::Internal | Code::Unknown | Code::DataLoss) {
        tracing::warn!(rpc = method, code = ?code, latency_us, trace_id, request_id, upstream_request_id, backups, pages, message = status.message(), "rpc");
    } else {
        tracing::info!(rpc = method, code = ?code, latency_us, trace_id, request_id, upstream_request_id, backups, pages, "rpc");
    }
}
