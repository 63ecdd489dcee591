//! Backups (CBR): ListBackups' and StreamBackups' checks into the upstream
//! query, and the backups upstream answers with.

use super::{
    BackupQuery, Checker, MAX_TEXT, ValidationError,
    enums::{self, *},
    project, timestamp,
};
use crate::{
    proto as pb,
    upstream::{dto, lenient},
};

/// Sort keys ListBackups accepts.
const SORT_KEYS: &[&str] = &[
    "created_at",
    "updated_at",
    "name",
    "status",
    "protected_at",
    "id",
];

/// Page size bounds of ListBackups.
const LIMIT_RANGE: std::ops::RangeInclusive<i32> = 1..=1000;

/// How many backup statuses there are (`UNSPECIFIED` aside).
static BACKUP_STATUSES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    (1..=i32::from(u8::MAX))
        .filter(|v| pb::BackupStatus::try_from(*v).is_ok())
        .count()
});

/// Checks a ListBackups request.
pub fn check_list_backups(
    req: &pb::ListBackupsRequest,
    default_project: Option<&str>,
) -> Result<(String, BackupQuery), ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);

    if let Some(limit) = req.limit
        && !LIMIT_RANGE.contains(&limit)
    {
        c.fail("limit", "must be between 1 and 1000");
    }
    if let Some(offset) = req.offset
        && offset < 0
    {
        c.fail("offset", "must be 0 or more");
    }
    if let Some(p) = req.used_percent
        && !(1..=100).contains(&p)
    {
        c.fail("used_percent", "must be between 1 and 100");
    }
    let resource_type = (!req.resource_type.is_empty()).then(|| {
        c.resource_type("resource_type", &req.resource_type);
        req.resource_type.clone()
    });
    let sort = (!req.sort.is_empty()).then(|| {
        if let Err(why) = check_sort(&req.sort) {
            c.fail("sort", why);
        }
        req.sort.clone()
    });
    let mut status = Vec::new();
    // One per status at most (the codec enforces it on the wire already).
    if c.at_most("status", &req.status, *BACKUP_STATUSES) {
        for (i, raw) in req.status.iter().enumerate() {
            let field = format!("status[{i}]");
            if *raw == 0 {
                c.fail(field, "must not be BACKUP_STATUS_UNSPECIFIED");
            } else if let Some(s) = c.enum_value(&field, *raw, enums::backup_status_to_upstream) {
                status.push(s);
            }
        }
    }
    let start_time = c.time("start_time", req.start_time.as_ref());
    let end_time = c.time("end_time", req.end_time.as_ref());
    if let (Some(start), Some(end)) = (&start_time, &end_time)
        && start > end
    {
        c.fail("end_time", "must not be before start_time");
    }

    let query = BackupQuery {
        checkpoint_id: c.opt_id("checkpoint_id", &req.checkpoint_id),
        dec: req.dec,
        end_time,
        image_type: c.enum_value("image_type", req.image_type, enums::image_type_to_upstream),
        limit: req.limit,
        marker: c.opt_id("marker", &req.marker),
        name: c.opt_text("name", &req.name),
        offset: req.offset,
        resource_az: c.opt_text("resource_az", &req.resource_az),
        resource_id: c.opt_id("resource_id", &req.resource_id),
        resource_name: c.opt_text("resource_name", &req.resource_name),
        resource_type,
        sort,
        start_time,
        status,
        vault_id: c.opt_id("vault_id", &req.vault_id),
        enterprise_project_id: c.opt_id("enterprise_project_id", &req.enterprise_project_id),
        own_type: c.enum_value("own_type", req.own_type, enums::own_type_to_upstream),
        member_status: c.enum_value(
            "member_status",
            req.member_status,
            enums::member_status_to_upstream,
        ),
        parent_id: c.opt_id("parent_id", &req.parent_id),
        used_percent: req.used_percent,
        show_replication: req.show_replication,
        incremental: req.incremental,
        existed_quantity_based_retention_backups: req.existed_quantity_based_retention_backups,
    };
    c.finish((project_id, query))
}

/// Upstream page size StreamBackups uses when the request leaves `page_size` unset.
pub const DEFAULT_PAGE_SIZE: i32 = 1000;

