//! GetBackup, side by side in one run: direct REST to the built-in simulator
//! (keep-alive HTTP/1.1, the JSON parsed) against gRPC through the gateway,
//! and against a "tonic floor", at the same concurrency, in alternating rounds
//! (REST, gateway, floor; three rounds of each per concurrency).
//!
//! The simulator and the gateway run as separate processes of the built binary
//! (`cbr-gateway simulator`, and the gateway pointed at it), so the gateway's
//! CPU time per request is read from its own `/proc/<pid>/stat`. The tonic
//! floor is this bench binary re-executed with `UNARY_BENCH_ROLE=tonic-floor`
//! (and `UNARY_BENCH_ADDR`, `UNARY_BENCH_MESSAGE`): a minimal tonic server
//! whose `GetBackup` returns a fixed `GetBackupResponse` (the one the gateway
//! returned for the seed backup at start-up), on a default multi-thread tokio
//! runtime, as the gateway's. This process is only the load generator.
//!
//! Prints, per concurrency:
//! - req/s, p50/p90/p99 of the REST and gateway paths, the throughput ratio
//!   (gateway / direct), the added p50 latency, and the gateway's CPU µs per
//!   request (as before);
//! - "floors": the tonic floor's req/s, p50/p99 and server CPU µs per request;
//!   the load generator's own CPU µs per request during the REST rounds (what a
//!   reqwest GET plus the JSON parse costs a client); their sum, the naive
//!   floor that any tonic-serving, reqwest-calling gateway spends at least; the
//!   gateway's CPU over that floor; and, for context, the load generator's CPU
//!   per request as a tonic client (gateway rounds, floor rounds).
//!
//! CPU times come from `/proc/<pid>/stat` in 10 ms ticks, so short rounds give
//! coarse CPU figures.
//!
//! Writes the results to `target/bench/unary.csv` (under `$CARGO_TARGET_DIR`
//! if set) and a latency chart (p50 solid, p99 dashed, log scales, for REST and
//! the gateway, plus the floor's p50) to `$UNARY_BENCH_PNG`, by default
//! `docs/bench/unary-latency.png`. The chart needs
//! `/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf` (Debian's
//! `fonts-dejavu-core`); without it the chart is skipped with a note.
//!
//! Run: `cargo bench --bench unary` (or `-- <seconds per round>`; default 2).
//! `UNARY_BENCH_CONCURRENCY=1,16` overrides the concurrency list (default
//! 1,4,16,64). The gateway runs with its default settings (log level `info`,
//! one line per RPC, written to /dev/null) apart from the metrics listener;
//! `UNARY_BENCH_LOG_LEVEL=warn` measures it without the per-RPC lines, and
//! `UNARY_BENCH_GATEWAY_BIN=<path>` measures another build of the gateway
//! (e.g. a copy of an older commit's binary) against the same simulator, for
//! before/after comparisons.

mod common;
use common::*;

