//! The registry: every metric family, and the methods the gateway counts
//! through. Labels take values from small fixed sets only.

use std::sync::Arc;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{
        counter::Counter,
        family::{Family, MetricConstructor},
        gauge::{ConstGauge, Gauge},
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};
use tonic::Code;

/// Labels of the gRPC server metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct MethodLabels {
    pub(super) grpc_service: &'static str,
    pub(super) grpc_method: &'static str,
    /// The region the call acted in (contract §10).
    pub(super) region: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HandledLabels {
    grpc_service: &'static str,
    grpc_method: &'static str,
    region: &'static str,
    grpc_code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamLabels {
    region: &'static str,
    service: &'static str,
    route: &'static str,
    /// The HTTP status code, or `connect_error`, `timeout`, `transport_error`.
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    region: &'static str,
    service: &'static str,
    route: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServiceLabels {
    region: &'static str,
    service: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
    method: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodOnly {
    method: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReloadLabels {
    file: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// What the access rules decided about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The policy allowed it.
    Allow,
    /// The policy (or `--allowed-projects`) refused it.
    Deny,
    /// A caller credential was present but not accepted.
    Unauthenticated,
}

impl Decision {
    /// The label, also used in log lines.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Unauthenticated => "unauthenticated",
        }
    }
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Builds histograms with fixed buckets.
#[derive(Debug, Clone, Copy)]
struct Buckets {
    start: f64,
    count: u16,
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(self.start, 2.0, self.count))
    }
}

/// How a finished idempotent create was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotentResult {
    /// This call sent the create upstream.
    Sent,
    /// Answered from a create already running or remembered: nothing sent.
    Deduplicated,
    /// Refused: the `request_id` was used with other parameters.
    Mismatch,
    /// The shared store could not be reached; nothing sent.
    StoreUnavailable,
}

/// Live values read at scrape time from their owners.
pub trait Gauges: Send + Sync + 'static {
    /// Open server streams (all kinds share one budget).
    fn server_streams(&self) -> i64;
    /// Running shared watch pollers.
    fn watch_pollers(&self) -> i64;
    /// Upstream requests in flight.
    fn upstream_inflight(&self) -> i64;
}