/// Checks a StreamBackups request by the rules of ListBackups: the filters share
/// their names (and so their violations), `page_size` takes the range of `limit`
/// and is reported under its own name, and there is no `marker`. It rejects
/// nothing that ListBackups accepts.
///
/// The query's `limit` is the page size (default [`DEFAULT_PAGE_SIZE`]) and its
/// `offset` where the walk starts (default 0); both are always set.
pub fn check_stream_backups(
    req: &pb::StreamBackupsRequest,
    default_project: Option<&str>,
) -> Result<(String, BackupQuery), ValidationError> {
    // Destructured in full so that a field added to one message and not
    // mapped here fails to compile.
    let pb::StreamBackupsRequest {
        project_id,
        checkpoint_id,
        dec,
        end_time,
        image_type,
        page_size,
        name,
        offset,
        resource_az,
        resource_id,
        resource_name,
        resource_type,
        sort,
        start_time,
        status,
        vault_id,
        enterprise_project_id,
        own_type,
        member_status,
        parent_id,
        used_percent,
        show_replication,
        incremental,
        existed_quantity_based_retention_backups,
        region,
    } = req.clone();
    let list = pb::ListBackupsRequest {
        project_id,
        checkpoint_id,
        dec,
        end_time,
        image_type,
        limit: page_size,
        marker: String::new(),
        name,
        offset,
        resource_az,
        resource_id,
        resource_name,
        resource_type,
        sort,
        start_time,
        status,
        vault_id,
        enterprise_project_id,
        own_type,
        member_status,
        parent_id,
        used_percent,
        show_replication,
        incremental,
        existed_quantity_based_retention_backups,
        region,
    };
    super::as_stream(
        check_list_backups(&list, default_project),
        page_size,
        offset,
        |q, size, start| {
            q.limit = Some(size);
            q.offset = Some(start);
        },
    )
}

/// `<key>[:asc|desc]` joined by commas, keys from [`SORT_KEYS`], ≤ 255 characters.
fn check_sort(sort: &str) -> Result<(), String> {
    if sort.len() > MAX_TEXT {
        return Err(format!("must be at most {MAX_TEXT} characters"));
    }
    for part in sort.split(',') {
        let (key, dir) = match part.split_once(':') {
            Some((k, d)) => (k, Some(d)),
            None => (part, None),
        };
        if !SORT_KEYS.contains(&key) {
            return Err(format!(
                "sort key {key:?} is not one of {}",
                SORT_KEYS.join(", ")
            ));
        }
        if let Some(d) = dir
            && d != "asc"
            && d != "desc"
        {
            return Err(format!("sort direction {d:?} must be asc or desc"));
        }
    }
    Ok(())
}

/// Upstream list response → `ListBackupsResponse`. Where upstream omits
/// `offset`/`limit`, the request's values (or upstream's defaults) are echoed.
pub fn list_backups(d: dto::BackupListDto, query: &BackupQuery) -> pb::ListBackupsResponse {
    let backups: Vec<pb::Backup> = d.backups.0.into_iter().map(pb::Backup::from).collect();
    let page_len = i32::try_from(backups.len()).unwrap_or(i32::MAX);
    pb::ListBackupsResponse {
        count: d.count.as_i32().unwrap_or(page_len),
        offset: d.offset.as_i32().or(query.offset).unwrap_or(0),
        limit: d.limit.as_i32().or(query.limit).unwrap_or(1000),
        backups,
    }
}

