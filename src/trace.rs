//! Trace context: W3C `traceparent`/`tracestate` and the caller's
//! `x-request-id`, carried from the gRPC call into every upstream request it
//! makes and into its log lines.
//!
//! The context of the call being served lives in a tokio task-local
//! ([`CURRENT`]), set by the service layer around each handler, so the upstream
//! client reads it without every signature carrying it; [`spawn`] carries it
//! into tasks a call spawns (prefetching pager, detached idempotent create).
//!
//! Without an OTLP exporter the gateway records no spans, so it forwards the
//! caller's `traceparent` unchanged, as W3C Trace Context asks of a
//! non-recording intermediary: upstream's spans become children of the
//! caller's span. A call without one gets a fresh trace id (not sampled), so its
//! upstream requests and log lines still share one id.
//!
//! With `--otlp-endpoint`, each RPC is a server span (a child of the caller's
//! span when it sent one) and each upstream attempt a client span under it;
//! upstream then gets that client span as its parent ([`TraceContext::attach`],
//! [`upstream_traceparent`]).

use std::{
    future::Future,
    sync::{Arc, OnceLock},
};

use http::HeaderValue;
use tonic::metadata::MetadataMap;

/// Longest `x-request-id` forwarded; longer ones are dropped.
const MAX_REQUEST_ID: usize = 128;
/// Longest `tracestate` forwarded (W3C: at most 32 members of ≤ 256 bytes; 512
/// bytes is what implementations must at least propagate).
const MAX_TRACESTATE: usize = 512;

tokio::task_local! {
    /// The trace context of the call this task serves.
    pub static CURRENT: TraceContext;
}

/// The trace context of one call.
#[derive(Debug, Clone)]
pub(crate) struct TraceContext {
    /// The caller's span, when it sent a valid `traceparent`: the parent of
    /// this call's span.
    remote: Option<opentelemetry::trace::SpanContext>,
    /// The trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// `traceparent` as sent upstream.
    pub traceparent: HeaderValue,
    /// `tracestate`, forwarded as received.
    pub tracestate: Option<HeaderValue>,
    /// The caller's `x-request-id`, forwarded upstream and logged.
    pub request_id: Option<HeaderValue>,
    /// Who calls and what the policy decided, for the call's log line.
    pub facts: Option<Arc<CallFacts>>,
}

/// What the RPC log line says about who called: the caller's identity, the
/// project the call acts on, and the authorization decision, as the call
/// learns them (the project is known only once the request is validated).
#[derive(Debug)]
pub struct CallFacts {
    /// The caller's identity (see [`crate::access`]).
    pub caller: Arc<str>,
    /// The project judged.
    pub project: OnceLock<Box<str>>,
    /// `allow` or `deny`, once the policy has judged the project.
    pub decision: OnceLock<&'static str>,
}

impl CallFacts {
    /// Facts of a call by `caller`, nothing judged yet.
    pub fn new(caller: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            caller,
            project: OnceLock::new(),
            decision: OnceLock::new(),
        })
    }
}

impl TraceContext {
    /// The context of a call with this metadata: its valid `traceparent` (else a
    /// new trace), `tracestate` and `x-request-id`.
    pub(crate) fn from_metadata(md: &MetadataMap) -> Self {
        let header = |name: &str| md.get(name).and_then(|v| v.to_str().ok());
        let given = header("traceparent").map(str::trim);
        let remote = given.and_then(|tp| parse_traceparent(tp, header("tracestate")));
        let continued = remote.is_some();
        let (trace_id, traceparent) = match (&remote, given) {
            (Some(sc), Some(tp)) => (sc.trace_id().to_string(), tp.to_owned()),
            _ => {
                let trace_id = hex::encode(fastrand::u128(1..).to_be_bytes());
                let span_id = hex::encode(fastrand::u64(1..).to_be_bytes());
                let traceparent = format!("00-{trace_id}-{span_id}-00");
                (trace_id, traceparent)
            }
        };
        let visible = |v: &str, max: usize| {
            (!v.is_empty() && v.len() <= max && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
                .then(|| HeaderValue::from_str(v).ok())
                .flatten()
        };
        Self {
            remote,
            // Built from hex digits and dashes only: always a valid header value.
            traceparent: HeaderValue::from_str(&traceparent)
                .unwrap_or(HeaderValue::from_static("")),
            // W3C: without a valid traceparent, tracestate means nothing.
            tracestate: header("tracestate")
                .filter(|_| continued)
                .and_then(|v| visible(v.trim(), MAX_TRACESTATE)),
            request_id: header("x-request-id").and_then(|v| visible(v.trim(), MAX_REQUEST_ID)),
            trace_id,
            facts: None,
        }
    }

    /// Makes `span` this call's span: a child of the caller's span when there
    /// is one. When spans are exported (the span has a valid OpenTelemetry
    /// context), the call's trace id becomes the span's.
    pub(crate) fn attach(&mut self, span: &tracing::Span) {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        if let Some(remote) = &self.remote {
            let parent = opentelemetry::Context::new().with_remote_span_context(remote.clone());
            // Fails only when no OpenTelemetry layer is installed: nothing to do.
            let _ = span.set_parent(parent);
        }
        let cx = span.context();
        let own = cx.span().span_context().clone();
        if own.is_valid() {
            self.trace_id = own.trace_id().to_string();
            if let Ok(v) = HeaderValue::from_str(&traceparent_of(&own)) {
                self.traceparent = v;
            }
        }
    }

    /// The caller's `x-request-id`, as text.
    pub(crate) fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|v| v.to_str().ok())
    }
}

