//! gRPC-Web: browser-style calls over HTTP/1.1 (reqwest, no gRPC client
//! library) to the real gateway in front of the built-in simulator, binary and
//! base64 text, unary and server streaming, errors, the size limit, and CORS.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use cbr_gateway::access::CorsOrigins;
use cbr_gateway::proto as pb;
use cbr_simulator::SimulatorSettings;
use common::*;
use http::{HeaderMap, HeaderName, HeaderValue};
use prost::Message;
use tonic::Code;

const GET_BACKUP: &str = "/cbr.gateway.v1.BackupService/GetBackup";
const STREAM_BACKUPS: &str = "/cbr.gateway.v1.BackupService/StreamBackups";
const APP: &str = "https://app.example.com";

/// A simulator with `fleet_size` generated backups.
fn simulator(fleet_size: usize) -> SimulatorSettings {
    SimulatorSettings {
        fleet_size,
        // Created checkpoints stay PROTECTING for the whole test.
        backup_duration: Duration::from_secs(600),
        ..Default::default()
    }
}

/// The gateway in front of a simulator with `fleet_size` generated backups,
/// with `edit` applied to its settings.
async fn gateway(
    fleet_size: usize,
    edit: impl FnOnce(&mut Settings) + Send + 'static,
) -> TestStack {
    TestStack::builder()
        .simulator(simulator(fleet_size))
        .project(PROJECT)
        .settings(edit)
        .spawn()
        .await
}

/// Browsers from [`APP`] only.
fn app_only(s: &mut Settings) {
    s.transport.cors_allowed_origins = CorsOrigins::List(vec![HeaderValue::from_static(APP)]);
}

fn unchanged(_: &mut Settings) {}

/// How the body is carried.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wire {
    /// `application/grpc-web+proto`: gRPC framing as is.
    Binary,
    /// `application/grpc-web-text`: the same frames, base64.
    Text,
}

/// What a gRPC-Web answer carried.
struct WebReply {
    http: reqwest::StatusCode,
    version: reqwest::Version,
    headers: HeaderMap,
    /// The payloads of the data frames, in order.
    messages: Vec<Vec<u8>>,
    /// The trailer frame (flag 0x80), parsed; `None` if there was none.
    trailers: Option<HeaderMap>,
    /// Whether anything followed the trailer frame (it must be last).
    after_trailers: bool,
}

impl WebReply {
    /// `grpc-status` from the trailer frame, else from the headers (a
    /// trailers-only answer).
    fn code(&self) -> Code {
        let raw = self
            .trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| self.headers.get("grpc-status"))
            .expect("grpc-status somewhere");
        Code::from(raw.to_str().unwrap().parse::<i32>().unwrap())
    }

    /// The status the answer ends with, details included.
    fn status(&self) -> tonic::Status {
        let fields = match &self.trailers {
            Some(t) if t.contains_key("grpc-status") => t,
            _ => &self.headers,
        };
        tonic::Status::from_header_map(fields).expect("a gRPC status")
    }

    /// The data frames decoded as `M`.
    fn decode<M: Message + Default>(&self) -> Vec<M> {
        self.messages
            .iter()
            .map(|m| M::decode(m.as_slice()).expect("a valid message"))
            .collect()
    }
}