/// Upstream `BackupResp` → `Backup` (children included).
impl From<dto::BackupDto> for pb::Backup {
    fn from(d: dto::BackupDto) -> Self {
        Self {
            status: backup_status(d.status.as_deref()) as i32,
            image_type: image_type(d.image_type.as_deref()) as i32,
            created_at: timestamp(d.created_at.as_deref()),
            expired_at: timestamp(d.expired_at.as_deref()),
            protected_at: timestamp(d.protected_at.as_deref()),
            updated_at: timestamp(d.updated_at.as_deref()),
            id: d.id.into_string(),
            checkpoint_id: d.checkpoint_id.into_string(),
            description: d.description.into_string(),
            extend_info: d.extend_info.map(backup_extend_info),
            name: d.name.into_string(),
            parent_id: d.parent_id.into_string(),
            project_id: d.project_id.into_string(),
            resource_az: d.resource_az.into_string(),
            resource_id: d.resource_id.into_string(),
            resource_name: d.resource_name.into_string(),
            resource_size: d.resource_size.as_i32().unwrap_or(0),
            resource_type: d.resource_type.into_string(),
            vault_id: d.vault_id.into_string(),
            replication_records: d
                .replication_records
                .0
                .into_iter()
                .map(replication_record)
                .collect(),
            enterprise_project_id: d.enterprise_project_id.into_string(),
            provider_id: d.provider_id.into_string(),
            children: d.children.0.into_iter().map(pb::Backup::from).collect(),
            incremental: d.incremental.0,
            version: d.version.as_i32(),
            scheduled_operation_id: d.scheduled_operation_id.into_string(),
        }
    }
}

fn backup_extend_info(e: dto::BackupExtendInfoDto) -> pb::BackupExtendInfo {
    pb::BackupExtendInfo {
        auto_trigger: e.auto_trigger.0,
        bootable: e.bootable.0,
        snapshot_id: e.snapshot_id.into_string(),
        support_lld: e.support_lld.0,
        supported_restore_mode: restore_mode(e.supported_restore_mode.as_deref()) as i32,
        os_images_data: image_data(e.os_images_data),
        contain_system_disk: e.contain_system_disk.0,
        encrypted: e.encrypted.0,
        system_disk: e.system_disk.0,
        is_multi_az: e.is_multi_az.0,
        incremental: e.incremental.0,
        progress: e.progress.as_i32(),
        architecture: e.architecture.into_string(),
        app_consistency: e.app_consistency.map(app_consistency),
    }
}

pub(super) fn image_data(list: lenient::List<dto::ImageDataDto>) -> Vec<pb::ImageData> {
    list.0
        .into_iter()
        .map(|i| pb::ImageData {
            image_id: i.image_id.into_string(),
        })
        .collect()
}

pub(super) fn app_consistency(a: dto::AppConsistencyDto) -> pb::AppConsistency {
    pb::AppConsistency {
        app_consistency: a.app_consistency.into_string(),
        app_consistency_status: a.app_consistency_status.into_string(),
        app_consistency_error_code: a.app_consistency_error_code.into_string(),
        app_consistency_error_message: a.app_consistency_error_message.into_string(),
    }
}

pub(super) fn replication_record(r: dto::ReplicationRecordDto) -> pb::ReplicationRecord {
    pb::ReplicationRecord {
        status: replication_status(r.status.as_deref()) as i32,
        created_at: timestamp(r.created_at.as_deref()),
        id: r.id.into_string(),
        destination_backup_id: r.destination_backup_id.into_string(),
        destination_checkpoint_id: r.destination_checkpoint_id.into_string(),
        destination_project_id: r.destination_project_id.into_string(),
        destination_region: r.destination_region.into_string(),
        destination_vault_id: r.destination_vault_id.into_string(),
        extra_info: r.extra_info.map(|e| pb::ReplicationRecordExtraInfo {
            progress: e.progress.as_i32(),
            fail_code: e.fail_code.into_string(),
            fail_reason: e.fail_reason.into_string(),
            auto_trigger: e.auto_trigger.0,
            destination_vault_id: e.destination_vault_id.into_string(),
        }),
        source_backup_id: r.source_backup_id.into_string(),
        source_checkpoint_id: r.source_checkpoint_id.into_string(),
        source_project_id: r.source_project_id.into_string(),
        source_region: r.source_region.into_string(),
        vault_id: r.vault_id.into_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_grammar() {
        assert!(check_sort("created_at").is_ok());
        assert!(check_sort("created_at:asc,name:desc,id").is_ok());
        for bad in [
            "",
            "created",
            "name:up",
            "name,",
            "name:asc:desc",
            "name;id",
        ] {
            assert!(check_sort(bad).is_err(), "{bad:?}");
        }
    }
}
