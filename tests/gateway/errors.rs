//! Every row of the contract's error table (§4), through the real server: the gRPC
//! code, the message (upstream `error_msg`), and the `ErrorInfo` / `RequestInfo`
//! details. Transport failures use real sockets: a closed port, a server that
//! resets the connection, a server that stalls.

use crate::common;

use std::time::{Duration, Instant};

use cbr_gateway::proto as pb;
use common::*;
use tokio::{io::AsyncReadExt, net::TcpListener};
use tonic::Code;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{any, method},
};

fn get_backup() -> pb::GetBackupRequest {
    pb::GetBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        region: String::new(),
    }
}

fn error_reply(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(body)
        .insert_header("X-Request-Id", format!("req-{status}"))
}

/// What a failed call must carry.
struct Expect<'a> {
    code: Code,
    message: &'a str,
    reason: &'a str,
    domain: &'a str,
    http_status: Option<&'a str>,
    request_id: Option<&'a str>,
}

fn check(status: &tonic::Status, want: &Expect<'_>) {
    assert_eq!(status.code(), want.code, "{status:?}");
    assert_eq!(status.message(), want.message);
    let d = details(status);
    let info = d.error_info().expect("ErrorInfo detail");
    assert_eq!(info.reason, want.reason);
    assert_eq!(info.domain, want.domain);
    assert_eq!(
        info.metadata.get("http_status").map(String::as_str),
        want.http_status
    );
    assert_eq!(
        d.request_info().map(|r| r.request_id.as_str()),
        want.request_id
    );
}

#[tokio::test]
async fn every_upstream_status_maps_as_the_contract_says() {
    let cbr = "cbr.myhuaweicloud.com";
    let rows: Vec<(u16, serde_json::Value, Code, &str, &str)> = vec![
        (
            400,
            serde_json::json!({"error_code": "BackupService.9900", "error_msg": "Parameter verification failed."}),
            Code::InvalidArgument,
            "BackupService.9900",
            "Parameter verification failed.",
        ),
        (
            400,
            serde_json::json!({"error_code": "BackupService.6125", "error_msg": "A backup task is in progress."}),
            Code::FailedPrecondition,
            "BackupService.6125",
            "A backup task is in progress.",
        ),
        (
            400,
            serde_json::json!({"error_code": "BackupService.6105", "error_msg": "Vault Not Found"}),
            Code::NotFound,
            "BackupService.6105",
            "Vault Not Found",
        ),
        (
            401,
            serde_json::json!({"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: decrypt token fail", "request_id": "x"}),
            Code::Unauthenticated,
            "APIGW.0301",
            "Incorrect IAM authentication information: decrypt token fail",
        ),
        (
            401,
            serde_json::json!({"unauthorized": {"code": "401", "message": "Malformed request url"}}),
            Code::NotFound,
            "401",
            "Malformed request url",
        ),
        (
            403,
            serde_json::json!({"error_code": "BackupService.8600", "error_msg": "Not authenticated."}),
            Code::PermissionDenied,
            "BackupService.8600",
            "Not authenticated.",
        ),
        (
            404,
            serde_json::json!({"error_code": "BackupService.6200", "error_msg": "The backup does not exist."}),
            Code::NotFound,
            "BackupService.6200",
            "The backup does not exist.",
        ),
        (
            409,
            serde_json::json!({"error_code": "BackupService.0409", "error_msg": "Conflict."}),
            Code::Aborted,
            "BackupService.0409",
            "Conflict.",
        ),
        (
            429,
            serde_json::json!({"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached."}),
            Code::ResourceExhausted,
            "APIGW.0308",
            "The throttling threshold has been reached.",
        ),
        (
            500,
            serde_json::json!({"error_code": "BackupService.9910", "error_msg": "Unknown error."}),
            Code::Internal,
            "BackupService.9910",
            "Unknown error.",
        ),
        (
            502,
            serde_json::json!({"error_code": "APIGW.0202", "error_msg": "Bad gateway."}),
            Code::Unavailable,
            "APIGW.0202",
            "Bad gateway.",
        ),
        (
            503,
            serde_json::json!({"error_code": "APIGW.0203", "error_msg": "Service unavailable."}),
            Code::Unavailable,
            "APIGW.0203",
            "Service unavailable.",
        ),
        (
            504,
            serde_json::json!({"error_code": "APIGW.0204", "error_msg": "Gateway timeout."}),
            Code::DeadlineExceeded,
            "APIGW.0204",
            "Gateway timeout.",
        ),
    ];
    for (http, body, code, reason, message) in rows {
        let upstream = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(error_reply(http, body))
            .expect(1)
            .mount(&upstream)
            .await;
        // One attempt: this is about the mapping; retries are tests/resilience.rs'.
        let gw = TestStack::builder()
            .upstream(&upstream.uri())
            .settings(|s| s.upstream.retry.max_attempts = 1)
            .spawn()
            .await;
        let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
        let request_id = format!("req-{http}");
        check(
            &status,
            &Expect {
                code,
                message,
                reason,
                domain: cbr,
                http_status: Some(&http.to_string()),
                request_id: Some(&request_id),
            },
        );
    }
}