/// The `traceparent` for an upstream request made inside `span`: the span
/// itself when spans are exported, else the call's own (forwarded) one.
pub(crate) fn upstream_traceparent(span: &tracing::Span, call: &TraceContext) -> HeaderValue {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = span.context();
    let own = cx.span().span_context().clone();
    if own.is_valid()
        && let Ok(v) = HeaderValue::from_str(&traceparent_of(&own))
    {
        return v;
    }
    call.traceparent.clone()
}

fn traceparent_of(sc: &opentelemetry::trace::SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    )
}

/// The trace context of the call this task serves, if any.
pub(crate) fn current() -> Option<TraceContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `fut` with `ctx` as the current trace context.
pub(crate) async fn scope<F: Future>(ctx: TraceContext, fut: F) -> F::Output {
    CURRENT.scope(ctx, fut).await
}

/// `tokio::spawn`, carrying the current trace context and span into the task.
pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument as _;
    let fut = fut.in_current_span();
    match current() {
        Some(ctx) => tokio::spawn(CURRENT.scope(ctx, fut)),
        None => tokio::spawn(fut),
    }
}

/// The caller's span, from a valid version-00 `traceparent`
/// (`00-<32 hex>-<16 hex>-<2 hex>`, lowercase, ids not all zero) and its
/// `tracestate`; `None` for anything else.
fn parse_traceparent(
    raw: &str,
    tracestate: Option<&str>,
) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let mut parts = raw.split('-');
    let (version, trace_id, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let valid = parts.next().is_none()
        && version == "00"
        && is_hex(trace_id, 32)
        && is_hex(parent, 16)
        && is_hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    if !valid {
        return None;
    }
    let state = tracestate
        .and_then(|s| s.trim().parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        TraceId::from_hex(trace_id).ok()?,
        SpanId::from_hex(parent).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        state,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut md = MetadataMap::new();
        for (k, v) in pairs {
            md.insert(*k, v.parse().unwrap());
        }
        md
    }

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_forwarded_unchanged() {
        let ctx = TraceContext::from_metadata(&md(&[
            ("traceparent", PARENT),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("x-request-id", "req-42"),
        ]));
        assert_eq!(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.traceparent, PARENT);
        assert_eq!(ctx.tracestate.unwrap(), "congo=t61rcWkgMzE");
        assert_eq!(ctx.request_id.unwrap(), "req-42");
    }

    #[test]
    fn invalid_traceparents_start_a_new_trace_and_drop_tracestate() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-xyz",
        ] {
            let ctx =
                TraceContext::from_metadata(&md(&[("traceparent", bad), ("tracestate", "a=b")]));
            assert_eq!(ctx.trace_id.len(), 32, "{bad}");
            assert_ne!(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            let tp = ctx.traceparent.to_str().unwrap();
            assert!(parse_traceparent(tp, None).is_some(), "{tp}");
            assert!(tp.ends_with("-00"), "new traces are not sampled: {tp}");
            assert!(ctx.tracestate.is_none(), "{bad}");
        }
    }

    #[test]
    fn oversized_request_ids_are_dropped() {
        let long = "r".repeat(MAX_REQUEST_ID + 1);
        let ctx = TraceContext::from_metadata(&md(&[("x-request-id", &long)]));
        assert!(ctx.request_id.is_none());
    }

    #[tokio::test]
    async fn spawned_tasks_keep_the_context() {
        let ctx = TraceContext::from_metadata(&md(&[("traceparent", PARENT)]));
        let seen = scope(ctx, async { spawn(async { current() }).await.unwrap() }).await;
        assert_eq!(seen.unwrap().trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(current().is_none());
    }
}