/// One length-prefixed frame: flag byte, big-endian length, payload.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(flag);
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes base64 text that may be several padded chunks back to back (each
/// response frame is encoded on its own): every 4-character group decodes alone.
fn decode_text(text: &[u8]) -> Vec<u8> {
    assert_eq!(text.len() % 4, 0, "base64 text comes in whole groups");
    text.chunks(4)
        .flat_map(|group| {
            base64::engine::general_purpose::STANDARD
                .decode(group)
                .expect("valid base64")
        })
        .collect()
}

/// Splits a gRPC-Web response body into data frames and the trailer frame.
fn parse_body(body: &[u8]) -> (Vec<Vec<u8>>, Option<HeaderMap>, bool) {
    let (mut messages, mut trailers, mut after_trailers) = (Vec::new(), None, false);
    let mut rest = body;
    while !rest.is_empty() {
        assert!(rest.len() >= 5, "a whole frame header: {rest:?}");
        let flag = rest[0];
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        assert!(rest.len() >= 5 + len, "a whole frame");
        let payload = &rest[5..5 + len];
        rest = &rest[5 + len..];
        if trailers.is_some() {
            after_trailers = true;
        }
        if flag & 0x80 != 0 {
            trailers = Some(parse_trailers(payload));
        } else {
            assert_eq!(flag, 0, "uncompressed data frame");
            messages.push(payload.to_vec());
        }
    }
    (messages, trailers, after_trailers)
}

/// A trailer frame's payload: HTTP/1-style `name: value` lines ending in CRLF.
fn parse_trailers(payload: &[u8]) -> HeaderMap {
    let text = std::str::from_utf8(payload).expect("trailers are text");
    let mut map = HeaderMap::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').expect("name: value");
        map.append(
            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    map
}

/// POSTs `message` to `path` the way a gRPC-Web browser client does.
async fn web_call(
    gw: &Gateway,
    path: &str,
    message: &impl Message,
    wire: Wire,
    headers: &[(&str, &str)],
) -> WebReply {
    web_call_raw(gw, path, &frame(0, &message.encode_to_vec()), wire, headers).await
}

/// As [`web_call`], with the request body's frames given.
async fn web_call_raw(
    gw: &Gateway,
    path: &str,
    frames: &[u8],
    wire: Wire,
    headers: &[(&str, &str)],
) -> WebReply {
    read_reply(web_send(gw, path, frames, wire, headers).await, wire).await
}

/// Sends a gRPC-Web call; returns once the response headers are in.
async fn web_send(
    gw: &Gateway,
    path: &str,
    frames: &[u8],
    wire: Wire,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let (content_type, body) = match wire {
        Wire::Binary => ("application/grpc-web+proto", frames.to_vec()),
        Wire::Text => (
            "application/grpc-web-text",
            base64::engine::general_purpose::STANDARD
                .encode(frames)
                .into_bytes(),
        ),
    };
    let mut req = reqwest::Client::new()
        .post(format!("http://{}{path}", gw.addr))
        .header("content-type", content_type)
        // The answer's encoding follows `accept`, as grpc-web clients send it.
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .header("x-user-agent", "grpc-web-javascript/0.1")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("the gateway answers")
}

/// Reads and parses the whole answer.
async fn read_reply(resp: reqwest::Response, wire: Wire) -> WebReply {
    let (http, version, headers) = (resp.status(), resp.version(), resp.headers().clone());
    let raw = resp.bytes().await.expect("a whole body");
    let bytes = match wire {
        Wire::Binary => raw.to_vec(),
        Wire::Text => decode_text(&raw),
    };
    let (messages, trailers, after_trailers) = parse_body(&bytes);
    WebReply {
        http,
        version,
        headers,
        messages,
        trailers,
        after_trailers,
    }
}

fn get_seed_backup() -> pb::GetBackupRequest {
    pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    }
}

fn assert_seed_backup(reply: &WebReply) {
    assert_eq!(reply.http, reqwest::StatusCode::OK);
    assert_eq!(reply.code(), Code::Ok, "{:?}", reply.status());
    let got: Vec<pb::GetBackupResponse> = reply.decode();
    assert_eq!(got.len(), 1, "one data frame");
    let backup = got[0].backup.as_ref().expect("a backup");
    assert_eq!(backup.id, BACKUP);
    assert_eq!(backup.enterprise_project_id, "0");
    assert_eq!(backup.resource_size, 40);
    assert_eq!(
        backup.children[0].extend_info.as_ref().unwrap().snapshot_id,
        "5230a977-1a94-4092-8edd-519303a44cda"
    );
}

#[tokio::test]
async fn a_grpc_web_unary_call_over_http1() {
    let gw = gateway(10, unchanged).await;
    let reply = web_call(&gw, GET_BACKUP, &get_seed_backup(), Wire::Binary, &[]).await;
    assert_eq!(
        reply.version,
        reqwest::Version::HTTP_11,
        "a browser's HTTP/1.1"
    );
    assert_eq!(
        reply.headers["content-type"], "application/grpc-web+proto",
        "answered in kind"
    );
    assert_seed_backup(&reply);
    let trailers = reply.trailers.as_ref().expect("a trailer frame");
    assert_eq!(trailers["grpc-status"], "0");
    assert!(!reply.after_trailers, "the trailer frame is last");

    // The caller's deadline travels as for native gRPC.
    let reply = web_call(
        &gw,
        GET_BACKUP,
        &get_seed_backup(),
        Wire::Binary,
        &[("grpc-timeout", "5S")],
    )
    .await;
    assert_seed_backup(&reply);
    let reply = web_call(
        &gw,
        GET_BACKUP,
        &get_seed_backup(),
        Wire::Binary,
        &[("grpc-timeout", "soon")],
    )
    .await;
    assert_eq!(
        reply.code(),
        Code::InvalidArgument,
        "malformed grpc-timeout"
    );

    // Native gRPC (HTTP/2) on the same port is unaffected.
    let native = gw
        .backups()
        .get_backup(get_seed_backup())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(native.backup.unwrap().id, BACKUP);
}

#[tokio::test]
async fn grpc_web_text_is_base64() {
    let gw = gateway(10, unchanged).await;
    let reply = web_call(&gw, GET_BACKUP, &get_seed_backup(), Wire::Text, &[]).await;
    assert_eq!(
        reply.headers["content-type"],
        "application/grpc-web-text+proto"
    );
    assert_seed_backup(&reply);
    assert_eq!(reply.trailers.as_ref().unwrap()["grpc-status"], "0");
}

#[tokio::test]
async fn errors_carry_status_message_and_details() {
    let gw = gateway(10, unchanged).await;
    for wire in [Wire::Binary, Wire::Text] {
        let reply = web_call(
            &gw,
            GET_BACKUP,
            &pb::GetBackupRequest {
                project_id: String::new(),
                backup_id: "../etc/passwd".into(),
                region: String::new(),
            },
            wire,
            &[],
        )
        .await;
        assert_eq!(
            reply.http,
            reqwest::StatusCode::OK,
            "gRPC errors are HTTP 200"
        );
        // A call failing before any message is answered trailers-only, as in
        // native gRPC: the status travels in the response headers (which the
        // gRPC-Web protocol allows and clients read; CORS exposes them) and the
        // body is empty. Errors after messages use the trailer frame (see the
        // watch tests below).
        assert!(reply.messages.is_empty(), "no data frame");
        assert!(reply.trailers.is_none(), "trailers-only");
        let h = &reply.headers;
        assert_eq!(h["grpc-status"], "3", "INVALID_ARGUMENT");
        assert!(!h["grpc-message"].is_empty());
        assert!(h.contains_key("grpc-status-details-bin"));
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/grpc-web"),
            "{wire:?}: still a gRPC-Web answer"
        );
        let status = reply.status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&status), ["backup_id"], "{wire:?}");
    }

    // Not found upstream: the same shape, another code.
    let reply = web_call(
        &gw,
        GET_BACKUP,
        &pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: "00000000-0000-4000-8000-000000000000".into(),
            region: String::new(),
        },
        Wire::Binary,
        &[],
    )
    .await;
    assert_eq!(reply.code(), Code::NotFound, "{:?}", reply.status());
}

