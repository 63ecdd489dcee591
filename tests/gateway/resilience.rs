//! Resilience, end to end through the built-in simulator's faults with the
//! gateway's default settings: read retries and their budget, deadlines, a
//! caller's cancel, load shedding, message size limits.
//!
//! The simulator's fault decisions are seeded, so each run sees the same faults.

use crate::common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cbr_gateway::proto as pb;
use cbr_simulator::{self as simulator, SimulatorSettings, faults::FaultRule};
use common::*;
use tonic::Code;

struct Stack {
    gw: Gateway,
    sim: simulator::Embedded,
}

impl Stack {
    /// A simulator answering with `faults`, and a gateway with `edit` applied
    /// to its settings.
    async fn new(faults: &[&str], edit: impl FnOnce(&mut Settings) + Send + 'static) -> Stack {
        let (gw, sim) = TestStack::builder()
            .simulator(SimulatorSettings {
                fleet_size: 50,
                faults: faults
                    .iter()
                    .map(|f| f.parse::<FaultRule>().unwrap())
                    .collect(),
                fault_seed: Some(20_261_123),
                ..Default::default()
            })
            .project(PROJECT)
            .settings(edit)
            .spawn()
            .await
            .into_parts();
        Stack { gw, sim }
    }

    /// Requests upstream received on `route`.
    fn upstream(&self, route: &str) -> u64 {
        self.sim.state.stats.snapshot()[route]
    }

    fn in_flight(&self, route: &str) -> u64 {
        self.sim.state.stats.in_flight()[route]
    }
}

fn get_backup(timeout: Option<Duration>) -> tonic::Request<pb::GetBackupRequest> {
    get_backup_of(BACKUP, timeout)
}

fn get_backup_of(id: &str, timeout: Option<Duration>) -> tonic::Request<pb::GetBackupRequest> {
    let mut req = tonic::Request::new(pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: id.into(),
        region: String::new(),
    });
    if let Some(t) = timeout {
        req.set_timeout(t);
    }
    req
}

/// `n` backup IDs the upstream has.
async fn backup_ids(gw: &Gateway, n: usize) -> Vec<String> {
    let listed = gw
        .backups()
        .list_backups(pb::ListBackupsRequest {
            limit: Some(n as i32),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = listed.backups.into_iter().map(|b| b.id).collect();
    assert_eq!(ids.len(), n);
    ids
}

/// `calls` GetBackup calls over `workers` concurrent clients, each worker
/// reading a backup of its own (identical reads at once would share one
/// upstream request, and these tests count each call's attempts); the
/// outcome of each.
async fn reads(
    gw: &Gateway,
    calls: usize,
    workers: usize,
    timeout: Option<Duration>,
) -> Vec<(Result<(), tonic::Status>, Duration)> {
    let per_worker = calls / workers;
    let mut tasks = Vec::new();
    for id in backup_ids(gw, workers).await {
        let mut client = gw.backups();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let started = Instant::now();
                let r = client
                    .get_backup(get_backup_of(&id, timeout))
                    .await
                    .map(|_| ());
                out.push((r, started.elapsed()));
            }
            out
        }));
    }
    let mut all = Vec::with_capacity(calls);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn with_20_percent_503s_reads_succeed() {
    let s = Stack::new(&["route=get_backup,error_rate=0.2,status=503"], |_| {}).await;
    let outcomes = reads(&s.gw, 1000, 8, None).await;
    let ok = outcomes.iter().filter(|(r, _)| r.is_ok()).count();
    let attempts = s.upstream("get_backup") as f64 / 1000.0;
    println!("20% 503s: {ok}/1000 reads succeeded, {attempts:.3} upstream attempts per call");
    assert!(ok >= 995, "only {ok}/1000 succeeded");
    // Retries, not luck: a fifth of first attempts failed.
    assert!(attempts > 1.1, "{attempts}");
}

#[tokio::test]
async fn with_50_percent_503s_sequential_reads_with_5s_deadlines_succeed() {
    let s = Stack::new(&["route=get_backup,error_rate=0.5,status=503"], |_| {}).await;
    let outcomes = reads(&s.gw, 20, 1, Some(Duration::from_secs(5))).await;
    let ok = outcomes.iter().filter(|(r, _)| r.is_ok()).count();
    let slowest = outcomes.iter().map(|(_, d)| *d).max().unwrap();
    println!(
        "50% 503s: {ok}/20 reads succeeded, {} upstream attempts, slowest {slowest:?}",
        s.upstream("get_backup")
    );
    assert!(ok >= 19, "only {ok}/20 succeeded");
    for (r, _) in &outcomes {
        if let Err(status) = r {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        }
    }
}

