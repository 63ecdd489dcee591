//! Safe to expose (contract §8), black-box: callers of every identity kind
//! against a policy, the policy's reload, fail-closed start, per-caller
//! fairness, the stream budget, hostile requests (their memory read from
//! `/proc`), slow and silent connections, and secrets in `--help`.
//! Mutual-TLS identities are in `tests/tls.rs`, browsers in
//! `tests/grpc_web.rs`, shutdown and creates in `tests/idempotency.rs` and
//! `tests/shutdown.rs`, hostile upstreams in `tests/errors.rs`,
//! `tests/stream_backups.rs` and `tests/credentials.rs`.

use crate::common;

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use cbr_gateway::access::JwtSettings;
use cbr_gateway::proto as pb;
use cbr_simulator::SimulatorSettings;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use prost::Message;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Code, transport::Channel};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "cbr-gateway";
const OTHER_PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cbr-gateway-security-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        // Write-then-rename, as editors and ConfigMap updates do: the gateway
        // never reads a half-written file.
        let tmp = self.0.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Keys that sign test JWTs.
#[derive(Clone, Copy)]
enum Key {
    /// In the JWKS as `rsa-1`.
    Rsa,
    /// In the JWKS as `ec-1`.
    Ec,
    /// Not in the JWKS.
    OtherRsa,
}

/// A JWT signed by `key` (under `kid`) carrying `claims`.
fn jwt(key: Key, kid: &str, claims: &Value) -> String {
    let (alg, pem) = match key {
        Key::Rsa => (Algorithm::RS256, "jwt/rsa.pem"),
        Key::OtherRsa => (Algorithm::RS256, "jwt/other-rsa.pem"),
        Key::Ec => (Algorithm::ES256, "jwt/ec.pem"),
    };
    let pem = fixture(pem);
    let key = match key {
        Key::Ec => EncodingKey::from_ec_pem(pem.as_bytes()),
        Key::Rsa | Key::OtherRsa => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Valid claims for `sub`, expiring in an hour.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600, "iat": now()})
}

/// A request carrying `authorization: Bearer <token>`.
fn bearer<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn with_header<T>(msg: T, name: &'static str, value: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(name, value.parse().unwrap());
    req
}

fn get_backup() -> pb::GetBackupRequest {
    pb::GetBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        region: String::new(),
    }
}

