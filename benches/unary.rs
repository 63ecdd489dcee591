//! GetBackup, side by side in one run, every path driven by `h2load`
//! (Debian's `nghttp2-client`), a load generator written in C that costs the
//! shared two cores little, so the figures are the servers' and not the load
//! generator's own:
//!
//! - **direct REST**: keep-alive HTTP/1.1 to the simulator, `c` connections
//!   with one request each in flight (`h2load --h1`);
//! - **through the gateway**: gRPC, one HTTP/2 connection with `c` streams in
//!   flight, the body a GetBackupRequest frame serialised from the gateway's
//!   own types;
//! - optionally a **second gateway** (`UNARY_BENCH_B_BIN`, `UNARY_BENCH_B_ENV`):
//!   another build or setting, in the same alternating rounds, for A/B;
//! - the **tonic floor**: this bench binary re-executed as a bare tonic
//!   server answering a fixed GetBackupResponse (the server half any tonic
//!   gateway pays);
//! - the **passthrough floor**: the same tonic server, but each call makes the
//!   upstream GET with reqwest and parses the JSON (`serde_json::Value`): the
//!   least a tonic-serving, reqwest-calling gateway can do.
//!
//! Every call acts with a caller token (`x-auth-token`, forwarded as
//! `X-Auth-Token`; the simulator accepts it), so no path signs. Rounds
//! alternate between the paths (three of each per concurrency): runs minutes
//! apart differ by ±20 % on a shared VM, alternating rounds in one run do not.
//!
//! Per path and concurrency it prints req/s, mean, p50/p90/p99 (from h2load's
//! per-request log), and the server process's CPU per request (from
//! `/proc/<pid>/stat`, 10 ms ticks); then the ratio (gateway / REST req/s) and
//! the added mean and p50 latency. Writes `target/bench/unary.csv` and the
//! latency chart `docs/bench/unary-latency.png` (`$UNARY_BENCH_PNG`; needs
//! `fonts-dejavu-core`).
//!
//! Run: `cargo bench --bench unary` (or `-- <seconds per round>`; default 2).
//! `UNARY_BENCH_CONCURRENCY=1,16` sets the concurrency list (default
//! 1,4,16,64); `UNARY_BENCH_GATEWAY_BIN` measures another build as the
//! gateway; `UNARY_BENCH_GATEWAY_ENV="K=V,K=V"` sets its environment (e.g.
//! `TOKIO_WORKER_THREADS=1`); `UNARY_BENCH_LOG_LEVEL` its log level (default
//! `info`, one line per RPC, to /dev/null). The gateways run with
//! `UPSTREAM_SHARE_READS=false` unless told otherwise: h2load repeats one
//! request, and shared reads would make the figures not per call.

mod common;
use common::*;

