//! WatchCheckpoint at scale: N watchers of one checkpoint on the gateway binary
//! (serving from its built-in simulator), measured from outside through /proc.
//!
//! Prints: upstream polls per poll interval (the simulator's own counter),
//! gateway memory per idle watcher (RSS delta / N), and gateway CPU per
//! delivered message (utime+stime delta / messages).
//!
//! Run: `cargo bench --bench watch` (or `-- 1000` for another watcher count).

mod common;
use common::*;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use cbr_gateway::proto::{self as pb, checkpoint_service_client::CheckpointServiceClient};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

const VAULT: &str = "3b5816b5-f29c-4172-9d9a-76c719a659ce";
const PER_CONNECTION: usize = 1000;

async fn polls(http: &reqwest::Client, sim: &str) -> u64 {
    simulator_requests(http, sim)
        .await
        .get("get_checkpoint")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let watchers: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    cbr_gateway::install_crypto_provider();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "warn,cbr_gateway=info",
            "--sim-fleet-size",
            "100",
            "--sim-backup-duration",
            "100s",
            "--watch-poll-interval",
            "1s",
            "--watch-max-poll-interval",
            "1s",
            "--watch-heartbeat",
            "60s",
            "--max-watch-streams",
            "100000",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run the gateway binary");
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = format!("http://{}", first["listen"].as_str().unwrap());
    let sim = first["simulator"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();

    let channel = Channel::from_shared(addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let id = CheckpointServiceClient::new(channel)
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                name: Some("bench".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap()
        .id;

    // Warm the allocator and the connection pool with one watcher first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = status_kib(pid, "VmRSS:");
    let polls_before = polls(&http, &sim).await;
    let started = Instant::now();
    let mut streams = Vec::with_capacity(watchers);
    let mut clients = Vec::new();
    for _ in 0..watchers.div_ceil(PER_CONNECTION) {
        let channel = Channel::from_shared(addr.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        clients.push(CheckpointServiceClient::new(channel));
    }
    for i in 0..watchers {
        let client = &mut clients[i / PER_CONNECTION];
        let stream = client
            .watch_checkpoint(pb::WatchCheckpointRequest {
                project_id: String::new(),
                checkpoint_id: id.clone(),
                include_backups: true,
                region: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        streams.push(stream);
    }
    for s in &mut streams {
        s.next().await.unwrap().unwrap();
    }
    let join_time = started.elapsed();
    let polls_join = polls(&http, &sim).await - polls_before;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = status_kib(pid, "VmRSS:");

    // Fan-out: every watcher receives the next few changes.
    let rounds = 5;
    let cpu_before = cpu_time(pid);
    let polls_fan = polls(&http, &sim).await;
    let fan_started = Instant::now();
    let mut messages = 0u64;
    for _ in 0..rounds {
        for s in &mut streams {
            let m = s.next().await.unwrap().unwrap();
            assert_eq!(m.kind(), pb::WatchEventKind::Changed);
            messages += 1;
        }
    }
    let fan_time = fan_started.elapsed();
    let cpu = cpu_time(pid).saturating_sub(cpu_before).as_secs_f64();
    let polls_during = polls(&http, &sim).await - polls_fan;

    println!(
        "WatchCheckpoint benchmark ({watchers} watchers of one checkpoint, include_backups, poll interval 1 s)"
    );
    println!(
        "  joining: {:.2} s for all watchers, {polls_join} upstream polls meanwhile",
        join_time.as_secs_f64()
    );
    println!(
        "  fan-out: {rounds} changes in {:.2} s, {polls_during} upstream polls = {:.2} polls per interval",
        fan_time.as_secs_f64(),
        polls_during as f64 / fan_time.as_secs_f64()
    );
    println!(
        "  gateway RSS: {} KiB before, {} KiB with {watchers} idle watchers => {:.2} KiB per idle watcher",
        rss_before,
        rss_idle,
        (rss_idle.saturating_sub(rss_before)) as f64 / watchers as f64
    );
    println!(
        "  gateway CPU: {:.3} s for {messages} messages => {:.1} µs per delivered message",
        cpu,
        cpu * 1e6 / messages as f64
    );
    drop(streams);
    let _ = child.kill().await;
}
