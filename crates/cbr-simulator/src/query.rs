//! ListBackups query parameters: all 24 are accepted and checked (REFERENCE.md
//! §2.3's 23 and `existed_quantity_based_retention_backups`, which Huawei
//! added since); the filters the simulator implements are applied. Bad values
//! are 400 `BackupService.9900`.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{error::ApiError, model::Backup};

/// Resource types upstream knows.
pub const RESOURCE_TYPES: &[&str] = &[
    "OS::Nova::Server",
    "OS::Cinder::Volume",
    "OS::Ironic::BareMetalServer",
    "OS::Native::Server",
    "OS::Sfs::Turbo",
    "OS::Workspace::DesktopV2",
];

const STATUSES: &[&str] = &[
    "available",
    "protecting",
    "deleting",
    "restoring",
    "error",
    "waiting_protect",
    "waiting_delete",
    "waiting_restore",
];

/// A sort key of ListBackups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `created_at`
    CreatedAt,
    /// `updated_at`
    UpdatedAt,
    /// `name`
    Name,
    /// `status`
    Status,
    /// `protected_at`
    ProtectedAt,
    /// `id`
    Id,
}

/// A parsed ListBackups query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// `checkpoint_id`
    pub checkpoint_id: Option<String>,
    /// `vault_id`
    pub vault_id: Option<String>,
    /// `resource_id`
    pub resource_id: Option<String>,
    /// `resource_type`
    pub resource_type: Option<String>,
    /// `resource_name`
    pub resource_name: Option<String>,
    /// `resource_az`
    pub resource_az: Option<String>,
    /// `name`
    pub name: Option<String>,
    /// `status` (any of)
    pub status: Vec<String>,
    /// `image_type`
    pub image_type: Option<String>,
    /// `parent_id`
    pub parent_id: Option<String>,
    /// `start_time`
    pub start_time: Option<DateTime<Utc>>,
    /// `end_time`
    pub end_time: Option<DateTime<Utc>>,
    /// `incremental`
    pub incremental: Option<bool>,
    /// `show_replication`
    pub show_replication: bool,
    /// `existed_quantity_based_retention_backups`: only automatic backups
    /// their policy keeps by count or forever (true) or by days (false).
    pub kept_by_count: Option<bool>,
    /// `sort`: keys with "descending" flags.
    pub sort: Vec<(SortKey, bool)>,
    /// `limit`, default 1000.
    pub limit: usize,
    /// `offset`, default 0.
    pub offset: usize,
    /// `marker`
    pub marker: Option<String>,
}

