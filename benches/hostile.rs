//! What hostile callers cost the gateway binary at its default settings:
//!
//! 1. **Memory.** Ten concurrent ~4 MB requests, each a list millions long
//!    (ListBackups / StreamBackups `status`, packed and unpacked;
//!    CreateCheckpoint `resources` and `resource_details`): the growth of peak
//!    resident memory (`VmHWM`) over a warmed-up baseline, and the resident
//!    memory afterwards (`VmRSS`). Goal: at most 100 MiB of peak growth.
//! 2. **Connections.** 400 connections that send nothing, half an HTTP/1.1
//!    request line, or only the HTTP/2 preface: how long until the gateway has
//!    closed each (the slowest), against `--request-read-timeout` (10 s).
//!    Goal: all closed within 30 s.
//!
//! Run: `cargo bench --bench hostile`. The gateway serves from its built-in
//! simulator; every request here is refused before it reaches it.

mod common;
use common::*;

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use cbr_gateway::proto as pb;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROJECT: &str = "4229d7a45436489f8c3dc2b1d35d4987";

/// One gRPC call with an encoded message over a bare HTTP/2 connection;
/// the `grpc-status` it ends with.
async fn call(addr: SocketAddr, path: &str, message: Vec<u8>) -> i32 {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&message);
    let (response, mut send) = client.send_request(req, false).unwrap();
    let mut rest = bytes::Bytes::from(frame);
    while !rest.is_empty() {
        send.reserve_capacity(rest.len().min(1 << 20));
        let Some(Ok(granted)) = futures_util::future::poll_fn(|cx| send.poll_capacity(cx)).await
        else {
            break;
        };
        let chunk = rest.split_to(granted.min(rest.len()));
        if send.send_data(chunk, rest.is_empty()).is_err() {
            break;
        }
    }
    let (parts, mut body) = response.await.unwrap().into_parts();
    let mut fields = parts.headers;
    if !fields.contains_key("grpc-status") {
        while body.data().await.is_some() {}
        if let Ok(Some(trailers)) = body.trailers().await {
            fields = trailers;
        }
    }
    fields["grpc-status"].to_str().unwrap().parse().unwrap()
}

fn hostile_messages() -> Vec<(&'static str, Vec<u8>)> {
    let list = "/cbr.gateway.v1.BackupService/ListBackups";
    let stream = "/cbr.gateway.v1.BackupService/StreamBackups";
    let create = "/cbr.gateway.v1.CheckpointService/CreateCheckpoint";
    let statuses = pb::ListBackupsRequest {
        status: vec![1; 3_900_000],
        ..Default::default()
    };
    let stream_statuses = pb::StreamBackupsRequest {
        status: vec![2; 3_900_000],
        ..Default::default()
    };
    let parameters = |p: pb::CheckpointParameters| pb::CreateCheckpointRequest {
        vault_id: "3b5816b5-f29c-4172-9d9a-76c719a659ce".into(),
        parameters: Some(p),
        ..Default::default()
    };
    let resources = parameters(pb::CheckpointParameters {
        resources: vec![String::new(); 1_900_000],
        ..Default::default()
    });
    let details = parameters(pb::CheckpointParameters {
        resource_details: vec![pb::Resource::default(); 1_900_000],
        ..Default::default()
    });
    // `status` unpacked: field 16, wire type 0 (key 0x80 0x01), one per value.
    let unpacked: Vec<u8> = std::iter::repeat_n([0x80u8, 0x01, 0x03], 1_300_000)
        .flatten()
        .collect();
    let mut all = Vec::new();
    for _ in 0..2 {
        all.push((list, statuses.encode_to_vec()));
        all.push((stream, stream_statuses.encode_to_vec()));
        all.push((create, resources.encode_to_vec()));
        all.push((create, details.encode_to_vec()));
        all.push((list, unpacked.clone()));
    }
    all
}

/// Reads until the peer closes (or resets) the connection; when it did.
async fn closed(mut stream: tokio::net::TcpStream, started: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

#[tokio::main]
async fn main() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args(["--listen", &addr.to_string(), "--metrics-listen", "off"])
        .args(["--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the gateway");
    let pid = child.id();
    let get = pb::GetBackupRequest {
        project_id: PROJECT.into(),
        backup_id: "6df2b54c-dd62-4059-a07c-1b8f24f2725d".into(),
        region: String::new(),
    }
    .encode_to_vec();
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never listening"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Warm up: pools, buffers and the simulator's first answers.
    for _ in 0..20 {
        assert_eq!(
            call(addr, "/cbr.gateway.v1.BackupService/GetBackup", get.clone()).await,
            0
        );
    }
    let (peak_before, rss_before) = (status_kib(pid, "VmHWM:"), status_kib(pid, "VmRSS:"));
    let messages = hostile_messages();
    let bytes: usize = messages.iter().map(|(_, m)| m.len()).sum();
    let sent = Instant::now();
    let codes = futures_util::future::join_all(
        messages
            .into_iter()
            .map(|(path, message)| call(addr, path, message)),
    )
    .await;
    let took = sent.elapsed();
    assert!(
        codes.iter().all(|c| *c == 3),
        "all INVALID_ARGUMENT: {codes:?}"
    );
    let (peak_after, rss_after) = (status_kib(pid, "VmHWM:"), status_kib(pid, "VmRSS:"));
    println!(
        "hostile requests: {} requests, {:.1} MB in all, refused in {took:.2?}",
        codes.len(),
        bytes as f64 / 1e6
    );
    println!(
        "  peak RSS {:.1} → {:.1} MiB (+{:.1} MiB; goal ≤ 100), RSS after {:.1} MiB (before {:.1})",
        peak_before as f64 / 1024.0,
        peak_after as f64 / 1024.0,
        (peak_after - peak_before) as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_before as f64 / 1024.0,
    );

    // 400 connections that send nothing, half a request line, or only the
    // HTTP/2 preface.
    let started = Instant::now();
    let mut pending = Vec::new();
    for i in 0..400 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        match i % 3 {
            0 => {}
            1 => s
                .write_all(b"POST /cbr.gateway.v1.BackupService/GetBackup HTTP/1.1\r\nHost: ga")
                .await
                .unwrap(),
            _ => s
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap(),
        }
        pending.push(tokio::spawn(closed(s, started)));
    }
    let mut times = Vec::new();
    for p in pending {
        times.push(p.await.unwrap());
    }
    times.sort();
    println!(
        "slow and silent connections: 400 opened, all closed by the gateway; first after {:.2?}, median {:.2?}, last {:.2?} (--request-read-timeout 10s; goal ≤ 30 s)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    assert_eq!(
        call(addr, "/cbr.gateway.v1.BackupService/GetBackup", get).await,
        0,
        "still serving"
    );
    let _ = child.kill();
    let _ = child.wait();
}