#[tokio::test]
async fn the_size_limit_counts_decoded_frames() {
    let gw = gateway(10, |s| s.transport.max_request_bytes = 1024).await;
    // 1000 bytes of message: within the limit, though its base64 text is not.
    let near = pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: "x".repeat(997),
        region: String::new(),
    };
    assert_eq!(near.encoded_len(), 1000);
    for wire in [Wire::Binary, Wire::Text] {
        let reply = web_call(&gw, GET_BACKUP, &near, wire, &[]).await;
        assert_eq!(
            reply.code(),
            Code::InvalidArgument,
            "{wire:?}: too long an id"
        );
    }
    let over = pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: "x".repeat(1100),
        region: String::new(),
    };
    for wire in [Wire::Binary, Wire::Text] {
        let reply = web_call(&gw, GET_BACKUP, &over, wire, &[]).await;
        assert_eq!(
            reply.code(),
            Code::ResourceExhausted,
            "{wire:?}: {:?}",
            reply.status()
        );
    }
}

#[tokio::test]
async fn server_streaming_yields_data_frames_then_the_trailer_frame() {
    let gw = gateway(20, unchanged).await;
    let request = pb::StreamBackupsRequest {
        page_size: Some(7),
        ..Default::default()
    };
    let mut native = gw
        .backups()
        .stream_backups(request.clone())
        .await
        .unwrap()
        .into_inner();
    let mut expected = Vec::new();
    while let Some(m) = native.message().await.unwrap() {
        expected.push(m.backup.unwrap().id);
    }
    assert!(expected.len() > 20, "the fleet and the seeds");

    for wire in [Wire::Binary, Wire::Text] {
        let reply = web_call(&gw, STREAM_BACKUPS, &request, wire, &[]).await;
        assert_eq!(reply.code(), Code::Ok, "{:?}", reply.status());
        let got: Vec<String> = reply
            .decode::<pb::StreamBackupsResponse>()
            .into_iter()
            .map(|m| m.backup.unwrap().id)
            .collect();
        assert_eq!(
            got, expected,
            "{wire:?}: one data frame per backup, in order"
        );
        assert_eq!(reply.trailers.as_ref().unwrap()["grpc-status"], "0");
        assert!(!reply.after_trailers, "the trailer frame is last");
    }
}