impl ListQuery {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = ListQuery {
            checkpoint_id: None,
            vault_id: None,
            resource_id: None,
            resource_type: None,
            resource_name: None,
            resource_az: None,
            name: None,
            status: vec![],
            image_type: None,
            parent_id: None,
            start_time: None,
            end_time: None,
            incremental: None,
            show_replication: false,
            kept_by_count: None,
            sort: vec![(SortKey::CreatedAt, true)],
            limit: 1000,
            offset: 0,
            marker: None,
        };
        let bad = |k: &str| ApiError::parameter(&format!("invalid {k}"));
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "checkpoint_id" => q.checkpoint_id = Some(v),
                "vault_id" => q.vault_id = Some(v),
                "resource_id" => q.resource_id = Some(v),
                "resource_name" => q.resource_name = Some(v),
                "resource_az" => q.resource_az = Some(v),
                "parent_id" => q.parent_id = Some(v),
                "marker" => q.marker = Some(v),
                "name" if v.chars().count() <= 255 => q.name = Some(v),
                "resource_type" if RESOURCE_TYPES.contains(&v.as_str()) => {
                    q.resource_type = Some(v)
                }
                "status" if STATUSES.contains(&v.as_str()) => q.status.push(v),
                "image_type" if matches!(v.as_str(), "backup" | "replication") => {
                    q.image_type = Some(v)
                }
                "own_type" if matches!(v.as_str(), "all_granted" | "private" | "shared") => {}
                "member_status" if matches!(v.as_str(), "pending" | "accepted" | "rejected") => {}
                "enterprise_project_id" if !v.is_empty() => {}
                "dec" => {
                    parse_bool(&v).ok_or_else(|| bad("dec"))?;
                }
                "show_replication" => {
                    q.show_replication = parse_bool(&v).ok_or_else(|| bad("show_replication"))?
                }
                "existed_quantity_based_retention_backups" => {
                    q.kept_by_count = Some(
                        parse_bool(&v)
                            .ok_or_else(|| bad("existed_quantity_based_retention_backups"))?,
                    )
                }
                "incremental" => {
                    q.incremental = Some(parse_bool(&v).ok_or_else(|| bad("incremental"))?)
                }
                "used_percent" => {
                    v.parse::<u8>()
                        .ok()
                        .filter(|p| (1..=100).contains(p))
                        .ok_or_else(|| bad("used_percent"))?;
                }
                "limit" => {
                    q.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|l| (1..=1000).contains(l))
                        .ok_or_else(|| bad("limit"))?;
                }
                "offset" => q.offset = v.parse::<usize>().map_err(|_| bad("offset"))?,
                "start_time" => {
                    q.start_time = Some(parse_time(&v).ok_or_else(|| bad("start_time"))?)
                }
                "end_time" => q.end_time = Some(parse_time(&v).ok_or_else(|| bad("end_time"))?),
                "sort" => q.sort = parse_sort(&v).ok_or_else(|| bad("sort"))?,
                known @ ("name"
                | "resource_type"
                | "status"
                | "image_type"
                | "own_type"
                | "member_status"
                | "enterprise_project_id") => return Err(bad(known)),
                // Parameters upstream does not know are ignored, as upstream does.
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether the order is upstream's default (newest first).
    pub fn is_default_order(&self) -> bool {
        self.sort == [(SortKey::CreatedAt, true)]
    }

    /// Whether `b`, currently in `status`, passes every filter.
    pub fn matches(&self, b: &Backup, status: &str) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.checkpoint_id, &b.checkpoint_id)
            && eq(&self.vault_id, &b.vault_id)
            && eq(&self.resource_id, &b.resource_id)
            && eq(&self.resource_type, b.kind.type_name())
            && eq(&self.resource_name, &b.resource_name)
            && eq(&self.resource_az, &b.resource_az)
            && eq(&self.name, &b.name)
            && eq(&self.image_type, b.image_type)
            && (self.status.is_empty() || self.status.iter().any(|s| s == status))
            && self.start_time.is_none_or(|t| b.created_at >= t)
            && self.end_time.is_none_or(|t| b.created_at <= t)
            && self.incremental.is_none_or(|i| b.incremental == i)
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `%Y-%m-%dT%H:%M:%SZ`, the documented form.
fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|n| n.and_utc())
}

fn parse_sort(v: &str) -> Option<Vec<(SortKey, bool)>> {
    if v.is_empty() || v.len() > 255 {
        return None;
    }
    v.split(',')
        .map(|part| {
            let (key, dir) = part.split_once(':').unwrap_or((part, "desc"));
            let key = match key {
                "created_at" => SortKey::CreatedAt,
                "updated_at" => SortKey::UpdatedAt,
                "name" => SortKey::Name,
                "status" => SortKey::Status,
                "protected_at" => SortKey::ProtectedAt,
                "id" => SortKey::Id,
                _ => return None,
            };
            let desc = match dir {
                "desc" => true,
                "asc" => false,
                _ => return None,
            };
            Some((key, desc))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_parameter() {
        let q = ListQuery::parse(Some(
            "checkpoint_id=c&dec=false&end_time=2018-02-01T12%3A00%3A00Z&image_type=backup&limit=5\
             &marker=m&name=a%20b&offset=3&resource_az=az&resource_id=r&resource_name=rn\
             &resource_type=OS%3A%3ANova%3A%3AServer&sort=name%3Aasc%2Cid&start_time=2018-01-01T00%3A00%3A00Z\
             &status=available&status=error&vault_id=v&enterprise_project_id=0&own_type=private\
             &member_status=accepted&parent_id=p&used_percent=50&show_replication=true&incremental=true",
        ))
        .unwrap();
        assert_eq!(q.limit, 5);
        assert_eq!(q.offset, 3);
        assert_eq!(q.name.as_deref(), Some("a b"));
        assert_eq!(q.status, ["available", "error"]);
        assert_eq!(q.sort, [(SortKey::Name, false), (SortKey::Id, true)]);
        assert!(q.show_replication);
        assert_eq!(q.resource_type.as_deref(), Some("OS::Nova::Server"));
    }

    #[test]
    fn bad_values_are_9900() {
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "offset=-1",
            "status=done",
            "image_type=x",
            "sort=size",
            "sort=name:up",
            "start_time=2018-02-01",
            "used_percent=0",
            "dec=maybe",
            "own_type=mine",
            "resource_type=OS::X",
        ] {
            let err = ListQuery::parse(Some(bad)).unwrap_err();
            assert_eq!(err.code, "BackupService.9900", "{bad}");
        }
    }
}
