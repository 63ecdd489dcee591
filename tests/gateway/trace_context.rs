//! Trace context: the caller's W3C `traceparent`/`tracestate` and
//! `x-request-id` reach every upstream request the call makes (unary, the
//! StreamBackups pager's tasks, the detached idempotent create), and the RPC's
//! log line carries the trace id.

use crate::common;

use std::time::{Duration, Instant};

use cbr_gateway::proto as pb;
use common::*;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path_regex},
};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traced<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let md = req.metadata_mut();
    md.insert("traceparent", TRACEPARENT.parse().unwrap());
    md.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
    md.insert("x-request-id", "caller-req-7".parse().unwrap());
    req
}

async fn upstream() -> MockServer {
    let upstream = MockServer::start().await;
    let json = |name: &str| {
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string(fixture(name))
    };
    Mock::given(method("GET"))
        .and(path_regex("/backups/[^/]+$"))
        .respond_with(json("show_backup.json"))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/backups$"))
        .respond_with(json("list_backups_page.json"))
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/checkpoints$"))
        .respond_with(json("create_checkpoint.json"))
        .mount(&upstream)
        .await;
    upstream
}

#[tokio::test]
async fn the_callers_trace_context_reaches_every_upstream_request() {
    let upstream = upstream().await;
    let gw = Gateway::against(&upstream).await;
    gw.backups()
        .get_backup(traced(pb::GetBackupRequest {
            project_id: PROJECT.into(),
            backup_id: BACKUP.into(),
            region: String::new(),
        }))
        .await
        .unwrap();
    let mut stream = gw
        .backups()
        .stream_backups(traced(pb::StreamBackupsRequest {
            project_id: PROJECT.into(),
            page_size: Some(1000),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    while let Some(item) = stream.next().await {
        item.unwrap();
    }
    gw.checkpoints()
        .create_checkpoint(traced(pb::CreateCheckpointRequest {
            project_id: PROJECT.into(),
            vault_id: VAULT.into(),
            request_id: "0b7e7f2c-8d5e-4a5e-9d1f-6d1a2b3c4d5e".into(),
            ..Default::default()
        }))
        .await
        .unwrap();

    let received = upstream.received_requests().await.unwrap();
    assert!(received.len() >= 3, "{}", received.len());
    for r in &received {
        let h = |name: &str| r.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        let what = format!("{} {}", r.method, r.url.path());
        assert_eq!(h("traceparent").as_deref(), Some(TRACEPARENT), "{what}");
        assert_eq!(
            h("tracestate").as_deref(),
            Some("congo=t61rcWkgMzE"),
            "{what}"
        );
        assert_eq!(h("x-request-id").as_deref(), Some("caller-req-7"), "{what}");
    }
}

#[tokio::test]
async fn a_call_without_a_trace_starts_one() {
    let upstream = upstream().await;
    let gw = Gateway::against(&upstream).await;
    for _ in 0..2 {
        gw.backups()
            .get_backup(pb::GetBackupRequest {
                project_id: PROJECT.into(),
                backup_id: BACKUP.into(),
                region: String::new(),
            })
            .await
            .unwrap();
    }
    let received = upstream.received_requests().await.unwrap();
    let parents: Vec<String> = received
        .iter()
        .map(|r| r.headers["traceparent"].to_str().unwrap().to_owned())
        .collect();
    for p in &parents {
        let parts: Vec<&str> = p.split('-').collect();
        assert_eq!(parts.len(), 4, "{p}");
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "00")
        );
    }
    assert_ne!(parents[0], parents[1], "each call is its own trace");
    assert!(
        received
            .iter()
            .all(|r| !r.headers.contains_key("x-request-id"))
    );
    assert!(
        received
            .iter()
            .all(|r| !r.headers.contains_key("tracestate"))
    );
}

#[tokio::test]
async fn the_rpc_log_line_carries_the_trace_id_and_the_callers_request_id() {
    let gw = Binary::start(&["--listen", "127.0.0.1:0", "--log-format", "json"]).await;
    let channel = Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    pb::backup_service_client::BackupServiceClient::new(channel)
        .get_backup(traced(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        }))
        .await
        .unwrap();
    let line = gw
        .wait_for_log(|l| l["message"] == "rpc" && l["rpc"] == "GetBackup")
        .await;
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["request_id"], "caller-req-7", "{line}");
}

/// A fake OTLP/gRPC collector: every exported span, sent down a channel.
mod collector {
    use opentelemetry_proto::tonic::{
        collector::trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
        trace::v1::Span,
    };
    use tokio::sync::mpsc;

    pub struct Collector(pub mpsc::UnboundedSender<Span>);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            for rs in request.into_inner().resource_spans {
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        let _ = self.0.send(span);
                    }
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    /// Starts the collector on a loopback port; its address and the spans.
    pub async fn start() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Span>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Collector(tx)))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (addr, rx)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn with_otlp_each_rpc_and_upstream_request_is_a_span_under_the_callers() {
    let (collector, mut spans) = collector::start().await;
    let endpoint = format!("http://{collector}");
    let gw = Binary::start_with_env(
        &[
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--otlp-endpoint",
            &endpoint,
        ],
        // Export batches every 100 ms instead of every 5 s.
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .await;
    let channel = Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    pb::backup_service_client::BackupServiceClient::new(channel)
        .get_backup(traced(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        }))
        .await
        .unwrap();

    let (mut rpc, mut upstream) = (None, None);
    let started = Instant::now();
    while rpc.is_none() || upstream.is_none() {
        let left = Duration::from_secs(10).saturating_sub(started.elapsed());
        let span = tokio::time::timeout(left, spans.recv())
            .await
            .expect("spans exported in time")
            .expect("collector running");
        match span.name.as_str() {
            "GetBackup" => rpc = Some(span),
            "get_backup" => upstream = Some(span),
            _ => {}
        }
    }
    let (rpc, upstream) = (rpc.unwrap(), upstream.unwrap());
    // The RPC continues the caller's trace, as a server span under its span.
    assert_eq!(hex(&rpc.trace_id), TRACE_ID);
    assert_eq!(hex(&rpc.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(rpc.kind, 2, "SPAN_KIND_SERVER");
    // The upstream request is a client span under the RPC's span.
    assert_eq!(upstream.trace_id, rpc.trace_id);
    assert_eq!(upstream.parent_span_id, rpc.span_id);
    assert_eq!(upstream.kind, 3, "SPAN_KIND_CLIENT");
    let attr = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
            .map(|v| format!("{v:?}"))
    };
    assert_eq!(
        attr(&upstream, "http.response.status_code").as_deref(),
        Some("IntValue(200)"),
        "{:?}",
        upstream.attributes
    );
    assert_eq!(
        attr(&rpc, "rpc.grpc.status_code").as_deref(),
        Some("IntValue(0)"),
        "{:?}",
        rpc.attributes
    );
    // The log line names the same trace.
    let line = gw
        .wait_for_log(|l| l["message"] == "rpc" && l["rpc"] == "GetBackup")
        .await;
    assert_eq!(line["trace_id"], TRACE_ID);
}
