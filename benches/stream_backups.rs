//! StreamBackups throughput: the built-in simulator with a fleet of 100,000
//! backups and the gateway, both in this process on loopback; every backup
//! streamed over gRPC with `page_size` 1000, three times.
//!
//! Prints, per run: backups, elapsed time, backups/s, upstream list requests
//! (the simulator's own counter), and the process's peak RSS (VmHWM from
//! /proc/self/status; it includes the simulator's store, so the RSS before the
//! first run is printed as the baseline). For scale, it first times the same
//! walk straight against the simulator's REST API (sequential pages, JSON only).
//!
//! The simulator computes every page afresh over the whole fleet, which makes
//! it the slowest part. So the bench then replays the pages it captured from
//! memory (a canned upstream answering by `offset`) to a second gateway, three
//! more runs: what the gateway itself sustains.
//!
//! Run: `cargo bench --bench stream_backups` (or `-- 20000` for another fleet size).

mod common;
use common::*;

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::body::{Body, Bytes};
use cbr_gateway::{
    config::Config,
    proto::{self as pb, backup_service_client::BackupServiceClient},
};
use cbr_simulator::{self as simulator, SimulatorSettings, seed::PROJECT};
use clap::Parser;
use tokio::net::TcpListener;
use tonic::transport::Channel;

const PAGE_SIZE: i32 = 1000;
const RUNS: usize = 3;

fn main() {
    let fleet_size = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(fleet_size));
}

async fn run(fleet_size: usize) {
    cbr_gateway::install_crypto_provider();
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size,
        ..Default::default()
    })
    .await
    .expect("simulator starts");
    let sim_url = format!("http://{}", sim.addr);
    println!(
        "StreamBackups: fleet_size {fleet_size}, page_size {PAGE_SIZE}, upstream and gateway in-process on loopback"
    );
    let pages = upstream_alone(&sim_url).await;
    println!(
        "baseline RSS (simulator store loaded, before streaming): {} KiB",
        status_kib("self", "VmRSS:")
    );

    println!("-- gateway over the simulator");
    let client = gateway(&sim_url).await;
    let state = sim.state.clone();
    runs(&client, || state.stats.snapshot()["list_backups"]).await;

    println!("-- gateway over the captured pages replayed from memory");
    let (canned_url, served) = canned_upstream(pages).await;
    let client = gateway(&canned_url).await;
    runs(&client, || served.load(Ordering::Relaxed)).await;
}

/// A gateway in this process over `upstream`, and a client of it.
async fn gateway(upstream: &str) -> BackupServiceClient<Channel> {
    let config = Config::try_parse_from([
        "cbr-gateway",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--cbr-endpoint",
        upstream,
        "--csbs-endpoint",
        upstream,
        "--project-id",
        PROJECT,
        "--ak",
        "BENCHAK",
        "--sk",
        "BENCHSK",
    ])
    .expect("bench config parses");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        cbr_gateway::serve(
            listener,
            config.settings().expect("settings"),
            std::future::pending(),
        )
        .await
        .expect("gateway serves");
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to the gateway");
    BackupServiceClient::new(channel)
}

/// [`RUNS`] full streams; `requests` reads upstream's list-request counter.
async fn runs(client: &BackupServiceClient<Channel>, requests: impl Fn() -> u64) {
    for run in 1..=RUNS {
        let requests_before = requests();
        let started = Instant::now();
        let mut stream = client
            .clone()
            .stream_backups(pb::StreamBackupsRequest {
                page_size: Some(PAGE_SIZE),
                ..Default::default()
            })
            .await
            .expect("stream starts")
            .into_inner();
        let mut first = None;
        let mut backups = 0u64;
        while let Some(message) = stream.message().await.expect("stream succeeds") {
            assert!(message.backup.is_some());
            first.get_or_insert_with(|| started.elapsed());
            backups += 1;
        }
        let elapsed = started.elapsed();
        println!(
            "run {run}: {backups} backups in {:.3} s = {:.0} backups/s; first backup after {:.1} ms; {} upstream list requests; peak RSS (VmHWM) {} KiB",
            elapsed.as_secs_f64(),
            backups as f64 / elapsed.as_secs_f64(),
            first.unwrap_or_default().as_secs_f64() * 1000.0,
            requests() - requests_before,
            status_kib("self", "VmHWM:"),
        );
    }
}

/// The same walk straight against the simulator's REST API, one page after the
/// other: what upstream alone costs. Returns each page's body by its offset.
async fn upstream_alone(sim_url: &str) -> HashMap<usize, Bytes> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut pages = HashMap::new();
    let (mut offset, mut backups) = (0usize, 0usize);
    loop {
        let body = http
            .get(format!(
                "{sim_url}/v3/{PROJECT}/backups?limit={PAGE_SIZE}&offset={offset}"
            ))
            .send()
            .await
            .expect("simulator answers")
            .bytes()
            .await
            .expect("simulator body");
        let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON page");
        let n = page["backups"].as_array().map_or(0, Vec::len);
        pages.insert(offset, body);
        backups += n;
        offset += n;
        if n < PAGE_SIZE as usize {
            break;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "upstream alone (sequential REST pages from the simulator, JSON parse only): {backups} backups, {} pages in {:.3} s = {:.0} backups/s",
        pages.len(),
        elapsed.as_secs_f64(),
        backups as f64 / elapsed.as_secs_f64()
    );
    pages
}

/// An upstream answering `GET …/backups?…offset=N…` with the captured page at
/// N; returns its URL and its request counter.
async fn canned_upstream(pages: HashMap<usize, Bytes>) -> (String, Arc<AtomicU64>) {
    let pages = Arc::new(pages);
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let service = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        counter.fetch_add(1, Ordering::Relaxed);
        let offset = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("offset="))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let page = pages.get(&offset).cloned();
        async move {
            let response = match page {
                Some(body) => http::Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(body)),
                None => http::Response::builder().status(404).body(Body::from(
                    "{\"error_code\":\"X\",\"error_msg\":\"no such page\"}",
                )),
            };
            Ok::<_, Infallible>(response.expect("valid response"))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(cbr_gateway::transport::server::run(
        listener,
        service,
        cbr_gateway::transport::server::ServerSettings::default(),
        std::future::pending(),
    ));
    (format!("http://{addr}"), served)
}
