//! Operation logs (CBR): ListOperationLogs' checks into the upstream query,
//! and the operation logs upstream answers with (LIFECYCLE.md §5), every
//! `extra_info` variant typed. Upstream's text booleans (`"true"`, `"1"`)
//! become booleans.

use super::{
    Checker, OperationLogQuery, ValidationError, enums::*, project, timestamp,
    vault::resource_extra_info,
};
use crate::{proto as pb, upstream::dto};

/// Longest `destination_region` upstream accepts.
const MAX_REGION: usize = 255;

/// Checks a ListOperationLogs request.
pub fn check_list_operation_logs(
    req: &pb::ListOperationLogsRequest,
    default_project: Option<&str>,
) -> Result<(String, OperationLogQuery), ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);
    let (start_time, end_time) = c.time_range(req.start_time.as_ref(), req.end_time.as_ref());
    let destination_region = (!req.destination_region.is_empty()).then(|| {
        let ok = req.destination_region.len() <= MAX_REGION
            && req
                .destination_region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            c.fail(
                "destination_region",
                format!("must be at most {MAX_REGION} letters, digits, '.', '_' or '-'"),
            );
        }
        req.destination_region.clone()
    });
    let query = OperationLogQuery {
        operation_type: c.enum_value(
            "operation_type",
            req.operation_type,
            operation_type_to_upstream,
        ),
        status: c.enum_value("status", req.status, operation_log_status_to_upstream),
        provider_id: c.opt_id("provider_id", &req.provider_id),
        resource_id: c.opt_id("resource_id", &req.resource_id),
        resource_name: c.opt_text("resource_name", &req.resource_name),
        vault_id: c.opt_id("vault_id", &req.vault_id),
        vault_name: c.opt_text("vault_name", &req.vault_name),
        start_time,
        end_time,
        enterprise_project_id: c.opt_id("enterprise_project_id", &req.enterprise_project_id),
        limit: c.limit("limit", req.limit),
        offset: c.offset("offset", req.offset),
        destination_region,
        destination_project_id: c.opt_id("destination_project_id", &req.destination_project_id),
    };
    c.finish((project_id, query))
}

/// Checks a StreamOperationLogs request by ListOperationLogs' rules
/// (`page_size` in the place of `limit`); the query's `limit` is the page size
/// and its `offset` where the walk starts, both always set.
pub fn check_stream_operation_logs(
    req: &pb::StreamOperationLogsRequest,
    default_project: Option<&str>,
) -> Result<(String, OperationLogQuery), ValidationError> {
    // Destructured in full: a field added to one message and not mapped here
    // fails to compile.
    let pb::StreamOperationLogsRequest {
        project_id,
        operation_type,
        status,
        provider_id,
        resource_id,
        resource_name,
        vault_id,
        vault_name,
        start_time,
        end_time,
        enterprise_project_id,
        page_size,
        offset,
        destination_region,
        destination_project_id,
        region,
    } = req.clone();
    let list = pb::ListOperationLogsRequest {
        project_id,
        operation_type,
        status,
        provider_id,
        resource_id,
        resource_name,
        vault_id,
        vault_name,
        start_time,
        end_time,
        enterprise_project_id,
        limit: page_size,
        offset,
        destination_region,
        destination_project_id,
        region,
    };
    super::as_stream(
        check_list_operation_logs(&list, default_project),
        page_size,
        offset,
        |q, size, start| {
            q.limit = Some(size);
            q.offset = Some(start);
        },
    )
}

impl From<dto::OperationLogListDto> for pb::ListOperationLogsResponse {
    /// Where upstream omits `offset`/`limit`, its defaults (0, 1000) are
    /// reported; `count` is upstream's total, else the page's length.
    fn from(d: dto::OperationLogListDto) -> Self {
        let operation_logs: Vec<pb::OperationLog> = d
            .operation_logs
            .0
            .into_iter()
            .map(pb::OperationLog::from)
            .collect();
        let page_len = i32::try_from(operation_logs.len()).unwrap_or(i32::MAX);
        Self {
            count: d.count.as_i32().unwrap_or(page_len),
            limit: d.limit.as_i32().unwrap_or(1000),
            offset: d.offset.as_i32().unwrap_or(0),
            operation_logs,
        }
    }
}

impl From<dto::OperationLogDto> for pb::OperationLog {
    fn from(d: dto::OperationLogDto) -> Self {
        Self {
            id: d.id.into_string(),
            project_id: d.project_id.into_string(),
            status: operation_log_status(d.status.as_deref()) as i32,
            created_at: timestamp(d.created_at.as_deref()),
            started_at: timestamp(d.started_at.as_deref()),
            updated_at: timestamp(d.updated_at.as_deref()),
            ended_at: timestamp(d.ended_at.as_deref()),
            error_info: d.error_info.map(|e| pb::OperationErrorInfo {
                code: e.code.into_string(),
                message: e.message.into_string(),
            }),
            operation_type: operation_type(d.operation_type.as_deref()) as i32,
            checkpoint_id: d.checkpoint_id.into_string(),
            policy_id: d.policy_id.into_string(),
            provider_id: d.provider_id.into_string(),
            vault_id: d.vault_id.into_string(),
            vault_name: d.vault_name.into_string(),
            extra_info: d.extra_info.map(extra_info),
        }
    }
}

