//! WatchCheckpoint through the gateway against the simulator: initial state at
//! once, a message per change, heartbeats (also before the first state), the
//! end after a terminal state; shared pollers (one upstream poll per interval
//! however many watch), never shared across credentials, stopped mid-poll when
//! the last watcher leaves; transient faults survived, failures that may pass
//! survived a bounded number of times, permanent ones end the stream; the cap
//! on open watch streams.

use crate::common;

use std::time::{Duration, Instant};

use cbr_gateway::{
    proto::{self as pb, checkpoint_service_client::CheckpointServiceClient},
    watch::MAX_PASSING_FAILURES,
};
use cbr_simulator::{self as simulator, Embedded, SimulatorSettings};
use common::*;
use serde_json::json;
use tokio_stream::StreamExt;
use tonic::{Code, Streaming, transport::Channel};

struct Stack {
    gw: Gateway,
    sim: Embedded,
    url: String,
}

/// A simulator whose backups take `backup_duration`, accepting `sim_tokens`,
/// and a gateway polling it every 100 ms (backing off to 200 ms), with `edit`
/// applied to its settings.
async fn stack(
    backup_duration: Duration,
    edit: impl FnOnce(&mut Settings) + Send + 'static,
    sim_tokens: &[&str],
) -> Stack {
    let sim = SimulatorSettings {
        fleet_size: 20,
        backup_duration,
        tokens: sim_tokens.iter().map(|t| (*t).to_owned()).collect(),
        ..Default::default()
    };
    spawn(sim, ms(100), ms(200), edit).await
}

/// A simulator answering with `faults` from the start, and a gateway polling
/// it every `poll`, backing off to `max_poll`, with `edit` applied to its
/// settings.
async fn faulty_stack(
    faults: &[&str],
    poll: Duration,
    max_poll: Duration,
    edit: impl FnOnce(&mut Settings) + Send + 'static,
) -> Stack {
    let sim = SimulatorSettings {
        fleet_size: 20,
        backup_duration: Duration::from_secs(60),
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        ..Default::default()
    };
    spawn(sim, poll, max_poll, edit).await
}

async fn spawn(
    sim: SimulatorSettings,
    poll: Duration,
    max_poll: Duration,
    edit: impl FnOnce(&mut Settings) + Send + 'static,
) -> Stack {
    let stack = TestStack::builder()
        .simulator(sim)
        .project(PROJECT)
        .settings(move |s| {
            s.watch.poll_interval = poll;
            s.watch.max_poll_interval = max_poll;
        })
        .settings(edit)
        .spawn()
        .await;
    let url = stack.sim_url();
    let (gw, sim) = stack.into_parts();
    Stack { gw, sim, url }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn unchanged(_: &mut Settings) {}

/// Polls `done` every 5 ms until it holds; fails after 10 s.
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

/// The next message, which must come within 10 s.
async fn next_in_time(
    stream: &mut Streaming<pb::WatchCheckpointResponse>,
) -> Option<Result<pb::WatchCheckpointResponse, tonic::Status>> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a message or the end in time")
}

impl Stack {
    async fn set_faults(&self, rules: serde_json::Value) {
        let status = reqwest::Client::new()
            .put(format!("{}/_simulator/faults", self.url))
            .json(&rules)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 204);
    }

    fn polls(&self) -> u64 {
        self.sim.state.stats.snapshot()["get_checkpoint"]
    }

    async fn create(&self, name: &str) -> String {
        self.create_as(name, None).await
    }

    async fn create_as(&self, name: &str, token: Option<&str>) -> String {
        let req = pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                name: Some(name.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let req = match token {
            Some(t) => with_token(req, t),
            None => tonic::Request::new(req),
        };
        self.gw
            .checkpoints()
            .create_checkpoint(req)
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap()
            .id
    }
}

