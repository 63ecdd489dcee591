//! RestoreBackup, DeleteBackup and google.longrunning.Operations against a
//! mock upstream answering with LIFECYCLE.md's shapes: the exact upstream
//! requests (body, path, query), both restore response shapes, the names
//! that carry what any replica needs, how operation logs and backup statuses
//! read as operations, failures in an operation's `error`, repeats by
//! `request_id`, and bad input refused before anything is sent.

use crate::common;

use cbr_gateway::proto::{
    self as pb,
    google::longrunning::{
        self as lro, CancelOperationRequest, DeleteOperationRequest, GetOperationRequest,
        ListOperationsRequest, WaitOperationRequest,
    },
};
use common::*;
use prost::Message as _;
use tonic::Code;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, method, path, query_param},
};

const LOG: &str = "4827f2da-b008-4507-ab7d-42d0df5ed912";
const CHILD: &str = "5d822633-2bbf-4af8-a16e-5ab1c7705235";
const DISK: &str = "eccbcfdd-f843-4bbb-b2c0-a5ce861f9376";

fn restore_path() -> String {
    format!("/v3/{PROJECT}/backups/{BACKUP}/restore")
}

fn backup_path() -> String {
    format!("/v3/{PROJECT}/backups/{BACKUP}")
}

fn server_restore(request_id: &str) -> pb::RestoreBackupRequest {
    pb::RestoreBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        restore: Some(pb::BackupRestore {
            server_id: SERVER.into(),
            mappings: vec![pb::BackupRestoreServerMapping {
                backup_id: CHILD.into(),
                volume_id: DISK.into(),
            }],
            power_on: Some(true),
            ..Default::default()
        }),
        request_id: request_id.into(),
        region: String::new(),
    }
}

/// LIFECYCLE.md §3.3's documented body, as the gateway must send it.
fn documented_body() -> serde_json::Value {
    serde_json::json!({"restore": {"mappings": [{"backup_id": CHILD, "volume_id": DISK}],
        "power_on": true, "server_id": SERVER}})
}

/// A restore operation log (§5.5's constructed example) in `status`.
fn restore_log(status: &str, progress: i32, error: (&str, &str)) -> String {
    serde_json::json!({"operation_log": {
        "id": LOG, "project_id": PROJECT, "operation_type": "restore", "status": status,
        "checkpoint_id": CHECKPOINT, "provider_id": "0daac4c5-6707-4851-97ba-169e36266b66",
        "created_at": "2026-12-04T10:00:00.123456", "started_at": "2026-12-04T10:00:00.100000",
        "updated_at": "2026-12-04T10:01:30.000000",
        "ended_at": if status == "running" { serde_json::Value::Null } else { "2026-12-04T10:05:00.000000".into() },
        "error_info": {"code": error.0, "message": error.1},
        "vault_id": VAULT, "vault_name": "vault-be94",
        "extra_info": {"common": {"progress": progress, "request_id": "req-x"},
            "resource": {"id": SERVER, "name": "ecs-1f0f-0002", "type": "OS::Nova::Server"},
            "restore": {"backup_id": BACKUP, "backup_name": "backup_name",
                "target_resource_id": SERVER, "target_resource_name": "ecs-1f0f-0002"}}}})
    .to_string()
}

fn json(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body, "application/json")
        .insert_header("X-Request-Id", "req-op")
}

fn error_json(status: u16, code: &str, message: &str) -> ResponseTemplate {
    json(
        status,
        serde_json::json!({"error_code": code, "error_msg": message}).to_string(),
    )
}

fn metadata(op: &lro::Operation) -> pb::OperationMetadata {
    let any = op.metadata.as_ref().expect("metadata");
    assert_eq!(
        any.type_url,
        "type.googleapis.com/cbr.gateway.v1.OperationMetadata"
    );
    pb::OperationMetadata::decode(any.value.as_slice()).unwrap()
}

fn get(name: &str) -> GetOperationRequest {
    GetOperationRequest { name: name.into() }
}

/// GetOperation, which must succeed.
async fn read(gw: &Gateway, name: &str) -> lro::Operation {
    gw.operations()
        .get_operation(get(name))
        .await
        .unwrap()
        .into_inner()
}

/// A done operation's error, which it must have.
fn error_of(op: &lro::Operation) -> &cbr_gateway::proto::google::rpc::Status {
    match &op.result {
        Some(lro::operation::Result::Error(e)) => e,
        _ => panic!("an error: {op:?}"),
    }
}

