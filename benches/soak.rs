//! Soak: mixed traffic for a long time against the gateway binary, with 5 %
//! of upstream requests failing, watching the gateway for drift.
//!
//! The simulator runs as its own process (`cbr-gateway simulator
//! --sim-fault route=*,error_rate=0.05,status=503`: its store grows with every
//! create, which must not count as the gateway's), and the gateway as another,
//! pointed at it. Workers in this process loop over a mix of calls:
//!
//! | share | call |
//! |---|---|
//! | 60 % | GetBackup of one of 100 backups (a few share a read in flight) |
//! | 15 % | ListBackups, 20 per page, at a random offset |
//! | 10 % | StreamBackups, 100 per page, cancelled after 200 backups |
//! | 10 % | GetCheckpoint / GetVault |
//! | 5 % | CreateCheckpoint, half of them with a `request_id` |
//!
//! and 50 WatchCheckpoint streams of a checkpoint in progress are held open,
//! each cancelled and reopened every 20–40 s. Every 10 s it samples the gateway's RSS and open file
//! descriptors from /proc. At the end it prints the samples, the drift of RSS
//! and descriptors from the first sample after warm-up (a tenth of the run)
//! to the last, the calls by gRPC code, and the upstream requests per call.
//!
//! The gateway remembers at most 1,000 `request_id`s (`--idempotency-max-entries`),
//! so that bounded store is full before the warm-up ends.
//!
//! Run: `cargo bench --bench soak` (10 minutes) or `-- <seconds>`;
//! `SOAK_WORKERS` (default 16) sets the concurrent callers.

mod common;
use common::*;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use cbr_gateway::proto::{
    self as pb, backup_service_client::BackupServiceClient,
    checkpoint_service_client::CheckpointServiceClient, vault_service_client::VaultServiceClient,
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

const VAULT: &str = "3b5816b5-f29c-4172-9d9a-76c719a659ce";
const CHECKPOINT: &str = "8b0851a8-adf3-4f4c-a914-dead08bf9664";

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Calls by gRPC code name, and the first message of each failing code.
#[derive(Default)]
struct Codes(
    Mutex<BTreeMap<String, u64>>,
    Mutex<BTreeMap<String, String>>,
);

impl Codes {
    fn count<T>(&self, r: &Result<T, tonic::Status>) {
        let code = match r {
            Ok(_) => "Ok".to_owned(),
            Err(s) => {
                let code = format!("{:?}", s.code());
                self.1
                    .lock()
                    .unwrap()
                    .entry(code.clone())
                    .or_insert_with(|| s.message().to_owned());
                code
            }
        };
        *self.0.lock().unwrap().entry(code).or_default() += 1;
    }
    fn total(&self) -> u64 {
        self.0.lock().unwrap().values().sum()
    }
}

/// A small, fast, good-enough generator (xorshift), one per worker.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn upstream_requests(http: &reqwest::Client, sim: &str) -> u64 {
    simulator_requests(http, sim)
        .await
        .values()
        .filter_map(|v| v.as_u64())
        .sum()
}

