//! What the benches read from the OS: free loopback ports and, from `/proc`,
//! a process's memory and CPU time. `pid` is a process id or `"self"`.

#![allow(dead_code)] // each bench uses its own subset

use std::{fmt::Display, time::Duration};

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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the parenthesised command name: state is [0], utime
    // [11], stime [12].
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