fn reason(status: &tonic::Status) -> String {
    details(status)
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// A small simulator (20 backups; new ones never finish).
fn small_simulator() -> SimulatorSettings {
    SimulatorSettings {
        fleet_size: 20,
        backup_duration: Duration::from_secs(600),
        ..Default::default()
    }
}

/// A small simulator and a gateway with `edit` applied to its settings.
async fn small_stack(edit: impl FnOnce(&mut Settings) + Send + 'static) -> TestStack {
    TestStack::builder()
        .simulator(small_simulator())
        .settings(edit)
        .spawn()
        .await
}

/// Bearer JWTs verified against the fixture JWKS.
fn jwt_settings() -> JwtSettings {
    JwtSettings {
        jwks_file: fixture_path("jwt/jwks.json").into(),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
    }
}

const POLICY: &str = r#"
rules:
  - callers: ["reporting-job", "spiffe://cluster.local/ns/jobs/sa/*",
              "web.default.serviceaccount.identity.linkerd.cluster.local"]
    projects: ["4229d7a45436489f8c3dc2b1d35d4987"]
    methods: ["read"]
  - callers: ["creator"]
    projects: ["*"]
    methods: ["write", "cbr.gateway.v1.BackupService/*"]
"#;

#[tokio::test]
async fn jwt_callers_are_verified_and_judged_by_the_policy() {
    let dir = TempDir::new();
    let policy = dir.write("policy.yaml", POLICY);
    let gw = small_stack(|s| {
        s.access.authz_policy = Some(policy);
        s.access.jwt = Some(jwt_settings());
    })
    .await;
    let mut backups = gw.backups();

    // Valid RS256 and ES256 tokens name the caller; the policy lets it read.
    for (key, kid) in [(Key::Rsa, "rsa-1"), (Key::Ec, "ec-1")] {
        let token = jwt(key, kid, &claims("reporting-job"));
        let got = backups
            .get_backup(bearer(get_backup(), &token))
            .await
            .unwrap();
        assert_eq!(got.into_inner().backup.unwrap().id, BACKUP);
    }
    let reader = jwt(Key::Rsa, "rsa-1", &claims("reporting-job"));

    // No rule for the method at all: refused before the request is even
    // validated (this one has no vault).
    let status = gw
        .checkpoints()
        .create_checkpoint(bearer(pb::CreateCheckpointRequest::default(), &reader))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason(&status), "CALLER_NOT_ALLOWED");
    assert!(status.message().contains("reporting-job"), "{status:?}");

    // A rule for the method but not the project: refused once the project is known.
    let mut other = get_backup();
    other.project_id = OTHER_PROJECT.into();
    let status = backups
        .get_backup(bearer(other.clone(), &reader))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains(OTHER_PROJECT), "{status:?}");
    // The creator may write and read anywhere.
    let creator = jwt(Key::Ec, "ec-1", &claims("creator"));
    let status = backups
        .get_backup(bearer(other, &creator))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::NotFound,
        "allowed, and upstream answers: {status:?}"
    );

    // Present but invalid: UNAUTHENTICATED, never a fall-back to anonymous.
    let mut expired = claims("reporting-job");
    expired["exp"] = json!(now() - 3600);
    let mut early = claims("reporting-job");
    early["nbf"] = json!(now() + 3600);
    let mut wrong_audience = claims("reporting-job");
    wrong_audience["aud"] = json!("another-service");
    let mut wrong_issuer = claims("reporting-job");
    wrong_issuer["iss"] = json!("https://elsewhere.test");
    let mut no_expiry = claims("reporting-job");
    no_expiry.as_object_mut().unwrap().remove("exp");
    let cases = [
        (jwt(Key::Rsa, "rsa-1", &expired), "expired"),
        (jwt(Key::Rsa, "rsa-1", &early), "not valid yet"),
        (jwt(Key::Rsa, "rsa-1", &wrong_audience), "wrong audience"),
        (jwt(Key::Ec, "ec-1", &wrong_issuer), "wrong issuer"),
        (jwt(Key::Rsa, "rsa-1", &no_expiry), "required claim"),
        // Signed by a key the JWKS does not hold, under a kid it does.
        (
            jwt(Key::OtherRsa, "rsa-1", &claims("reporting-job")),
            "bad signature",
        ),
        (
            jwt(Key::Rsa, "unknown-kid", &claims("reporting-job")),
            "no known key",
        ),
        // An HS256 token "signed" with the RSA key's public modulus: the key
        // only verifies the algorithm it is for.
        (
            jsonwebtoken::encode(
                &Header {
                    kid: Some("rsa-1".into()),
                    ..Header::new(Algorithm::HS256)
                },
                &claims("reporting-job"),
                &EncodingKey::from_secret(b"public-key-bytes").unwrap(),
            )
            .unwrap(),
            "no known key",
        ),
        ("not.a.jwt".to_owned(), "well-formed"),
    ];
    for (token, says) in cases {
        let status = backups
            .get_backup(bearer(get_backup(), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{says}: {status:?}");
        assert_eq!(reason(&status), "CALLER_UNAUTHENTICATED");
        assert!(status.message().contains(says), "{says}: {status:?}");
    }
    let status = backups
        .get_backup(with_header(
            get_backup(),
            "authorization",
            "Basic dXNlcjpwdw==",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // With no credential at all the caller is `anonymous`, which no rule names.
    let status = backups.get_backup(get_backup()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("anonymous"), "{status:?}");

    // Health and reflection are always allowed.
    let mut health = tonic_health::pb::health_client::HealthClient::new(gw.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
}

/// A local address that is not loopback, if this machine has one: a peer
/// connecting from it is not the sidecar. (The connection never leaves the
/// machine; finding it sends nothing.)
fn non_loopback_address() -> Option<std::net::IpAddr> {
    // A UDP "connect" only picks the route and the source address.
    ["10.255.255.254:9", "192.0.2.1:9", "198.51.100.1:9"]
        .into_iter()
        .find_map(|target| {
            let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
            probe.connect(target).ok()?;
            let ip = probe.local_addr().ok()?.ip();
            (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
        })
}

#[tokio::test]
async fn forwarded_identities_are_trusted_only_when_asked_and_from_loopback() {
    let dir = TempDir::new();
    let policy = dir.write("policy.yaml", POLICY);
    let xfcc = "By=spiffe://cluster.local/ns/backup/sa/cbr-gateway;Hash=0a1b;Subject=\"\";URI=spiffe://cluster.local/ns/jobs/sa/reporter";
    let stranger = "By=spiffe://cluster.local/ns/backup/sa/cbr-gateway;URI=spiffe://cluster.local/ns/other/sa/intruder";
    let l5d = "web.default.serviceaccount.identity.linkerd.cluster.local";

    // Listening on every address, so the same gateway can be reached from
    // loopback (where the sidecar is) and from elsewhere.
    let trusting = policy.clone();
    let gw = TestStack::builder()
        .simulator(small_simulator())
        .settings(|s| {
            s.access.authz_policy = Some(trusting);
            s.access.trust_forwarded_identity = true;
        })
        .bind("0.0.0.0:0")
        .spawn()
        .await;
    let mut backups = gw.backups();
    for (header, value) in [("x-forwarded-client-cert", xfcc), ("l5d-client-id", l5d)] {
        let got = backups
            .get_backup(with_header(get_backup(), header, value))
            .await;
        assert_eq!(
            got.unwrap().into_inner().backup.unwrap().id,
            BACKUP,
            "{header}"
        );
    }
    let status = backups
        .get_backup(with_header(
            get_backup(),
            "x-forwarded-client-cert",
            stranger,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("spiffe://cluster.local/ns/other/sa/intruder")
    );
    let status = backups
        .get_backup(with_header(
            get_backup(),
            "x-forwarded-client-cert",
            "Hash=0a1b",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "no URI: {status:?}");

    // From a peer that is not loopback the header is a forgery, not a fall-back.
    match non_loopback_address() {
        Some(ip) => {
            let elsewhere = SocketAddr::new(ip, gw.addr.port());
            let channel = Channel::from_shared(format!("http://{elsewhere}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut backups = pb::backup_service_client::BackupServiceClient::new(channel);
            for (header, value) in [("x-forwarded-client-cert", xfcc), ("l5d-client-id", l5d)] {
                let status = backups
                    .get_backup(with_header(get_backup(), header, value))
                    .await
                    .unwrap_err();
                assert_eq!(status.code(), Code::Unauthenticated, "{header}: {status:?}");
                assert!(status.message().contains("loopback"), "{status:?}");
            }
        }
        None => eprintln!(
            "no non-loopback address on this machine: the remote-peer case is covered by access::identity's unit tests only"
        ),
    }

    // Without --trust-forwarded-identity even the sidecar's header is refused.
    let gw = TestStack::builder()
        .upstream(&gw.sim_url())
        .settings(|s| s.access.authz_policy = Some(policy))
        .spawn()
        .await;
    let status = gw
        .backups()
        .get_backup(with_header(get_backup(), "x-forwarded-client-cert", xfcc))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("--trust-forwarded-identity"),
        "{status:?}"
    );
}

/// Reads `VmHWM` (peak resident memory) and `VmRSS` of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The Prometheus sample of `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn scrape(metrics: &str) -> String {
    reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn channel_to(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_policy_is_reloaded_and_a_broken_file_keeps_the_last_good_one() {
    let dir = TempDir::new();
    let allow = "rules: [{callers: [anonymous], projects: ['4229d7a45436489f8c3dc2b1d35d4987'], methods: [read]}]";
    let deny = "rules: [{callers: [someone-else], projects: ['*'], methods: [read]}]";
    let policy = dir.write("policy.yaml", allow);
    // The built-in simulator; the policy governs callers all the same.
    let bin = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--authz-policy",
        text(&policy),
        "--access-reload-interval",
        "50ms",
    ])
    .await;
    let metrics = bin.wait_for_log(|l| l["metrics_listen"].is_string()).await["metrics_listen"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut backups =
        pb::backup_service_client::BackupServiceClient::new(channel_to(&bin.addr).await);
    backups.get_backup(get_backup()).await.unwrap();

    // A broken file changes nothing: the last good policy still allows.
    dir.write(
        "policy.yaml",
        "rules: [{callers: [anonymous], projects: ['*'], methods: [reed]}]",
    );
    let broken = bin
        .wait_for_log(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("policy is broken"))
        })
        .await;
    assert!(
        broken["error"].as_str().unwrap().contains("reed"),
        "{broken}"
    );
    backups.get_backup(get_backup()).await.unwrap();

    // A good file takes over.
    dir.write("policy.yaml", deny);
    bin.wait_for_log(|l| l["message"] == "authorization policy reloaded")
        .await;
    let status = backups.get_backup(get_backup()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // Every decision is in the call's log line and in the metrics (never an
    // identity or a project as a label).
    let lines = bin.log_lines();
    let rpc_lines: Vec<&Value> = lines.iter().filter(|l| l["rpc"] == "GetBackup").collect();
    assert_eq!(rpc_lines.len(), 3, "{rpc_lines:?}");
    assert_eq!(rpc_lines[0]["authz"], "allow");
    assert_eq!(rpc_lines[0]["caller"], "anonymous");
    assert_eq!(rpc_lines[0]["project"], PROJECT);
    assert_eq!(rpc_lines[2]["authz"], "deny");
    assert_eq!(rpc_lines[2]["code"], "PermissionDenied");
    let scraped = scrape(&metrics).await;
    let get = r#"method="cbr.gateway.v1.BackupService/GetBackup""#;
    let decisions = |d: &str| {
        sample(
            &scraped,
            &format!(r#"cbr_gateway_authz_decisions_total{{decision="{d}",{get}}}"#),
        )
    };
    assert_eq!(decisions("allow"), Some(2.0), "{scraped}");
    assert_eq!(decisions("deny"), Some(1.0));
    let reloads = |r: &str| {
        sample(
            &scraped,
            &format!(r#"cbr_gateway_access_reloads_total{{file="policy",result="{r}"}}"#),
        )
    };
    assert_eq!(reloads("error"), Some(1.0));
    assert_eq!(reloads("ok"), Some(1.0));
    assert!(
        !scraped.contains("anonymous") && !scraped.contains(PROJECT),
        "no identity or project labels"
    );

    // A policy that does not load at start stops the gateway: no start open.
    let broken = dir.write("broken.yaml", "rules: [{callers: [a]}]");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--authz-policy",
            text(&broken),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.yaml") && stderr.contains("projects"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_gateway_lending_cloud_credentials_to_anyone_does_not_start() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
            .args(args)
            .args(["--metrics-listen", "off", "--log-format", "json"])
            .env("HUAWEICLOUD_SDK_SK", "sk-never-shown")
            .env_remove("CBR_ENDPOINT")
            .env_remove("HUAWEICLOUD_SDK_AK")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // AK/SK for a real endpoint, every address, nothing deciding who calls.
    let exposed = [
        "--listen",
        "0.0.0.0:0",
        "--cbr-endpoint",
        "http://127.0.0.1:9",
        "--ak",
        "AK1",
    ];
    let out = run(&exposed).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for option in [
        "--tls-client-ca",
        "--authz-policy",
        "--allow-anonymous-callers",
    ] {
        assert!(stderr.contains(option), "{stderr}");
    }
    assert!(!stderr.contains("sk-never-shown"));

    // The explicit opt-out starts, with a warning.
    let mut args = exposed.to_vec();
    args.extend(["--allow-anonymous-callers", "--log-format", "json"]);
    let bin = Binary::start_with_env(&args, &[("HUAWEICLOUD_SDK_SK", "sk-never-shown")]).await;
    bin.wait_for_log(|l| {
        l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("--allow-anonymous-callers"))
    })
    .await;
    drop(bin);

    // The README's first command: the built-in simulator on every address.
    // Its generated key opens nothing, so no refusal and no warning.
    let bin = Binary::start(&["--listen", "0.0.0.0:0", "--log-format", "json"]).await;
    let mut backups = pb::backup_service_client::BackupServiceClient::new(
        channel_to(&bin.addr.replace("0.0.0.0", "127.0.0.1")).await,
    );
    backups.get_backup(get_backup()).await.unwrap();
    let warnings: Vec<Value> = bin
        .log_lines()
        .into_iter()
        .filter(|l| l["level"] == "WARN")
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn each_caller_gets_its_own_share_of_calls() {
    let gw = small_stack(|s| {
        s.access.jwt = Some(jwt_settings());
        // One call a second, in bursts of three.
        s.access.fairness = Some((NonZeroU32::MIN, NonZeroU32::new(3)));
    })
    .await;
    let mut backups = gw.backups();
    let noisy = jwt(Key::Rsa, "rsa-1", &claims("noisy-service"));
    for _ in 0..3 {
        backups
            .get_backup(bearer(get_backup(), &noisy))
            .await
            .unwrap();
    }
    let status = backups
        .get_backup(bearer(get_backup(), &noisy))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "CALLER_RATE_LIMITED");
    let retry = details(&status)
        .retry_info()
        .expect("RetryInfo")
        .retry_delay
        .expect("a delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    // Other callers are unaffected.
    let quiet = jwt(Key::Ec, "ec-1", &claims("quiet-service"));
    backups
        .get_backup(bearer(get_backup(), &quiet))
        .await
        .unwrap();
    backups.get_backup(get_backup()).await.unwrap();
    // And the noisy one is served again once its bucket refills.
    tokio::time::sleep(retry).await;
    backups
        .get_backup(bearer(get_backup(), &noisy))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_kind_of_server_stream_shares_one_budget() {
    let gw = TestStack::builder()
        .simulator(small_simulator())
        .project(PROJECT)
        .settings(|s| s.transport.max_server_streams = 2)
        .spawn()
        .await;
    let checkpoint = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap()
        .id;
    let watch = gw
        .checkpoints()
        .watch_checkpoint(pb::WatchCheckpointRequest {
            checkpoint_id: checkpoint,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut health = tonic_health::pb::health_client::HealthClient::new(gw.channel.clone());
    let health_watch = health
        .watch(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    // The third stream of any kind — a listing here — finds no slot.
    let status = gw
        .backups()
        .stream_backups(pb::StreamBackupsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "TOO_MANY_STREAMS");
    // Unary calls do not count.
    gw.backups().get_backup(get_backup()).await.unwrap();
    drop(health_watch);
    drop(watch);
    // A closed stream gives its slot back.
    let since = Instant::now();
    loop {
        match gw
            .backups()
            .stream_backups(pb::StreamBackupsRequest::default())
            .await
        {
            Ok(_) => break,
            Err(s)
                if s.code() == Code::ResourceExhausted
                    && since.elapsed() < Duration::from_secs(5) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    }
}

#[tokio::test]
async fn projects_outside_the_policy_never_trigger_an_iam_login() {
    let dir = TempDir::new();
    let policy = dir.write(
        "policy.yaml",
        "rules: [{callers: [anonymous], projects: ['4229d7a45436489f8c3dc2b1d35d4987'], methods: [read]}]",
    );
    let gw = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 10,
            iam_users: vec!["acme:backup-bot:iam-pw-never-logged".parse().unwrap()],
            ..Default::default()
        })
        .settings(|s| {
            let iam = s.upstream.cbr_endpoint.clone().unwrap();
            let password = inline("iam-pw-never-logged");
            s.credentials = Held {
                aksk: None,
                iam: Some(iam_user(&iam, "acme", "backup-bot", password)),
            };
            s.access.authz_policy = Some(policy);
        })
        .spawn()
        .await;
    let logins = || {
        gw.sim()
            .state
            .stats
            .snapshot()
            .get("iam_tokens")
            .copied()
            .unwrap_or(0)
    };
    let mut elsewhere = get_backup();
    elsewhere.project_id = OTHER_PROJECT.into();
    for _ in 0..5 {
        let status = gw
            .backups()
            .get_backup(elsewhere.clone())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    assert_eq!(logins(), 0, "a refused project costs IAM nothing");
    gw.backups().get_backup(get_backup()).await.unwrap();
    assert_eq!(logins(), 1);
}

#[tokio::test]
async fn hostile_requests_cost_little_memory() {
    let bin = Binary::start(&["--listen", "127.0.0.1:0", "--log-format", "json"]).await;
    let addr: SocketAddr = bin.addr.parse().unwrap();
    // Warm up: the first calls allocate the pools and buffers every call reuses.
    let ok = raw_grpc_call(
        addr,
        "/cbr.gateway.v1.BackupService/GetBackup",
        &get_backup(),
        &[],
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.message);
    let (peak_before, rss_before) = memory_kib(bin.pid());

    // Ten requests of about 4 MB, each a list millions long: statuses packed
    // and unpacked, empty resource IDs, empty resource details.
    let statuses = pb::ListBackupsRequest {
        status: vec![1; 3_900_000],
        ..Default::default()
    };
    let stream_statuses = pb::StreamBackupsRequest {
        status: vec![2; 3_900_000],
        ..Default::default()
    };
    let resources = pb::CreateCheckpointRequest {
        vault_id: VAULT.into(),
        parameters: Some(pb::CheckpointParameters {
            resources: vec![String::new(); 1_900_000],
            ..Default::default()
        }),
        ..Default::default()
    };
    let details_list = pb::CreateCheckpointRequest {
        vault_id: VAULT.into(),
        parameters: Some(pb::CheckpointParameters {
            resource_details: vec![pb::Resource::default(); 1_900_000],
            ..Default::default()
        }),
        ..Default::default()
    };
    // The same statuses unpacked (one tag per value), written by hand: field
    // 16, wire type 0 is the key 0x80 0x01.
    let unpacked: Vec<u8> = std::iter::repeat_n([0x80u8, 0x01, 0x03], 1_300_000)
        .flatten()
        .collect();
    let list = "/cbr.gateway.v1.BackupService/ListBackups";
    let stream = "/cbr.gateway.v1.BackupService/StreamBackups";
    let create = "/cbr.gateway.v1.CheckpointService/CreateCheckpoint";
    let mut calls: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    for _ in 0..2 {
        calls.push((list, statuses.encode_to_vec(), "status"));
        calls.push((stream, stream_statuses.encode_to_vec(), "status"));
        calls.push((create, resources.encode_to_vec(), "parameters.resources"));
        calls.push((
            create,
            details_list.encode_to_vec(),
            "parameters.resource_details",
        ));
        calls.push((list, unpacked.clone(), "status"));
    }
    for (_, body, _) in &calls {
        assert!(
            (3_500_000..=4_194_304).contains(&body.len()),
            "{}",
            body.len()
        );
    }
    let answers =
        futures_util::future::join_all(calls.into_iter().map(|(path, body, field)| async move {
            (raw_grpc_call_bytes(addr, path, body, &[]).await, field)
        }))
        .await;
    for (outcome, field) in answers {
        let message = &outcome.message;
        assert_eq!(
            outcome.code,
            Code::InvalidArgument as i32,
            "{field}: {message}"
        );
        assert!(message.starts_with(field), "{field}: {message}");
    }
    let (peak_after, rss_after) = memory_kib(bin.pid());
    let grew_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    eprintln!(
        "hostile requests: peak RSS {peak_before} → {peak_after} KiB (+{grew_mib:.1} MiB), RSS {rss_before} → {rss_after} KiB"
    );
    assert!(
        grew_mib <= 100.0,
        "ten 4 MB hostile requests raised peak RSS by {grew_mib:.1} MiB"
    );
    // Still serving.
    let ok = raw_grpc_call(
        addr,
        "/cbr.gateway.v1.BackupService/GetBackup",
        &get_backup(),
        &[],
    )
    .await;
    assert_eq!(ok.code, 0);
}

/// Reads until the peer closes the connection (or resets it); the time it
/// took, or `None` if it stayed open for `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn slow_and_silent_connections_are_closed() {
    let gw = small_stack(|s| {
        s.transport.request_read_timeout = Duration::from_secs(1);
        s.transport.idle_connection_timeout = Duration::from_secs(2);
    })
    .await;
    let connect = || tokio::net::TcpStream::connect(gw.addr);
    let mut held = Vec::new();
    for kind in 0..60 {
        let mut s = connect().await.unwrap();
        match kind % 3 {
            // Silent.
            0 => {}
            // Half a request line.
            1 => s
                .write_all(b"POST /cbr.gateway.v1.BackupService/GetBackup HTTP/1.1\r\nHost: gate")
                .await
                .unwrap(),
            // The HTTP/2 preface, then nothing.
            _ => s
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap(),
        }
        held.push(s);
    }
    let closed = futures_util::future::join_all(
        held.iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(10))),
    )
    .await;
    let slowest = closed
        .iter()
        .map(|c| c.expect("closed by the gateway"))
        .max()
        .unwrap();
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");

    // A call whose message trickles in is ended, not waited for.
    let tcp = connect().await.unwrap();
    let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let req = grpc_request(gw.addr, "/cbr.gateway.v1.BackupService/GetBackup", &[]);
    let (response, mut send) = client.send_request(req, false).unwrap();
    send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0]), false)
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .unwrap()
        .unwrap();
    let (parts, mut body) = response.into_parts();
    let trailers = match parts.headers.get("grpc-status") {
        Some(_) => parts.headers,
        None => {
            while body.data().await.is_some() {}
            body.trailers().await.unwrap().unwrap()
        }
    };
    assert_eq!(
        trailers["grpc-status"],
        (Code::DeadlineExceeded as i32).to_string().as_str()
    );

    // A connection with no call in flight is closed after the idle timeout
    // (an HTTP/2 GOAWAY: the client's connection ends cleanly).
    let tcp = connect().await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let ok = {
        let req = grpc_request(gw.addr, "/grpc.health.v1.Health/Check", &[]);
        let (response, mut send) = client.send_request(req, false).unwrap();
        send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
            .unwrap();
        response.await.unwrap().status()
    };
    assert!(ok.is_success());
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("the idle connection is closed")
        .unwrap()
        .ok();
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let gw = small_stack(|s| {
        s.transport.max_connections = 3;
        s.transport.request_read_timeout = Duration::from_secs(2);
    })
    .await;
    // The test's own channel holds one slot; two silent connections fill the rest.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(tokio::net::TcpStream::connect(gw.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let closed = closed_within(&mut over, Duration::from_secs(10))
        .await
        .expect("closed");
    assert!(
        closed < Duration::from_secs(1),
        "closed at once, not at the read timeout: {closed:?}"
    );
    // The silent ones time out and give their slots back.
    for s in &mut silent {
        closed_within(s, Duration::from_secs(10))
            .await
            .expect("closed");
    }
    let channel = Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    pb::backup_service_client::BackupServiceClient::new(channel)
        .get_backup(get_backup())
        .await
        .unwrap();
}

#[tokio::test]
async fn help_never_shows_a_secret_from_the_environment() {
    let secrets = [
        ("HUAWEICLOUD_SDK_SK", "sk-sentinel-1"),
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "token-sentinel-2"),
        ("IAM_PASSWORD", "password-sentinel-3"),
        (
            "IDEMPOTENCY_STORE",
            "redis://:redis-sentinel-4@127.0.0.1:6379",
        ),
        ("SIM_CREDENTIALS", "AK:sim-sk-sentinel-5"),
        ("SIM_TOKENS", "sim-token-sentinel-6"),
        ("SIM_IAM_USERS", "d:u:sim-pw-sentinel-7"),
    ];
    for args in [
        &["--help"][..],
        &["simulator", "--help"],
        &["checkpoint", "create", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
            .args(args)
            .envs(secrets)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let shown = String::from_utf8_lossy(&out.stdout);
        for (_, value) in secrets {
            let secret = value.rsplit(':').next().unwrap().split('@').next().unwrap();
            assert!(!shown.contains(secret), "{args:?} shows {secret}");
        }
    }
}

#[tokio::test]
async fn a_bad_request_lists_at_most_twenty_violations_and_counts_the_rest() {
    let gw = TestStack::builder()
        .simulator(small_simulator())
        .project(PROJECT)
        .spawn()
        .await;
    // 250 resource IDs (within the cap of 256), every one malformed.
    let status = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                resources: vec!["not/an/id".into(); 250],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = bad_fields(&status);
    assert_eq!(fields.len(), 20, "{fields:?}");
    assert_eq!(fields[0], "parameters.resources[0]");
    assert!(
        status.message().contains("(and 249 more)"),
        "{}",
        status.message()
    );
    let info = details(&status).error_info().unwrap().clone();
    assert_eq!(info.metadata["violations"], "250");
    // One over the cap is refused as a whole, naming the list.
    let status = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                resources: vec![SERVER.into(); 257],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["parameters.resources"]);
    assert!(
        status.message().contains("at most 256"),
        "{}",
        status.message()
    );
}