#[tokio::test]
async fn a_restore_sends_upstreams_body_and_follows_its_job_log_to_success() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(restore_path()))
        .and(body_json(documented_body()))
        .respond_with(json(202, format!(r#"{{"job_id":"{LOG}"}}"#)))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let op = gw
        .backups()
        .restore_backup(server_restore(""))
        .await
        .unwrap()
        .into_inner();
    let name = format!("projects/{PROJECT}/operations/restore.{LOG}");
    assert_eq!(op.name, name);
    assert!(!op.done && op.result.is_none());
    let m = metadata(&op);
    assert_eq!(m.operation_type(), pb::OperationType::Restore);
    assert_eq!(m.status(), pb::OperationLogStatus::Waiting);
    assert_eq!(
        (
            m.backup_id.as_str(),
            m.target_resource_id.as_str(),
            m.operation_log_id.as_str()
        ),
        (BACKUP, SERVER, LOG)
    );
    assert!(m.start_time.is_some());

    // Running: the log's progress and details.
    let log_path = format!("/v3/{PROJECT}/operation-logs/{LOG}");
    let running = Mock::given(method("GET"))
        .and(path(log_path.clone()))
        .respond_with(json(200, restore_log("running", 35, ("", ""))))
        .mount_as_scoped(&upstream)
        .await;
    let op = read(&gw, &name).await;
    assert!(!op.done);
    let m = metadata(&op);
    assert_eq!(m.status(), pb::OperationLogStatus::Running);
    assert_eq!(m.progress, Some(35));
    assert_eq!(m.resource_type, "OS::Nova::Server");
    assert_eq!(m.resource_name, "ecs-1f0f-0002");
    assert_eq!(m.vault_id, VAULT);
    assert_eq!(m.checkpoint_id, CHECKPOINT);
    assert_eq!(m.target_resource_name, "ecs-1f0f-0002");
    assert!(m.end_time.is_none());
    drop(running);

    // Done: the response is a RestoreBackupResponse with the final log.
    Mock::given(method("GET"))
        .and(path(log_path))
        .respond_with(json(200, restore_log("success", 100, ("", ""))))
        .mount(&upstream)
        .await;
    let op = read(&gw, &name).await;
    assert!(op.done);
    assert!(metadata(&op).end_time.is_some());
    let Some(lro::operation::Result::Response(any)) = op.result else {
        panic!("a response: {op:?}")
    };
    assert_eq!(
        any.type_url,
        "type.googleapis.com/cbr.gateway.v1.RestoreBackupResponse"
    );
    let r = pb::RestoreBackupResponse::decode(any.value.as_slice()).unwrap();
    assert_eq!(
        (r.backup_id.as_str(), r.target_resource_id.as_str()),
        (BACKUP, SERVER)
    );
    assert_eq!(
        r.operation_log.unwrap().status(),
        pb::OperationLogStatus::Success
    );
}

#[tokio::test]
async fn a_restore_without_job_id_is_found_again_among_the_restore_logs() {
    let upstream = MockServer::start().await;
    // The documented answer: 202 and no body at all.
    Mock::given(method("POST"))
        .and(path(restore_path()))
        .respond_with(ResponseTemplate::new(202))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let before = chrono::Utc::now().timestamp();
    let mut req = server_restore("");
    req.restore = Some(pb::BackupRestore {
        volume_id: DISK.into(),
        ..Default::default()
    });
    let op = gw.backups().restore_backup(req).await.unwrap().into_inner();
    let prefix = format!("projects/{PROJECT}/operations/restore.{BACKUP}.");
    let since: i64 = op
        .name
        .strip_prefix(&prefix)
        .expect(&op.name)
        .parse()
        .unwrap();
    assert!((before..=before + 5).contains(&since));
    assert_eq!(metadata(&op).operation_log_id, "");
    let sent: serde_json::Value =
        serde_json::from_slice(&upstream.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent, serde_json::json!({"restore": {"volume_id": DISK}}));

    // Not listed yet, backup `restoring`: running, from the backup.
    let listed = Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .and(query_param("operation_type", "restore"))
        .respond_with(json(200, r#"{"operation_logs":[],"count":0}"#.into()))
        .mount_as_scoped(&upstream)
        .await;
    let backup = Mock::given(method("GET"))
        .and(path(backup_path()))
        .respond_with(json(
            200,
            serde_json::json!({"backup": {"id": BACKUP, "name": "b1", "status": "restoring",
                "resource_id": DISK, "resource_type": "OS::Cinder::Volume", "vault_id": VAULT}})
            .to_string(),
        ))
        .mount_as_scoped(&upstream)
        .await;
    let op = read(&gw, &op.name).await;
    assert!(!op.done);
    let m = metadata(&op);
    assert_eq!(m.status(), pb::OperationLogStatus::Running);
    assert_eq!(m.backup_status(), pb::BackupStatus::Restoring);
    assert_eq!(m.backup_name, "b1");
    drop((listed, backup));

    // Listed: the first restore log of this backup, found by its backup id
    // among others'; the start_time filter reaches two minutes back.
    let other =
        restore_log("failed", 0, ("BackupService.2008", "x")).replace(BACKUP, "other-backup");
    let other: serde_json::Value = serde_json::from_str(&other).unwrap();
    let mine: serde_json::Value =
        serde_json::from_str(&restore_log("success", 100, ("", ""))).unwrap();
    let list = serde_json::json!({"operation_logs": [other["operation_log"], mine["operation_log"]], "count": 2});
    let from = chrono::DateTime::from_timestamp(since - 120, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .and(query_param("operation_type", "restore"))
        .and(query_param("start_time", from.as_str()))
        .respond_with(json(200, list.to_string()))
        .mount(&upstream)
        .await;
    let op = read(&gw, &op.name).await;
    assert!(op.done, "{op:?}");
    assert!(matches!(
        op.result,
        Some(lro::operation::Result::Response(_))
    ));
    assert_eq!(metadata(&op).operation_log_id, LOG);
}

#[tokio::test]
async fn a_failed_restore_carries_upstreams_code_in_the_operations_error() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs/{LOG}")))
        .respond_with(json(
            200,
            restore_log(
                "failed",
                20,
                (
                    "BackupService.2008",
                    "The ECS status does not allow restoration.",
                ),
            ),
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let name = format!("projects/{PROJECT}/operations/restore.{LOG}");
    let op = read(&gw, &name).await;
    assert!(op.done);
    let e = error_of(&op);
    assert_eq!(e.code, Code::FailedPrecondition as i32);
    assert_eq!(
        e.message,
        "the operation failed upstream (BackupService.2008): The ECS status does not allow restoration."
    );
    let status =
        tonic::Status::with_details(Code::FailedPrecondition, "", e.encode_to_vec().into());
    let info = details(&status).error_info().cloned().unwrap();
    assert_eq!(info.reason, "BackupService.2008");
    assert_eq!(info.domain, "cbr.myhuaweicloud.com");
    assert_eq!(info.metadata["operation_log_id"], LOG);
    assert_eq!(metadata(&op).status(), pb::OperationLogStatus::Failed);

    // A timed-out task is DEADLINE_EXCEEDED.
    upstream.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs/{LOG}")))
        .respond_with(json(200, restore_log("timeout", 60, ("", ""))))
        .mount(&upstream)
        .await;
    let op = read(&gw, &name).await;
    let e = error_of(&op);
    assert_eq!(e.code, Code::DeadlineExceeded as i32);

    // Upstream failing while the operation is read fails the call (not the
    // operation), with upstream's code as any call.
    upstream.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs/{LOG}")))
        .respond_with(error_json(500, "BackupService.9910", "Unknown error."))
        .mount(&upstream)
        .await;
    let err = gw.operations().get_operation(get(&name)).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(
        details(&err).error_info().unwrap().reason,
        "BackupService.9910"
    );
}

#[tokio::test]
async fn a_delete_is_done_when_the_backup_is_gone_and_a_second_delete_answers_the_first() {
    let upstream = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(backup_path()))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let delete = || pb::DeleteBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        request_id: String::new(),
        region: String::new(),
    };
    let op = gw
        .backups()
        .delete_backup(delete())
        .await
        .unwrap()
        .into_inner();
    let name = format!("projects/{PROJECT}/operations/delete.{BACKUP}");
    assert_eq!(op.name, name);
    assert!(!op.done);
    assert_eq!(metadata(&op).operation_type(), pb::OperationType::Delete);

    // Upstream refuses a second delete while it deletes (400); the backup's
    // status tells that apart, and the caller gets the same operation.
    Mock::given(method("DELETE"))
        .and(path(backup_path()))
        .respond_with(error_json(
            400,
            "BackupService.6201",
            "The backup cannot be deleted.",
        ))
        .mount(&upstream)
        .await;
    let deleting = Mock::given(method("GET"))
        .and(path(backup_path()))
        .respond_with(json(
            200,
            serde_json::json!({"backup": {"id": BACKUP, "name": "b1", "status": "deleting",
                "resource_id": SERVER, "resource_type": "OS::Nova::Server"}})
            .to_string(),
        ))
        .mount_as_scoped(&upstream)
        .await;
    let again = gw
        .backups()
        .delete_backup(delete())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, name);
    let m = metadata(&again);
    assert_eq!(m.backup_status(), pb::BackupStatus::Deleting);
    assert_eq!(m.status(), pb::OperationLogStatus::Running);
    let op = read(&gw, &name).await;
    assert!(!op.done);
    assert_eq!(metadata(&op).resource_id, SERVER);
    drop(deleting);

    // Gone: done, with google.protobuf.Empty.
    Mock::given(method("GET"))
        .and(path(backup_path()))
        .respond_with(error_json(
            404,
            "BackupService.6200",
            "The backup does not exist.",
        ))
        .mount(&upstream)
        .await;
    let op = read(&gw, &name).await;
    assert!(op.done);
    let Some(lro::operation::Result::Response(any)) = op.result else {
        panic!("a response")
    };
    assert_eq!(any.type_url, "type.googleapis.com/google.protobuf.Empty");
    // A refusal of a backup not being deleted is passed on as it is.
    let err = gw.backups().delete_backup(delete()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(
        details(&err).error_info().unwrap().reason,
        "BackupService.6201"
    );
}

#[tokio::test]
async fn a_failed_delete_is_read_from_its_delete_log_and_an_undeleted_backup_is_no_operation() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(backup_path()))
        .respond_with(json(
            200,
            serde_json::json!({"backup": {"id": BACKUP, "status": "available",
                "resource_id": SERVER, "resource_type": "OS::Nova::Server"}})
            .to_string(),
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let name = format!("projects/{PROJECT}/operations/delete.{BACKUP}");
    // No delete log: nothing is deleting it.
    let none = Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .respond_with(json(200, r#"{"operation_logs":[],"count":0}"#.into()))
        .mount_as_scoped(&upstream)
        .await;
    let err = gw.operations().get_operation(get(&name)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        err.message(),
        format!("backup {BACKUP} is available and no deletion of it is recorded")
    );
    drop(none);
    // A failed delete log of this backup, found by the resource filter.
    let log = serde_json::json!({"operation_logs": [{"id": LOG, "project_id": PROJECT,
        "operation_type": "delete", "status": "failed", "created_at": "2026-12-04T10:00:00",
        "started_at": "2026-12-04T10:00:00", "updated_at": "2026-12-04T10:05:00",
        "ended_at": "2026-12-04T10:05:00",
        "error_info": {"code": "BackupService.6204", "message": "The backup is used to create an image."},
        "extra_info": {"common": {"progress": 0, "request_id": "req-x"},
            "resource": {"id": SERVER, "type": "OS::Nova::Server"},
            "delete": {"backup_id": BACKUP, "backup_name": "b1"}}}], "count": 1});
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .and(query_param("operation_type", "delete"))
        .and(query_param("resource_id", SERVER))
        .respond_with(json(200, log.to_string()))
        .mount(&upstream)
        .await;
    let op = read(&gw, &name).await;
    let e = error_of(&op);
    assert_eq!(e.code, Code::FailedPrecondition as i32);
    assert!(e.message.contains("BackupService.6204"), "{}", e.message);
    let m = metadata(&op);
    assert_eq!(
        (m.operation_log_id.as_str(), m.backup_status()),
        (LOG, pb::BackupStatus::Available)
    );
}

#[tokio::test]
async fn list_operations_walks_restore_then_delete_logs_with_their_filters() {
    let upstream = MockServer::start().await;
    let restore: serde_json::Value =
        serde_json::from_str(&restore_log("running", 10, ("", ""))).unwrap();
    let delete = serde_json::json!({"id": "d-log", "project_id": PROJECT, "operation_type": "delete",
        "status": "success", "error_info": {"code": "", "message": ""},
        "extra_info": {"common": {"progress": 100}, "resource": {"id": SERVER, "type": "OS::Nova::Server"},
            "delete": {"backup_id": "gone-backup", "backup_name": "x"}}});
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .and(query_param("operation_type", "restore"))
        .and(query_param("vault_id", VAULT))
        .respond_with(json(
            200,
            serde_json::json!({"operation_logs": [restore["operation_log"]], "count": 1})
                .to_string(),
        ))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .and(query_param("operation_type", "delete"))
        .respond_with(json(
            200,
            serde_json::json!({"operation_logs": [delete], "count": 1}).to_string(),
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let list = |token: &str| ListOperationsRequest {
        name: format!("projects/{PROJECT}/operations"),
        filter: format!("vault_id = \"{VAULT}\""),
        page_size: 1,
        page_token: token.into(),
        return_partial_success: false,
    };
    let first = gw
        .operations()
        .list_operations(list(""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.operations.len(), 1);
    assert_eq!(
        first.operations[0].name,
        format!("projects/{PROJECT}/operations/restore.{LOG}")
    );
    assert_eq!(first.next_page_token, "delete:0");
    let second = gw
        .operations()
        .list_operations(list(&first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.operations[0].name,
        format!("projects/{PROJECT}/operations/delete.gone-backup")
    );
    assert!(second.operations[0].done);
    assert_eq!(second.next_page_token, "");
    // Every upstream request: the type, the filter, the page.
    let queries: Vec<String> = upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.query().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        queries,
        [
            format!("limit=1&offset=0&operation_type=restore&vault_id={VAULT}"),
            format!("limit=1&offset=0&operation_type=delete&vault_id={VAULT}"),
        ]
    );
}

#[tokio::test]
async fn bad_input_names_the_field_and_nothing_reaches_upstream() {
    let upstream = MockServer::start().await;
    let gw = Gateway::against(&upstream).await;
    let mut no_mapping = server_restore("");
    no_mapping.restore.as_mut().unwrap().mappings.clear();
    let mut no_target = server_restore("");
    no_target.restore = Some(pb::BackupRestore::default());
    let mut bad_id = server_restore("not-a-uuid");
    bad_id.backup_id = "../x".into();
    for (req, fields) in [
        (no_mapping, vec!["restore.mappings"]),
        (no_target, vec!["restore"]),
        (bad_id, vec!["backup_id", "request_id"]),
    ] {
        let err = gw.backups().restore_backup(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&err), fields);
    }
    let err = gw
        .backups()
        .delete_backup(pb::DeleteBackupRequest {
            project_id: PROJECT.into(),
            backup_id: String::new(),
            request_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["backup_id"]);
    for name in [
        "",
        "operations/x",
        "projects/p/operations/copy.x",
        &"x".repeat(5000),
    ] {
        let err = gw.operations().get_operation(get(name)).await.unwrap_err();
        assert_eq!(
            (err.code(), bad_fields(&err)),
            (Code::InvalidArgument, vec!["name".to_owned()])
        );
    }
    let err = gw
        .operations()
        .wait_operation(WaitOperationRequest {
            name: format!("projects/{PROJECT}/operations/delete.{BACKUP}"),
            timeout: Some(prost_types::Duration {
                seconds: -1,
                nanos: 0,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["timeout"]);
    let err = gw
        .operations()
        .list_operations(ListOperationsRequest {
            filter: "type = copy".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["name", "filter"]);
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn cbr_cannot_cancel_or_forget_and_says_so() {
    let upstream = MockServer::start().await;
    let gw = Gateway::against(&upstream).await;
    let name = format!("projects/{PROJECT}/operations/delete.{BACKUP}");
    let err = gw
        .operations()
        .cancel_operation(CancelOperationRequest { name: name.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(
        err.message(),
        "CBR cannot cancel a restore or a deletion once it has accepted it"
    );
    let err = gw
        .operations()
        .delete_operation(DeleteOperationRequest { name })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_repeated_request_id_returns_the_same_operation_and_sends_nothing() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(restore_path()))
        .respond_with(json(202, format!(r#"{{"job_id":"{LOG}"}}"#)))
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(method("DELETE"))
        .and(path(backup_path()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let id = "9f1c7d2e-0b7a-4c51-8a55-2f1e9b0c4d11";
    let first = gw
        .backups()
        .restore_backup(server_restore(id))
        .await
        .unwrap()
        .into_inner();
    let again = gw
        .backups()
        .restore_backup(server_restore(id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    // The same id with other parameters, or for another method, is refused.
    let mut other = server_restore(id);
    other.restore.as_mut().unwrap().power_on = Some(false);
    let err = gw.backups().restore_backup(other).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["request_id"]);
    let delete = pb::DeleteBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        request_id: id.into(),
        region: String::new(),
    };
    let err = gw
        .backups()
        .delete_backup(delete.clone())
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["request_id"]);
    let id2 = "0a1b2c3d-0b7a-4c51-8a55-2f1e9b0c4d11";
    let delete = pb::DeleteBackupRequest {
        request_id: id2.into(),
        ..delete
    };
    let first = gw
        .backups()
        .delete_backup(delete.clone())
        .await
        .unwrap()
        .into_inner();
    let again = gw
        .backups()
        .delete_backup(delete)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
}

/// A gateway against `upstream` polling every 50 ms (at most 100 ms).
async fn fast_polling(upstream: &MockServer) -> TestStack {
    TestStack::builder()
        .upstream(&upstream.uri())
        .settings(|s| {
            s.watch.poll_interval = std::time::Duration::from_millis(50);
            s.watch.max_poll_interval = std::time::Duration::from_millis(100);
        })
        .spawn()
        .await
}

/// Waits (bounded) until upstream has received `n` requests for `path`.
async fn requests_for(upstream: &MockServer, path: &str, n: usize) {
    for _ in 0..400 {
        let got = upstream
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == path)
            .count();
        if got >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("upstream never received {n} requests for {path}");
}

#[tokio::test]
async fn wait_operation_answers_at_its_timeout_at_the_deadline_and_when_done() {
    let upstream = MockServer::start().await;
    let log_path = format!("/v3/{PROJECT}/operation-logs/{LOG}");
    let running = Mock::given(method("GET"))
        .and(path(log_path.clone()))
        .respond_with(json(200, restore_log("running", 40, ("", ""))))
        .mount_as_scoped(&upstream)
        .await;
    let gw = fast_polling(&upstream).await;
    let name = format!("projects/{PROJECT}/operations/restore.{LOG}");
    let wait = |timeout_ms: i32| WaitOperationRequest {
        name: name.clone(),
        timeout: Some(prost_types::Duration {
            seconds: 0,
            nanos: timeout_ms * 1_000_000,
        }),
    };
    // Its timeout: the latest state, not done, and no error.
    let started = std::time::Instant::now();
    let op = gw
        .operations()
        .wait_operation(wait(300))
        .await
        .unwrap()
        .into_inner();
    assert!(!op.done);
    assert_eq!(metadata(&op).progress, Some(40));
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    // The caller's deadline, shorter than the timeout: answered before it.
    let mut req = tonic::Request::new(wait(900));
    req.set_timeout(std::time::Duration::from_millis(400));
    let op = gw
        .operations()
        .wait_operation(req)
        .await
        .unwrap()
        .into_inner();
    assert!(!op.done);

    // Done while it waits: answered then, long before the timeout.
    let mut ops = gw.operations();
    let waiter = tokio::spawn(async move {
        ops.wait_operation(WaitOperationRequest {
            name: format!("projects/{PROJECT}/operations/restore.{LOG}"),
            timeout: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
        })
        .await
    });
    let before = upstream.received_requests().await.unwrap().len();
    requests_for(&upstream, &log_path, before + 3).await;
    drop(running);
    Mock::given(method("GET"))
        .and(path(log_path))
        .respond_with(json(200, restore_log("success", 100, ("", ""))))
        .mount(&upstream)
        .await;
    let op = tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .expect("answered once done")
        .unwrap()
        .unwrap()
        .into_inner();
    assert!(op.done);
    assert!(matches!(
        op.result,
        Some(lro::operation::Result::Response(_))
    ));
}

#[tokio::test]
async fn watch_operation_rides_out_a_failing_poll_and_ends_ok_when_done() {
    let upstream = MockServer::start().await;
    let log_path = format!("/v3/{PROJECT}/operation-logs/{LOG}");
    let running = Mock::given(method("GET"))
        .and(path(log_path.clone()))
        .respond_with(json(200, restore_log("running", 10, ("", ""))))
        .mount_as_scoped(&upstream)
        .await;
    let gw = fast_polling(&upstream).await;
    let name = format!("projects/{PROJECT}/operations/restore.{LOG}");
    let mut stream = gw
        .operation_logs()
        .watch_operation(pb::WatchOperationRequest {
            name: name.clone(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.kind(), pb::WatchEventKind::Initial);
    let op = first.operation.unwrap();
    assert_eq!((op.name.as_str(), op.done), (name.as_str(), false));
    drop(running);
    // Upstream answers 503 (transient) for a while: the watch goes on.
    let failing = Mock::given(method("GET"))
        .and(path(log_path.clone()))
        .respond_with(error_json(503, "APIGW.0301", "busy"))
        .mount_as_scoped(&upstream)
        .await;
    let before = upstream.received_requests().await.unwrap().len();
    requests_for(&upstream, &log_path, before + 2).await;
    drop(failing);
    Mock::given(method("GET"))
        .and(path(log_path))
        .respond_with(json(
            200,
            restore_log(
                "failed",
                70,
                (
                    "BackupService.2008",
                    "The ECS status does not allow restoration.",
                ),
            ),
        ))
        .mount(&upstream)
        .await;
    let mut last = None;
    while let Some(msg) = stream.message().await.unwrap() {
        if msg.kind() == pb::WatchEventKind::Changed {
            last = Some(msg);
        }
    }
    let last = last.expect("a change");
    assert!(
        last.changes
            .contains(&"status: running -> failed".to_owned()),
        "{:?}",
        last.changes
    );
    assert!(
        last.changes.contains(&"progress: 10 -> 70".to_owned()),
        "{:?}",
        last.changes
    );
    let op = last.operation.unwrap();
    assert!(op.done);
    let Some(lro::operation::Result::Error(e)) = op.result else {
        panic!("an error")
    };
    assert_eq!(e.code, Code::FailedPrecondition as i32);
}

#[tokio::test]
async fn a_restore_or_delete_that_may_have_arrived_is_never_sent_twice() {
    let upstream = MockServer::start().await;
    // 503 and 502 are retried for reads; a write's bytes reached upstream.
    Mock::given(method("POST"))
        .and(path(restore_path()))
        .respond_with(error_json(503, "APIGW.0301", "busy"))
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(method("DELETE"))
        .and(path(backup_path()))
        .respond_with(error_json(502, "APIGW.0302", "bad gateway"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let err = gw
        .backups()
        .restore_backup(server_restore(""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let err = gw
        .backups()
        .delete_backup(pb::DeleteBackupRequest {
            project_id: PROJECT.into(),
            backup_id: BACKUP.into(),
            request_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    // With a request_id the failure is remembered: a repeat replays it and
    // sends nothing (the expectations above hold at drop).
    let id = "7d4e2a10-0b7a-4c51-8a55-2f1e9b0c4d11";
    upstream.reset().await;
    Mock::given(method("POST"))
        .and(path(restore_path()))
        .respond_with(error_json(500, "BackupService.9910", "Unknown error."))
        .expect(1)
        .mount(&upstream)
        .await;
    let first = gw
        .backups()
        .restore_backup(server_restore(id))
        .await
        .unwrap_err();
    let again = gw
        .backups()
        .restore_backup(server_restore(id))
        .await
        .unwrap_err();
    assert_eq!(
        (first.code(), first.message()),
        (again.code(), again.message())
    );
    assert_eq!(first.code(), Code::Internal);
}

// ---------------------------------------------------------------- end to end

/// The simulator's seeded server backup and its one disk backup.
pub(crate) const SIM_CHILD: &str = "5d822633-2bbf-4af8-a16e-5ab1c7705235";

/// A simulator whose restores take 600 ms and deletions 400 ms, and an
/// in-process gateway polling every 50 ms in front of it.
pub(crate) async fn sim_stack(job_id: bool) -> TestStack {
    TestStack::builder()
        .simulator(cbr_simulator::SimulatorSettings {
            fleet_size: 20,
            restore_duration: std::time::Duration::from_millis(600),
            delete_duration: std::time::Duration::from_millis(400),
            restore_job_id: job_id,
            ..Default::default()
        })
        .project(PROJECT)
        .settings(|s| {
            s.watch.poll_interval = std::time::Duration::from_millis(50);
            s.watch.max_poll_interval = std::time::Duration::from_millis(100);
        })
        .spawn()
        .await
}

/// The disk of the seeded server that its disk backup was taken from.
pub(crate) async fn seeded_disk(gw: &Gateway) -> String {
    let backup = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap();
    let child = backup
        .children
        .iter()
        .find(|c| c.id == SIM_CHILD)
        .expect("the seeded disk backup");
    child.resource_id.clone()
}

fn sim_restore(disk: &str, target: &str) -> pb::RestoreBackupRequest {
    pb::RestoreBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        restore: Some(pb::BackupRestore {
            server_id: target.into(),
            mappings: vec![pb::BackupRestoreServerMapping {
                backup_id: SIM_CHILD.into(),
                volume_id: disk.into(),
            }],
            ..Default::default()
        }),
        request_id: String::new(),
        region: String::new(),
    }
}

fn wait_for(name: &str, seconds: i64) -> WaitOperationRequest {
    WaitOperationRequest {
        name: name.into(),
        timeout: Some(prost_types::Duration { seconds, nanos: 0 }),
    }
}

#[tokio::test]
async fn a_restore_runs_to_success_and_another_gateway_process_answers_for_it() {
    let stack = sim_stack(true).await;
    let gw: &Gateway = &stack;
    let disk = seeded_disk(gw).await;
    let op = gw
        .backups()
        .restore_backup(sim_restore(&disk, SERVER))
        .await
        .unwrap()
        .into_inner();
    assert!(op.name.contains("/operations/restore."), "{}", op.name);
    // The backup is being restored meanwhile.
    let status = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap()
        .status();
    assert_eq!(status, pb::BackupStatus::Restoring);

    // A second gateway process, which never saw the restore, answers for it.
    let other = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--cbr-endpoint",
        &stack.sim_url(),
        "--csbs-endpoint",
        &stack.sim_url(),
        "--project-id",
        PROJECT,
        "--ak",
        TEST_AK,
        "--sk",
        TEST_SK,
        "--shutdown-delay",
        "0s",
    ])
    .await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", other.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut ops = lro::operations_client::OperationsClient::new(channel);
    let seen = ops.get_operation(get(&op.name)).await.unwrap().into_inner();
    assert_eq!(seen.name, op.name);
    assert_eq!(
        metadata(&seen).operation_log_id,
        metadata(&op).operation_log_id
    );
    let done = ops
        .wait_operation(wait_for(&op.name, 20))
        .await
        .unwrap()
        .into_inner();
    assert!(done.done, "{done:?}");
    let Some(lro::operation::Result::Response(any)) = &done.result else {
        panic!("a response: {done:?}")
    };
    let r = pb::RestoreBackupResponse::decode(any.value.as_slice()).unwrap();
    assert_eq!(
        (r.backup_id.as_str(), r.target_resource_id.as_str()),
        (BACKUP, SERVER)
    );
    let m = metadata(&done);
    assert_eq!(m.status(), pb::OperationLogStatus::Success);
    assert_eq!(m.progress, Some(100));
    // And the first gateway agrees.
    let here = read(gw, &op.name).await;
    assert!(here.done);
    // ListOperations finds it by the same name.
    let listed = gw
        .operations()
        .list_operations(ListOperationsRequest {
            filter: "type = restore".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.operations.iter().any(|o| o.name == op.name),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_restore_without_job_id_and_a_failing_restore_through_the_simulator() {
    let stack = sim_stack(false).await;
    let gw: &Gateway = &stack;
    let disk = seeded_disk(gw).await;
    // A target named sim-error… makes the simulator's restore fail.
    let op = gw
        .backups()
        .restore_backup(sim_restore(&disk, "sim-error-target"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        op.name
            .starts_with(&format!("projects/{PROJECT}/operations/restore.{BACKUP}.")),
        "{}",
        op.name
    );
    let done = gw
        .operations()
        .wait_operation(wait_for(&op.name, 20))
        .await
        .unwrap()
        .into_inner();
    assert!(done.done);
    let Some(lro::operation::Result::Error(e)) = &done.result else {
        panic!("an error: {done:?}")
    };
    let status = tonic::Status::with_details(Code::Unknown, "", e.encode_to_vec().into());
    let reason = details(&status).error_info().unwrap().reason.clone();
    assert!(reason.starts_with("BackupService."), "{reason}");
    assert!(
        !metadata(&done).operation_log_id.is_empty(),
        "found by its log"
    );
}

#[tokio::test]
async fn a_delete_runs_until_the_backup_is_gone_and_watchers_share_one_poller() {
    let stack = sim_stack(true).await;
    let gw: &Gateway = &stack;
    // A fresh backup of the seeded server (the seeded one stays for others).
    let created = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            project_id: String::new(),
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                resources: vec![SERVER.into()],
                name: Some("to-delete".into()),
                ..Default::default()
            }),
            request_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let mut watch = gw
        .checkpoints()
        .watch_checkpoint(pb::WatchCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: created.id.clone(),
            include_backups: true,
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut backup_id = String::new();
    while let Some(m) = watch.message().await.unwrap() {
        if let Some(b) = m.backups.iter().find(|b| b.parent_id.is_empty()) {
            backup_id = b.id.clone();
        }
    }
    assert!(!backup_id.is_empty());

    let stats = || stack.sim().state.stats.snapshot()["get_backup"];
    let op = gw
        .backups()
        .delete_backup(pb::DeleteBackupRequest {
            project_id: String::new(),
            backup_id: backup_id.clone(),
            request_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        op.name,
        format!("projects/{PROJECT}/operations/delete.{backup_id}")
    );
    // Deleting it again while it is deleted answers the same operation.
    let again = gw
        .backups()
        .delete_backup(pb::DeleteBackupRequest {
            project_id: String::new(),
            backup_id: backup_id.clone(),
            request_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, op.name);

    // Twenty watchers: one poller, about one upstream read per interval.
    let before = stats();
    let started = std::time::Instant::now();
    let mut streams = Vec::new();
    for _ in 0..20 {
        let s = gw
            .operation_logs()
            .watch_operation(pb::WatchOperationRequest {
                name: op.name.clone(),
                region: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        streams.push(s);
    }
    let mut ends = Vec::new();
    for mut s in streams {
        let mut last = None;
        while let Some(m) = s.message().await.unwrap() {
            last = m.operation;
        }
        ends.push(last.expect("a state"));
    }
    let polls = stats() - before;
    let allowed = (started.elapsed().as_millis() / 45) as u64 + 2;
    assert!(
        polls <= allowed,
        "{polls} reads for 20 watchers in {:?}",
        started.elapsed()
    );
    for end in &ends {
        assert!(end.done);
        let Some(lro::operation::Result::Response(any)) = &end.result else {
            panic!("a response: {end:?}")
        };
        assert_eq!(any.type_url, "type.googleapis.com/google.protobuf.Empty");
    }
    // Gone, with its checkpoint (its only backup).
    let err = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: backup_id.clone(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = gw
        .checkpoints()
        .get_checkpoint(pb::GetCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: created.id,
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // The delete is listed among the project's operations, done.
    let listed = gw
        .operations()
        .list_operations(ListOperationsRequest {
            filter: "type = delete".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mine = listed
        .operations
        .iter()
        .find(|o| o.name == op.name)
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert!(mine.done);
}

#[tokio::test]
async fn a_backup_being_restored_cannot_be_deleted_and_the_restore_still_answers_after_it_is_gone()
{
    let stack = sim_stack(true).await;
    let gw: &Gateway = &stack;
    let disk = seeded_disk(gw).await;
    let restore = gw
        .backups()
        .restore_backup(sim_restore(&disk, SERVER))
        .await
        .unwrap()
        .into_inner();
    let delete = pb::DeleteBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        request_id: String::new(),
        region: String::new(),
    };
    // Upstream refuses to delete a backup under a restore; the refusal is
    // passed on with upstream's code.
    let err = gw
        .backups()
        .delete_backup(delete.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let done = gw
        .operations()
        .wait_operation(wait_for(&restore.name, 20))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        done.result,
        Some(lro::operation::Result::Response(_))
    ));
    // Now it can go; and the restore, read from its log, still answers.
    let deleting = gw
        .backups()
        .delete_backup(delete)
        .await
        .unwrap()
        .into_inner();
    let gone = gw
        .operations()
        .wait_operation(wait_for(&deleting.name, 20))
        .await
        .unwrap()
        .into_inner();
    assert!(gone.done);
    let after = read(gw, &restore.name).await;
    assert!(after.done);
    assert!(matches!(
        after.result,
        Some(lro::operation::Result::Response(_))
    ));
}

#[tokio::test]
async fn upstream_failing_while_an_operation_is_followed() {
    let stack = sim_stack(true).await;
    let gw: &Gateway = &stack;
    let disk = seeded_disk(gw).await;
    let op = gw
        .backups()
        .restore_backup(sim_restore(&disk, SERVER))
        .await
        .unwrap()
        .into_inner();
    // Every operation-log read fails with 500 for now.
    let http = reqwest::Client::new();
    let faults = |rules: serde_json::Value| {
        let http = http.clone();
        let url = format!("{}/_simulator/faults", stack.sim_url());
        async move {
            let status = http.put(url).json(&rules).send().await.unwrap().status();
            assert_eq!(status.as_u16(), 204);
        }
    };
    faults(serde_json::json!([{"route": "get_operation_log", "status": 500, "error_rate": 1.0}]))
        .await;
    let err = gw
        .operations()
        .get_operation(get(&op.name))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    // A watch rides it out (it may pass) and gets the end once upstream recovers.
    let mut stream = gw
        .operation_logs()
        .watch_operation(pb::WatchOperationRequest {
            name: op.name.clone(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let before = stack.sim().state.stats.snapshot()["get_operation_log"];
    while stack.sim().state.stats.snapshot()["get_operation_log"] < before + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    faults(serde_json::json!([])).await;
    let mut last = None;
    while let Some(m) = stream.message().await.unwrap() {
        last = m.operation;
    }
    assert!(last.unwrap().done);
}
