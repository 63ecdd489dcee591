//! The real signer, over HTTP: `UpstreamClient` holding AK/SK sends accepted
//! requests to a capturing server, and the simulator's verifier judges what
//! arrived (the fuzz targets have no network; this is the end-to-end half of
//! the signing properties).

use std::{net::SocketAddr, pin::Pin, sync::Arc};

use cbr_gateway::{
    domain::{self, BackupQuery},
    upstream::{AkSk, Auth, Secret, SecretSource, UpstreamClient, dto},
};
use cbr_signer as signing;
use cbr_simulator::auth::{Credentials, KeyPair};
use chrono::Utc;
use http_body::Body as _;
use proptest::{
    option,
    prelude::*,
    sample::Index,
    test_runner::{TestCaseError, TestRunner},
};
use url::Url;

use super::{
    chars, config,
    requests::{create_request, list_request, valid_id},
};
use crate::checks::signing as checks;

/// What the capture server answers: every envelope the client may expect.
const CAPTURE_REPLY: &str = r#"{"checkpoint":{},"backup":{},"checkpoint_item":{},"backups":[]}"#;

type Captured = (http::request::Parts, Vec<u8>);

/// An HTTP/1.1 server that records each request and answers 200.
async fn capture_server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Captured>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the capture server");
    let addr = listener.local_addr().expect("capture server address");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let (parts, mut body) = req.into_parts();
                            let mut bytes = Vec::new();
                            while let Some(frame) =
                                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                            {
                                if let Ok(data) = frame?.into_data() {
                                    bytes.extend_from_slice(&data);
                                }
                            }
                            let _ = tx.send((parts, bytes));
                            let reply = http::Response::builder()
                                .header("content-type", "application/json")
                                .body(CAPTURE_REPLY.to_owned());
                            Ok::<_, hyper::Error>(reply.unwrap_or_default())
                        }
                    });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, rx)
}

/// One upstream call the gateway makes, with valid input.
#[derive(Debug, Clone)]
enum Call {
    GetCheckpoint(String),
    GetBackup(String),
    GetCheckpointItem(String),
    ListBackups(Box<BackupQuery>),
    CreateCheckpoint(Box<domain::CreateCheckpoint>),
}

#[derive(Debug, Clone)]
struct HttpCase {
    project: String,
    call: Call,
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
}

fn http_case() -> BoxedStrategy<HttpCase> {
    let call = prop_oneof![
        valid_id().prop_map(Call::GetCheckpoint),
        valid_id().prop_map(Call::GetBackup),
        valid_id().prop_map(Call::GetCheckpointItem),
        list_request(true).prop_filter_map("accepted", |(req, default)| {
            domain::check_list_backups(&req, default.as_deref())
                .ok()
                .map(|(_, q)| Call::ListBackups(Box::new(q)))
        }),
        create_request(true).prop_filter_map("accepted", |(req, default)| {
            domain::check_create_checkpoint(req, default.as_deref())
                .ok()
                .map(|c| Call::CreateCheckpoint(Box::new(c)))
        }),
    ];
    (
        valid_id(),
        call,
        "[A-Z0-9]{20}",
        prop_oneof![
            "[!-~]{1,40}",
            chars(10).prop_filter("non-empty", |s| !s.is_empty())
        ],
        option::of("[A-Za-z0-9+/=_-]{1,48}"),
    )
        .prop_map(
            |(project, call, access_key, secret_key, security_token)| HttpCase {
                project,
                call,
                access_key,
                secret_key,
                security_token,
            },
        )
        .boxed()
}