#[tokio::test]
async fn health_and_reflection_speak_grpc_web_too() {
    let gw = gateway(10, unchanged).await;
    let reply = web_call(
        &gw,
        "/grpc.health.v1.Health/Check",
        &tonic_health::pb::HealthCheckRequest {
            service: "cbr.gateway.v1.BackupService".into(),
        },
        Wire::Binary,
        &[],
    )
    .await;
    assert_eq!(reply.code(), Code::Ok);
    let health: Vec<tonic_health::pb::HealthCheckResponse> = reply.decode();
    assert_eq!(
        health[0].status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // Reflection is a bidi stream; one request and the end of the request
    // stream is all gRPC-Web can send, and all it needs.
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, ServerReflectionResponse, server_reflection_request,
        server_reflection_response,
    };
    let reply = web_call(
        &gw,
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        &ServerReflectionRequest {
            host: String::new(),
            message_request: Some(server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        Wire::Text,
        &[],
    )
    .await;
    assert_eq!(reply.code(), Code::Ok, "{:?}", reply.status());
    let listed: Vec<ServerReflectionResponse> = reply.decode();
    let Some(server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        &listed[0].message_response
    else {
        panic!("a service list: {listed:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "cbr.gateway.v1.BackupService")
    );
}

/// A CORS preflight as a browser sends it before a gRPC-Web call.
async fn preflight(gw: &Gateway, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("http://{}{GET_BACKUP}", gw.addr),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,grpc-timeout,x-auth-token,x-grpc-web,x-user-agent",
        )
        .send()
        .await
        .unwrap()
}

/// A header's comma-separated values, lower-cased.
fn listed(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let gw = gateway(10, app_only).await;

    let ok = preflight(&gw, APP).await;
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert_eq!(listed(h, "access-control-allow-methods"), ["post"]);
    let allowed = listed(h, "access-control-allow-headers");
    for name in [
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "x-auth-token",
        "x-request-id",
        "traceparent",
        "tracestate",
    ] {
        assert!(allowed.iter().any(|a| a == name), "{name} in {allowed:?}");
    }
    assert_eq!(h["access-control-max-age"], "7200");
    assert!(
        listed(h, "vary").iter().any(|v| v == "origin"),
        "caches keep origins apart"
    );

    let other = preflight(&gw, "https://evil.example").await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let reply = web_call(
        &gw,
        GET_BACKUP,
        &get_seed_backup(),
        Wire::Binary,
        &[("origin", APP)],
    )
    .await;
    assert_seed_backup(&reply);
    assert_eq!(reply.headers["access-control-allow-origin"], APP);
    let exposed = listed(&reply.headers, "access-control-expose-headers");
    for name in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
    ] {
        assert!(exposed.iter().any(|e| e == name), "{name} in {exposed:?}");
    }

    let reply = web_call(
        &gw,
        GET_BACKUP,
        &get_seed_backup(),
        Wire::Binary,
        &[("origin", "https://evil.example")],
    )
    .await;
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn any_origin_with_a_star_only_without_cloud_credentials() {
    // Holding cloud credentials, `*` would let every page a browser visits
    // act with them: the gateway refuses to start.
    let err = TestStack::builder()
        .upstream("http://127.0.0.1:9")
        .settings(|s| s.transport.cors_allowed_origins = CorsOrigins::Any)
        .serve_error()
        .await;
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--cors-allowed-origins"), "{err}");

    // Callers that bring their own IAM tokens risk only themselves: any origin.
    let gw = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 10,
            ..Default::default()
        })
        .project(PROJECT)
        .without_credentials()
        .settings(|s| s.transport.cors_allowed_origins = CorsOrigins::Any)
        .spawn()
        .await;
    let ok = preflight(&gw, "https://anywhere.example").await;
    assert!(ok.status().is_success());
    assert_eq!(ok.headers()["access-control-allow-origin"], "*");
    let reply = web_call(
        &gw,
        GET_BACKUP,
        &get_seed_backup(),
        Wire::Binary,
        &[
            ("origin", "https://anywhere.example"),
            ("x-auth-token", "caller-token"),
        ],
    )
    .await;
    assert_seed_backup(&reply);
}

#[tokio::test]
async fn without_the_flag_browsers_are_refused() {
    let gw = gateway(10, unchanged).await;
    let pre = preflight(&gw, APP).await;
    assert!(
        pre.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        pre.headers()
    );
    // A page from any origin gets nothing: CORS headers alone would not stop
    // a page the browser treats as same-origin.
    let reply = web_call(
        &gw,
        GET_BACKUP,
        &get_seed_backup(),
        Wire::Binary,
        &[("origin", APP)],
    )
    .await;
    assert_eq!(reply.code(), Code::PermissionDenied, "{:?}", reply.status());
    assert!(reply.messages.is_empty(), "no backup");
    assert_eq!(
        details(&reply.status()).error_info().unwrap().reason,
        "ORIGIN_NOT_ALLOWED"
    );
    assert!(
        reply
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
    // Clients that are not browsers send no Origin and are served.
    let reply = web_call(&gw, GET_BACKUP, &get_seed_backup(), Wire::Binary, &[]).await;
    assert_seed_backup(&reply);
}

#[tokio::test]
async fn a_dns_rebinding_page_gets_nothing() {
    // A page on evil.test whose name now resolves to the gateway: the browser
    // thinks it talks to evil.test, sends Host and Origin evil.test, and asks
    // no CORS question. The listed origin is served; evil.test is not.
    let gw = gateway(10, app_only).await;
    let port = gw.addr.port();
    let evil = format!("http://evil.test:{port}");
    let host = format!("evil.test:{port}");
    for wire in [Wire::Binary, Wire::Text] {
        let reply = web_call(
            &gw,
            GET_BACKUP,
            &get_seed_backup(),
            wire,
            &[("origin", &evil), ("host", &host)],
        )
        .await;
        assert_eq!(reply.code(), Code::PermissionDenied, "{wire:?}");
        assert!(reply.messages.is_empty(), "{wire:?}: no backup");
        assert!(reply.status().message().contains("evil.test"));
    }
    let reply = web_call(
        &gw,
        GET_BACKUP,
        &get_seed_backup(),
        Wire::Binary,
        &[("origin", APP)],
    )
    .await;
    assert_seed_backup(&reply);
}

/// A new checkpoint, PROTECTING for the rest of the test.
async fn protecting_checkpoint(gw: &Gateway) -> String {
    let cp = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                name: Some("grpc-web".into()),
                resources: vec![SERVER.into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(cp.status(), pb::CheckpointStatus::Protecting);
    cp.id
}

const WATCH: &str = "/cbr.gateway.v1.CheckpointService/WatchCheckpoint";

fn watch_request(id: &str) -> Vec<u8> {
    frame(
        0,
        &pb::WatchCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: id.into(),
            include_backups: false,
            region: String::new(),
        }
        .encode_to_vec(),
    )
}

#[tokio::test]
async fn grpc_timeout_ends_a_watch_in_the_trailer_frame() {
    let gw = gateway(10, unchanged).await;
    let id = protecting_checkpoint(&gw).await;
    for wire in [Wire::Binary, Wire::Text] {
        let started = std::time::Instant::now();
        let reply = web_call_raw(
            &gw,
            WATCH,
            &watch_request(&id),
            wire,
            &[("grpc-timeout", "700m")],
        )
        .await;
        assert!(started.elapsed() >= Duration::from_millis(700), "{wire:?}");
        let events: Vec<pb::WatchCheckpointResponse> = reply.decode();
        assert!(!events.is_empty(), "{wire:?}: the current state first");
        assert_eq!(
            events[0].checkpoint.as_ref().unwrap().status(),
            pb::CheckpointStatus::Protecting
        );
        let trailers = reply.trailers.as_ref().expect("a trailer frame");
        assert_eq!(trailers["grpc-status"], "4", "{wire:?}: DEADLINE_EXCEEDED");
        assert!(!reply.after_trailers);
    }
}

#[tokio::test]
async fn the_drain_ends_a_watch_with_unavailable_in_the_trailer_frame() {
    let gw = gateway(10, unchanged).await;
    let id = protecting_checkpoint(&gw).await;
    let resp = web_send(&gw, WATCH, &watch_request(&id), Wire::Binary, &[]).await;
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let reading = tokio::spawn(read_reply(resp, Wire::Binary));
    // Let the first message go out, then shut down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(10), gw.stop())
        .await
        .expect("the gateway stops without waiting for the watch");
    let reply = reading.await.unwrap();
    assert!(!reply.messages.is_empty(), "the current state first");
    let trailers = reply.trailers.as_ref().expect("a trailer frame");
    assert_eq!(trailers["grpc-status"], "14", "UNAVAILABLE");
}
