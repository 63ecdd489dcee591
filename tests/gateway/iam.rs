//! IAM password logins end to end: the gateway's token provider against the
//! built-in simulator's `POST /v3/auth/tokens`, over loopback. The simulator's
//! request counters show exactly how many logins reached IAM.

use std::{
    sync::Arc,
    time::{Duration, Instant as StdInstant},
};

use cbr_gateway::upstream::{
    AuthToken, IamSettings, IamTokenProvider, LoginBackoff, Secret, SecretFile, SecretSource,
    Service, UpstreamError,
};
use cbr_simulator::{self as simulator, SimulatorSettings, auth::KeyPair, faults::FaultRule};
use serde_json::{Value, json};
use tokio::time::Instant;

const PROJECT: &str = "4229d7a45436489f8c3dc2b1d35d4987";
const BACKUP: &str = "6df2b54c-dd62-4059-a07c-1b8f24f2725d";
const DOMAIN: &str = "acme";
const USER: &str = "gateway";
const PASSWORD: &str = "s3cret:with-colon";

struct Sim {
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn start(settings: SimulatorSettings) -> Sim {
        cbr_gateway::install_crypto_provider();
        let sim = simulator::spawn(&settings).await.unwrap();
        Sim {
            base: format!("http://{}", sim.addr),
            http: reqwest::Client::new(),
        }
    }

    /// A simulator with one IAM user, tokens valid for `lifetime`, and `faults`.
    async fn with_iam(lifetime: Duration, faults: &[&str]) -> Sim {
        Sim::start(SimulatorSettings {
            fleet_size: 10,
            iam_users: vec![format!("{DOMAIN}:{USER}:{PASSWORD}").parse().unwrap()],
            iam_token_lifetime: lifetime,
            faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
            ..Default::default()
        })
        .await
    }

    fn provider(&self, password: &str, refresh_ahead: Duration) -> Arc<IamTokenProvider> {
        self.provider_with(DOMAIN, password, refresh_ahead, Duration::from_secs(10))
    }

    fn provider_with(
        &self,
        domain: &str,
        password: &str,
        refresh_ahead: Duration,
        request_timeout: Duration,
    ) -> Arc<IamTokenProvider> {
        provider_at(&self.base, domain, password, refresh_ahead, request_timeout)
    }

    /// Logins IAM has received so far.
    async fn logins(&self) -> u64 {
        let stats: Value = self
            .http
            .get(format!("{}/_simulator/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["requests"]["iam_tokens"].as_u64().unwrap()
    }

    /// `GET /v3/{PROJECT}/backups/{BACKUP}` with `token`.
    async fn get_backup(&self, token: Option<&AuthToken>) -> (u16, Value) {
        let mut req = self
            .http
            .get(format!("{}/v3/{PROJECT}/backups/{BACKUP}", self.base));
        if let Some(t) = token {
            req = req.header("x-auth-token", t.header_value().clone());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn set_faults(&self, rules: &[&str]) {
        let rules: Vec<FaultRule> = rules.iter().map(|r| r.parse().unwrap()).collect();
        let status = self
            .http
            .put(format!("{}/_simulator/faults", self.base))
            .json(&rules)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 204);
    }

    async fn login(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v3/auth/tokens", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

fn provider_at(
    base: &str,
    domain: &str,
    password: &str,
    refresh_ahead: Duration,
    request_timeout: Duration,
) -> Arc<IamTokenProvider> {
    Arc::new(unshared_provider(
        base,
        domain,
        SecretSource::Inline(Secret::new(password)),
        refresh_ahead,
        request_timeout,
    ))
}

fn unshared_provider(
    base: &str,
    domain: &str,
    password: SecretSource,
    refresh_ahead: Duration,
    request_timeout: Duration,
) -> IamTokenProvider {
    cbr_gateway::install_crypto_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    IamTokenProvider::new(
        http,
        IamSettings {
            endpoint: base.parse().unwrap(),
            domain: domain.into(),
            user: USER.into(),
            password: std::sync::Arc::new(password),
            refresh_ahead,
            request_timeout,
        },
    )
}

/// Failed logins pause for `initial`, doubling, at most four times that.
fn short_backoff(initial: Duration) -> LoginBackoff {
    LoginBackoff {
        initial,
        max_refused: initial * 4,
        max_transient: initial * 4,
    }
}

/// Calls `token` until IAM has seen more than `logins` logins; returns how
/// long that took and the last outcome.
async fn until_next_login(
    sim: &Sim,
    iam: &IamTokenProvider,
    logins: u64,
) -> (Duration, Result<AuthToken, UpstreamError>) {
    let started = StdInstant::now();
    loop {
        let outcome = iam.token(PROJECT, None).await;
        if sim.logins().await > logins {
            return (started.elapsed(), outcome);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no new login: {outcome:?}"
        );
        // Polling: the pause ends at a time, not on an event.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn same(a: &AuthToken, b: &AuthToken) -> bool {
    a.header_value() == b.header_value()
}

fn login_body(domain: &str, user: &str, password: &str) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "domain": {"name": domain}, "name": user, "password": password}}},
        "scope": {"project": {"id": PROJECT}}}})
}