async fn worker(
    channel: Channel,
    ids: Arc<Vec<String>>,
    codes: Arc<Codes>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = Rng(seed | 1);
    let mut backups = BackupServiceClient::new(channel.clone());
    let mut checkpoints = CheckpointServiceClient::new(channel.clone());
    let mut vaults = VaultServiceClient::new(channel);
    while !stop.load(Ordering::Relaxed) {
        let pick = rng.below(100);
        let timeout = Duration::from_secs(10);
        if pick < 60 {
            let id = &ids[rng.below(ids.len() as u64) as usize];
            let mut req = tonic::Request::new(pb::GetBackupRequest {
                backup_id: id.clone(),
                ..Default::default()
            });
            req.set_timeout(timeout);
            codes.count(&backups.get_backup(req).await);
        } else if pick < 75 {
            let req = pb::ListBackupsRequest {
                limit: Some(20),
                offset: Some(rng.below(80) as i32),
                ..Default::default()
            };
            codes.count(&backups.list_backups(req).await);
        } else if pick < 85 {
            let req = pb::StreamBackupsRequest {
                page_size: Some(100),
                ..Default::default()
            };
            match backups.stream_backups(req).await {
                Ok(r) => {
                    // The first 200, then the client goes away (the walk is
                    // cancelled mid-stream, as impatient clients do).
                    let mut s = r.into_inner();
                    let mut last = Ok(());
                    let mut got = 0;
                    while let Some(m) = s.next().await {
                        if let Err(e) = m {
                            last = Err(e);
                            break;
                        }
                        got += 1;
                        if got == 200 {
                            break;
                        }
                    }
                    codes.count(&last);
                }
                Err(e) => codes.count::<()>(&Err(e)),
            }
        } else if pick < 90 {
            codes.count(
                &checkpoints
                    .get_checkpoint(pb::GetCheckpointRequest {
                        checkpoint_id: CHECKPOINT.into(),
                        ..Default::default()
                    })
                    .await,
            );
        } else if pick < 95 {
            codes.count(
                &vaults
                    .get_vault(pb::GetVaultRequest {
                        vault_id: VAULT.into(),
                        ..Default::default()
                    })
                    .await,
            );
        } else {
            let request_id = if rng.below(2) == 0 {
                uuid::Uuid::new_v4().to_string()
            } else {
                String::new()
            };
            codes.count(
                &checkpoints
                    .create_checkpoint(pb::CreateCheckpointRequest {
                        vault_id: VAULT.into(),
                        request_id,
                        ..Default::default()
                    })
                    .await,
            );
        }
    }
}