use std::{
    error::Error,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine as _;
use cbr_gateway::proto::{
    self as pb,
    backup_service_server::{BackupService, BackupServiceServer},
};
use cbr_simulator::seed::PROJECT;
use prost::Message as _;
use tonic::{Request, Response, Status, transport::Server};

const BACKUP: &str = "6df2b54c-dd62-4059-a07c-1b8f24f2725d";
const TOKEN: &str = "MIIbenchmark-caller-token-0123456789abcdef";
const ROUNDS: usize = 3;
const CONCURRENCY: &[usize] = &[1, 4, 16, 64];
const GET_BACKUP: &str = "/cbr.gateway.v1.BackupService/GetBackup";

/// Environment of the re-executed floor servers.
const ROLE_ENV: &str = "UNARY_BENCH_ROLE";
const FLOOR_ROLE: &str = "tonic-floor";
const PASSTHROUGH_ROLE: &str = "passthrough-floor";
const ADDR_ENV: &str = "UNARY_BENCH_ADDR";
/// Base64 of the prost-encoded `GetBackupResponse` the floors answer.
const MESSAGE_ENV: &str = "UNARY_BENCH_MESSAGE";
/// The upstream URL the passthrough floor GETs.
const UPSTREAM_ENV: &str = "UNARY_BENCH_UPSTREAM";

const CONCURRENCY_ENV: &str = "UNARY_BENCH_CONCURRENCY";
const PNG_ENV: &str = "UNARY_BENCH_PNG";
const DEFAULT_PNG: &str = "docs/bench/unary-latency.png";
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// How h2load reaches one path.
#[derive(Clone)]
enum Load {
    /// HTTP/1.1 GET of a URL, one request per connection in flight.
    Rest(String),
    /// gRPC POST of the pre-serialised frame in `body` to a URL, one HTTP/2
    /// connection.
    Grpc { url: String, body: PathBuf },
}

/// One path: how to load it and which process serves it.
struct Target {
    name: &'static str,
    load: Load,
    pid: u32,
}

/// One path's rounds at one concurrency.
#[derive(Default)]
struct PathRun {
    latencies_us: Vec<f64>,
    elapsed: Duration,
    done: u64,
    failed: u64,
    server_cpu: Duration,
    client_cpu: Duration,
}

impl PathRun {
    /// One h2load round of `time` against `target` at `concurrency`.
    fn run(&mut self, target: &Target, concurrency: usize, time: Duration) {
        let log = std::env::temp_dir().join(format!("unary-bench-{}.log", std::process::id()));
        let mut cmd = Command::new("h2load");
        cmd.arg(format!("--duration={}", time.as_secs()))
            .arg("--warm-up-time=0")
            .arg(format!("--log-file={}", log.display()))
            .args(["-H", &format!("x-auth-token: {TOKEN}")]);
        match &target.load {
            Load::Rest(url) => {
                cmd.args(["--h1", "-c", &concurrency.to_string(), "-m", "1", url]);
            }
            Load::Grpc { url, body } => {
                cmd.args(["-c", "1", "-m", &concurrency.to_string()])
                    .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
                    .arg(format!("--data={}", body.display()))
                    .arg(url);
            }
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let (server0, client0) = (cpu_time(target.pid), children_cpu_time());
        let started = Instant::now();
        let status = cmd
            .status()
            .expect("h2load (Debian: apt install nghttp2-client)");
        let elapsed = started.elapsed();
        assert!(status.success(), "h2load failed against {}", target.name);
        self.server_cpu += cpu_time(target.pid).saturating_sub(server0);
        self.client_cpu += children_cpu_time().saturating_sub(client0);
        let text = std::fs::read_to_string(&log).expect("h2load's log");
        let _ = std::fs::remove_file(&log);
        let mut first = u64::MAX;
        let mut last = 0u64;
        for line in text.lines() {
            let mut cols = line.split('\t');
            let (Some(start), Some(code), Some(us)) = (cols.next(), cols.next(), cols.next())
            else {
                continue;
            };
            let (Ok(start), Ok(us)) = (start.parse::<u64>(), us.parse::<u64>()) else {
                continue;
            };
            if code != "200" {
                self.failed += 1;
                continue;
            }
            first = first.min(start);
            last = last.max(start + us);
            self.latencies_us.push(us as f64);
            self.done += 1;
        }
        // The span of the requests themselves (h2load's own start-up and
        // connection set-up excluded), else the wall time.
        self.elapsed += if last > first {
            Duration::from_micros(last - first)
        } else {
            elapsed
        };
    }

    fn stats(mut self) -> Stats {
        self.latencies_us.sort_unstable_by(f64::total_cmp);
        let n = (self.done.max(1)) as f64;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        Stats {
            rps: self.done as f64 / self.elapsed.as_secs_f64().max(1e-9),
            mean: self.latencies_us.iter().sum::<f64>() / n,
            p50: percentile(&self.latencies_us, 0.5),
            p90: percentile(&self.latencies_us, 0.9),
            p99: percentile(&self.latencies_us, 0.99),
            server_cpu: us(self.server_cpu) / n,
            client_cpu: us(self.client_cpu) / n,
            failed: self.failed,
        }
    }
}

/// Summary of one path at one concurrency; latencies in µs, CPU in µs per
/// request.
#[derive(Clone, Copy, Default)]
struct Stats {
    rps: f64,
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    server_cpu: f64,
    client_cpu: f64,
    failed: u64,
}

/// Results at one concurrency.
struct Row {
    concurrency: usize,
    rest: Stats,
    gateway: Stats,
    /// The second gateway, if measured.
    b: Option<Stats>,
    floor: Stats,
    passthrough: Stats,
}

/// The floors: `GetBackup` answers a fixed message (after an upstream GET,
/// for the passthrough); the rest is unimplemented.
struct Floor {
    message: pb::GetBackupResponse,
    upstream: Option<(reqwest::Client, String)>,
}

#[tonic::async_trait]
impl BackupService for Floor {
    async fn list_backups(
        &self,
        _: Request<pb::ListBackupsRequest>,
    ) -> Result<Response<pb::ListBackupsResponse>, Status> {
        Err(Status::unimplemented("the floor serves GetBackup only"))
    }

    type StreamBackupsStream = tokio_stream::Empty<Result<pb::StreamBackupsResponse, Status>>;

    async fn stream_backups(
        &self,
        _: Request<pb::StreamBackupsRequest>,
    ) -> Result<Response<Self::StreamBackupsStream>, Status> {
        Err(Status::unimplemented("the floor serves GetBackup only"))
    }

    async fn get_backup(
        &self,
        request: Request<pb::GetBackupRequest>,
    ) -> Result<Response<pb::GetBackupResponse>, Status> {
        if let Some((http, url)) = &self.upstream {
            let token = request
                .metadata()
                .get("x-auth-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let body = http
                .get(url)
                .header("x-auth-token", token)
                .send()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?
                .bytes()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let _: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| Status::internal(e.to_string()))?;
        }
        Ok(Response::new(self.message.clone()))
    }

    async fn restore_backup(
        &self,
        _: Request<pb::RestoreBackupRequest>,
    ) -> Result<Response<pb::google::longrunning::Operation>, Status> {
        Err(Status::unimplemented("the floor serves GetBackup only"))
    }

    async fn delete_backup(
        &self,
        _: Request<pb::DeleteBackupRequest>,
    ) -> Result<Response<pb::google::longrunning::Operation>, Status> {
        Err(Status::unimplemented("the floor serves GetBackup only"))
    }
}

/// Body of a re-executed floor process: serves until killed.
fn serve_floor(passthrough: bool) {
    let addr: SocketAddr = std::env::var(ADDR_ENV)
        .expect("UNARY_BENCH_ADDR")
        .parse()
        .expect("UNARY_BENCH_ADDR is host:port");
    let encoded = base64::engine::general_purpose::STANDARD
        .decode(std::env::var(MESSAGE_ENV).expect("UNARY_BENCH_MESSAGE"))
        .expect("UNARY_BENCH_MESSAGE is base64");
    let message = pb::GetBackupResponse::decode(encoded.as_slice()).expect("a GetBackupResponse");
    let upstream = passthrough.then(|| {
        cbr_gateway::install_crypto_provider();
        (
            reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .expect("http client"),
            std::env::var(UPSTREAM_ENV).expect("UNARY_BENCH_UPSTREAM"),
        )
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(
            Server::builder()
                .tcp_nodelay(true)
                .add_service(BackupServiceServer::new(Floor { message, upstream }))
                .serve(addr),
        )
        .expect("floor server");
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
        "concurrency,path,rps,mean_us,p50_us,p90_us,p99_us,server_cpu_us_per_req,h2load_cpu_us_per_req,failed\n",
    );
    for r in rows {
        let mut paths = vec![("rest", r.rest), ("gateway", r.gateway)];
        if let Some(b) = r.b {
            paths.push(("gateway_b", b));
        }
        paths.push(("tonic_floor", r.floor));
        paths.push(("passthrough_floor", r.passthrough));
        for (name, s) in paths {
            let _ = writeln!(
                out,
                "{},{name},{:.1},{:.1},{:.1},{:.1},{:.1},{:.2},{:.2},{}",
                r.concurrency,
                s.rps,
                s.mean,
                s.p50,
                s.p90,
                s.p99,
                s.server_cpu,
                s.client_cpu,
                s.failed
            );
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, out)
}

/// A GetBackupRequest as one gRPC frame (uncompressed, length-prefixed).
fn grpc_frame() -> Vec<u8> {
    let message = pb::GetBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        region: String::new(),
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame
}

/// `KEY=VALUE,KEY=VALUE` from `var`.
fn env_pairs(var: &str) -> Vec<(String, String)> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Starts a gateway from `bin` on `addr` against `sim_url`, with `env`.
fn start_gateway(
    bin: &str,
    addr: SocketAddr,
    sim_url: &str,
    log_level: &str,
    env: &[(String, String)],
) -> Proc {
    let mut gw = gateway_command(bin, addr, sim_url);
    gw.args(["--log-level", log_level])
        // Callers bring tokens: the gateway holds no credentials.
        .env_remove("HUAWEICLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stderr(Stdio::inherit());
    Proc(gw.spawn().expect("start a gateway"))
}

/// One GetBackup through `addr` with a tonic client, checked to be a real
/// answer (h2load sees HTTP 200 even for a gRPC error).
fn get_once(addr: SocketAddr) -> pb::GetBackupResponse {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async {
            let mut client =
                pb::backup_service_client::BackupServiceClient::connect(format!("http://{addr}"))
                    .await
                    .expect("connect");
            let mut req = Request::new(pb::GetBackupRequest {
                project_id: PROJECT.into(),
                backup_id: BACKUP.into(),
                region: String::new(),
            });
            req.metadata_mut()
                .insert("x-auth-token", TOKEN.parse().unwrap());
            client
                .get_backup(req)
                .await
                .unwrap_or_else(|s| panic!("GetBackup through {addr}: {s:?}"))
                .into_inner()
        })
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
                r.passthrough.p50,
            ]
        })
        .filter(|&y| y > 0.0);
    let (y_lo, y_hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));

    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "GetBackup latency vs concurrency (2 cores, h2load)",
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
    let grey = RGBColor(127, 127, 127);
    let passthrough: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.concurrency as f64, r.passthrough.p50))
        .collect();
    chart
        .draw_series(LineSeries::new(passthrough, grey.stroke_width(3)).point_size(4))?
        .label("tonic + reqwest passthrough, p50")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], grey.stroke_width(3)));

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

