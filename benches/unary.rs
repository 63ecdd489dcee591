//! GetBackup, side by side in one run: direct REST to the built-in simulator
//! (keep-alive HTTP/1.1, the JSON parsed) against gRPC through the gateway,
//! at the same concurrency, in alternating rounds.
//!
//! The simulator and the gateway run as separate processes of the built binary
//! (`cbr-gateway simulator`, and the gateway pointed at it), so the gateway's
//! CPU time per request is read from its own `/proc/<pid>/stat`. This process
//! is only the load generator.
//!
//! Prints, per concurrency: req/s, p50/p90/p99 of each path, the throughput
//! ratio (gateway / direct), the added p50 latency, and the gateway's CPU µs per
//! request.
//!
//! Run: `cargo bench --bench unary` (or `-- <seconds per round>`; default 2).

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use cbr_gateway::{
    proto::{self as pb, backup_service_client::BackupServiceClient},
    simulator::seed::PROJECT,
};
use tonic::transport::Channel;

const BACKUP: &str = "6df2b54c-dd62-4059-a07c-1b8f24f2725d";
const ROUNDS: usize = 3;
const CONCURRENCY: &[usize] = &[1, 4, 16, 64];

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// User + system CPU time of `pid`, from /proc/<pid>/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn wait_for(addr: SocketAddr) {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{addr} never listened"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[derive(Default)]
struct Round {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Round {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `call` from `concurrency` tasks for `duration`.
async fn load<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Round
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    call().await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut round = Round::default();
    for t in tasks {
        round.latencies.extend(t.await.expect("load task"));
    }
    round.elapsed = started.elapsed();
    round
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2);
    let round_time = Duration::from_secs(seconds);
    let bin = env!("CARGO_BIN_EXE_cbr-gateway");
    let sim_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gw_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let quiet = |c: &mut Command| {
        c.stdout(Stdio::null()).stderr(Stdio::inherit());
    };
    let mut sim = Command::new(bin);
    sim.args(["simulator", "--listen", &sim_addr.to_string()])
        .args(["--sim-fleet-size", "100", "--log-level", "warn"]);
    quiet(&mut sim);
    let _sim = Proc(sim.spawn().expect("start the simulator"));
    let sim_url = format!("http://{sim_addr}");
    let mut gw = Command::new(bin);
    gw.args(["--listen", &gw_addr.to_string()])
        .args(["--cbr-endpoint", &sim_url, "--csbs-endpoint", &sim_url])
        .args([
            "--project-id",
            PROJECT,
            "--ak",
            "BENCHAK",
            "--sk",
            "BENCHSK",
        ])
        .args(["--metrics-listen", "off", "--log-level", "warn"])
        .args(["--shutdown-delay", "0s", "--max-upstream-inflight", "4096"]);
    quiet(&mut gw);
    let gw = Proc(gw.spawn().expect("start the gateway"));
    let gw_pid = gw.0.id();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        wait_for(sim_addr).await;
        wait_for(gw_addr).await;
        cbr_gateway::install_crypto_provider();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("http client");
        let rest_url = Arc::new(format!("{sim_url}/v3/{PROJECT}/backups/{BACKUP}"));
        let channel = Channel::from_shared(format!("http://{gw_addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect to the gateway");
        let grpc = BackupServiceClient::new(channel);

        let direct = {
            let (http, url) = (http.clone(), rest_url.clone());
            move || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let body = http.get(url.as_str()).send().await.unwrap().bytes().await.unwrap();
                    let _: serde_json::Value = serde_json::from_slice(&body).unwrap();
                }
            }
        };
        let through = {
            let grpc = grpc.clone();
            move || {
                let mut grpc = grpc.clone();
                async move {
                    grpc.get_backup(pb::GetBackupRequest {
                        project_id: String::new(),
                        backup_id: BACKUP.into(),
                    })
                    .await
                    .unwrap();
                }
            }
        };
        // Warm up both paths (connections, pools, caches).
        load(4, Duration::from_millis(500), direct.clone()).await;
        load(4, Duration::from_millis(500), through.clone()).await;

        println!(
            "GetBackup, {ROUNDS} alternating rounds of {seconds} s per path and concurrency\n"
        );
        println!(
            "{:>4} | {:>9} {:>8} {:>8} {:>8} | {:>9} {:>8} {:>8} {:>8} | {:>6} {:>9} {:>9}",
            "conc",
            "REST r/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "gRPC r/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "ratio",
            "+p50 µs",
            "CPU µs/r"
        );
        for &c in CONCURRENCY {
            let (mut rest, mut gate) = (Round::default(), Round::default());
            let mut cpu = Duration::ZERO;
            for _ in 0..ROUNDS {
                let r = load(c, round_time, direct.clone()).await;
                rest.latencies.extend(r.latencies);
                rest.elapsed += r.elapsed;
                let before = cpu_time(gw_pid);
                let g = load(c, round_time, through.clone()).await;
                cpu += cpu_time(gw_pid).saturating_sub(before);
                gate.latencies.extend(g.latencies);
                gate.elapsed += g.elapsed;
            }
            rest.latencies.sort_unstable();
            gate.latencies.sort_unstable();
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            let p = |r: &Round, q: f64| us(percentile(&r.latencies, q));
            println!(
                "{c:>4} | {:>9.0} {:>8.0} {:>8.0} {:>8.0} | {:>9.0} {:>8.0} {:>8.0} {:>8.0} | {:>6.2} {:>9.0} {:>9.1}",
                rest.rps(),
                p(&rest, 0.5),
                p(&rest, 0.9),
                p(&rest, 0.99),
                gate.rps(),
                p(&gate, 0.5),
                p(&gate, 0.9),
                p(&gate, 0.99),
                gate.rps() / rest.rps(),
                p(&gate, 0.5) - p(&rest, 0.5),
                us(cpu) / gate.latencies.len() as f64,
            );
        }
    });
}
