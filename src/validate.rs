//! Input rules of the contract and of upstream, checked before any upstream call.
//!
//! Each `check_*` function turns a proto request into checked input or a
//! [`ValidationError`] listing every violation with its field path (AIP-193 style:
//! `parameters.resource_details[2].id`). Identifiers are allow-listed
//! (`[A-Za-z0-9_-]{1,64}`), which is what makes URL building safe: no `.`, `/`, `%`
//! or `?` can reach a path segment.

use chrono::DateTime;
use prost_types::Timestamp;
use uuid::Uuid;

use crate::{enums, proto};

/// The upstream query ListBackups and StreamBackups produce.
pub use crate::upstream::BackupQuery;

/// Human-readable form of the identifier rule, used in violations and config errors.
pub const ID_RULE: &str = "must be 1-64 letters, digits, '-' or '_'";

/// Resource types upstream accepts (REFERENCE.md §2.1, §2.3).
pub const RESOURCE_TYPES: &[&str] = &[
    "OS::Nova::Server",
    "OS::Cinder::Volume",
    "OS::Ironic::BareMetalServer",
    "OS::Native::Server",
    "OS::Sfs::Turbo",
    "OS::Workspace::DesktopV2",
];

/// Sort keys ListBackups accepts.
const SORT_KEYS: &[&str] = &[
    "created_at",
    "updated_at",
    "name",
    "status",
    "protected_at",
    "id",
];

/// Longest free-text value (names, descriptions, filters) upstream accepts.
const MAX_TEXT: usize = 255;
/// Most `resources` / `resource_details` one CreateCheckpoint may carry
/// (upstream: "array length 0–256", as for adding resources to a vault).
pub const MAX_RESOURCES: usize = 256;
/// Most volumes one resource may include or exclude: an ECS attaches at most
/// 60 disks.
pub const MAX_VOLUMES: usize = 60;
/// Most violations one error lists; the rest are counted. A hostile request
/// can break one rule millions of times, and each listed violation costs a
/// string (and bytes in the trailers).
pub const MAX_VIOLATIONS: usize = 20;

/// How many elements a repeated request field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatedCap {
    /// At most this many.
    Max(usize),
    /// At most one per value of its enum (`UNSPECIFIED` excluded): a filter
    /// repeating a value says nothing more.
    EnumValues,
}

/// The cap of every repeated field of every request message, by the field's
/// full name. The gRPC codec ([`crate::transport::codec`]) enforces them on the wire,
/// before a message is decoded, so a request can never make the gateway build
/// millions of elements; a test checks that every repeated request field is
/// listed.
pub const REPEATED_CAPS: &[(&str, RepeatedCap)] = &[
    (
        "cbr.gateway.v1.ListBackupsRequest.status",
        RepeatedCap::EnumValues,
    ),
    (
        "cbr.gateway.v1.StreamBackupsRequest.status",
        RepeatedCap::EnumValues,
    ),
    (
        "cbr.gateway.v1.CheckpointParameters.resources",
        RepeatedCap::Max(MAX_RESOURCES),
    ),
    (
        "cbr.gateway.v1.CheckpointParameters.resource_details",
        RepeatedCap::Max(MAX_RESOURCES),
    ),
    (
        "cbr.gateway.v1.ResourceExtraInfo.exclude_volumes",
        RepeatedCap::Max(MAX_VOLUMES),
    ),
    (
        "cbr.gateway.v1.ResourceExtraInfo.include_volumes",
        RepeatedCap::Max(MAX_VOLUMES),
    ),
];
/// Page size bounds of ListBackups.
const LIMIT_RANGE: std::ops::RangeInclusive<i32> = 1..=1000;

/// One broken rule: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field in the request, e.g. `parameters.name`.
    pub field: String,
    /// What the field must be.
    pub description: String,
}

/// Every rule a request broke: the first [`MAX_VIOLATIONS`], and how many
/// more there were. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", .violations[0].field, .violations[0].description)]
pub struct ValidationError {
    /// The violations, in field order, at most [`MAX_VIOLATIONS`].
    pub violations: Vec<Violation>,
    /// Violations found beyond those listed.
    pub omitted: usize,
}

impl ValidationError {
    /// A single violation.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            violations: vec![Violation {
                field: field.into(),
                description: description.into(),
            }],
            omitted: 0,
        }
    }
}

