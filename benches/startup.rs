//! Start-up and idle cost of the gateway binary: the time from exec to the
//! first `grpc.health.v1.Health/Check` answering SERVING, and the resident
//! memory of the idle process a second later.
//!
//! Two configurations: the gateway pointed at an upstream it does not call
//! while idle (`--cbr-endpoint`), and the default run with the built-in
//! simulator (whose seeded fleet of 3,000 backups lives in the same process).
//!
//! Run: `cargo bench --bench startup` (or `-- <runs>`; default 10).

mod common;
use common::*;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Starts the binary with `args`; returns (exec → SERVING, idle RSS KiB).
async fn one(args: &[&str]) -> (Duration, u64) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args(["--listen", &listen, "--metrics-listen", "off"])
        .args(["--log-level", "warn", "--shutdown-delay", "0s"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the gateway");
    let endpoint = Endpoint::from_shared(format!("http://{listen}")).unwrap();
    let serving = loop {
        if let Ok(channel) = endpoint.connect().await {
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
                .map(|r| r.into_inner().status());
            if status.is_ok_and(|s| s == ServingStatus::Serving) {
                break started.elapsed();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never SERVING");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = status_kib(child.id(), "VmRSS:");
    let _ = child.kill();
    let _ = child.wait();
    (serving, rss)
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        for (name, args) in [
            (
                "cloud endpoint (idle, no simulator)",
                &[
                    "--cbr-endpoint",
                    "http://127.0.0.1:9",
                    "--ak",
                    "BENCHAK",
                    "--sk",
                    "BENCHSK",
                ][..],
            ),
            ("built-in simulator (default run)", &[][..]),
        ] {
            let mut times = Vec::new();
            let mut rss = Vec::new();
            for _ in 0..runs {
                let (t, r) = one(args).await;
                times.push(t);
                rss.push(r);
            }
            times.sort_unstable();
            rss.sort_unstable();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "{name}: exec → SERVING median {:.1} ms (min {:.1}, max {:.1}); idle RSS median {:.1} MiB (min {:.1}, max {:.1}); {runs} runs",
                ms(times[runs / 2]),
                ms(times[0]),
                ms(times[runs - 1]),
                rss[runs / 2] as f64 / 1024.0,
                rss[0] as f64 / 1024.0,
                rss[runs - 1] as f64 / 1024.0,
            );
        }
    });
}
