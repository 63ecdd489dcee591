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

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

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
/// Whether text logs may use colours: stdout is a terminal and `NO_COLOR`
/// (<https://no-color.org>) is unset or empty.
fn colours() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Must run inside the tokio runtime (the exporter's channel lives there).
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp: Option<&Url>,
) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        // Colours only on a terminal (and never with NO_COLOR): escape codes
        // in a file or a log collector are noise to every reader and parser.
        LogFormat::Text => fmt::layer().with_target(false).with_ansi(colours()).boxed(),
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
    pub sent: u64,
    /// Upstream pages fetched.
    pub pages: u64,
}

/// The one log line per RPC: method, gRPC code, latency, upstream request id,
/// who called, the project and the authorization decision (and, for streams,
/// what was sent). Failures the gateway cannot explain (INTERNAL, UNKNOWN,
/// DATA_LOSS) are warnings with the status message.
pub fn log_rpc(
    method: &str,
    status: &tonic::Status,
    started: tokio::time::Instant,
    upstream_request_id: Option<&str>,
    stream: Option<StreamCounts>,
) {
    let span = tracing::Span::current();
    let code = status.code();
    span.record("rpc.grpc.status_code", i64::from(code as i32));
    if code != tonic::Code::Ok {
        span.record("otel.status_code", "ERROR");
    }
    let trace = crate::trace::current();
    let facts = trace.as_ref().and_then(|t| t.facts.as_deref());
    let line = Line {
        method,
        status,
        started,
        upstream_request_id,
        stream,
        trace: trace.as_ref(),
        caller: facts.map(|f| &*f.caller),
        project: facts.and_then(|f| f.project.get()).map(|p| &**p),
        authz: facts.and_then(|f| f.decision.get().copied()),
    };
    line.write();
}

/// The log line of a call refused before any handler ran (by the origin or
/// access rules): who it was, if known, and the decision.
pub fn log_refused(
    method: &str,
    status: &tonic::Status,
    started: tokio::time::Instant,
    caller: Option<&str>,
    authz: &'static str,
) {
    Line {
        method,
        status,
        started,
        upstream_request_id: None,
        stream: None,
        trace: None,
        caller,
        project: None,
        authz: Some(authz),
    }
    .write();
}

struct Line<'a> {
    method: &'a str,
    status: &'a tonic::Status,
    started: tokio::time::Instant,
    upstream_request_id: Option<&'a str>,
    stream: Option<StreamCounts>,
    trace: Option<&'a crate::trace::TraceContext>,
    caller: Option<&'a str>,
    project: Option<&'a str>,
    authz: Option<&'static str>,
}

impl Line<'_> {
    fn write(&self) {
        use tonic::Code;
        let rpc = self.method;
        let latency_us = self.started.elapsed().as_micros() as u64;
        let code = self.status.code();
        let upstream_request_id = self.upstream_request_id.unwrap_or("");
        let sent = self.stream.map(|s| s.sent);
        let pages = self.stream.map(|s| s.pages);
        let trace_id = self.trace.map_or("", |t| t.trace_id.as_str());
        let request_id = self.trace.and_then(|t| t.request_id()).unwrap_or("");
        let caller = self.caller.unwrap_or("");
        let project = self.project.unwrap_or("");
        let authz = self.authz.unwrap_or("");
        if matches!(code, Code::Internal | Code::Unknown | Code::DataLoss) {
            tracing::warn!(rpc, code = ?code, latency_us, trace_id, request_id, upstream_request_id, caller, project, authz, sent, pages, message = self.status.message(), "rpc");
        } else {
            tracing::info!(rpc, code = ?code, latency_us, trace_id, request_id, upstream_request_id, caller, project, authz, sent, pages, "rpc");
        }
    }
}