/// A WatchCheckpoint stream held open, reopened every 20–40 s.
async fn watcher(
    channel: Channel,
    checkpoint: String,
    codes: Arc<Codes>,
    stop: Arc<AtomicBool>,
    seed: u64,
    watches: Arc<AtomicU64>,
) {
    let mut rng = Rng(seed | 1);
    let mut client = CheckpointServiceClient::new(channel);
    while !stop.load(Ordering::Relaxed) {
        let hold = Duration::from_secs(20 + rng.below(21));
        let opened = client
            .watch_checkpoint(pb::WatchCheckpointRequest {
                checkpoint_id: checkpoint.clone(),
                ..Default::default()
            })
            .await;
        match opened {
            Ok(r) => {
                watches.fetch_add(1, Ordering::Relaxed);
                let mut s = r.into_inner();
                let until = tokio::time::Instant::now() + hold;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        m = s.next() => match m {
                            Some(Ok(_)) => {}
                            Some(Err(e)) => { codes.count::<()>(&Err(e)); break; }
                            // Ended (the checkpoint finished): not in a tight loop.
                            None => { tokio::time::sleep(Duration::from_secs(1)).await; break; }
                        },
                    }
                }
                // Dropped here: the client cancels the stream.
            }
            Err(e) => {
                codes.count::<()>(&Err(e));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(600);
    let workers: usize = std::env::var("SOAK_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    cbr_gateway::install_crypto_provider();
    let bin = env!("CARGO_BIN_EXE_cbr-gateway");
    let addr = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
    let (sim_addr, gw_addr) = (addr(), addr());
    let sim_url = format!("http://{sim_addr}");
    let _sim = Proc(
        simulator_command(bin, sim_addr)
            .args(["--sim-fleet-size", "1000"])
            // Checkpoints stay in progress: the watchers' one never ends.
            .args(["--sim-backup-duration", "1h"])
            .args(["--sim-fault", "route=*,error_rate=0.05,status=503"])
            .args(["--sim-fault-seed", "42"])
            .spawn()
            .expect("start the simulator"),
    );
    let gw = Proc(
        gateway_command(bin, gw_addr, &sim_url)
            .args(["--project-id", cbr_simulator::seed::PROJECT])
            .args(["--watch-poll-interval", "2s"])
            // Remembered request_ids are bounded state by design (1 h, up to
            // 100,000 by default): a small cap fills during the warm-up, so
            // what grows after it is drift, not the store filling up.
            .args(["--idempotency-max-entries", "1000"])
            .env("HUAWEICLOUD_SDK_AK", "SOAKAK")
            .env("HUAWEICLOUD_SDK_SK", "SOAKSK")
            .spawn()
            .expect("start the gateway"),
    );
    wait_for(sim_addr);
    wait_for(gw_addr);
    let pid = gw.0.id();
    let http = reqwest::Client::new();
    let channel = Channel::from_shared(format!("http://{gw_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let ids: Vec<String> = BackupServiceClient::new(channel.clone())
        .list_backups(pb::ListBackupsRequest {
            limit: Some(100),
            ..Default::default()
        })
        .await
        .expect("list the backups")
        .into_inner()
        .backups
        .into_iter()
        .map(|b| b.id)
        .collect();
    let ids = Arc::new(ids);
    let watched = CheckpointServiceClient::new(channel.clone())
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            ..Default::default()
        })
        .await
        .expect("create the watched checkpoint")
        .into_inner()
        .checkpoint
        .unwrap()
        .id;
    let codes = Arc::new(Codes::default());
    let stop = Arc::new(AtomicBool::new(false));
    let watches = Arc::new(AtomicU64::new(0));
    let upstream0 = upstream_requests(&http, &sim_url).await;
    println!(
        "soak: {seconds} s, {workers} callers (a connection each) + 50 watchers (one more), 5 % upstream 503s\n"
    );
    let mut tasks = Vec::new();
    for i in 0..workers {
        // Four connections, as a few client processes would hold.
        let ch = Channel::from_shared(format!("http://{gw_addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let _ = i;
        tasks.push(tokio::spawn(worker(
            ch,
            ids.clone(),
            codes.clone(),
            stop.clone(),
            0x9e37_79b9 * (i as u64 + 1),
        )));
    }
    for i in 0..50u64 {
        tasks.push(tokio::spawn(watcher(
            channel.clone(),
            watched.clone(),
            codes.clone(),
            stop.clone(),
            0x85eb_ca6b * (i + 1),
            watches.clone(),
        )));
    }

    let started = Instant::now();
    let warm_up = Duration::from_secs((seconds / 10).max(10));
    let mut samples: Vec<(u64, u64, usize)> = Vec::new();
    println!(
        "{:>6} {:>10} {:>6} {:>10}",
        "t s", "RSS KiB", "FDs", "calls"
    );
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t = started.elapsed().as_secs();
        let (rss, fds) = (status_kib(pid, "VmRSS:"), open_fds(pid));
        println!("{t:>6} {rss:>10} {fds:>6} {:>10}", codes.total());
        samples.push((t, rss, fds));
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
    }
    let upstream = upstream_requests(&http, &sim_url).await - upstream0;
    let calls = codes.total();

    let after_warm_up: Vec<_> = samples
        .iter()
        .filter(|(t, _, _)| *t >= warm_up.as_secs())
        .collect();
    if let (Some(first), Some(last)) = (after_warm_up.first(), after_warm_up.last()) {
        let rss: Vec<u64> = after_warm_up.iter().map(|s| s.1).collect();
        let (lo, hi) = (rss.iter().min().unwrap(), rss.iter().max().unwrap());
        println!(
            "\nafter warm-up ({} s): RSS {} → {} KiB ({:+.1} %), range {lo}–{hi} KiB; FDs {} → {}",
            warm_up.as_secs(),
            first.1,
            last.1,
            (last.1 as f64 - first.1 as f64) / first.1 as f64 * 100.0,
            first.2,
            last.2,
        );
    }
    println!(
        "{calls} calls ({:.0}/s), {} watch streams opened; {upstream} upstream requests = {:.3} per call",
        calls as f64 / seconds as f64,
        watches.load(Ordering::Relaxed),
        upstream as f64 / calls.max(1) as f64
    );
    println!("by code: {:?}", codes.0.lock().unwrap());
    for (code, message) in codes.1.lock().unwrap().iter() {
        println!("  first {code}: {message}");
    }
}