#[tokio::test]
async fn csbs_errors_carry_the_csbs_domain() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(error_reply(
            404,
            serde_json::json!({"error_code": "CSBS.3001", "error_msg": "Checkpoint_item (x) is not found."}),
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let status = gw
        .checkpoint_items()
        .get_checkpoint_item(pb::GetCheckpointItemRequest {
            project_id: PROJECT.into(),
            checkpoint_item_id: "x".into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    check(
        &status,
        &Expect {
            code: Code::NotFound,
            message: "Checkpoint_item (x) is not found.",
            reason: "CSBS.3001",
            domain: "csbs.myhuaweicloud.com",
            http_status: Some("404"),
            request_id: Some("req-404"),
        },
    );
}

#[tokio::test]
async fn bodies_without_an_error_code_still_map() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    check(
        &status,
        &Expect {
            code: Code::Unavailable,
            message: "cbr answered HTTP 502",
            reason: "HTTP_502",
            domain: "cbr.myhuaweicloud.com",
            http_status: Some("502"),
            request_id: None,
        },
    );
}

#[tokio::test]
async fn long_upstream_messages_are_cut() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(error_reply(
            400,
            serde_json::json!({"error_code": "BackupService.9900", "error_msg": "x".repeat(20_000)}),
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().chars().count() <= 301,
        "{}",
        status.message().len()
    );
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let (_held, port) = refused_port();
    let gw = TestStack::builder()
        .upstream(&format!("http://127.0.0.1:{port}"))
        .spawn()
        .await;
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    check(
        &status,
        &Expect {
            code: Code::Unavailable,
            message: "could not connect to cbr",
            reason: "UPSTREAM_UNAVAILABLE",
            domain: "cbr.myhuaweicloud.com",
            http_status: None,
            request_id: None,
        },
    );
}

#[tokio::test]
async fn connection_reset_is_unavailable() {
    // Accepts, reads the request, and closes without answering.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        }
    });
    let gw = TestStack::builder()
        .upstream(&format!("http://{addr}"))
        .spawn()
        .await;
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "UPSTREAM_UNAVAILABLE"
    );
}

#[tokio::test]
async fn upstream_timeout_is_deadline_exceeded() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&upstream)
        .await;
    let gw = TestStack::builder()
        .upstream(&upstream.uri())
        .settings(|s| s.upstream.request_timeout = Duration::from_millis(200))
        .spawn()
        .await;
    let started = Instant::now();
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    check(
        &status,
        &Expect {
            code: Code::DeadlineExceeded,
            message: "cbr did not answer in time",
            reason: "UPSTREAM_TIMEOUT",
            domain: "cbr.myhuaweicloud.com",
            http_status: None,
            request_id: None,
        },
    );
}

