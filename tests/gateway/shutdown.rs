//! Graceful shutdown: health NOT_SERVING during the delay while calls are still
//! served, then a drain in which unary calls finish and long-lived streams end
//! with UNAVAILABLE; SIGTERM under load loses no call and the process exits 0.

use crate::common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use cbr_gateway::proto as pb;
use cbr_simulator::SimulatorSettings;
use common::*;
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A checkpoint that stays `protecting` for the whole test.
async fn protecting_checkpoint(channel: Channel) -> String {
    pb::checkpoint_service_client::CheckpointServiceClient::new(channel)
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap()
        .id
}

async fn watch(channel: Channel, id: &str) -> tonic::Streaming<pb::WatchCheckpointResponse> {
    let mut stream = pb::checkpoint_service_client::CheckpointServiceClient::new(channel)
        .watch_checkpoint(pb::WatchCheckpointRequest {
            checkpoint_id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The current state comes at once.
    stream.next().await.unwrap().unwrap();
    stream
}

fn assert_shutting_down<T: std::fmt::Debug>(end: Option<Result<T, tonic::Status>>) {
    let status = match end {
        Some(Err(status)) => status,
        other => panic!("expected the stream to end with a status, got {other:?}"),
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "SHUTTING_DOWN"
    );
}

#[tokio::test]
async fn the_drain_finishes_unary_calls_and_ends_watch_streams() {
    let (gw, sim) = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 10,
            backup_duration: Duration::from_secs(3600),
            faults: vec!["route=get_backup,latency=700ms".parse().unwrap()],
            ..Default::default()
        })
        .project(PROJECT)
        .settings(|s| s.transport.shutdown_grace = Duration::from_secs(5))
        .spawn()
        .await
        .into_parts();
    let id = protecting_checkpoint(gw.channel.clone()).await;
    let mut stream = watch(gw.channel.clone(), &id).await;
    let mut backups = gw.backups();
    let slow = tokio::spawn(async move {
        backups
            .get_backup(pb::GetBackupRequest {
                project_id: String::new(),
                backup_id: BACKUP.into(),
                region: String::new(),
            })
            .await
    });
    let started = Instant::now();
    while sim.state.stats.in_flight()["get_backup"] == 0 {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = gw.addr;
    let stopping = Instant::now();
    let stopped = tokio::spawn(gw.stop());
    // The watch stream ends at once, not when the grace period runs out.
    assert_shutting_down(stream.next().await);
    assert!(stopping.elapsed() < Duration::from_millis(500));
    // The unary call in flight completes normally.
    slow.await.unwrap().expect("the in-flight call finishes");
    stopped.await.unwrap();
    let took = stopping.elapsed();
    println!("drain with one slow call in flight took {took:?}");
    assert!(took < Duration::from_secs(5), "drained in {took:?}");
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn sigterm_under_load_loses_no_call_and_exits_0() {
    let mut gw = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--shutdown-delay",
        "1s",
        "--sim-backup-duration",
        "1h",
        "--sim-fault",
        "route=get_backup,latency=20ms",
    ])
    .await;
    let channel = Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let check = |name: &str| HealthCheckRequest {
        service: name.to_owned(),
    };
    let serving = health.check(check("")).await.unwrap().into_inner().status();
    assert_eq!(serving, ServingStatus::Serving);

    let id = protecting_checkpoint(channel.clone()).await;
    let mut stream = watch(channel.clone(), &id).await;

    // Load: eight clients, each on its own connection, calling until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let channel = Channel::from_shared(format!("http://{}", gw.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let (stop, done) = (stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut client = pb::backup_service_client::BackupServiceClient::new(channel);
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let r = client
                    .get_backup(pb::GetBackupRequest {
                        project_id: String::new(),
                        backup_id: BACKUP.into(),
                        region: String::new(),
                    })
                    .await;
                match r {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(status) => failures.push(status),
                }
            }
            failures
        }));
    }
    while done.load(Ordering::SeqCst) < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Taken before `kill` runs: the signal lands while it runs, and on a busy
    // machine `kill` can take a while to be reaped after that.
    let signalled = Instant::now();
    gw.signal("TERM");
    // As a load balancer would: watch health, stop sending once NOT_SERVING.
    loop {
        let status = health.check(check("")).await.unwrap().into_inner().status();
        if status == ServingStatus::NotServing {
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "health never turned"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let noticed = signalled.elapsed();
    let per_service = health
        .check(check("cbr.gateway.v1.BackupService"))
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(per_service, ServingStatus::NotServing);
    // Load balancers take a while to act on it; calls keep coming meanwhile
    // and are served (the delay is 1 s).
    let at_signal = done.load(Ordering::SeqCst);
    tokio::time::sleep_until((signalled + Duration::from_millis(500)).into()).await;
    let before_stop = done.load(Ordering::SeqCst);
    assert!(before_stop > at_signal, "calls are served during the delay");
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    let total = done.load(Ordering::SeqCst);
    println!(
        "SIGTERM under load: {total} calls OK ({} after the signal), {} failed; NOT_SERVING seen after {noticed:?}",
        total - at_signal,
        failures.len()
    );
    assert!(failures.is_empty(), "calls lost: {failures:?}");

    // After the delay, the watch stream ends so its client reconnects elsewhere.
    assert_shutting_down(stream.next().await);
    assert!(
        signalled.elapsed() >= Duration::from_secs(1),
        "the delay was honoured"
    );
    let status = gw.exit_status(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    println!("exit {status} {took:?} after SIGTERM");
    assert!(status.success(), "{status}");
    let logs = gw.log_lines();
    let said = |start: &str| {
        logs.iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.starts_with(start)))
    };
    assert!(said("health is NOT_SERVING"), "{logs:?}");
    assert!(said("cbr-gateway stopped"), "{logs:?}");
}

#[tokio::test]
async fn a_listing_still_running_ends_with_shutting_down_before_the_grace_runs_out() {
    let gw = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 300,
            faults: vec!["route=list_backups,latency=200ms".parse().unwrap()],
            ..Default::default()
        })
        .project(PROJECT)
        .settings(|s| s.transport.shutdown_grace = Duration::from_secs(3))
        .spawn()
        .await
        .gateway;
    // Sixty pages of five, 200 ms each: far longer than the grace.
    let mut stream = gw
        .backups()
        .stream_backups(pb::StreamBackupsRequest {
            page_size: Some(5),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stream.next().await.unwrap().unwrap();
    let stopping = Instant::now();
    let stopped = tokio::spawn(gw.stop());
    let mut sent = 1;
    let end = loop {
        match stream.next().await {
            Some(Ok(_)) => sent += 1,
            other => break other,
        }
    };
    // It kept streaming through most of the grace, then got a status its
    // client can act on (resume elsewhere at offset `sent`), not a cut
    // connection.
    let took = stopping.elapsed();
    assert_shutting_down(end);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(sent > 5, "the walk went on during the drain: {sent}");
    stopped.await.unwrap();
}