/// Whether `s` is an identifier the gateway will put in an upstream URL.
pub fn is_valid_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Collects violations while a request is checked: the first
/// [`MAX_VIOLATIONS`], then only a count.
#[derive(Default)]
struct Checker {
    violations: Vec<Violation>,
    omitted: usize,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(Violation {
                field: field.into(),
                description: description.into(),
            });
        } else {
            self.omitted += 1;
        }
    }

    /// Whether a repeated field is within `max` elements; reports it if not,
    /// so that callers skip the per-element checks of an oversized list.
    fn at_most<T>(&mut self, field: &str, list: &[T], max: usize) -> bool {
        if list.len() > max {
            self.fail(field, format!("must have at most {max} entries"));
            return false;
        }
        true
    }

    /// A required identifier.
    fn id(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() {
            self.fail(field, "is required");
        } else if !is_valid_id(value) {
            self.fail(field, ID_RULE);
        }
        value.to_owned()
    }

    /// An optional identifier: empty means "not set".
    fn opt_id(&mut self, field: &str, value: &str) -> Option<String> {
        (!value.is_empty()).then(|| self.id(field, value))
    }

    /// Free text of at most `max` characters without control characters.
    fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if value.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
    }

    /// Optional free text: empty means "not set".
    fn opt_text(&mut self, field: &str, value: &str) -> Option<String> {
        if value.is_empty() {
            return None;
        }
        self.text(field, value, MAX_TEXT);
        Some(value.to_owned())
    }

    fn resource_type(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            self.fail(field, "is required");
        } else if !RESOURCE_TYPES.contains(&value) {
            self.fail(
                field,
                format!("must be one of {}", RESOURCE_TYPES.join(", ")),
            );
        }
    }

    /// A proto enum value that must be known; `None` for UNSPECIFIED.
    fn enum_value<T>(
        &mut self,
        field: &str,
        raw: i32,
        decode: impl Fn(i32) -> Option<T>,
    ) -> Option<T> {
        if raw == 0 {
            return None;
        }
        let decoded = decode(raw);
        if decoded.is_none() {
            self.fail(field, format!("unknown enum value {raw}"));
        }
        decoded
    }

    /// A time filter, rendered in upstream's `YYYY-MM-DDTHH:MM:SSZ` form.
    fn time(&mut self, field: &str, ts: Option<&Timestamp>) -> Option<String> {
        let ts = ts?;
        if ts.nanos != 0 {
            self.fail(
                field,
                "must be whole seconds (upstream filters have second precision)",
            );
            return None;
        }
        match DateTime::from_timestamp(ts.seconds, 0) {
            Some(dt) if (1..=9999).contains(&chrono::Datelike::year(&dt)) => {
                Some(dt.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
            _ => {
                self.fail(field, "must be between years 0001 and 9999");
                None
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, ValidationError> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(ValidationError {
                violations: self.violations,
                omitted: self.omitted,
            })
        }
    }
}

/// The project a call acts on: the request's, else the configured default.
fn project(c: &mut Checker, requested: &str, default: Option<&str>) -> String {
    match (requested.is_empty(), default) {
        (true, Some(d)) => d.to_owned(),
        (true, None) => {
            c.fail(
                "project_id",
                "is required (set it in the request or HUAWEICLOUD_SDK_PROJECT_ID)",
            );
            String::new()
        }
        (false, _) => c.id("project_id", requested),
    }
}

/// A checked single-resource read: project and resource ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// Project ID.
    pub project_id: String,
    /// The resource's ID (checkpoint, backup or checkpoint item).
    pub id: String,
}

/// Checks a read of one resource whose ID field is `id_field`.
pub fn check_get(
    project_id: &str,
    id_field: &str,
    id: &str,
    default_project: Option<&str>,
) -> Result<ResourceRef, ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, project_id, default_project);
    let id = c.id(id_field, id);
    c.finish(ResourceRef { project_id, id })
}

/// A checked CreateCheckpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateCheckpoint {
    /// Project ID.
    pub project_id: String,
    /// Vault to back up.
    pub vault_id: String,
    /// Parameters, unchanged (they passed every rule).
    pub parameters: Option<proto::CheckpointParameters>,
    /// Idempotency key, normalised.
    pub request_id: Option<Uuid>,
}

/// Checks a CreateCheckpoint request.
pub fn check_create_checkpoint(
    req: proto::CreateCheckpointRequest,
    default_project: Option<&str>,
) -> Result<CreateCheckpoint, ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);
    let vault_id = c.id("vault_id", &req.vault_id);
    if let Some(p) = &req.parameters {
        check_parameters(&mut c, p);
    }
    let request_id = if req.request_id.is_empty() {
        None
    } else {
        match Uuid::parse_str(&req.request_id) {
            Ok(u) => Some(u),
            Err(_) => {
                c.fail("request_id", "must be a UUID");
                None
            }
        }
    };
    c.finish(CreateCheckpoint {
        project_id,
        vault_id,
        parameters: req.parameters,
        request_id,
    })
}