#[tokio::test]
async fn the_callers_deadline_bounds_the_upstream_call() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let started = Instant::now();
    let outcome = raw_grpc_call(
        gw.addr,
        "/cbr.gateway.v1.BackupService/GetBackup",
        &get_backup(),
        &[("grpc-timeout", "300m")],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(
        outcome.code,
        Code::DeadlineExceeded as i32,
        "{}",
        outcome.message
    );
    assert_eq!(outcome.message, "deadline expired before cbr answered");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    // A malformed grpc-timeout is refused outright.
    let outcome = raw_grpc_call(
        gw.addr,
        "/cbr.gateway.v1.BackupService/GetBackup",
        &get_backup(),
        &[("grpc-timeout", "soon")],
    )
    .await;
    assert_eq!(outcome.code, Code::InvalidArgument as i32);
}

#[tokio::test]
async fn oversized_and_unreadable_bodies_are_internal() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("show_backup.json"), "application/json")
                .insert_header("X-Request-Id", "req-big"),
        )
        .mount(&upstream)
        .await;
    let gw = TestStack::builder()
        .upstream(&upstream.uri())
        .settings(|s| s.upstream.max_body_bytes = 1024)
        .spawn()
        .await;
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    check(
        &status,
        &Expect {
            code: Code::Internal,
            message: "cbr response is larger than 1024 bytes",
            reason: "UPSTREAM_RESPONSE_TOO_LARGE",
            domain: "cbr.myhuaweicloud.com",
            http_status: None,
            request_id: Some("req-big"),
        },
    );

    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"backup\": [1,", "application/json"),
        )
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "UPSTREAM_RESPONSE_UNREADABLE"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/steal", elsewhere.uri())),
        )
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let status = gw
        .backups()
        .get_backup(with_token(get_backup(), "secret-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    assert_eq!(details(&status).error_info().unwrap().reason, "HTTP_302");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_upstream_enum_values_do_not_fail_the_call() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"checkpoint":{"id":"c1","status":"creating","created_at":"not a time",
                "vault":{"id":"v","name":"n","resources":[{"id":"r","name":"x","type":"OS::Nova::Server",
                "protect_status":"frozen","resource_size":"12"}],"skipped_resources":null},
                "brand_new_field":{"a":1}}}"#,
            "application/json",
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let cp = gw
        .checkpoints()
        .get_checkpoint(pb::GetCheckpointRequest {
            project_id: PROJECT.into(),
            checkpoint_id: "c1".into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(cp.status, pb::CheckpointStatus::Unspecified as i32);
    assert_eq!(cp.created_at, None);
    let vault = cp.vault.unwrap();
    assert_eq!(
        vault.resources[0].protect_status,
        pb::ProtectStatus::Unspecified as i32
    );
    assert_eq!(vault.resources[0].resource_size, "12");
}

#[tokio::test]
async fn unconfigured_csbs_is_failed_precondition() {
    let upstream = MockServer::start().await;
    // A CBR endpoint but none for CSBS (as with a loopback CBR endpoint on the
    // command line: it has no `cbr.` label to derive CSBS from).
    let gw = TestStack::builder()
        .upstream(&upstream.uri())
        .settings(|s| s.upstream.csbs_endpoint = None)
        .spawn()
        .await;
    let status = gw
        .checkpoint_items()
        .get_checkpoint_item(pb::GetCheckpointItemRequest {
            project_id: PROJECT.into(),
            checkpoint_item_id: "x".into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "UPSTREAM_NOT_CONFIGURED"
    );
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

/// What a hostile or broken upstream sends where the gateway reads text:
/// a megabyte each of `error_code` and `error_msg` led by terminal escapes and
/// a forged log line, and a 100 KB request id (as large as an HTTP/1.1 header
/// gets through hyper's client; a client refuses trailers over 16 KiB).
fn hostile_error(status: u16) -> ResponseTemplate {
    let code = format!("E\u{1b}[31m{}", "C".repeat(1 << 20));
    let msg = format!(
        "\u{1b}]0;pwned\u{7}line\r\n2026-01-01T00:00:00Z INFO forged{}",
        "m".repeat(1 << 20)
    );
    ResponseTemplate::new(status)
        .set_body_json(serde_json::json!({"error_code": code, "error_msg": msg}))
        .insert_header("X-Request-Id", hostile_request_id())
}

fn hostile_request_id() -> String {
    format!("\treq-{}", "r".repeat(100_000))
}

/// The hostile request id as the gateway passes it on: trimmed, 128 characters.
fn capped_request_id() -> String {
    format!("req-{}", "r".repeat(124))
}

fn assert_printable(what: &str, text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "{what} has control characters: {:?}",
        &text[..text.len().min(200)]
    );
}

#[tokio::test]
async fn hostile_upstream_error_fields_are_capped_and_cleaned() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(hostile_error(400))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    // An answer, not a transport error: the trailers fit the client's limit.
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    let d = details(&status);
    let info = d.error_info().expect("ErrorInfo detail");
    assert_eq!(info.reason.chars().count(), 64, "{}", info.reason);
    assert!(
        info.reason.starts_with("E\u{fffd}[31mCCC") && info.reason.ends_with('…'),
        "{}",
        info.reason
    );
    assert_printable("reason", &info.reason);
    assert_eq!(info.domain, "cbr.myhuaweicloud.com");
    assert_eq!(
        info.metadata.get("http_status").map(String::as_str),
        Some("400")
    );

    // The status message keeps its own, shorter cut (300 characters and a mark).
    assert_eq!(
        status.message().chars().count(),
        301,
        "{}",
        status.message()
    );
    assert!(
        status
            .message()
            .starts_with("\u{fffd}]0;pwned\u{fffd}line  2026-01-01T00:00:00Z INFO forgedmmm"),
        "{}",
        status.message()
    );
    assert_printable("message", status.message());

    assert_eq!(
        d.request_info().map(|r| r.request_id.clone()),
        Some(capped_request_id())
    );
}

#[tokio::test]
async fn hostile_upstream_request_ids_on_success_are_capped() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("show_backup.json"), "application/json")
                .insert_header("X-Request-Id", hostile_request_id()),
        )
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let reply = gw.backups().get_backup(get_backup()).await.unwrap();
    assert_eq!(reply.get_ref().backup.as_ref().unwrap().id, BACKUP);
    assert_eq!(
        reply
            .metadata()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some(capped_request_id())
    );
}