#[tokio::test]
async fn a_total_outage_fails_fast_and_the_retry_budget_holds() {
    let s = Stack::new(&["route=get_backup,error_rate=1,status=503"], |_| {}).await;
    let deadline = Duration::from_secs(5);
    let outcomes = reads(&s.gw, 1000, 8, Some(deadline)).await;
    let attempts = s.upstream("get_backup") as f64 / 1000.0;
    let slowest = outcomes.iter().map(|(_, d)| *d).max().unwrap();
    println!("100% 503s: {attempts:.3} upstream attempts per call, slowest call {slowest:?}");
    for (r, _) in &outcomes {
        let status = r.as_ref().unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(details(status).error_info().unwrap().reason, "APIGW.0203");
    }
    assert!(attempts <= 2.0, "{attempts} attempts per call");
    // Backoff waits are at most 50+100+200+400 ms: far inside the deadline.
    assert!(slowest < deadline / 2, "slowest call took {slowest:?}");
}

#[tokio::test]
async fn a_stalled_upstream_meets_the_callers_deadline() {
    let s = Stack::new(&["route=get_backup,latency=60s"], |_| {}).await;
    // A bare HTTP/2 client: tonic's own client would race the server with its
    // local timer and report CANCELLED; this shows what the gateway answers.
    let started = Instant::now();
    let raw = raw_grpc_call(
        s.gw.addr,
        "/cbr.gateway.v1.BackupService/GetBackup",
        &get_backup(None).into_inner(),
        &[("grpc-timeout", "500m")],
    )
    .await;
    let took = started.elapsed();
    println!(
        "stalled upstream, 500 ms deadline: code {} after {took:?}",
        raw.code
    );
    assert_eq!(raw.code, Code::DeadlineExceeded as i32, "{}", raw.message);
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // One attempt: a timed-out read is not retried.
    assert_eq!(s.upstream("get_backup"), 1);
}

#[tokio::test]
async fn calls_without_a_deadline_get_the_default_and_long_ones_are_cut() {
    let s = Stack::new(&["route=get_backup,latency=60s"], |s| {
        s.calls.default_deadline = Duration::from_millis(300);
        s.calls.max_deadline = Duration::from_millis(600);
    })
    .await;
    for (asked, bound) in [(&[][..], 300), (&[("grpc-timeout", "1H")][..], 600)] {
        let started = Instant::now();
        let raw = raw_grpc_call(
            s.gw.addr,
            "/cbr.gateway.v1.BackupService/GetBackup",
            &get_backup(None).into_inner(),
            asked,
        )
        .await;
        let took = started.elapsed();
        assert_eq!(
            raw.code,
            Code::DeadlineExceeded as i32,
            "{asked:?}: {}",
            raw.message
        );
        assert!(
            took >= Duration::from_millis(bound) && took < Duration::from_millis(bound + 1000),
            "{asked:?}: {took:?}"
        );
    }
}

#[tokio::test]
async fn a_cancelled_call_aborts_its_upstream_request() {
    let s = Stack::new(&["route=get_backup,latency=30s"], |_| {}).await;
    let mut client = s.gw.backups();
    let call = tokio::spawn(async move { client.get_backup(get_backup(None)).await });
    wait_until("upstream request in flight", || {
        s.in_flight("get_backup") == 1
    })
    .await;
    // Dropping the call resets its HTTP/2 stream: the caller has cancelled.
    call.abort();
    wait_until("upstream request abandoned", || {
        s.sim.state.stats.abandoned()["get_backup"] == 1
    })
    .await;
    assert_eq!(s.in_flight("get_backup"), 0);
}

#[tokio::test]
async fn retry_after_is_waited_for_when_it_fits() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after", "1")
                .set_body_json(
                    serde_json::json!({"error_code": "APIGW.0203", "error_msg": "busy"}),
                ),
        )
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("show_backup.json")))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let started = Instant::now();
    let reply = gw
        .backups()
        .get_backup(with_token(
            pb::GetBackupRequest {
                project_id: PROJECT.into(),
                backup_id: BACKUP.into(),
                region: String::new(),
            },
            "t",
        ))
        .await;
    let took = started.elapsed();
    assert!(reply.is_ok(), "{reply:?}");
    assert!(took >= Duration::from_secs(1), "waited only {took:?}");
    assert_eq!(upstream.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_ends_the_call_at_once() {
    let s = Stack::new(
        &["route=get_backup,error_rate=1,status=429,retry_after=30s"],
        |_| {},
    )
    .await;
    let started = Instant::now();
    let status =
        s.gw.backups()
            .get_backup(get_backup(Some(Duration::from_secs(5))))
            .await
            .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.upstream("get_backup"), 1);
}

