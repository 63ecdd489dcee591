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