fn extra_info(e: dto::OpExtraInfoDto) -> pb::OperationExtraInfo {
    pb::OperationExtraInfo {
        common: e.common.map(|c| pb::OperationCommonInfo {
            progress: c.progress.as_i32().unwrap_or(0),
            request_id: c.request_id.into_string(),
            task_id: c.task_id.into_string(),
        }),
        resource: e.resource.map(resource),
        backup: e.backup.map(|b| pb::OperationBackupInfo {
            backup_id: b.backup_id.into_string(),
            backup_name: b.backup_name.into_string(),
            incremental: b.incremental.0,
            app_consistency_status: b.app_consistency_status.0,
            app_consistency_error_code: b.app_consistency_error_code.into_string(),
            app_consistency_error_message: b.app_consistency_error_message.into_string(),
        }),
        restore: e.restore.map(|r| pb::OperationRestoreInfo {
            backup_id: r.backup_id.into_string(),
            backup_name: r.backup_name.into_string(),
            target_resource_id: r.target_resource_id.into_string(),
            target_resource_name: r.target_resource_name.into_string(),
        }),
        delete: e.delete.map(|d| pb::OperationDeleteInfo {
            backup_id: d.backup_id.into_string(),
            backup_name: d.backup_name.into_string(),
        }),
        replication: e.replication.map(|r| pb::OperationReplicationInfo {
            source_backup_id: r.source_backup_id.into_string(),
            source_checkpoint_id: r.source_checkpoint_id.into_string(),
            source_project_id: r.source_project_id.into_string(),
            source_region: r.source_region.into_string(),
            source_backup_name: r.source_backup_name.into_string(),
            destination_backup_id: r.destination_backup_id.into_string(),
            destination_checkpoint_id: r.destination_checkpoint_id.into_string(),
            destination_project_id: r.destination_project_id.into_string(),
            destination_region: r.destination_region.into_string(),
            destination_backup_name: r.destination_backup_name.into_string(),
        }),
        sync: e.sync.map(|s| pb::OperationSyncInfo {
            sync_backup_num: s.sync_backup_num.as_i32(),
            delete_backup_num: s.delete_backup_num.as_i32(),
            err_sync_backup_num: s.err_sync_backup_num.as_i32(),
        }),
        vault_delete: e.vault_delete.map(|v| pb::OperationVaultDeleteInfo {
            fail_count: v.fail_count.as_i32(),
            total_count: v.total_count.as_i32(),
        }),
        remove_resources: e
            .remove_resources
            .map(|r| pb::OperationRemoveResourcesInfo {
                fail_count: r.fail_count.as_i32(),
                total_count: r.total_count.as_i32(),
                resources: r.resources.0.into_iter().map(resource).collect(),
            }),
        update_expiration_time: e.update_expiration_time.map(|u| {
            pb::OperationUpdateExpirationTimeInfo {
                affected_backups_count: u.affected_backups_count.as_i32(),
                expiration_day: u.expiration_day.into_string(),
            }
        }),
    }
}

fn resource(r: dto::OpResourceDto) -> pb::Resource {
    pb::Resource {
        id: r.id.into_string(),
        r#type: r.kind.into_string(),
        name: r.name.0,
        extra_info: r.extra_info.map(resource_extra_info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_operation_log_maps_field_for_field() {
        // LIFECYCLE.md §5.5, verbatim.
        let d: dto::OperationLogDto = serde_json::from_str(
            r#"{"checkpoint_id":"b432511f-d889-428f-8b0e-5f47c524c6b6",
  "created_at":"2019-05-23T14:31:36.039365","ended_at":"2019-05-23T14:35:23.511155",
  "error_info":{"code":"","message":""},
  "extra_info":{"backup":{"backup_id":"0e5d0ef6-7f0a-4890-b98c-cb12490e31c1","backup_name":"manualbk_backup","incremental":"false","app_consistency_status":"0"},
                "common":{"progress":100,"request_id":"req-cdb98cc4-e87b-4f40-9b4a-57ec036620bc"},
                "resource":{"id":"1dab32fa-ebf2-415a-ab0b-eabe6353bc86","name":"ECS-0001","type":"OS::Nova::Server"}},
  "id":"4827f2da-b008-4507-ab7d-42d0df5ed912","operation_type":"backup","policy_id":null,
  "project_id":"04f1829c788037ac2fb8c01eb2b04b95","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
  "started_at":"2019-05-23T14:31:36.007230","status":"success","updated_at":"2019-05-23T14:35:23.584418",
  "vault_id":null,"vault_name":null}"#,
        )
        .unwrap();
        let log = pb::OperationLog::from(d);
        assert_eq!(log.id, "4827f2da-b008-4507-ab7d-42d0df5ed912");
        assert_eq!(log.status(), pb::OperationLogStatus::Success);
        assert_eq!(log.operation_type(), pb::OperationType::Backup);
        assert_eq!(log.policy_id, "");
        assert_eq!(log.vault_id, "");
        assert_eq!(log.created_at.unwrap().seconds, 1_558_621_896);
        assert_eq!(log.ended_at.unwrap().nanos, 511_155_000);
        let extra = log.extra_info.unwrap();
        assert_eq!(extra.common.unwrap().progress, 100);
        let backup = extra.backup.unwrap();
        assert_eq!(backup.backup_name, "manualbk_backup");
        assert_eq!(backup.incremental, Some(false));
        assert_eq!(backup.app_consistency_status, Some(false));
        let resource = extra.resource.unwrap();
        assert_eq!(resource.r#type, "OS::Nova::Server");
        assert_eq!(resource.name.as_deref(), Some("ECS-0001"));
        assert_eq!(log.error_info.unwrap().code, "");
    }

    #[test]
    fn vault_delete_counts_take_terraforms_spelling_too() {
        let e: dto::OpExtraInfoDto = serde_json::from_str(
            r#"{"vault_delete":{"fail_delete_count":1,"total_delete_count":"12"}}"#,
        )
        .unwrap();
        let v = extra_info(e).vault_delete.unwrap();
        assert_eq!((v.fail_count, v.total_count), (Some(1), Some(12)));
    }
}