use std::{
    error::Error,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine as _;
use cbr_gateway::proto::{
    self as pb,
    backup_service_client::BackupServiceClient,
    backup_service_server::{BackupService, BackupServiceServer},
};
use cbr_simulator::seed::PROJECT;
use prost::Message as _;
use tonic::{
    Request, Response, Status,
    transport::{Channel, Server},
};

const BACKUP: &str = "6df2b54c-dd62-4059-a07c-1b8f24f2725d";
const ROUNDS: usize = 3;
const CONCURRENCY: &[usize] = &[1, 4, 16, 64];

/// Environment of the re-executed tonic floor server.
const ROLE_ENV: &str = "UNARY_BENCH_ROLE";
const FLOOR_ROLE: &str = "tonic-floor";
const ADDR_ENV: &str = "UNARY_BENCH_ADDR";
/// Base64 of the prost-encoded `GetBackupResponse` the floor serves.
const MESSAGE_ENV: &str = "UNARY_BENCH_MESSAGE";

const CONCURRENCY_ENV: &str = "UNARY_BENCH_CONCURRENCY";
const PNG_ENV: &str = "UNARY_BENCH_PNG";
const DEFAULT_PNG: &str = "docs/bench/unary-latency.png";
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

/// One path's rounds at one concurrency, with the CPU spent meanwhile by the
/// server process and by this load generator.
#[derive(Default)]
struct PathRun {
    round: Round,
    server_cpu: Duration,
    client_cpu: Duration,
}

impl PathRun {
    /// Runs one round of `call`, charging `server`'s CPU and ours to it.
    async fn run<F, Fut>(&mut self, server: u32, concurrency: usize, time: Duration, call: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let me = std::process::id();
        let (server0, client0) = (cpu_time(server), cpu_time(me));
        let r = load(concurrency, time, call).await;
        self.server_cpu += cpu_time(server).saturating_sub(server0);
        self.client_cpu += cpu_time(me).saturating_sub(client0);
        self.round.latencies.extend(r.latencies);
        self.round.elapsed += r.elapsed;
    }

    fn stats(mut self) -> Stats {
        self.round.latencies.sort_unstable();
        let n = self.round.latencies.len().max(1) as f64;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let p = |q: f64| us(percentile(&self.round.latencies, q));
        Stats {
            rps: self.round.rps(),
            p50: p(0.5),
            p90: p(0.9),
            p99: p(0.99),
            server_cpu: us(self.server_cpu) / n,
            client_cpu: us(self.client_cpu) / n,
        }
    }
}

/// Summary of one path at one concurrency; latencies and CPU in µs (CPU per
/// request).
struct Stats {
    rps: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    server_cpu: f64,
    client_cpu: f64,
}

/// Results at one concurrency.
struct Row {
    concurrency: usize,
    /// Direct REST: server = the simulator, client = reqwest + JSON parse.
    rest: Stats,
    /// Through the gateway: server = the gateway, client = tonic client.
    gateway: Stats,
    /// Tonic floor: server = the floor, client = tonic client.
    floor: Stats,
}

impl Row {
    /// Tonic floor server CPU + reqwest client CPU, µs per request.
    fn naive_floor(&self) -> f64 {
        self.floor.server_cpu + self.rest.client_cpu
    }
}

/// The tonic floor: `GetBackup` answers a fixed message; the rest is
/// unimplemented.
struct Floor(pb::GetBackupResponse);

#[tonic::async_trait]
impl BackupService for Floor {
    async fn list_backups(
        &self,
        _: Request<pb::ListBackupsRequest>,
    ) -> Result<Response<pb::ListBackupsResponse>, Status> {
        Err(Status::unimplemented("tonic floor serves GetBackup only"))
    }

    type StreamBackupsStream = tokio_stream::Empty<Result<pb::StreamBackupsResponse, Status>>;

    async fn stream_backups(
        &self,
        _: Request<pb::StreamBackupsRequest>,
    ) -> Result<Response<Self::StreamBackupsStream>, Status> {
        Err(Status::unimplemented("tonic floor serves GetBackup only"))
    }

    async fn get_backup(
        &self,
        _: Request<pb::GetBackupRequest>,
    ) -> Result<Response<pb::GetBackupResponse>, Status> {
        Ok(Response::new(self.0.clone()))
    }

    async fn restore_backup(
        &self,
        _: Request<pb::RestoreBackupRequest>,
    ) -> Result<Response<pb::google::longrunning::Operation>, Status> {
        Err(Status::unimplemented("tonic floor serves GetBackup only"))
    }

    async fn delete_backup(
        &self,
        _: Request<pb::DeleteBackupRequest>,
    ) -> Result<Response<pb::google::longrunning::Operation>, Status> {
        Err(Status::unimplemented("tonic floor serves GetBackup only"))
    }
}

/// Body of the re-executed floor process: serves until killed.
fn serve_floor() {
    let addr: SocketAddr = std::env::var(ADDR_ENV)
        .expect("UNARY_BENCH_ADDR")
        .parse()
        .expect("UNARY_BENCH_ADDR is host:port");
    let encoded = base64::engine::general_purpose::STANDARD
        .decode(std::env::var(MESSAGE_ENV).expect("UNARY_BENCH_MESSAGE"))
        .expect("UNARY_BENCH_MESSAGE is base64");
    let message = pb::GetBackupResponse::decode(encoded.as_slice()).expect("a GetBackupResponse");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(
            Server::builder()
                .tcp_nodelay(true)
                .add_service(BackupServiceServer::new(Floor(message)))
                .serve(addr),
        )
        .expect("tonic floor server");
}

fn concurrency_list() -> Vec<usize> {
    match std::env::var(CONCURRENCY_ENV) {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&c| c > 0)
                    .unwrap_or_else(|| panic!("{CONCURRENCY_ENV}: {v:?} is not a positive integer"))
            })
            .collect(),
        _ => CONCURRENCY.to_vec(),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn write_csv(rows: &[Row], path: &Path) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut out = String::from(
        "concurrency,rest_rps,rest_p50_us,rest_p90_us,rest_p99_us,\
         grpc_rps,grpc_p50_us,grpc_p90_us,grpc_p99_us,ratio,added_p50_us,\
         gateway_cpu_us_per_req,floor_rps,floor_p50_us,floor_p90_us,floor_p99_us,\
         floor_server_cpu_us_per_req,reqwest_client_cpu_us_per_req,naive_floor_cpu_us_per_req,\
         grpc_client_cpu_us_per_req,floor_client_cpu_us_per_req,simulator_cpu_us_per_req\n",
    );
    for r in rows {
        let (s, g, f) = (&r.rest, &r.gateway, &r.floor);
        let _ = writeln!(
            out,
            "{},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.4},{:.1},{:.2},\
             {:.1},{:.1},{:.1},{:.1},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2}",
            r.concurrency,
            s.rps,
            s.p50,
            s.p90,
            s.p99,
            g.rps,
            g.p50,
            g.p90,
            g.p99,
            g.rps / s.rps,
            g.p50 - s.p50,
            g.server_cpu,
            f.rps,
            f.p50,
            f.p90,
            f.p99,
            f.server_cpu,
            s.client_cpu,
            r.naive_floor(),
            g.client_cpu,
            f.client_cpu,
            s.server_cpu,
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, out)
}