#[tokio::test]
async fn hostile_iam_error_fields_are_capped_and_cleaned() {
    let iam = MockServer::start().await;
    // IAM's own error shape, and a blank X-Request-Id: the cleaned
    // X-Iam-Trace-Id stands in for it.
    let code = format!("4\u{0}{}", "1".repeat(1 << 20));
    let message = format!("wrong\u{1b}[8m{}", "w".repeat(1 << 20));
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": {"code": code, "message": message}}))
                .insert_header("X-Request-Id", "\t")
                .insert_header("X-Iam-Trace-Id", hostile_request_id()),
        )
        .mount(&iam)
        .await;
    let gw = TestStack::builder()
        .upstream(&iam.uri())
        .settings(|s| {
            let iam = s.upstream.cbr_endpoint.clone().unwrap();
            s.credentials = Held {
                aksk: None,
                iam: Some(iam_user(&iam, "acme", "bot", inline("pw-123"))),
            };
        })
        .spawn()
        .await;
    let status = gw.backups().get_backup(get_backup()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let d = details(&status);
    let info = d.error_info().expect("ErrorInfo detail");
    assert_eq!(info.domain, "iam.myhuaweicloud.com");
    assert_eq!(info.reason, format!("4\u{fffd}{}…", "1".repeat(61)));
    assert_eq!(status.message().chars().count(), 301);
    assert!(
        status.message().starts_with("wrong\u{fffd}[8mwww"),
        "{}",
        status.message()
    );
    assert_eq!(
        d.request_info().map(|r| r.request_id.clone()),
        Some(capped_request_id())
    );
}
