//! The Prometheus endpoint of the real binary, scraped over HTTP after real
//! calls: RPCs by method and code, upstream requests by route and status,
//! retries, shed calls, watch streams and pollers, idempotent creates — and no
//! identifier in any label. And the text log lines as a log collector reads
//! them: no colour codes in a pipe.

use crate::common;

use cbr_gateway::proto as pb;
use common::*;
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

/// The value of the sample named exactly `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn the_metrics_endpoint_counts_rpcs_upstream_calls_streams_and_creates() {
    let gw = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--shutdown-delay",
        "0s",
        "--sim-backup-duration",
        "1h",
        "--sim-fault-seed",
        "7",
        "--sim-fault",
        "route=list_backups,error_rate=1,status=503;route=get_checkpoint_item,latency=400ms;route=get_vault,latency=300ms",
        "--max-upstream-inflight",
        "2",
        "--upstream-queue-timeout",
        "10ms",
    ])
    .await;
    // The metrics address is in the log line that announces it.
    let announced = gw
        .wait_for_log(|l| l["message"] == "Prometheus metrics at /metrics")
        .await;
    let metrics_addr = announced["metrics_listen"].as_str().unwrap().to_owned();
    let channel = Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut backups = pb::backup_service_client::BackupServiceClient::new(channel.clone());
    let mut checkpoints =
        pb::checkpoint_service_client::CheckpointServiceClient::new(channel.clone());
    let items =
        pb::checkpoint_item_service_client::CheckpointItemServiceClient::new(channel.clone());

    let get = |id: &str| pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: id.into(),
        region: String::new(),
    };
    backups.get_backup(get(BACKUP)).await.unwrap();
    backups.get_backup(get(BACKUP)).await.unwrap();
    let bad = backups.get_backup(get("../x")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    // The built-in simulator's second region, then a region nobody knows
    // (refused before it is settled: counted in the default region).
    let mut away = get(BACKUP);
    away.region = "ap-southeast-3".into();
    backups.get_backup(away).await.unwrap();
    let mut nowhere = get(BACKUP);
    nowhere.region = "xx-nowhere-1".into();
    let unknown = backups.get_backup(nowhere).await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    // Every list attempt fails: retried, then UNAVAILABLE.
    let down = backups
        .list_backups(pb::ListBackupsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(down.code(), Code::Unavailable);

    // The same request_id twice: one create sent, one deduplicated.
    let request_id = "5d1f4c2e-7b7a-4a53-9a43-0c8f0a6b2b11";
    let create = || pb::CreateCheckpointRequest {
        vault_id: VAULT.into(),
        request_id: request_id.into(),
        ..Default::default()
    };
    let created = checkpoints
        .create_checkpoint(create())
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    checkpoints.create_checkpoint(create()).await.unwrap();

    // Two watchers of one checkpoint: two streams, one shared poller.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut s = checkpoints
            .watch_checkpoint(pb::WatchCheckpointRequest {
                checkpoint_id: created.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        s.next().await.unwrap().unwrap();
        streams.push(s);
    }

    // Ten identical slow reads at once: one upstream request, nine joined it.
    let vaults = pb::vault_service_client::VaultServiceClient::new(channel.clone());
    let same: Vec<_> = (0..10)
        .map(|_| {
            let mut c = vaults.clone();
            tokio::spawn(async move {
                c.get_vault(pb::GetVaultRequest {
                    vault_id: VAULT.into(),
                    ..Default::default()
                })
                .await
            })
        })
        .collect();
    for call in same {
        call.await.unwrap().unwrap();
    }

    // Three different slow calls for two upstream slots: one is shed.
    let slow: Vec<_> = [CHECKPOINT_ITEM, "item-b", "item-c"]
        .into_iter()
        .map(|id| {
            let mut c = items.clone();
            tokio::spawn(async move {
                c.get_checkpoint_item(pb::GetCheckpointItemRequest {
                    project_id: String::new(),
                    checkpoint_item_id: id.into(),
                    region: String::new(),
                })
                .await
            })
        })
        .collect();
    let mut shed = 0;
    for call in slow {
        if let Err(status) = call.await.unwrap()
            && status.code() == Code::Unavailable
        {
            shed += 1;
        }
    }
    assert!(shed >= 1, "no call was shed");

    cbr_gateway::install_crypto_provider();
    let response = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();

    let get_backup = r#"grpc_service="cbr.gateway.v1.BackupService",grpc_method="GetBackup",region="ap-southeast-1""#;
    let get_away = r#"grpc_service="cbr.gateway.v1.BackupService",grpc_method="GetBackup",region="ap-southeast-3""#;
    for (series, want) in [
        (format!("grpc_server_started_total{{{get_backup}}}"), 4.0),
        (
            format!(r#"grpc_server_handled_total{{{get_backup},grpc_code="OK"}}"#),
            2.0,
        ),
        (
            format!(r#"grpc_server_handled_total{{{get_backup},grpc_code="InvalidArgument"}}"#),
            2.0,
        ),
        (format!("grpc_server_started_total{{{get_away}}}"), 1.0),
        (
            format!(r#"grpc_server_handled_total{{{get_away},grpc_code="OK"}}"#),
            1.0,
        ),
        (
            format!(r#"grpc_server_handling_seconds_count{{{get_away}}}"#),
            1.0,
        ),
        (
            r#"cbr_gateway_upstream_requests_total{region="ap-southeast-3",service="cbr",route="get_backup",status="200"}"#.to_owned(),
            1.0,
        ),
        (
            r#"grpc_server_handled_total{grpc_service="cbr.gateway.v1.BackupService",grpc_method="ListBackups",region="ap-southeast-1",grpc_code="Unavailable"}"#.to_owned(),
            1.0,
        ),
        (
            format!(r#"grpc_server_handling_seconds_count{{{get_backup}}}"#),
            4.0,
        ),
        (
            r#"cbr_gateway_upstream_requests_total{region="ap-southeast-1",service="cbr",route="get_backup",status="200"}"#.to_owned(),
            2.0,
        ),
        (
            r#"cbr_gateway_upstream_retries_total{region="ap-southeast-1",service="cbr",route="list_backups"}"#.to_owned(),
            4.0,
        ),
        (
            r#"cbr_gateway_upstream_requests_total{region="ap-southeast-1",service="cbr",route="list_backups",status="503"}"#.to_owned(),
            5.0,
        ),
        (
            r#"cbr_gateway_upstream_requests_total{region="ap-southeast-1",service="cbr",route="create_checkpoint",status="200"}"#.to_owned(),
            1.0,
        ),
        (
            r#"cbr_gateway_idempotent_creates_total{result="sent"}"#.to_owned(),
            1.0,
        ),
        (
            r#"cbr_gateway_idempotent_creates_total{result="deduplicated"}"#.to_owned(),
            1.0,
        ),
        (
            r#"cbr_gateway_upstream_shed_total{region="ap-southeast-1",service="csbs"}"#.to_owned(),
            f64::from(shed),
        ),
        (
            r#"cbr_gateway_upstream_requests_total{region="ap-southeast-1",service="cbr",route="get_vault",status="200"}"#.to_owned(),
            1.0,
        ),
        (
            r#"cbr_gateway_upstream_shared_total{region="ap-southeast-1",service="cbr",route="get_vault"}"#.to_owned(),
            9.0,
        ),
        ("cbr_gateway_server_streams".to_owned(), 2.0),
        ("cbr_gateway_watch_pollers".to_owned(), 1.0),
    ] {
        assert_eq!(sample(&text, &series), Some(want), "{series} in:\n{text}");
    }
    assert!(text.contains("grpc_server_handling_seconds_bucket{"));
    assert!(text.contains("cbr_gateway_upstream_request_duration_seconds_bucket{"));
    assert!(text.contains("# TYPE cbr_gateway_upstream_inflight gauge"));
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    // No identifier ever becomes a label.
    for id in [
        BACKUP,
        PROJECT,
        VAULT,
        CHECKPOINT_ITEM,
        &created.id,
        request_id,
        "../x",
    ] {
        assert!(!text.contains(id), "{id} leaked into the metrics");
    }
    drop(streams);
}

#[tokio::test]
async fn text_logs_written_to_a_pipe_carry_no_colour_codes() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(["--log-format", "text", "--shutdown-delay", "0s"])
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(
        first.contains("INFO") && first.contains("listen="),
        "{first}"
    );
    assert!(
        !first.contains('\u{1b}'),
        "colour codes in a pipe: {first:?}"
    );
}
