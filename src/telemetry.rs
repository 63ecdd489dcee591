//! Logging and tracing: `tracing` with a text or JSON formatter and an
//! env-filter, and, with `--otlp-endpoint`, spans exported over OTLP/gRPC.
//!
//! Nothing in the gateway logs request metadata wholesale: the caller's token
//! lives in a redacted type, and each RPC logs only method, code, latency, trace
//! id, the caller's request id and the upstream request id.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use tracing_subscriber::{
    EnvFilter, Layer as _,
    filter::{FilterExt as _, LevelFilter, filter_fn},
    fmt,
    layer::SubscriberExt as _,
};
use url::Url;

use crate::config::LogFormat;

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Otlp(String),
}

/// What [`init`] set up; [`Telemetry::shutdown`] flushes spans not yet exported.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered (bounded by the SDK's timeouts).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "could not flush the last spans");
        }
    }
}

/// Installs the global subscriber: log lines per `format` and `filter` (checked
/// by the config parser) and, with `otlp`, an OpenTelemetry layer exporting the
/// gateway's spans (every RPC and upstream request) to that OTLP/gRPC endpoint.
/// Must run inside the tokio runtime (the exporter's channel lives there).
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp: Option<&Url>,
) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Text => fmt::layer().with_target(false).boxed(),
        LogFormat::Json => fmt::layer()
            .with_target(false)
            .json()
            .flatten_event(true)
            .boxed(),
    }
    // Log lines carry their context as fields (rpc, trace_id, request_id…), so
    // the log layer takes events only. Spans then cost nothing unless OTLP
    // export wants them: recording their fields for the formatter added about
    // 10% to the CPU of a unary call at the default level (BENCHMARKS.md).
    // The hint keeps the level filter's maximum: without one, every disabled
    // `trace!` in h2 and hyper would be re-checked at run time.
    .with_filter(
        filter.and(filter_fn(|meta| meta.is_event()).with_max_level_hint(LevelFilter::TRACE)),
    );
    let mut telemetry = Telemetry::default();
    let spans = match otlp {
        None => None,
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.as_str())
                .build()
                .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("cbr-gateway")
                        .build(),
                )
                .build();
            let tracer = provider.tracer("cbr-gateway");
            telemetry.provider = Some(provider);
            // Spans are exported whatever the log level: only the gateway's own.
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(EnvFilter::new("cbr_gateway=info")),
            )
        }
    };
    let subscriber = tracing_subscriber::registry().with(logs).with(spans);
    // A subscriber already installed (tests) is fine.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(telemetry)
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
    let span = tracing::Span::current();
    span.record("rpc.grpc.status_code", i64::from(code as i32));
    if code != Code::Ok {
        span.record("otel.status_code", "ERROR");
    }
    let trace = crate::trace::current();
    let trace_id = trace.as_ref().map(|t| t.trace_id.as_str()).unwrap_or("");
    let request_id = trace.as_ref().and_then(|t| t.request_id()).unwrap_or("");
    if matches!(code, Code::Internal | Code::Unknown | Code::DataLoss) {
        tracing::warn!(rpc = method, code = ?code, latency_us, trace_id, request_id, upstream_request_id, backups, pages, message = status.message(), "rpc");
    } else {
        tracing::info!(rpc = method, code = ?code, latency_us, trace_id, request_id, upstream_request_id, backups, pages, "rpc");
    }
}