async fn watch(
    client: &mut CheckpointServiceClient<Channel>,
    id: &str,
    include_backups: bool,
) -> Streaming<pb::WatchCheckpointResponse> {
    client
        .watch_checkpoint(pb::WatchCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: id.into(),
            include_backups,
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_fresh_checkpoint_is_watched_to_available_with_progress() {
    let s = stack(Duration::from_millis(1500), unchanged, &[]).await;
    let id = s.create("watched").await;
    let mut stream = watch(&mut s.gw.checkpoints(), &id, true).await;
    let mut messages = vec![];
    while let Some(m) = stream.next().await {
        messages.push(m.unwrap());
    }
    let first = &messages[0];
    assert_eq!(first.kind(), pb::WatchEventKind::Initial);
    assert_eq!(
        first.checkpoint.as_ref().unwrap().status(),
        pb::CheckpointStatus::Protecting
    );
    assert!(first.observed_at.is_some());
    let last = messages.last().unwrap();
    assert_eq!(
        last.checkpoint.as_ref().unwrap().status(),
        pb::CheckpointStatus::Available
    );
    assert_eq!(last.backups[0].status(), pb::BackupStatus::Available);
    assert!(
        last.changes
            .iter()
            .any(|c| c
                .contains("status: CHECKPOINT_STATUS_PROTECTING -> CHECKPOINT_STATUS_AVAILABLE")),
        "{:?}",
        last.changes
    );
    // Progress was reported on the way, rising.
    let progress: Vec<i32> = messages
        .iter()
        .filter_map(|m| m.backups.first()?.extend_info.as_ref()?.progress)
        .collect();
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(
        messages[1..]
            .iter()
            .all(|m| m.kind() == pb::WatchEventKind::Changed && !m.changes.is_empty())
    );
    assert!(
        messages
            .iter()
            .any(|m| m.changes.iter().any(|c| c.contains("progress:")))
    );
}

#[tokio::test]
async fn a_thousand_watchers_share_one_poller() {
    let s = stack(
        Duration::from_secs(30),
        |s| s.transport.max_streams_per_connection = 1000,
        &[],
    )
    .await;
    let id = s.create("crowd").await;
    let polls_before = s.polls();
    let started = Instant::now();
    // At most one poll per interval (100 ms, jittered down to 90 ms) plus the
    // first, however many watchers there are.
    let allowed = |since: Instant| (since.elapsed().as_millis() / 90) as u64 + 2;
    // Several connections, as many clients would have.
    let mut streams = Vec::new();
    for c in 0..4 {
        let channel = Channel::from_shared(format!("http://{}", s.gw.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = CheckpointServiceClient::new(channel);
        for _ in 0..250 {
            streams.push(watch(&mut client, &id, true).await);
        }
        let _ = c;
    }
    for st in &mut streams {
        let m = st.next().await.unwrap().unwrap();
        assert_eq!(m.kind(), pb::WatchEventKind::Initial);
    }
    let joined = s.polls() - polls_before;
    assert!(
        joined <= allowed(started),
        "1000 watchers joined with {joined} upstream polls in {:?}",
        started.elapsed()
    );
    // Every watcher now sees the same three changes; upstream is polled about
    // once per change, not once per watcher.
    for _ in 0..3 {
        for st in &mut streams {
            let m = st.next().await.unwrap().unwrap();
            assert_eq!(m.kind(), pb::WatchEventKind::Changed);
        }
    }
    let polls = s.polls() - polls_before;
    assert!(
        polls <= allowed(started),
        "{polls} upstream polls for 1000 watchers in {:?}",
        started.elapsed()
    );

    // Everyone leaves: the poller stops.
    drop(streams);
    let settle = Instant::now();
    let mut last = s.polls();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = s.polls();
        if now == last {
            break;
        }
        last = now;
        assert!(
            settle.elapsed() < Duration::from_secs(5),
            "the poller kept polling"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.polls(), last, "no polls after the last watcher left");
}

#[tokio::test]
async fn watchers_with_different_credentials_never_share() {
    let s = stack(Duration::from_secs(30), unchanged, &["token-a", "token-b"]).await;
    let id = s.create_as("private", Some("token-a")).await;
    let before = s.polls();
    let mut client = s.gw.checkpoints();
    let req = || pb::WatchCheckpointRequest {
        project_id: String::new(),
        checkpoint_id: id.clone(),
        include_backups: false,
        region: String::new(),
    };
    let mut a = client
        .watch_checkpoint(with_token(req(), "token-a"))
        .await
        .unwrap()
        .into_inner();
    a.next().await.unwrap().unwrap();
    let mut b = client
        .watch_checkpoint(with_token(req(), "token-b"))
        .await
        .unwrap()
        .into_inner();
    b.next().await.unwrap().unwrap();
    assert_eq!(s.polls() - before, 2, "one poller per identity");
    let mut a2 = client
        .watch_checkpoint(with_token(req(), "token-a"))
        .await
        .unwrap()
        .into_inner();
    a2.next().await.unwrap().unwrap();
    assert!(
        s.polls() - before <= 3,
        "a second watcher with the same token joins"
    );
    // A token upstream refuses gets its own poller and its own refusal.
    let mut c = client
        .watch_checkpoint(with_token(req(), "token-c"))
        .await
        .unwrap()
        .into_inner();
    let status = c.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn transient_faults_do_not_end_the_stream_and_a_404_does() {
    let s = stack(Duration::from_millis(1500), unchanged, &[]).await;
    let id = s.create("flaky").await;
    let mut stream = watch(&mut s.gw.checkpoints(), &id, false).await;
    assert_eq!(
        stream.next().await.unwrap().unwrap().kind(),
        pb::WatchEventKind::Initial
    );
    let http = reqwest::Client::new();
    let faults = format!("{}/_simulator/faults", s.url);
    http.put(&faults)
        .json(&json!([{"route": "get_checkpoint", "error_rate": 1.0, "status": 503}]))
        .send()
        .await
        .unwrap();
    let during = s.polls();
    // Let a few polls fail.
    while s.polls() < during + 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    http.put(&faults).json(&json!([])).send().await.unwrap();
    let mut last = None;
    while let Some(m) = stream.next().await {
        last = Some(m.expect("transient faults never end the stream"));
    }
    assert_eq!(
        last.unwrap().checkpoint.unwrap().status(),
        pb::CheckpointStatus::Available
    );

    let mut missing = watch(&mut s.gw.checkpoints(), "no-such-checkpoint", false).await;
    let status = missing.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "BackupService.6217"
    );
    assert!(missing.next().await.is_none());
}

#[tokio::test]
async fn heartbeats_while_nothing_changes_and_the_stream_cap() {
    let s = stack(
        Duration::from_secs(60),
        |s| {
            s.watch.heartbeat = ms(200);
            s.transport.max_server_streams = 2;
        },
        &[],
    )
    .await;
    let id = s.create("quiet").await;
    let mut client = s.gw.checkpoints();
    let mut one = watch(&mut client, &id, false).await;
    // A first poll slower than the heartbeat (a loaded machine) is preceded
    // by heartbeats without a checkpoint.
    let first = loop {
        let m = one.next().await.unwrap().unwrap();
        if m.checkpoint.is_some() {
            break m;
        }
        assert_eq!(m.kind(), pb::WatchEventKind::Heartbeat);
    };
    assert_eq!(first.kind(), pb::WatchEventKind::Initial);
    let beat = one.next().await.unwrap().unwrap();
    assert_eq!(beat.kind(), pb::WatchEventKind::Heartbeat);
    assert!(beat.changes.is_empty());
    assert_eq!(beat.checkpoint.unwrap().id, id);

    let _two = watch(&mut client, &id, false).await;
    let third = client
        .watch_checkpoint(pb::WatchCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: id.clone(),
            include_backups: false,
            region: String::new(),
        })
        .await;
    let status = match third {
        Err(status) => status,
        Ok(resp) => resp.into_inner().next().await.unwrap().unwrap_err(),
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    // Closing a stream frees its slot.
    drop(one);
    let started = Instant::now();
    loop {
        let again = client
            .watch_checkpoint(pb::WatchCheckpointRequest {
                project_id: String::new(),
                checkpoint_id: id.clone(),
                include_backups: false,
                region: String::new(),
            })
            .await;
        if again.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "slot never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_terminal_checkpoint_is_sent_once_and_the_stream_ends() {
    let s = stack(Duration::from_secs(10), unchanged, &[]).await;
    let mut stream = watch(&mut s.gw.checkpoints(), CHECKPOINT, true).await;
    let only = stream.next().await.unwrap().unwrap();
    assert_eq!(only.kind(), pb::WatchEventKind::Initial);
    assert_eq!(
        only.checkpoint.unwrap().status(),
        pb::CheckpointStatus::Available
    );
    assert_eq!(only.backups.len(), 1);
    assert!(stream.next().await.is_none(), "ends with OK");
}

#[tokio::test]
async fn the_callers_deadline_ends_a_watch_with_deadline_exceeded() {
    let s = stack(
        Duration::from_secs(60),
        |s| s.watch.heartbeat = Duration::from_secs(60),
        &[],
    )
    .await;
    let id = s.create("deadline").await;
    let mut req = tonic::Request::new(pb::WatchCheckpointRequest {
        project_id: String::new(),
        checkpoint_id: id,
        include_backups: false,
        region: String::new(),
    });
    req.set_timeout(Duration::from_millis(700));
    let started = Instant::now();
    let mut stream =
        s.gw.checkpoints()
            .watch_checkpoint(req)
            .await
            .unwrap()
            .into_inner();
    assert_eq!(
        stream.next().await.unwrap().unwrap().kind(),
        pb::WatchEventKind::Initial
    );
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream ends at the deadline")
        .unwrap()
        .unwrap_err();
    assert_eq!(end.code(), Code::DeadlineExceeded, "{end:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_upstream_answering_500_for_ever_ends_the_watch_after_five_polls() {
    let s = faulty_stack(
        &["route=get_checkpoint,error_rate=1,status=500"],
        ms(50),
        ms(100),
        unchanged,
    )
    .await;
    let mut stream = watch(&mut s.gw.checkpoints(), CHECKPOINT, false).await;
    let end = next_in_time(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(end.code(), Code::Internal, "{end:?}");
    assert_eq!(
        details(&end).error_info().unwrap().reason,
        "BackupService.9910"
    );
    assert!(stream.next().await.is_none());
    // A 500 is not retried by the upstream client: one request per poll.
    let bounded = u64::from(MAX_PASSING_FAILURES);
    assert_eq!(s.polls(), bounded);
    // The next watch gets a poller of its own and the same verdict; the
    // first poller polled no more in the meantime.
    let mut again = watch(&mut s.gw.checkpoints(), CHECKPOINT, false).await;
    let end = next_in_time(&mut again).await.unwrap().unwrap_err();
    assert_eq!(end.code(), Code::Internal);
    assert_eq!(s.polls(), 2 * bounded);
}

#[tokio::test]
async fn a_successful_poll_resets_the_count_of_failures_that_may_pass() {
    // Backing off to 1 s leaves time to act between two failed polls.
    let s = faulty_stack(&[], ms(100), Duration::from_secs(1), unchanged).await;
    let id = s.create("resets").await;
    let fail = json!([{"route": "get_checkpoint", "error_rate": 1.0, "status": 500}]);
    s.set_faults(fail.clone()).await;
    let before = s.polls();
    let mut stream = watch(&mut s.gw.checkpoints(), &id, false).await;
    let one_short = u64::from(MAX_PASSING_FAILURES) - 1;
    wait_until("failed polls, one short of the bound", || {
        s.polls() >= before + one_short
    })
    .await;
    s.set_faults(json!([])).await;
    let first = next_in_time(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.kind(), pb::WatchEventKind::Initial);
    s.set_faults(fail).await;
    let failing_from = s.polls();
    let end = next_in_time(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(end.code(), Code::Internal);
    // The success started the count again: the bound, not what was left of
    // it. (A poll counted just before the rules changed may be one of them.)
    let failed = s.polls() - failing_from;
    assert!(
        (one_short..=one_short + 1).contains(&failed),
        "{failed} failed polls after the success"
    );
}

#[tokio::test]
async fn heartbeats_flow_while_the_first_poll_keeps_failing_transiently() {
    let s = faulty_stack(
        &["route=get_checkpoint,error_rate=1,status=503"],
        ms(50),
        ms(100),
        // One upstream request per poll, so polls can be counted.
        |s| {
            s.watch.heartbeat = ms(150);
            s.upstream.retry.max_attempts = 1;
        },
    )
    .await;
    let mut stream = watch(&mut s.gw.checkpoints(), CHECKPOINT, false).await;
    let mut beats = 0;
    // Well past the bound on failures that may pass: these never end it.
    while s.polls() <= 2 * u64::from(MAX_PASSING_FAILURES) {
        let beat = next_in_time(&mut stream).await.unwrap().unwrap();
        assert_eq!(beat.kind(), pb::WatchEventKind::Heartbeat);
        assert!(beat.checkpoint.is_none(), "no state yet: {beat:?}");
        assert!(beat.backups.is_empty() && beat.changes.is_empty());
        let sent = std::time::SystemTime::try_from(beat.observed_at.unwrap()).unwrap();
        let age = std::time::SystemTime::now()
            .duration_since(sent)
            .unwrap_or_default();
        assert!(age < Duration::from_secs(5), "observed_at is now: {age:?}");
        beats += 1;
    }
    assert!(beats >= 2, "{beats} heartbeats");
    // Upstream is back: the same stream brings the state, then ends (the
    // seeded checkpoint is final).
    s.set_faults(json!([])).await;
    let state = loop {
        let m = next_in_time(&mut stream).await.unwrap().unwrap();
        if m.kind() != pb::WatchEventKind::Heartbeat {
            break m;
        }
    };
    assert_eq!(state.kind(), pb::WatchEventKind::Initial);
    assert_eq!(state.checkpoint.unwrap().id, CHECKPOINT);
    assert!(next_in_time(&mut stream).await.is_none());
}

/// The value of the unlabelled sample `name` in an OpenMetrics text.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn a_watcher_leaving_mid_poll_aborts_the_poll_and_stops_the_poller() {
    cbr_gateway::install_crypto_provider();
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        faults: vec!["route=get_checkpoint,latency=60s".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", sim.addr);
    // The real binary, for its metrics endpoint.
    let gw = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--shutdown-delay",
        "0s",
        "--cbr-endpoint",
        &url,
        "--project-id",
        PROJECT,
        "--ak",
        TEST_AK,
        "--sk",
        TEST_SK,
        "--watch-poll-interval",
        "100ms",
    ])
    .await;
    let announced = gw
        .wait_for_log(|l| l["message"] == "Prometheus metrics at /metrics")
        .await;
    let metrics = format!(
        "http://{}/metrics",
        announced["metrics_listen"].as_str().unwrap()
    );
    let pollers = || {
        let metrics = metrics.clone();
        async move {
            let text = reqwest::get(metrics).await.unwrap().text().await.unwrap();
            gauge(&text, "cbr_gateway_watch_pollers").expect("the pollers gauge")
        }
    };
    let channel = Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let stats = &sim.state.stats;
    let stream = watch(
        &mut CheckpointServiceClient::new(channel),
        CHECKPOINT,
        false,
    )
    .await;
    wait_until("the first poll hangs upstream", || {
        stats.in_flight()["get_checkpoint"] == 1
    })
    .await;
    assert_eq!(pollers().await, 1.0);

    let left = Instant::now();
    drop(stream);
    wait_until("the hanging poll is abandoned", || {
        stats.abandoned()["get_checkpoint"] == 1
    })
    .await;
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "abandoned after {:?}, not at the upstream timeout",
        left.elapsed()
    );
    assert_eq!(stats.in_flight()["get_checkpoint"], 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pollers().await != 0.0 {
        assert!(Instant::now() < deadline, "the poller outlived its watcher");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.snapshot()["get_checkpoint"], 1, "no poll after it");
}