/// Every metric of one gateway. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: std::sync::RwLock<Registry>,
    started: Family<MethodLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    handling: Family<MethodLabels, Histogram, Buckets>,
    upstream: Family<UpstreamLabels, Counter>,
    upstream_duration: Family<RouteLabels, Histogram, Buckets>,
    retries: Family<RouteLabels, Counter>,
    shared: Family<RouteLabels, Counter>,
    budget_exhausted: Family<ServiceLabels, Counter>,
    shed: Family<ServiceLabels, Counter>,
    idempotent: Family<ResultLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    rate_limited: Family<MethodOnly, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    connections_open: Gauge,
    connections_closed: Family<ReasonLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered (and zero gauges until
    /// [`Metrics::watch_gauges`] connects the owners).
    pub fn new() -> Self {
        let rpc_buckets = Buckets {
            start: 0.001,
            count: 16,
        };
        let m = Self {
            registry: std::sync::RwLock::new(Registry::default()),
            started: Family::default(),
            handled: Family::default(),
            handling: Family::new_with_constructor(rpc_buckets),
            upstream: Family::default(),
            upstream_duration: Family::new_with_constructor(rpc_buckets),
            retries: Family::default(),
            shared: Family::default(),
            budget_exhausted: Family::default(),
            shed: Family::default(),
            idempotent: Family::default(),
            decisions: Family::default(),
            rate_limited: Family::default(),
            reloads: Family::default(),
            connections_open: Gauge::default(),
            connections_closed: Family::default(),
        };
        {
            let mut r = m.write();
            r.register(
                "grpc_server_started",
                "RPCs started on the server",
                m.started.clone(),
            );
            r.register(
                "grpc_server_handled",
                "RPCs completed on the server, by gRPC code",
                m.handled.clone(),
            );
            r.register_with_unit(
                "grpc_server_handling",
                "Time from an RPC's arrival to its last byte (streams included)",
                Unit::Seconds,
                m.handling.clone(),
            );
            r.register(
                "cbr_gateway_upstream_requests",
                "Upstream HTTP requests (each attempt), by route and HTTP status or failure kind",
                m.upstream.clone(),
            );
            r.register_with_unit(
                "cbr_gateway_upstream_request_duration",
                "Time of one upstream request, to the end of its body",
                Unit::Seconds,
                m.upstream_duration.clone(),
            );
            r.register(
                "cbr_gateway_upstream_retries",
                "Upstream requests sent again after a transient failure",
                m.retries.clone(),
            );
            r.register(
                "cbr_gateway_upstream_shared",
                "Calls answered by joining an identical read already in flight (same credentials, region and URL): no upstream request of their own",
                m.shared.clone(),
            );
            r.register(
                "cbr_gateway_upstream_retry_budget_exhausted",
                "Retries not sent because the retry budget was spent",
                m.budget_exhausted.clone(),
            );
            r.register(
                "cbr_gateway_upstream_shed",
                "Calls shed because every upstream slot stayed busy",
                m.shed.clone(),
            );
            r.register(
                "cbr_gateway_idempotent_creates",
                "CreateCheckpoint calls with a request_id, by how they were answered",
                m.idempotent.clone(),
            );
            r.register(
                "cbr_gateway_authz_decisions",
                "API calls judged by the access rules: allow, deny, or unauthenticated (a caller credential refused)",
                m.decisions.clone(),
            );
            r.register(
                "cbr_gateway_caller_rate_limited",
                "API calls refused because their caller spent its share (--max-calls-per-second-per-caller)",
                m.rate_limited.clone(),
            );
            r.register(
                "cbr_gateway_access_reloads",
                "Re-reads of the policy and JWKS files, by outcome (error: the last good version stays)",
                m.reloads.clone(),
            );
            r.register(
                "cbr_gateway_connections_open",
                "Client connections open",
                m.connections_open.clone(),
            );
            r.register(
                "cbr_gateway_connections_closed",
                "Client connections the gateway closed itself: limit (over --max-connections), read_timeout, idle, tls_handshake",
                m.connections_closed.clone(),
            );
        }
        m
    }

    /// Connects the live gauges (watch streams, pollers, upstream slots).
    pub fn watch_gauges(&self, gauges: Arc<dyn Gauges>) {
        self.write()
            .register_collector(Box::new(GaugeCollector(gauges)));
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// One upstream attempt finished with `status` (an HTTP code or a failure kind).
    pub fn upstream_request(
        &self,
        region: &'static str,
        service: &'static str,
        route: &'static str,
        status: UpstreamStatus,
        seconds: f64,
    ) {
        let status = match status {
            UpstreamStatus::Http(code) => code.to_string(),
            UpstreamStatus::ConnectError => "connect_error".to_owned(),
            UpstreamStatus::Timeout => "timeout".to_owned(),
            UpstreamStatus::TransportError => "transport_error".to_owned(),
        };
        self.upstream
            .get_or_create(&UpstreamLabels {
                region,
                service,
                route,
                status,
            })
            .inc();
        self.upstream_duration
            .get_or_create(&RouteLabels {
                region,
                service,
                route,
            })
            .observe(seconds);
    }

    /// A retry is about to be sent.
    pub fn retry(&self, region: &'static str, service: &'static str, route: &'static str) {
        self.retries
            .get_or_create(&RouteLabels {
                region,
                service,
                route,
            })
            .inc();
    }

    /// A read joined an identical one in flight instead of sending its own.
    pub fn upstream_shared(
        &self,
        region: &'static str,
        service: &'static str,
        route: &'static str,
    ) {
        self.shared
            .get_or_create(&RouteLabels {
                region,
                service,
                route,
            })
            .inc();
    }

    /// A retry was not sent: the budget was spent.
    pub fn retry_budget_exhausted(&self, region: &'static str, service: &'static str) {
        self.budget_exhausted
            .get_or_create(&ServiceLabels { region, service })
            .inc();
    }

    /// A call was shed.
    pub fn shed(&self, region: &'static str, service: &'static str) {
        self.shed
            .get_or_create(&ServiceLabels { region, service })
            .inc();
    }

    /// An idempotent create was answered.
    pub fn idempotent_create(&self, result: IdempotentResult) {
        let result = match result {
            IdempotentResult::Sent => "sent",
            IdempotentResult::Deduplicated => "deduplicated",
            IdempotentResult::Mismatch => "mismatch",
            IdempotentResult::StoreUnavailable => "store_unavailable",
        };
        self.idempotent
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// The access rules decided about a call to `rpc`.
    pub fn authz_decision(&self, decision: Decision, rpc: &crate::rpcs::Rpc) {
        self.decisions
            .get_or_create(&DecisionLabels {
                decision: decision.label(),
                method: rpc.full_name(),
            })
            .inc();
    }

    /// A call to `rpc` was refused by its caller's rate limit.
    pub fn caller_rate_limited(&self, rpc: &crate::rpcs::Rpc) {
        self.rate_limited
            .get_or_create(&MethodOnly {
                method: rpc.full_name(),
            })
            .inc();
    }

    /// A policy or JWKS file was re-read.
    pub fn access_reload(&self, file: &'static str, ok: bool) {
        let file = if file.contains("JWKS") {
            "jwks"
        } else {
            "policy"
        };
        let result = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&ReloadLabels { file, result })
            .inc();
    }

    /// A connection opened; it counts as open until the guard drops.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections_open.inc();
        OpenConnection(self.connections_open.clone())
    }

    /// The gateway closed a connection itself, for `reason` (`limit`,
    /// `read_timeout`, `idle`, `tls_handshake`).
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn rpc_started(&self, method: &MethodLabels) {
        self.started.get_or_create(method).inc();
    }

    pub(super) fn rpc_handled(&self, method: &MethodLabels, code: Code, seconds: f64) {
        self.handled
            .get_or_create(&HandledLabels {
                grpc_service: method.grpc_service,
                grpc_method: method.grpc_method,
                region: method.region,
                grpc_code: code_name(code),
            })
            .inc();
        self.handling.get_or_create(method).observe(seconds);
    }
}

