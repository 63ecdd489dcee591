//! What the benches share: free loopback ports; from `/proc`, a process's
//! memory and CPU time (`pid` is a process id or `"self"`); the simulator
//! and gateway processes they start, and the simulator's request counts.

#![allow(dead_code)] // each bench uses its own subset

use std::{
    fmt::Display,
    net::SocketAddr,
    process::{Command, Stdio},
    time::Duration,
};

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `/proc/<pid>/status` field (`"VmRSS:"`, `"VmHWM:"`), in KiB; 0 if absent.
pub fn status_kib(pid: impl Display, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of `pid`, from `/proc/<pid>/stat`, in 10 ms ticks.
pub fn cpu_time(pid: impl Display) -> Duration {
    // utime [11], stime [12].
    stat_ticks(pid, [11, 12])
}

/// User + system CPU time of this process's waited-for children (h2load,
/// Python), from `/proc/self/stat`.
pub fn children_cpu_time() -> Duration {
    // cutime [13], cstime [14].
    stat_ticks("self", [13, 14])
}

/// The sum of two clock-tick fields of `/proc/<pid>/stat`, counted after the
/// parenthesised command name (state is [0]).
fn stat_ticks(pid: impl Display, at: [usize; 2]) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    Duration::from_millis(at.iter().map(|&i| ticks(i)).sum::<u64>() * 10)
}

/// `bin simulator` on `addr`, logging warnings only, stdout silenced: add
/// the bench's own `--sim-…` flags.
pub fn simulator_command(bin: &str, addr: SocketAddr) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["simulator", "--listen", &addr.to_string()])
        .args(["--log-level", "warn"])
        .stdout(Stdio::null());
    cmd
}

/// `bin` as a gateway on `addr` with CBR and CSBS at `sim_url`, no metrics
/// listener and no shutdown delay, stdout silenced: add the bench's own
/// flags and credentials.
pub fn gateway_command(bin: &str, addr: SocketAddr, sim_url: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", &addr.to_string()])
        .args(["--cbr-endpoint", sim_url, "--csbs-endpoint", sim_url])
        .args(["--metrics-listen", "off", "--shutdown-delay", "0s"])
        .stdout(Stdio::null());
    cmd
}

/// The simulator's requests so far, by route name (`GET /_simulator/stats`).
pub async fn simulator_requests(
    http: &reqwest::Client,
    sim_url: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let stats: serde_json::Value = http
        .get(format!("{sim_url}/_simulator/stats"))
        .send()
        .await
        .expect("the simulator's stats")
        .json()
        .await
        .expect("stats are JSON");
    stats["requests"].as_object().cloned().unwrap_or_default()
}

/// A child process killed (and reaped) when dropped.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 30 s) until something accepts connections on `addr`.
pub fn wait_for(addr: std::net::SocketAddr) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{addr} never listened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
