//! Shared test harness: the test stack (the simulator or a wiremock server
//! standing in for CBR/CSBS, and the real gateway in-process on `127.0.0.1:0`,
//! configured with typed settings: see [`stack`]), raw gRPC calls, and the
//! built binary in a child process.

#![allow(dead_code)]

mod stack;

pub use stack::*;

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use tonic_types::{ErrorDetails, StatusExt};

/// The AK the test gateway holds.
pub const TEST_AK: &str = "TESTAK";
/// The SK the test gateway holds.
pub const TEST_SK: &str = "TESTSK-never-logged";

/// The docs' example project.
pub const PROJECT: &str = "4229d7a45436489f8c3dc2b1d35d4987";
/// The seed checkpoint.
pub const CHECKPOINT: &str = "8b0851a8-adf3-4f4c-a914-dead08bf9664";
/// The seed backup.
pub const BACKUP: &str = "6df2b54c-dd62-4059-a07c-1b8f24f2725d";
/// The seed vault.
pub const VAULT: &str = "3b5816b5-f29c-4172-9d9a-76c719a659ce";
/// The seed server resource.
pub const SERVER: &str = "94eba8b2-acc9-4d82-badc-127144cc5526";
/// The seed CSBS checkpoint item.
pub const CHECKPOINT_ITEM: &str = "90c1d5fa-1b9f-4aeb-b2f4-81c806e98190";

/// A loopback listener on a port below the kernel's ephemeral range, for a
/// test that closes it and binds the same port again later: a port from
/// `127.0.0.1:0` may be taken in between as the local port of any concurrent
/// test's outgoing connection, one from here only by another explicit bind.
pub async fn rebindable_listener() -> tokio::net::TcpListener {
    loop {
        let port = fastrand::u16(20_000..32_000);
        if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            return listener;
        }
    }
}

/// A fixture file's text.
/// A loopback port where connections are refused, reserved for as long as
/// the returned socket lives: bound, never listened on. (A port merely
/// freed can be taken by a parallel test before it is used.)
pub fn refused_port() -> (tokio::net::TcpSocket, u16) {
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    (held, port)
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A request carrying `x-auth-token`.
pub fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("x-auth-token", token.parse().unwrap());
    req
}

/// The `google.rpc` details of a status.
pub fn details(status: &tonic::Status) -> ErrorDetails {
    status.get_error_details()
}

/// The fields named by a status's BadRequest detail.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    details(status)
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// The outcome of a raw gRPC call: `grpc-status`, `grpc-message`.
pub struct RawOutcome {
    /// `grpc-status` (from trailers, or headers for trailers-only answers).
    pub code: i32,
    /// `grpc-message`, percent-decoded.
    pub message: String,
}

/// Calls `path` over a bare HTTP/2 connection with `message` as the request and
/// `headers` added, enforcing nothing on the client side (unlike tonic's client,
/// which applies `grpc-timeout` locally), so a test sees what the server answers.
pub async fn raw_grpc_call(
    addr: SocketAddr,
    path: &str,
    message: &impl prost::Message,
    headers: &[(&str, &str)],
) -> RawOutcome {
    raw_grpc_call_bytes(addr, path, message.encode_to_vec(), headers).await
}

/// A gRPC POST of `path` to `addr`, its body still to send.
pub fn grpc_request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(()).unwrap()
}

/// As [`raw_grpc_call`], with the message already encoded (any bytes at all),
/// sent under HTTP/2 flow control as a real client sends a large message.
pub async fn raw_grpc_call_bytes(
    addr: SocketAddr,
    path: &str,
    encoded: Vec<u8>,
    headers: &[(&str, &str)],
) -> RawOutcome {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let mut frame = Vec::with_capacity(5 + encoded.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&encoded);
    let (response, mut send) = client
        .send_request(grpc_request(addr, path, headers), false)
        .unwrap();
    let mut rest = bytes::Bytes::from(frame);
    while !rest.is_empty() {
        send.reserve_capacity(rest.len().min(1 << 20));
        let granted = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            // The server answered (and reset the stream) before taking it all.
            _ => break,
        };
        let chunk = rest.split_to(granted.min(rest.len()));
        if send.send_data(chunk, rest.is_empty()).is_err() {
            break;
        }
    }
    let response = response.await.unwrap();
    let (parts, mut body) = response.into_parts();
    let mut fields = parts.headers.clone();
    if !fields.contains_key("grpc-status") {
        while let Some(chunk) = body.data().await {
            chunk.unwrap();
        }
        if let Some(trailers) = body.trailers().await.unwrap() {
            fields = trailers;
        }
    }
    let text = |k: &str| {
        fields
            .get(k)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    RawOutcome {
        code: text("grpc-status").parse().expect("grpc-status"),
        message: percent_encoding::percent_decode_str(&text("grpc-message"))
            .decode_utf8_lossy()
            .into_owned(),
    }
}

/// The built `cbr-gateway` binary in a child process; killed on drop.
pub struct Binary {
    child: Child,
    /// The address its first log line names.
    pub addr: String,
    /// Every log line so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Starts the binary with `args`, which must select JSON logs and a `:0`
    /// listen address; returns once the first log line names the address.
    pub async fn start(args: &[&str]) -> Binary {
        Binary::start_with_env(args, &[]).await
    }

    /// As [`Binary::start`], with extra environment variables.
    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Binary {
        let mut args = args.to_vec();
        // Tests run in parallel: no two gateways may take the default metrics port.
        if args.first() != Some(&"simulator") && !args.contains(&"--metrics-listen") {
            args.extend_from_slice(&["--metrics-listen", "127.0.0.1:0"]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
            .args(&args)
            .env_remove("HUAWEICLOUD_SDK_PROJECT_ID")
            .env_remove("CBR_ENDPOINT")
            .env_remove("CSBS_ENDPOINT")
            // After the removals, so callers can set any of them.
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start cbr-gateway");
        // The first log line names the bound address.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("first log line in time")
            .unwrap()
            .expect("a log line");
        let json: serde_json::Value = serde_json::from_str(&first).expect("JSON log line");
        let addr = json["listen"].as_str().expect("listen field").to_owned();
        // Keep reading the logs so the child never blocks on a full pipe.
        let logs = Arc::new(Mutex::new(vec![first]));
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Binary { child, addr, logs }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// Sends a signal (`TERM`, `INT`, …) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} {pid}");
    }

    /// Waits (at most `limit`) for the process to exit.
    pub async fn exit_status(&mut self, limit: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the process exits in time")
            .expect("wait for the process")
    }

    /// Waits (at most 10 s) for the first log line `matches` accepts, and returns it.
    pub async fn wait_for_log(
        &self,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = std::time::Instant::now();
        loop {
            if let Some(line) = self.log_lines().into_iter().find(|l| matches(l)) {
                return line;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no such log line in {:?}",
                self.log_lines()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The log lines (JSON objects) so far.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).expect("JSON log line"))
            .collect()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