fn print_row(c: usize, name: &str, s: &Stats) {
    println!(
        "{c:>4} {name:<18} {:>9.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>9.1} {:>9.1} {:>6}",
        s.rps, s.mean, s.p50, s.p90, s.p99, s.server_cpu, s.client_cpu, s.failed
    );
}

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok(FLOOR_ROLE) => return serve_floor(false),
        Ok(PASSTHROUGH_ROLE) => return serve_floor(true),
        _ => {}
    }
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2);
    let round_time = Duration::from_secs(seconds);
    let concurrency = concurrency_list();
    let bin = env!("CARGO_BIN_EXE_cbr-gateway");
    let addr = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
    let (sim_addr, gw_addr, b_addr, floor_addr, pass_addr) =
        (addr(), addr(), addr(), addr(), addr());

    let mut sim = simulator_command(bin, sim_addr);
    sim.args(["--sim-fleet-size", "100", "--sim-tokens", TOKEN])
        .stderr(Stdio::inherit());
    let sim = Proc(sim.spawn().expect("start the simulator"));
    let sim_url = format!("http://{sim_addr}");
    wait_for(sim_addr);

    let log_level = std::env::var("UNARY_BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".to_owned());
    let gw_bin = std::env::var("UNARY_BENCH_GATEWAY_BIN").unwrap_or_else(|_| bin.to_owned());
    let mut gw_env = env_pairs("UNARY_BENCH_GATEWAY_ENV");
    // h2load repeats one request: with shared reads, concurrent calls would
    // join one upstream request and the figures would not be per call.
    if !gw_env.iter().any(|(k, _)| k == "UPSTREAM_SHARE_READS") {
        gw_env.push(("UPSTREAM_SHARE_READS".into(), "false".into()));
    }
    let gw = start_gateway(&gw_bin, gw_addr, &sim_url, &log_level, &gw_env);
    let b_bin = std::env::var("UNARY_BENCH_B_BIN").ok();
    let b_log_level =
        std::env::var("UNARY_BENCH_B_LOG_LEVEL").unwrap_or_else(|_| log_level.clone());
    let mut b_env = env_pairs("UNARY_BENCH_B_ENV");
    if !b_env.iter().any(|(k, _)| k == "UPSTREAM_SHARE_READS") {
        b_env.push(("UPSTREAM_SHARE_READS".into(), "false".into()));
    }
    let b = (b_bin.is_some() || b_env.len() > 1 || b_log_level != log_level).then(|| {
        let bin = b_bin.clone().unwrap_or_else(|| gw_bin.clone());
        start_gateway(&bin, b_addr, &sim_url, &b_log_level, &b_env)
    });
    wait_for(gw_addr);
    if b.is_some() {
        wait_for(b_addr);
    }

    // The floors answer exactly what the gateway answers for the seed backup.
    let seed = get_once(gw_addr);
    let floor = |role: &str, at: SocketAddr| {
        let mut cmd = Command::new(std::env::current_exe().expect("the bench binary"));
        cmd.env(ROLE_ENV, role)
            .env(ADDR_ENV, at.to_string())
            .env(
                UPSTREAM_ENV,
                format!("{sim_url}/v3/{PROJECT}/backups/{BACKUP}"),
            )
            .env(
                MESSAGE_ENV,
                base64::engine::general_purpose::STANDARD.encode(seed.encode_to_vec()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let p = Proc(cmd.spawn().expect("start a floor"));
        wait_for(at);
        p
    };
    let tonic_floor = floor(FLOOR_ROLE, floor_addr);
    let passthrough = floor(PASSTHROUGH_ROLE, pass_addr);
    for at in [floor_addr, pass_addr]
        .into_iter()
        .chain(b.as_ref().map(|_| b_addr))
    {
        get_once(at);
    }

    let body = std::env::temp_dir().join(format!("unary-bench-{}.grpc", std::process::id()));
    std::fs::write(&body, grpc_frame()).expect("write the request frame");
    let grpc = |at: SocketAddr| Load::Grpc {
        url: format!("http://{at}{GET_BACKUP}"),
        body: body.clone(),
    };
    let mut targets = vec![
        Target {
            name: "direct REST",
            load: Load::Rest(format!("{sim_url}/v3/{PROJECT}/backups/{BACKUP}")),
            pid: sim.0.id(),
        },
        Target {
            name: "gateway",
            load: grpc(gw_addr),
            pid: gw.0.id(),
        },
    ];
    if let Some(b) = &b {
        targets.push(Target {
            name: "gateway B",
            load: grpc(b_addr),
            pid: b.0.id(),
        });
    }
    targets.push(Target {
        name: "tonic floor",
        load: grpc(floor_addr),
        pid: tonic_floor.0.id(),
    });
    targets.push(Target {
        name: "passthrough floor",
        load: grpc(pass_addr),
        pid: passthrough.0.id(),
    });

    // Warm-up: connections, pools, caches.
    for t in &targets {
        PathRun::default().run(t, 4, Duration::from_secs(1));
    }
    println!(
        "GetBackup with a caller token, h2load, {ROUNDS} alternating rounds of {seconds} s per path and concurrency\n\
         gateway: {gw_bin} {gw_env:?} (log level {log_level}){}\n",
        b.as_ref()
            .map(|_| format!(
                "\ngateway B: {} {b_env:?}",
                b_bin.as_deref().unwrap_or(&gw_bin)
            ))
            .unwrap_or_default()
    );
    println!(
        "{:>4} {:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>6}",
        "conc",
        "path",
        "req/s",
        "mean µs",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "srv CPU",
        "h2l CPU",
        "failed"
    );
    let mut rows = Vec::new();
    for &c in &concurrency {
        let mut runs: Vec<PathRun> = targets.iter().map(|_| PathRun::default()).collect();
        for _ in 0..ROUNDS {
            for (t, run) in targets.iter().zip(runs.iter_mut()) {
                run.run(t, c, round_time);
            }
        }
        let mut stats: Vec<Stats> = runs.into_iter().map(PathRun::stats).collect();
        for (t, s) in targets.iter().zip(&stats) {
            print_row(c, t.name, s);
        }
        let passthrough = stats.pop().unwrap();
        let floor = stats.pop().unwrap();
        let b = (stats.len() == 3).then(|| stats.pop().unwrap());
        let row = Row {
            concurrency: c,
            rest: stats[0],
            gateway: stats[1],
            b,
            floor,
            passthrough,
        };
        let (s, g) = (&row.rest, &row.gateway);
        print!(
            "     ratio {:.2}, added mean {:+.0} µs, added p50 {:+.0} µs",
            g.rps / s.rps,
            g.mean - s.mean,
            g.p50 - s.p50
        );
        if let Some(b) = &row.b {
            print!(
                " | B: ratio {:.2}, added mean {:+.0} µs, CPU {:.1} vs {:.1} µs",
                b.rps / s.rps,
                b.mean - s.mean,
                b.server_cpu,
                g.server_cpu
            );
        }
        println!("\n");
        rows.push(row);
    }
    let _ = std::fs::remove_file(&body);
    println!(
        "srv CPU = the serving process's CPU µs per request (the simulator for direct REST); \
         h2l CPU = h2load's own."
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
    drop((tonic_floor, passthrough, b, gw, sim));
}