/// How one upstream attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum UpstreamStatus {
    /// Upstream answered with this HTTP status.
    Http(u16),
    /// No connection could be opened.
    ConnectError,
    /// The attempt ran out of time.
    Timeout,
    /// The connection failed after it opened.
    TransportError,
}

#[derive(Debug)]
struct GaugeCollector(Arc<dyn Gauges>);

impl std::fmt::Debug for dyn Gauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gauges")
    }
}

impl Collector for GaugeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in [
            (
                "cbr_gateway_server_streams",
                "Open server streams (WatchCheckpoint, StreamBackups, health Watch, reflection): one budget, --max-server-streams",
                self.0.server_streams(),
            ),
            (
                "cbr_gateway_watch_pollers",
                "Shared upstream pollers behind the watch streams",
                self.0.watch_pollers(),
            ),
            (
                "cbr_gateway_upstream_inflight",
                "Upstream requests in flight",
                self.0.upstream_inflight(),
            ),
        ] {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

/// The gRPC code's name as Go's `codes.Code.String()` spells it.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_names_every_family() {
        use std::fmt::Write as _;
        let m = Metrics::new();
        m.upstream_request(
            "ap-southeast-1",
            "cbr",
            "get_backup",
            UpstreamStatus::Http(503),
            0.01,
        );
        m.retry("ap-southeast-1", "cbr", "get_backup");
        m.idempotent_create(IdempotentResult::Deduplicated);
        let text = m.render();
        let mut missing = String::new();
        for name in [
            "cbr_gateway_upstream_requests_total{region=\"ap-southeast-1\",service=\"cbr\",route=\"get_backup\",status=\"503\"} 1",
            "cbr_gateway_upstream_request_duration_seconds_bucket",
            "cbr_gateway_upstream_retries_total{region=\"ap-southeast-1\",service=\"cbr\",route=\"get_backup\"} 1",
            "cbr_gateway_idempotent_creates_total{result=\"deduplicated\"} 1",
        ] {
            if !text.contains(name) {
                let _ = writeln!(missing, "{name}");
            }
        }
        assert!(missing.is_empty(), "missing:\n{missing}\nin:\n{text}");
    }
}