#[tokio::test]
async fn a_token_is_obtained_accepted_and_cached() {
    let sim = Sim::with_iam(Duration::from_secs(24 * 3600), &[]).await;
    let iam = sim.provider(PASSWORD, Duration::from_secs(600));

    // With an IAM user configured, CBR calls must authenticate.
    let (status, body) = sim.get_backup(None).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (401, Some("APIGW.0301"))
    );

    let token = iam.token(PROJECT, None).await.unwrap();
    assert!(!format!("{token:?}").contains("MII"));
    let (status, body) = sim.get_backup(Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["backup"]["id"], BACKUP);
    assert_eq!(sim.logins().await, 1);

    let again = iam.token(PROJECT, None).await.unwrap();
    assert!(same(&token, &again));
    assert_eq!(sim.logins().await, 1, "a cached token needs no login");

    // Another project has its own token.
    let other = iam
        .token("0123456789abcdef0123456789abcdef", None)
        .await
        .unwrap();
    assert!(!same(&token, &other));
    assert_eq!(sim.logins().await, 2);
}

#[tokio::test]
async fn concurrent_calls_on_a_cold_cache_make_one_login() {
    // IAM answers slowly, so all 50 calls overlap the one login.
    let sim = Sim::with_iam(
        Duration::from_secs(24 * 3600),
        &["route=iam_tokens,latency=200ms"],
    )
    .await;
    let iam = sim.provider(PASSWORD, Duration::from_secs(600));
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let iam = iam.clone();
            tokio::spawn(async move { iam.token(PROJECT, None).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap().unwrap());
    }
    assert!(tokens.iter().all(|t| same(t, &tokens[0])));
    assert_eq!(sim.logins().await, 1);
    assert_eq!(sim.get_backup(Some(&tokens[0])).await.0, 200);
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry() {
    // Valid for 2 s, refreshed 1 s before expiry.
    let sim = Sim::with_iam(Duration::from_secs(2), &[]).await;
    let iam = sim.provider(PASSWORD, Duration::from_secs(1));
    let started = StdInstant::now();
    let first = iam.token(PROJECT, None).await.unwrap();
    let second = loop {
        let t = iam.token(PROJECT, None).await.unwrap();
        if !same(&t, &first) {
            break t;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "never refreshed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(sim.logins().await, 2, "one login per refresh");
    // Refreshed ahead: the old token is still valid, and so is the new one.
    assert_eq!(sim.get_backup(Some(&first)).await.0, 200);
    assert_eq!(sim.get_backup(Some(&second)).await.0, 200);
}

#[tokio::test]
async fn expired_tokens_are_refused_and_replaced() {
    let sim = Sim::with_iam(Duration::from_secs(1), &[]).await;
    let iam = sim.provider(PASSWORD, Duration::ZERO);
    let token = iam.token(PROJECT, None).await.unwrap();
    let started = StdInstant::now();
    let body = loop {
        let (status, body) = sim.get_backup(Some(&token)).await;
        if status == 401 {
            break body;
        }
        assert_eq!(status, 200);
        assert!(started.elapsed() < Duration::from_secs(3), "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["error_code"], "APIGW.0301");
    let msg = body["error_msg"].as_str().unwrap();
    assert!(msg.contains("token expires, expires_at: "), "{msg}");
    assert!(msg.ends_with('Z'), "{msg}");

    let fresh = iam.token(PROJECT, None).await.unwrap();
    assert!(!same(&fresh, &token));
    assert_eq!(sim.get_backup(Some(&fresh)).await.0, 200);
    assert_eq!(sim.logins().await, 2);
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once() {
    let sim = Sim::with_iam(Duration::from_secs(24 * 3600), &[]).await;
    let iam = sim.provider(PASSWORD, Duration::from_secs(600));
    let stale = iam.token(PROJECT, None).await.unwrap();

    let fresh = iam
        .refresh_after_rejection(PROJECT, &stale, None)
        .await
        .unwrap();
    assert!(!same(&fresh, &stale));
    assert_eq!(sim.logins().await, 2);

    // A second report of the same stale token reuses the replacement.
    let again = iam
        .refresh_after_rejection(PROJECT, &stale, None)
        .await
        .unwrap();
    assert!(same(&again, &fresh));
    assert!(same(&iam.token(PROJECT, None).await.unwrap(), &fresh));
    assert_eq!(sim.logins().await, 2);

    // Many calls rejected with the same token at once: one login.
    sim.set_faults(&["route=iam_tokens,latency=100ms"]).await;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (iam, fresh) = (iam.clone(), fresh.clone());
            tokio::spawn(async move { iam.refresh_after_rejection(PROJECT, &fresh, None).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap().unwrap());
    }
    assert!(tokens.iter().all(|t| same(t, &tokens[0])));
    assert!(!same(&tokens[0], &fresh));
    assert_eq!(sim.logins().await, 3);
    assert_eq!(sim.get_backup(Some(&tokens[0])).await.0, 200);
}

#[tokio::test]
async fn wrong_credentials_are_iam_401s() {
    let sim = Sim::with_iam(Duration::from_secs(60), &[]).await;
    let cases = [
        sim.provider("wrong", Duration::ZERO),
        sim.provider_with("nodomain", PASSWORD, Duration::ZERO, Duration::from_secs(5)),
    ];
    for iam in cases {
        match iam.token(PROJECT, None).await {
            Err(UpstreamError::Status {
                status: 401,
                service: Service::Iam,
                code,
                message,
                request_id,
            }) => {
                assert_eq!(code.as_deref(), Some("401"));
                assert_eq!(
                    message.as_deref(),
                    Some("The username or password is wrong.")
                );
                assert!(request_id.is_some());
            }
            other => panic!("expected an IAM 401, got {other:?}"),
        }
    }
    assert_eq!(sim.logins().await, 2);
}

#[tokio::test]
async fn iam_outages_are_errors_and_pass() {
    let sim = Sim::with_iam(
        Duration::from_secs(60),
        &["route=iam_tokens,error_rate=1,status=503"],
    )
    .await;
    let iam = unshared_provider(
        &sim.base,
        DOMAIN,
        SecretSource::Inline(Secret::new(PASSWORD)),
        Duration::ZERO,
        Duration::from_secs(10),
    )
    .with_backoff(short_backoff(Duration::from_millis(300)));
    let failed_at = StdInstant::now();
    match iam.token(PROJECT, None).await {
        Err(UpstreamError::Status {
            status: 503,
            service: Service::Iam,
            code,
            ..
        }) => assert_eq!(code.as_deref(), Some("APIGW.0203")),
        other => panic!("expected an IAM 503, got {other:?}"),
    }
    // IAM is back, but the failure pauses logins: calls get it at once.
    sim.set_faults(&[]).await;
    let again = iam.token(PROJECT, None).await.unwrap_err();
    assert!(
        matches!(again, UpstreamError::Status { status: 503, .. }),
        "{again:?}"
    );
    assert_eq!(sim.logins().await, 1);
    // Once the pause has passed, the next call logs in.
    let (_, outcome) = until_next_login(&sim, &iam, 1).await;
    assert!(failed_at.elapsed() >= Duration::from_millis(300));
    let token = outcome.unwrap();
    assert_eq!(sim.get_backup(Some(&token)).await.0, 200);
    assert_eq!(sim.logins().await, 2);
}

#[tokio::test]
async fn failed_logins_back_off_doubling_and_calls_share_the_failure() {
    let sim = Sim::with_iam(Duration::from_secs(60), &["route=iam_tokens,latency=100ms"]).await;
    let iam = Arc::new(
        unshared_provider(
            &sim.base,
            DOMAIN,
            SecretSource::Inline(Secret::new("wrong")),
            Duration::ZERO,
            Duration::from_secs(10),
        )
        .with_backoff(short_backoff(Duration::from_millis(400))),
    );
    // Concurrent calls on a cold cache: one login, its refusal shared.
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let iam = iam.clone();
            tokio::spawn(async move { iam.token(PROJECT, None).await })
        })
        .collect();
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert!(
            matches!(err, UpstreamError::Status { status: 401, .. }),
            "{err:?}"
        );
    }
    let first = StdInstant::now();
    // More calls during the pause: answered at once, no login.
    for _ in 0..20 {
        let err = iam.token(PROJECT, None).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Status { status: 401, .. }));
    }
    assert_eq!(sim.logins().await, 1);
    // The pause doubles with each failure in a row: 400 ms, then 800 ms.
    let (waited, outcome) = until_next_login(&sim, &iam, 1).await;
    assert!(outcome.is_err());
    assert!(first.elapsed() >= Duration::from_millis(300), "{waited:?}");
    let (waited, outcome) = until_next_login(&sim, &iam, 2).await;
    assert!(outcome.is_err());
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    assert_eq!(sim.logins().await, 3);
}

#[tokio::test]
async fn a_changed_password_file_is_tried_at_once() {
    let sim = Sim::with_iam(Duration::from_secs(60), &[]).await;
    let dir = std::env::temp_dir().join(format!("cbr-iam-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("password");
    std::fs::write(&path, "wrong\n").unwrap();
    // A pause far longer than the test: only the new password ends it.
    let iam = unshared_provider(
        &sim.base,
        DOMAIN,
        SecretSource::File(SecretFile::open(&path).unwrap()),
        Duration::ZERO,
        Duration::from_secs(10),
    )
    .with_backoff(short_backoff(Duration::from_secs(3600)));
    for _ in 0..5 {
        let err = iam.token(PROJECT, None).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Status { status: 401, .. }));
    }
    assert_eq!(sim.logins().await, 1);
    std::fs::write(&path, format!("{PASSWORD}\n")).unwrap();
    let token = iam.token(PROJECT, None).await.unwrap();
    assert_eq!(sim.get_backup(Some(&token)).await.0, 200);
    assert_eq!(sim.logins().await, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_unexpired_token() {
    let sim = Sim::with_iam(Duration::from_secs(2), &[]).await;
    let iam = sim.provider(PASSWORD, Duration::from_secs(1));
    let token = iam.token(PROJECT, None).await.unwrap();
    sim.set_faults(&["route=iam_tokens,error_rate=1,status=503"])
        .await;
    let started = StdInstant::now();
    // Past the refresh time the refresh fails, and the current token is used.
    while sim.logins().await < 2 {
        let t = iam.token(PROJECT, None).await.unwrap();
        assert!(same(&t, &token));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "never refreshed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Once it has expired, the outage shows.
    let err = loop {
        match iam.token(PROJECT, None).await {
            Ok(t) => assert!(same(&t, &token)),
            Err(err) => break err,
        }
        assert!(started.elapsed() < Duration::from_secs(4), "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        matches!(err, UpstreamError::Status { status: 503, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_or_absent_iam_times_out() {
    let sim = Sim::with_iam(Duration::from_secs(60), &["route=iam_tokens,latency=3s"]).await;
    let started = StdInstant::now();
    let iam = sim.provider_with(DOMAIN, PASSWORD, Duration::ZERO, Duration::from_millis(200));
    let err = iam.token(PROJECT, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            UpstreamError::Timeout {
                service: Service::Iam
            }
        ),
        "{err:?}"
    );

    let iam = sim.provider(PASSWORD, Duration::ZERO);
    let deadline = Instant::now() + Duration::from_millis(150);
    let err = iam.token(PROJECT, Some(deadline)).await.unwrap_err();
    assert!(
        matches!(
            err,
            UpstreamError::DeadlineExceeded {
                service: Service::Iam
            }
        ),
        "{err:?}"
    );
    let err = iam
        .token(PROJECT, Some(Instant::now() - Duration::from_millis(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::DeadlineExceeded { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Nothing listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let iam = provider_at(
        &format!("http://{addr}"),
        DOMAIN,
        PASSWORD,
        Duration::ZERO,
        Duration::from_secs(5),
    );
    let err = iam.token(PROJECT, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            UpstreamError::Connect {
                service: Service::Iam
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_simulated_login_speaks_keystone() {
    // Other credentials configured: the login itself still needs none.
    let sim = Sim::start(SimulatorSettings {
        fleet_size: 10,
        credentials: vec![KeyPair {
            access_key: "TESTAK".into(),
            secret_key: "TESTSK".into(),
            security_token: None,
        }],
        tokens: vec!["static-token".into()],
        iam_users: vec![format!("{DOMAIN}:{USER}:{PASSWORD}").parse().unwrap()],
        ..Default::default()
    })
    .await;

    let resp = sim.login(&login_body(DOMAIN, USER, PASSWORD)).await;
    assert_eq!(resp.status(), 201);
    let token = resp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("MII") && token.len() == 67, "{token}");
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["project"]["id"], PROJECT);
    assert_eq!(t["user"]["name"], USER);
    assert_eq!(t["user"]["domain"]["name"], DOMAIN);
    for key in ["expires_at", "issued_at"] {
        let v = t[key].as_str().unwrap();
        // 2026-11-24T10:00:00.000000Z
        assert_eq!(v.len(), 27, "{v}");
        assert!(v.ends_with('Z') && v.as_bytes()[19] == b'.', "{v}");
    }
    let token = AuthToken::parse(&token).unwrap();
    assert_eq!(sim.get_backup(Some(&token)).await.0, 200);
    assert_eq!(
        sim.get_backup(Some(&AuthToken::parse("static-token").unwrap()))
            .await
            .0,
        200
    );
    let (status, body) = sim
        .get_backup(Some(&AuthToken::parse("MIIunknown").unwrap()))
        .await;
    assert_eq!(status, 401);
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("decrypt token fail")
    );

    let resp = sim.login(&login_body(DOMAIN, USER, "wrong")).await;
    assert_eq!(resp.status(), 401);
    assert!(!resp.headers().contains_key("x-subject-token"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": 401, "message": "The username or password is wrong.",
                         "title": "Unauthorized"}})
    );

    for bad in [
        json!({}),
        json!({"auth": {"identity": {"methods": ["password"]}}}),
        json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "x"}}}}),
    ] {
        let resp = sim.login(&bad).await;
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], 400);
    }
    let resp = sim
        .http
        .post(format!("{}/v3/auth/tokens", sim.base))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(sim.logins().await, 6);
}
