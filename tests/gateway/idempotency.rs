//! Idempotent CreateCheckpoint (`request_id`), black-box: a generated tonic
//! client → the real gateway → the simulator over HTTP, counting the creates
//! upstream received with `GET /_simulator/stats`. The Redis cases start their
//! own `redis-server` (installed by scripts/test.sh) and two gateway processes.

use crate::common;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use cbr_gateway::{
    idempotency::Store,
    proto::{self as pb, checkpoint_service_client::CheckpointServiceClient},
    upstream::Secret,
};
use cbr_simulator::{self as simulator, SimulatorSettings};
use common::*;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
};
use tonic::{Code, transport::Channel};

/// The simulator, in this process: counters read directly, faults set over
/// its admin API as an operator would.
struct Sim {
    url: String,
    http: reqwest::Client,
    running: simulator::Embedded,
}

impl Sim {
    fn settings() -> SimulatorSettings {
        SimulatorSettings {
            fleet_size: 50,
            ..Default::default()
        }
    }

    /// A simulator alone, for gateway processes ([`replica`]).
    async fn start() -> Sim {
        Sim::of(simulator::spawn(&Sim::settings()).await.unwrap())
    }

    fn of(running: simulator::Embedded) -> Sim {
        // The admin client is reqwest's too: the process needs a TLS provider
        // even when no in-process gateway has installed one yet.
        cbr_gateway::install_crypto_provider();
        Sim {
            url: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            running,
        }
    }

    /// Creates upstream has received so far (the simulator's own counter).
    fn creates(&self) -> u64 {
        self.running.state.stats.snapshot()["create_checkpoint"]
    }