/// The real signer (`UpstreamClient` with AK/SK) against the simulator's
/// verifier, through a real HTTP exchange: every request verifies, its signed
/// headers are the documented set, and one changed byte of its body or of a
/// signed header does not verify.
#[test]
fn the_gateway_signer_verifies_in_the_simulator_over_http() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (addr, captured) = rt.block_on(capture_server());
    let captured = std::cell::RefCell::new(captured);
    let mut upstream = crate::common::settings().upstream;
    upstream.cbr_endpoint = Some(Url::parse(&format!("http://{addr}")).unwrap());
    upstream.csbs_endpoint = Some(Url::parse(&format!("http://{addr}/csbs/")).unwrap());
    let client = UpstreamClient::new(upstream).expect("client");
    let mut runner = TestRunner::new(config(48));
    let result = runner.run(
        &(
            http_case(),
            any::<Index>(),
            any::<Index>(),
            1..=255u8,
            0x21..=0x7eu8,
        ),
        |(case, at, header, flip, to)| {
            rt.block_on(async {
                let auth = Auth::AkSk(Arc::new(AkSk {
                    access_key: case.access_key.clone(),
                    secret_key: SecretSource::Inline(Secret::new(case.secret_key.clone())),
                    security_token: case
                        .security_token
                        .clone()
                        .map(|t| SecretSource::Inline(Secret::new(t))),
                }));
                let p = case.project.as_str();
                let sent = match &case.call {
                    Call::GetCheckpoint(id) => {
                        client.get_checkpoint(&auth, None, p, id).await.map(drop)
                    }
                    Call::GetBackup(id) => client.get_backup(&auth, None, p, id).await.map(drop),
                    Call::GetCheckpointItem(id) => client
                        .get_checkpoint_item(&auth, None, p, id)
                        .await
                        .map(drop),
                    Call::ListBackups(q) => client.list_backups(&auth, None, p, q).await.map(drop),
                    Call::CreateCheckpoint(c) => {
                        let body = dto::CreateCheckpointBody::from(&**c);
                        client
                            .create_checkpoint(&auth, None, p, &body)
                            .await
                            .map(drop)
                    }
                };
                prop_assert!(sent.is_ok(), "{:?}", sent);
                let mut captured = captured.borrow_mut();
                let (parts, body) = captured
                    .try_recv()
                    .map_err(|e| TestCaseError::fail(format!("nothing captured: {e}")))?;
                prop_assert!(captured.try_recv().is_err(), "more than one request");
                assert_http_request_verifies(&case, &parts, &body, at, header, flip, to)
            })
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn assert_http_request_verifies(
    case: &HttpCase,
    parts: &http::request::Parts,
    body: &[u8],
    at: Index,
    header: Index,
    flip: u8,
    to: u8,
) -> Result<(), TestCaseError> {
    let creds = Credentials::new(
        &[KeyPair {
            access_key: case.access_key.clone(),
            secret_key: case.secret_key.clone(),
            security_token: case.security_token.clone(),
        }],
        &[],
    );
    let now = Utc::now();
    prop_assert_eq!(creds.check(parts, body, now), Ok(()));

    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(signing::parse_authorization)
        .ok_or_else(|| TestCaseError::fail("no parsable Authorization header"))?;
    let mut want = vec!["host", "x-project-id", "x-sdk-date"];
    if matches!(case.call, Call::CreateCheckpoint(_)) {
        want.push("content-type");
    }
    if case.security_token.is_some() {
        want.push("x-security-token");
    }
    want.sort_unstable();
    prop_assert_eq!(&authorization.signed_headers, &want);
    prop_assert_eq!(
        parts
            .headers
            .get("x-project-id")
            .and_then(|v| v.to_str().ok()),
        Some(case.project.as_str())
    );

    let mut changed = body.to_vec();
    if changed.is_empty() {
        changed.push(flip);
    } else {
        let i = at.index(changed.len());
        changed[i] ^= flip;
    }
    prop_assert!(
        creds.check(parts, &changed, now).is_err(),
        "body change verified"
    );

    let name = header.get(&authorization.signed_headers);
    let value = parts
        .headers
        .get(name.as_str())
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(new) = checks::with_byte(value, at.index(value.len().max(1)), to)
        && new.trim() != value.trim()
    {
        let mut tampered = parts.clone();
        let new_value = http::HeaderValue::from_str(&new)
            .map_err(|e| TestCaseError::fail(format!("{new:?}: {e}")))?;
        tampered.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            new_value,
        );
        prop_assert!(
            creds.check(&tampered, body, now).is_err(),
            "changed {} verified: {:?}",
            name,
            new
        );
    }
    Ok(())
}