#[tokio::test]
async fn creates_are_not_sent_twice_after_an_error_or_a_lost_connection() {
    for fault in [
        "route=create_checkpoint,error_rate=1,status=503",
        "route=create_checkpoint,drop_rate=1",
    ] {
        let s = Stack::new(&[fault], |_| {}).await;
        let status =
            s.gw.checkpoints()
                .create_checkpoint(pb::CreateCheckpointRequest {
                    vault_id: VAULT.into(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{fault}: {status:?}");
        assert_eq!(s.upstream("create_checkpoint"), 1, "{fault}");
    }
}

#[tokio::test]
async fn a_create_is_resent_when_the_connection_never_opened() {
    // Upstream's port is closed at first: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = TestStack::builder()
        .upstream(&format!("http://127.0.0.1:{port}"))
        .project(PROJECT)
        .settings(|s| {
            let retry = &mut s.upstream.retry;
            retry.max_attempts = 10;
            retry.initial_backoff = Duration::from_millis(200);
            retry.max_backoff = Duration::from_millis(200);
        })
        .spawn()
        .await;
    let mut client = gw.checkpoints();
    let call = tokio::spawn(async move {
        let mut req = tonic::Request::new(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            ..Default::default()
        });
        req.set_timeout(Duration::from_secs(10));
        client.create_checkpoint(req).await
    });
    // Let the first attempt be refused, then open the port.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let state = Arc::new(simulator::SimState::new(&SimulatorSettings {
        fleet_size: 10,
        ..Default::default()
    }));
    tokio::spawn(simulator::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let created = call
        .await
        .unwrap()
        .expect("the create succeeds once upstream is up");
    assert!(created.into_inner().checkpoint.is_some());
    assert_eq!(state.stats.snapshot()["create_checkpoint"], 1);
}

#[tokio::test]
async fn calls_beyond_the_in_flight_cap_are_shed_quickly() {
    let s = Stack::new(&["route=get_backup,latency=1s"], |s| {
        s.upstream.max_inflight = 2;
        s.upstream.queue_timeout = Duration::from_millis(50);
    })
    .await;
    // Three different backups: identical reads would share one request.
    let ids = backup_ids(&s.gw, 3).await;
    let slow: Vec<_> = ids[..2]
        .iter()
        .map(|id| {
            let mut c = s.gw.backups();
            let req = get_backup_of(id, None);
            tokio::spawn(async move { c.get_backup(req).await })
        })
        .collect();
    wait_until("two upstream requests in flight", || {
        s.in_flight("get_backup") == 2
    })
    .await;
    let started = Instant::now();
    let status =
        s.gw.backups()
            .get_backup(get_backup_of(&ids[2], None))
            .await
            .unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(details(&status).error_info().unwrap().reason, "OVERLOADED");
    assert!(took < Duration::from_millis(500), "shed after {took:?}");
    for call in slow {
        call.await
            .unwrap()
            .expect("the calls holding the slots finish");
    }
    // Slots free again: calls go through.
    s.gw.backups().get_backup(get_backup(None)).await.unwrap();
    assert_eq!(
        s.upstream("get_backup"),
        3,
        "the shed call never reached upstream"
    );
}

#[tokio::test]
async fn oversized_request_messages_are_resource_exhausted() {
    let s = Stack::new(&[], |s| s.transport.max_request_bytes = 4096).await;
    let req = |len: usize| pb::CreateCheckpointRequest {
        vault_id: VAULT.into(),
        parameters: Some(pb::CheckpointParameters {
            description: Some("d".repeat(len)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let status =
        s.gw.checkpoints()
            .create_checkpoint(req(8 * 1024))
            .await
            .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "REQUEST_TOO_LARGE"
    );
    assert_eq!(s.upstream("create_checkpoint"), 0);
    // Below the limit, the size is not the problem (the description rule is).
    let status =
        s.gw.checkpoints()
            .create_checkpoint(req(300))
            .await
            .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}