    async fn faults(&self, rules: Value) {
        let status = self
            .http
            .put(format!("{}/_simulator/faults", self.url))
            .json(&rules)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 204);
    }

    /// Upstream answers every create after `ms` milliseconds.
    async fn create_latency(&self, ms: u64) {
        self.faults(json!([{"route": "create_checkpoint", "latency_ms": ms}]))
            .await;
    }

    /// Arguments pointing a gateway process at this simulator.
    fn gateway_args(&self) -> Vec<String> {
        [
            "--cbr-endpoint",
            &self.url,
            "--csbs-endpoint",
            &self.url,
            "--project-id",
            PROJECT,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// A simulator and an in-process gateway (memory store) in front of it, with
/// `edit` applied to the gateway's settings.
async fn stack(edit: impl FnOnce(&mut Settings) + Send + 'static) -> (Sim, Gateway) {
    let (gw, running) = TestStack::builder()
        .simulator(Sim::settings())
        .project(PROJECT)
        .settings(edit)
        .spawn()
        .await
        .into_parts();
    (Sim::of(running), gw)
}

/// A create of the seed server in the seed vault, named `name`.
fn create(request_id: &str, name: &str) -> pb::CreateCheckpointRequest {
    pb::CreateCheckpointRequest {
        vault_id: VAULT.into(),
        parameters: Some(pb::CheckpointParameters {
            name: Some(name.into()),
            resources: vec![SERVER.into()],
            ..Default::default()
        }),
        request_id: request_id.into(),
        ..Default::default()
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The checkpoint id and `x-request-id` of a successful create.
async fn created(
    client: &mut CheckpointServiceClient<Channel>,
    req: pb::CreateCheckpointRequest,
) -> (String, String) {
    let response = client
        .create_checkpoint(req)
        .await
        .expect("create succeeds");
    let request_id = response
        .metadata()
        .get("x-request-id")
        .expect("x-request-id metadata")
        .to_str()
        .unwrap()
        .to_owned();
    let id = response.into_inner().checkpoint.unwrap().id;
    (id, request_id)
}

#[tokio::test]
async fn sequential_duplicates_create_once_and_replay_the_answer() {
    let (sim, gw) = stack(|_| {}).await;
    let mut client = gw.checkpoints();
    let id = new_id();
    let (first, first_req) = created(&mut client, create(&id, "seq")).await;
    let (again, again_req) = created(&mut client, create(&id, "seq")).await;
    assert_eq!(first, again);
    assert_eq!(
        first_req, again_req,
        "the replay carries upstream's request id"
    );
    assert_eq!(sim.creates(), 1);
    // The remembered checkpoint is real.
    let cp = client
        .get_checkpoint(pb::GetCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: first,
            region: String::new(),
        })
        .await
        .unwrap();
    assert!(cp.into_inner().checkpoint.is_some());
}

#[tokio::test]
async fn concurrent_duplicates_wait_for_the_first() {
    let (sim, gw) = stack(|_| {}).await;
    sim.create_latency(300).await;
    let id = new_id();
    let calls = (0..20).map(|_| {
        let mut client = gw.checkpoints();
        let req = create(&id, "concurrent");
        tokio::spawn(async move { created(&mut client, req).await })
    });
    let answers = futures_util::future::join_all(calls).await;
    let (first_id, first_req) = answers[0].as_ref().unwrap().clone();
    for answer in &answers {
        let (cp, req) = answer.as_ref().unwrap();
        assert_eq!(cp, &first_id);
        assert_eq!(req, &first_req);
    }
    assert_eq!(sim.creates(), 1);
}

#[tokio::test]
async fn a_request_id_reused_with_other_parameters_is_refused() {
    let (sim, gw) = stack(|_| {}).await;
    let mut client = gw.checkpoints();
    let id = new_id();

    // Refused while the first create still runs...
    sim.create_latency(300).await;
    let first = {
        let mut client = gw.checkpoints();
        let req = create(&id, "original");
        tokio::spawn(async move { created(&mut client, req).await })
    };
    // ...once upstream has it (the simulator counts on arrival).
    while sim.creates() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = client
        .create_checkpoint(create(&id, "changed"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["request_id"]);
    assert!(
        status
            .message()
            .contains("already used with different parameters"),
        "{}",
        status.message()
    );
    first.await.unwrap();
    sim.create_latency(0).await;

    // ...and after it finished.
    let status = client
        .create_checkpoint(create(&id, "changed"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["request_id"]);
    assert_eq!(sim.creates(), 1, "a refused reuse sends nothing");

    // Another request_id is another create; none at all creates every time.
    created(&mut client, create(&new_id(), "changed")).await;
    assert_eq!(sim.creates(), 2);
    created(&mut client, create("", "plain")).await;
    created(&mut client, create("", "plain")).await;
    assert_eq!(sim.creates(), 4);
}

#[tokio::test]
async fn a_create_outlives_its_first_callers_deadline() {
    let (sim, gw) = stack(|_| {}).await;
    sim.create_latency(500).await;
    let mut client = gw.checkpoints();
    let id = new_id();
    // Over raw HTTP/2: tonic's client would cancel at the timeout itself, and
    // the test wants the gateway's answer.
    let outcome = raw_grpc_call(
        gw.addr,
        "/cbr.gateway.v1.CheckpointService/CreateCheckpoint",
        &create(&id, "deadline"),
        &[("grpc-timeout", "100m")],
    )
    .await;
    assert_eq!(
        outcome.code,
        Code::DeadlineExceeded as i32,
        "{}",
        outcome.message
    );

    // The create went on upstream; a repeat gets its checkpoint.
    let (cp, _) = created(&mut client, create(&id, "deadline")).await;
    assert_eq!(sim.creates(), 1);
    sim.create_latency(0).await;
    let got = client
        .get_checkpoint(pb::GetCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: cp.clone(),
            region: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner().checkpoint.unwrap().id, cp);
}

#[tokio::test]
async fn failures_that_may_have_reached_upstream_are_replayed_identically() {
    let (sim, gw) = stack(|_| {}).await;
    let mut client = gw.checkpoints();

    // A 4xx from upstream: a vault that does not exist.
    let id = new_id();
    let mut req = create(&id, "missing-vault");
    req.vault_id = "00000000-0000-4000-8000-000000000000".into();
    let first = client.create_checkpoint(req.clone()).await.unwrap_err();
    assert_eq!(first.code(), Code::NotFound, "{first:?}");
    let again = client.create_checkpoint(req).await.unwrap_err();
    assert_same_status(&first, &again);
    assert_eq!(sim.creates(), 1);

    // A 5xx: the create may have happened; the repeat must not send it again,
    // even after upstream recovered.
    sim.faults(json!([{"route": "create_checkpoint", "error_rate": 1.0, "status": 500}]))
        .await;
    let id = new_id();
    let first = client
        .create_checkpoint(create(&id, "boom"))
        .await
        .unwrap_err();
    assert_eq!(first.code(), Code::Internal, "{first:?}");
    let sent = sim.creates();
    sim.faults(json!([])).await;
    let again = client
        .create_checkpoint(create(&id, "boom"))
        .await
        .unwrap_err();
    assert_same_status(&first, &again);
    assert_eq!(
        details(&again).request_info().unwrap().request_id,
        details(&first).request_info().unwrap().request_id
    );
    assert_eq!(sim.creates(), sent, "nothing sent for the repeat");
}

fn assert_same_status(first: &tonic::Status, again: &tonic::Status) {
    assert_eq!(first.code(), again.code());
    assert_eq!(first.message(), again.message());
    assert_eq!(first.details(), again.details());
    assert!(!again.details().is_empty());
}

#[tokio::test]
async fn failures_that_never_reached_upstream_are_forgotten() {
    // An injected 429 (upstream's API gateway throttled it).
    let (sim, gw) = stack(|_| {}).await;
    let mut client = gw.checkpoints();
    sim.faults(json!([{"route": "create_checkpoint", "error_rate": 1.0, "status": 429}]))
        .await;
    let id = new_id();
    let status = client
        .create_checkpoint(create(&id, "throttled"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let throttled = sim.creates();
    assert!(throttled >= 1);
    sim.faults(json!([])).await;
    created(&mut client, create(&id, "throttled")).await;
    assert_eq!(sim.creates(), throttled + 1, "the repeat was sent");

    // A closed port: the connection could not be opened. Then upstream
    // appears on that port, and the repeat is sent there.
    let spare = rebindable_listener().await;
    let addr = spare.local_addr().unwrap();
    drop(spare);
    let gw = TestStack::builder()
        .upstream(&format!("http://{addr}"))
        .project(PROJECT)
        .settings(|s| s.upstream.retry.max_attempts = 1)
        .spawn()
        .await;
    let mut client = gw.checkpoints();
    let id = new_id();
    let status = client
        .create_checkpoint(create(&id, "unreachable"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let listener = TcpListener::bind(addr)
        .await
        .expect("the port is free again");
    let state = Arc::new(simulator::SimState::new(&SimulatorSettings {
        fleet_size: 50,
        ..Default::default()
    }));
    tokio::spawn(simulator::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    created(&mut client, create(&id, "unreachable")).await;
    assert_eq!(state.stats.snapshot()["create_checkpoint"], 1);
}

#[tokio::test]
async fn remembered_ids_expire_after_the_ttl() {
    let (sim, gw) = stack(|s| s.idempotency.ttl = Duration::from_millis(800)).await;
    let mut client = gw.checkpoints();
    let id = new_id();
    let (first, _) = created(&mut client, create(&id, "ttl")).await;
    let (again, _) = created(&mut client, create(&id, "ttl")).await;
    assert_eq!(first, again);
    assert_eq!(sim.creates(), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (later, _) = created(&mut client, create(&id, "ttl")).await;
    assert_ne!(first, later, "expired: created anew");
    assert_eq!(sim.creates(), 2);
}

// ---------------------------------------------------------------------------
// Redis: one redis-server, two gateway processes.

/// Password of the test Redis: it must appear in no log line or error.
const REDIS_PASSWORD: &str = "idem-pw-never-logged";

/// A `redis-server` child on a free loopback port; killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts `redis-server` (no persistence, a password) and waits for its
    /// "Ready to accept connections" line. Fails the test when it is missing.
    async fn start() -> Redis {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--requirepass", REDIS_PASSWORD])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "redis-server is required for the Redis idempotency tests: \
                 run scripts/test.sh or `apt-get install redis-server`",
            );
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Ready to accept connections") {
                    return true;
                }
            }
            false
        })
        .await
        .expect("redis-server ready in time");
        assert!(ready, "redis-server exited before it was ready");
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Redis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}

/// A gateway process using `redis` as its idempotency store (passed by
/// environment, as a password belongs), in front of `sim`.
async fn replica(sim: &Sim, redis: &Redis) -> (Binary, CheckpointServiceClient<Channel>) {
    replica_with(sim, redis, &[]).await
}

/// [`replica`] with extra arguments.
async fn replica_with(
    sim: &Sim,
    redis: &Redis,
    extra: &[&str],
) -> (Binary, CheckpointServiceClient<Channel>) {
    let mut args = vec!["--listen", "127.0.0.1:0", "--log-format", "json"];
    let endpoints = sim.gateway_args();
    args.extend(endpoints.iter().map(String::as_str));
    args.extend(["--ak", TEST_AK, "--sk", TEST_SK, "--shutdown-delay", "0s"]);
    args.extend_from_slice(extra);
    let url = redis.url();
    let bin = Binary::start_with_env(&args, &[("IDEMPOTENCY_STORE", &url)]).await;
    // It serves once it has reached Redis, and says so.
    bin.wait_for_log(|l| l["message"] == "idempotency store connected")
        .await;
    let channel = Channel::from_shared(format!("http://{}", bin.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (bin, CheckpointServiceClient::new(channel))
}

fn assert_no_password(logs: &Arc<Mutex<Vec<String>>>) {
    for line in logs.lock().unwrap().iter() {
        assert!(!line.contains(REDIS_PASSWORD), "password logged: {line}");
    }
}

#[tokio::test]
async fn replicas_share_request_ids_through_redis() {
    let redis = Redis::start().await;
    let sim = Sim::start().await;
    let (a, client_a) = replica(&sim, &redis).await;
    let (b, client_b) = replica(&sim, &redis).await;
    sim.create_latency(300).await;

    // Twenty concurrent duplicates, split across both replicas.
    let id = new_id();
    let calls = (0..20).map(|i| {
        let mut client = if i % 2 == 0 {
            client_a.clone()
        } else {
            client_b.clone()
        };
        let req = create(&id, "shared");
        tokio::spawn(async move { created(&mut client, req).await })
    });
    let answers = futures_util::future::join_all(calls).await;
    let (first, first_req) = answers[0].as_ref().unwrap().clone();
    for answer in &answers {
        let (cp, req) = answer.as_ref().unwrap();
        assert_eq!(cp, &first);
        assert_eq!(req, &first_req);
    }
    assert_eq!(sim.creates(), 1);
    sim.create_latency(0).await;

    // A later repeat on either replica replays; other parameters are refused.
    let (again, _) = created(&mut client_b.clone(), create(&id, "shared")).await;
    assert_eq!(again, first);
    let status = client_a
        .clone()
        .create_checkpoint(create(&id, "other"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["request_id"]);

    // A mismatch is seen across replicas while the first create still runs.
    sim.create_latency(300).await;
    let id = new_id();
    let running = {
        let mut client = client_a.clone();
        let req = create(&id, "first");
        tokio::spawn(async move { created(&mut client, req).await })
    };
    while sim.creates() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = client_b
        .clone()
        .create_checkpoint(create(&id, "second"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    running.await.unwrap();
    assert_eq!(sim.creates(), 2);

    assert_no_password(&a.logs);
    assert_no_password(&b.logs);
}

#[tokio::test]
async fn with_redis_down_creates_with_request_id_send_nothing() {
    let mut redis = Redis::start().await;
    let sim = Sim::start().await;
    let (bin, mut client) = replica(&sim, &redis).await;
    created(&mut client, create(&new_id(), "before")).await;
    assert_eq!(sim.creates(), 1);

    redis.kill().await;
    for _ in 0..2 {
        let status = client
            .create_checkpoint(create(&new_id(), "during"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(
            details(&status).error_info().unwrap().reason,
            "IDEMPOTENCY_STORE_UNAVAILABLE"
        );
        assert!(!status.message().contains(REDIS_PASSWORD));
    }
    assert_eq!(sim.creates(), 1, "nothing was sent upstream");
    // Creates without a request_id do not need the store.
    created(&mut client, create("", "plain")).await;
    assert_eq!(sim.creates(), 2);
    assert_no_password(&bin.logs);
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_start() {
    let (_held, port) = refused_port();
    let url = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{port}");
    let err = TestStack::builder()
        .upstream("http://127.0.0.1:9")
        .settings(move |s| s.idempotency.store = Store::Redis(Secret::new(url)))
        .serve_error()
        .await;
    assert!(
        matches!(err, cbr_gateway::ServeError::Idempotency(_)),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
    let text = format!("{err} {err:?}");
    assert!(!text.contains(REDIS_PASSWORD), "{text}");
}

/// Waits until upstream is working on `n` creates (they started and have not
/// been answered).
async fn creates_in_flight(sim: &Sim, n: u64) {
    let since = std::time::Instant::now();
    while sim
        .running
        .state
        .stats
        .in_flight()
        .get("create_checkpoint")
        .copied()
        .unwrap_or(0)
        < n
    {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "no create in flight"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_create_in_flight_across_sigterm_is_recorded_and_not_repeated() {
    let redis = Redis::start().await;
    let sim = Sim::start().await;
    let (mut first, client) = replica(&sim, &redis).await;
    sim.create_latency(1_500).await;

    // The caller gives up at once; the create goes on, detached.
    let id = new_id();
    let mut impatient = tonic::Request::new(create(&id, "across-sigterm"));
    impatient.set_timeout(Duration::from_millis(200));
    let status = client
        .clone()
        .create_checkpoint(impatient)
        .await
        .unwrap_err();
    // tonic's client enforces the deadline itself (CANCELLED) when the
    // gateway's DEADLINE_EXCEEDED has not arrived first.
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    creates_in_flight(&sim, 1).await;

    // SIGTERM while upstream still works on it: the drain waits for the
    // create and records its outcome in Redis before the process exits.
    first.signal("TERM");
    let exit = first.exit_status(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}");
    first
        .wait_for_log(|l| l["message"] == "every detached create finished and was recorded")
        .await;
    assert_eq!(sim.creates(), 1);

    // A retry after the restart gets that checkpoint; nothing is sent again.
    sim.create_latency(0).await;
    let (_second, client) = replica(&sim, &redis).await;
    let (checkpoint, _) = created(&mut client.clone(), create(&id, "across-sigterm")).await;
    assert_eq!(sim.creates(), 1, "the retry created nothing");
    let exists = sim
        .running
        .state
        .read()
        .checkpoint(PROJECT, &checkpoint, chrono::Utc::now())
        .is_ok();
    assert!(exists, "the recorded checkpoint exists upstream");
}

#[tokio::test]
async fn a_create_outlasting_the_grace_is_recorded_as_interrupted() {
    let redis = Redis::start().await;
    let sim = Sim::start().await;
    let (mut first, client) = replica_with(&sim, &redis, &["--shutdown-grace", "1s"]).await;
    sim.create_latency(60_000).await;
    let id = new_id();
    let mut impatient = tonic::Request::new(create(&id, "outlasting"));
    impatient.set_timeout(Duration::from_millis(200));
    let _ = client.clone().create_checkpoint(impatient).await;
    creates_in_flight(&sim, 1).await;

    first.signal("TERM");
    let exit = first.exit_status(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}");

    // Whether upstream created it is unknown: a repeat says so rather than
    // risking a second checkpoint.
    sim.create_latency(0).await;
    let (_second, client) = replica(&sim, &redis).await;
    let status = client
        .clone()
        .create_checkpoint(create(&id, "outlasting"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "CREATE_INTERRUPTED"
    );
    assert!(status.message().contains("unknown"), "{status:?}");
    assert_eq!(sim.creates(), 1, "nothing was sent again");
}

/// RestoreBackup and DeleteBackup share the store: duplicates split across
/// two processes send one restore and one delete, and answer one operation.
#[tokio::test]
async fn replicas_share_restore_and_delete_request_ids_through_redis() {
    use pb::backup_service_client::BackupServiceClient;
    let redis = Redis::start().await;
    let sim = Sim::start().await;
    let (a, _) = replica(&sim, &redis).await;
    let (b, _) = replica(&sim, &redis).await;
    let connect = |addr: String| async move {
        BackupServiceClient::new(
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        )
    };
    let (client_a, client_b) = (connect(a.addr.clone()).await, connect(b.addr.clone()).await);
    let count = |route: &str| sim.running.state.stats.snapshot()[route];
    let child = client_a
        .clone()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap()
        .children
        .remove(0);
    let restore = |id: &str| pb::RestoreBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        restore: Some(pb::BackupRestore {
            server_id: SERVER.into(),
            mappings: vec![pb::BackupRestoreServerMapping {
                backup_id: child.id.clone(),
                volume_id: child.resource_id.clone(),
            }],
            ..Default::default()
        }),
        request_id: id.into(),
        region: String::new(),
    };
    sim.faults(json!([{"route": "restore_backup", "latency_ms": 300}]))
        .await;
    let id = new_id();
    let calls = (0..10).map(|i| {
        let mut client = if i % 2 == 0 {
            client_a.clone()
        } else {
            client_b.clone()
        };
        let req = restore(&id);
        tokio::spawn(async move { client.restore_backup(req).await.map(|r| r.into_inner()) })
    });
    let answers = futures_util::future::join_all(calls).await;
    let first = answers[0].as_ref().unwrap().as_ref().unwrap().clone();
    assert!(first.name.contains("/operations/restore."), "{first:?}");
    for answer in &answers {
        assert_eq!(answer.as_ref().unwrap().as_ref().unwrap(), &first);
    }
    assert_eq!(count("restore_backup"), 1);
    // The same id for a delete is another call: refused on either replica.
    let delete = |id: &str| pb::DeleteBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        request_id: id.into(),
        region: String::new(),
    };
    let status = client_b
        .clone()
        .delete_backup(delete(&id))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["request_id"]);
    assert_eq!(count("delete_backup"), 0);
    sim.faults(json!([])).await;
    assert_no_password(&a.logs);
    assert_no_password(&b.logs);
}