/// 1-2-5 ticks from `lo` to `hi`, for a log axis.
fn y_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.max(1.0).log10().floor());
    while decade <= hi {
        ticks.extend(
            [1.0, 2.0, 5.0]
                .map(|m| m * decade)
                .into_iter()
                .filter(|t| (lo..=hi).contains(t)),
        );
        decade *= 10.0;
    }
    ticks
}

/// Latency against concurrency, log-log: p50 solid, p99 dashed.
fn draw_chart(rows: &[Row], path: &Path) -> Result<(), Box<dyn Error>> {
    use plotters::element::DashedPathElement;
    use plotters::prelude::*;
    use plotters::style::{FontStyle, register_font};

    let font = std::fs::read(FONT)?;
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| format!("{FONT} is not a usable font"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }

    let xs: Vec<f64> = rows.iter().map(|r| r.concurrency as f64).collect();
    let (x_lo, x_hi) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let ys = rows
        .iter()
        .flat_map(|r| {
            [
                r.rest.p50,
                r.rest.p99,
                r.gateway.p50,
                r.gateway.p99,
                r.floor.p50,
            ]
        })
        .filter(|&y| y > 0.0);
    let (y_lo, y_hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));

    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "GetBackup latency vs concurrency (2 cores)",
            ("sans-serif", 28),
        )
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_lo / 1.6..x_hi * 1.6)
                .log_scale()
                .with_key_points(xs.clone()),
            (y_lo / 1.5..y_hi * 1.5)
                .log_scale()
                .with_key_points(y_ticks(y_lo / 1.5, y_hi * 1.5)),
        )?;
    chart
        .configure_mesh()
        .x_desc("concurrent requests (log scale)")
        .y_desc("latency, µs (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;

    let blue = RGBColor(31, 119, 180);
    let red = RGBColor(214, 39, 40);
    let green = RGBColor(44, 160, 44);
    type Pick = fn(&Row) -> &Stats;
    let paths: [(&str, RGBColor, Pick); 2] = [
        ("direct REST", blue, |r| &r.rest),
        ("through the gateway", red, |r| &r.gateway),
    ];
    for (name, color, stats) in paths {
        let p50: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.concurrency as f64, stats(r).p50))
            .collect();
        let p99: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.concurrency as f64, stats(r).p99))
            .collect();
        chart
            .draw_series(LineSeries::new(p50, color.stroke_width(3)).point_size(4))?
            .label(format!("{name}, p50"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(3))
            });
        chart
            .draw_series(DashedLineSeries::new(
                p99.clone(),
                10,
                6,
                color.stroke_width(2),
            ))?
            .label(format!("{name}, p99"))
            .legend(move |(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 30, y)], 8, 4, color.stroke_width(2))
            });
        chart.draw_series(p99.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    let floor: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.concurrency as f64, r.floor.p50))
        .collect();
    chart
        .draw_series(LineSeries::new(floor, green.stroke_width(3)).point_size(4))?
        .label("tonic floor, p50")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], green.stroke_width(3)));

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok(FLOOR_ROLE) {
        serve_floor();
        return;
    }
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2);
    let round_time = Duration::from_secs(seconds);
    let concurrency = concurrency_list();
    let bin = env!("CARGO_BIN_EXE_cbr-gateway");
    let sim_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gw_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let floor_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let quiet = |c: &mut Command| {
        c.stdout(Stdio::null()).stderr(Stdio::inherit());
    };
    let mut sim = Command::new(bin);
    sim.args(["simulator", "--listen", &sim_addr.to_string()])
        .args(["--sim-fleet-size", "100", "--log-level", "warn"]);
    quiet(&mut sim);
    let sim = Proc(sim.spawn().expect("start the simulator"));
    let sim_pid = sim.0.id();
    let sim_url = format!("http://{sim_addr}");
    let gw_bin = std::env::var("UNARY_BENCH_GATEWAY_BIN").unwrap_or_else(|_| bin.to_owned());
    let log_level = std::env::var("UNARY_BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".to_owned());
    let mut gw = Command::new(&gw_bin);
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
        .args(["--metrics-listen", "off", "--log-level", &log_level])
        .args(["--shutdown-delay", "0s"]);
    quiet(&mut gw);
    let gw = Proc(gw.spawn().expect("start the gateway"));
    let gw_pid = gw.0.id();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = runtime.block_on(async move {
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
        let request = || pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),region: String::new(),

        };

        // The floor serves exactly what the gateway answers for the seed backup.
        let seed = grpc
            .clone()
            .get_backup(request())
            .await
            .expect("GetBackup through the gateway")
            .into_inner();
        let mut floor_cmd = Command::new(std::env::current_exe().expect("the bench binary"));
        floor_cmd
            .env(ROLE_ENV, FLOOR_ROLE)
            .env(ADDR_ENV, floor_addr.to_string())
            .env(
                MESSAGE_ENV,
                base64::engine::general_purpose::STANDARD.encode(seed.encode_to_vec()),
            );
        quiet(&mut floor_cmd);
        let floor = Proc(floor_cmd.spawn().expect("start the tonic floor"));
        let floor_pid = floor.0.id();
        wait_for(floor_addr).await;
        let floor_channel = Channel::from_shared(format!("http://{floor_addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect to the tonic floor");
        let floor_grpc = BackupServiceClient::new(floor_channel);

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
        let grpc_call = |client: &BackupServiceClient<Channel>| {
            let client = client.clone();
            move || {
                let mut client = client.clone();
                async move {
                    client.get_backup(request()).await.unwrap();
                }
            }
        };
        let through = grpc_call(&grpc);
        let floored = grpc_call(&floor_grpc);
        // Warm up every path (connections, pools, caches).
        load(4, Duration::from_millis(500), direct.clone()).await;
        load(4, Duration::from_millis(500), through.clone()).await;
        load(4, Duration::from_millis(500), floored.clone()).await;

        println!(
            "GetBackup, {ROUNDS} alternating rounds of {seconds} s per path and concurrency\n\
             gateway: {gw_bin} (log level {log_level})\n"
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
        let mut rows = Vec::new();
        for &c in &concurrency {
            let (mut rest, mut gate, mut flo) =
                (PathRun::default(), PathRun::default(), PathRun::default());
            for _ in 0..ROUNDS {
                rest.run(sim_pid, c, round_time, direct.clone()).await;
                gate.run(gw_pid, c, round_time, through.clone()).await;
                flo.run(floor_pid, c, round_time, floored.clone()).await;
            }
            let row = Row {
                concurrency: c,
                rest: rest.stats(),
                gateway: gate.stats(),
                floor: flo.stats(),
            };
            let (s, g) = (&row.rest, &row.gateway);
            println!(
                "{c:>4} | {:>9.0} {:>8.0} {:>8.0} {:>8.0} | {:>9.0} {:>8.0} {:>8.0} {:>8.0} | {:>6.2} {:>9.0} {:>9.1}",
                s.rps,
                s.p50,
                s.p90,
                s.p99,
                g.rps,
                g.p50,
                g.p90,
                g.p99,
                g.rps / s.rps,
                g.p50 - s.p50,
                g.server_cpu,
            );
            rows.push(row);
        }
        drop(floor);
        rows
    });

    println!("\nfloors (CPU µs per request; naive = tonic floor server + reqwest client)\n");
    println!(
        "{:>4} | {:>9} {:>8} {:>8} | {:>9} {:>9} {:>9} | {:>9} {:>8} | {:>9} {:>9}",
        "conc",
        "floor r/s",
        "p50 µs",
        "p99 µs",
        "floor CPU",
        "reqw CPU",
        "naive",
        "gw CPU",
        "gw/naive",
        "cli gw",
        "cli floor"
    );
    for r in &rows {
        let f = &r.floor;
        println!(
            "{:>4} | {:>9.0} {:>8.0} {:>8.0} | {:>9.1} {:>9.1} {:>9.1} | {:>9.1} {:>8.2} | {:>9.1} {:>9.1}",
            r.concurrency,
            f.rps,
            f.p50,
            f.p99,
            f.server_cpu,
            r.rest.client_cpu,
            r.naive_floor(),
            r.gateway.server_cpu,
            r.gateway.server_cpu / r.naive_floor(),
            r.gateway.client_cpu,
            f.client_cpu,
        );
    }
    println!(
        "\nfloor CPU = the tonic floor process; reqw CPU = this load generator during REST rounds \
         (reqwest GET + JSON parse);\ncli gw / cli floor = this load generator as a tonic client \
         during gateway / floor rounds."
    );

    let csv = target_dir().join("bench").join("unary.csv");
    match write_csv(&rows, &csv) {
        Ok(()) => println!("\nCSV: {}", csv.display()),
        Err(e) => eprintln!("\ncould not write {}: {e}", csv.display()),
    }
    let png = std::env::var_os(PNG_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PNG));
    if !Path::new(FONT).exists() {
        println!("chart skipped: {FONT} missing (install fonts-dejavu-core for the chart)");
    } else {
        match draw_chart(&rows, &png) {
            Ok(()) => println!("chart: {}", png.display()),
            Err(e) => eprintln!("chart skipped: {e}"),
        }
    }
    drop((gw, sim));
}