fn check_parameters(c: &mut Checker, p: &proto::CheckpointParameters) {
    if let Some(name) = &p.name {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            c.fail("parameters.name", ID_RULE);
        }
    }
    if let Some(d) = &p.description {
        c.text("parameters.description", d, MAX_TEXT);
    }
    // The codec refuses oversized lists before decoding; these checks keep
    // the rule where the rest of the rules are, for every other caller.
    if c.at_most("parameters.resources", &p.resources, MAX_RESOURCES) {
        for (i, r) in p.resources.iter().enumerate() {
            c.id(&format!("parameters.resources[{i}]"), r);
        }
    }
    if !c.at_most(
        "parameters.resource_details",
        &p.resource_details,
        MAX_RESOURCES,
    ) {
        return;
    }
    for (i, r) in p.resource_details.iter().enumerate() {
        let at = format!("parameters.resource_details[{i}]");
        c.id(&format!("{at}.id"), &r.id);
        c.resource_type(&format!("{at}.type"), &r.r#type);
        if let Some(name) = &r.name {
            c.text(&format!("{at}.name"), name, MAX_TEXT);
        }
        if let Some(extra) = &r.extra_info {
            let excludes = format!("{at}.extra_info.exclude_volumes");
            if c.at_most(&excludes, &extra.exclude_volumes, MAX_VOLUMES) {
                for (j, v) in extra.exclude_volumes.iter().enumerate() {
                    c.id(&format!("{excludes}[{j}]"), v);
                }
            }
            let includes = format!("{at}.extra_info.include_volumes");
            if c.at_most(&includes, &extra.include_volumes, MAX_VOLUMES) {
                for (j, v) in extra.include_volumes.iter().enumerate() {
                    let vat = format!("{includes}[{j}]");
                    c.id(&format!("{vat}.id"), &v.id);
                    if let Some(os) = &v.os_version {
                        c.text(&format!("{vat}.os_version"), os, MAX_TEXT);
                    }
                }
            }
        }
    }
    if let Some(policy) = &p.policy_id {
        c.id("parameters.policy_id", policy);
    }
    if let Some(days) = p.retention_duration_days {
        if days != -1 && !(1..=36500).contains(&days) {
            c.fail(
                "parameters.retention_duration_days",
                "must be -1 (forever) or 1-36500",
            );
        } else if p.auto_trigger == Some(true) {
            c.fail(
                "parameters.retention_duration_days",
                "is not allowed when auto_trigger is true",
            );
        }
    }
}

/// How many backup statuses there are (`UNSPECIFIED` aside).
static BACKUP_STATUSES: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    (1..=i32::from(u8::MAX))
        .filter(|v| proto::BackupStatus::try_from(*v).is_ok())
        .count()
});

/// Checks a ListBackups request.
pub fn check_list_backups(
    req: &proto::ListBackupsRequest,
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
    req: &proto::StreamBackupsRequest,
    default_project: Option<&str>,
) -> Result<(String, BackupQuery), ValidationError> {
    // Destructured in full so that a field added to one message and not
    // mapped here fails to compile.
    let proto::StreamBackupsRequest {
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
    } = req.clone();
    let list = proto::ListBackupsRequest {
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
    };
    match check_list_backups(&list, default_project) {
        Ok((project_id, mut query)) => {
            query.limit = Some(page_size.unwrap_or(DEFAULT_PAGE_SIZE));
            query.offset = Some(offset.unwrap_or(0));
            Ok((project_id, query))
        }
        Err(mut err) => {
            for v in &mut err.violations {
                if v.field == "limit" {
                    v.field = "page_size".into();
                }
            }
            Err(err)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_allow_listed() {
        for ok in [
            "a",
            "8b0851a8-adf3-4f4c-a914-dead08bf9664",
            "A_b-9",
            &"x".repeat(64),
        ] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "a?b",
            "%2e%2e",
            "a b",
            "a.b",
            "é",
            "a\n",
            &"x".repeat(65),
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

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

    #[test]
    fn time_filters_render_upstream_format() {
        let mut c = Checker::default();
        let ts = Timestamp {
            seconds: 1_517_486_400,
            nanos: 0,
        };
        assert_eq!(
            c.time("start_time", Some(&ts)).as_deref(),
            Some("2018-02-01T12:00:00Z")
        );
        assert!(c.violations.is_empty());
        c.time(
            "start_time",
            Some(&Timestamp {
                seconds: 0,
                nanos: 5,
            }),
        );
        c.time(
            "end_time",
            Some(&Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
        );
        assert_eq!(c.violations.len(), 2);
    }

    #[test]
    fn project_falls_back_to_default() {
        let r = check_get("", "backup_id", "b1", Some("p1")).unwrap();
        assert_eq!(r.project_id, "p1");
        let e = check_get("", "backup_id", "b1", None).unwrap_err();
        assert_eq!(e.violations[0].field, "project_id");
    }
}
