//! The domain: the contract's and upstream's rules over each resource, between
//! the gRPC services and the upstream client.
//!
//! Each resource has one file holding both directions: the checks that turn a
//! proto request into checked input (an upstream query or body) or a
//! [`ValidationError`] listing every violation with its field path (AIP-193
//! style: `parameters.resource_details[2].id`), and the conversions of
//! upstream's DTOs into proto messages (`From` impls). Identifiers are
//! allow-listed (`[A-Za-z0-9_-]{1,64}`), which is what makes URL building
//! safe: no `.`, `/`, `%` or `?` can reach a path segment.
//!
//! Upstream strings map to enums by the tables in [`enums`]; an unknown value
//! becomes `…_UNSPECIFIED` and never fails a call. Timestamps arrive as
//! `2020-02-05T10:38:34.209782` (no zone: UTC), `2019-05-10T07:59:12.733+00:00`,
//! `…Z`, a space instead of `T`, or a bare date; each parses ([`timestamp`]),
//! and anything else is left unset (and logged at debug).

mod backup;
mod checkpoint;
mod checkpoint_item;
pub mod enums;
mod operation;
mod operation_log;
mod policy;
mod vault;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use prost_types::Timestamp;

pub use backup::{DEFAULT_PAGE_SIZE, check_list_backups, check_stream_backups, list_backups};
pub use checkpoint::{CreateCheckpoint, check_create_checkpoint};
pub use operation::{
    DeleteBackup, ListOperations, OperationId, OperationName, Outcome, RESTORE_LOG_GRACE_SECONDS,
    Reading, RestoreBackup, accepted_delete, accepted_restore, backup_metadata,
    check_delete_backup, check_list_operations, check_operation_name, check_restore_backup,
    check_wait_timeout, delete_log_query, name_of_log, read_log, restore_log_query,
};
pub use operation_log::{check_list_operation_logs, check_stream_operation_logs};
pub use policy::check_list_policies;
pub use vault::{MAX_VAULT_IDS, check_list_vaults, check_stream_vaults};

/// The upstream queries the list checks produce.
pub use crate::upstream::{BackupQuery, OperationLogQuery, PolicyQuery, VaultQuery};

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
/// full name. The gRPC codec (`transport/codec.rs`) enforces them on the wire,
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
        "cbr.gateway.v1.ListVaultsRequest.id",
        RepeatedCap::Max(MAX_VAULT_IDS),
    ),
    (
        "cbr.gateway.v1.ListVaultsRequest.resource_ids",
        RepeatedCap::Max(MAX_RESOURCES),
    ),
    (
        "cbr.gateway.v1.StreamVaultsRequest.id",
        RepeatedCap::Max(MAX_VAULT_IDS),
    ),
    (
        "cbr.gateway.v1.StreamVaultsRequest.resource_ids",
        RepeatedCap::Max(MAX_RESOURCES),
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
        "cbr.gateway.v1.BackupRestore.mappings",
        RepeatedCap::Max(MAX_VOLUMES),
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

/// Whether `s` is an identifier the gateway will put in an upstream URL
/// (defined with the URLs, in the upstream layer, which checks IDs upstream
/// sends too).
pub use crate::upstream::paths::is_valid_id;

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

    /// A page size: unset, or 1-1000 (upstream's bounds for every list).
    fn limit(&mut self, field: &str, limit: Option<i32>) -> Option<i32> {
        if let Some(l) = limit
            && !(1..=1000).contains(&l)
        {
            self.fail(field, "must be between 1 and 1000");
        }
        limit
    }

    /// A number of records to skip: unset, or 0 or more.
    fn offset(&mut self, field: &str, offset: Option<i32>) -> Option<i32> {
        if let Some(o) = offset
            && o < 0
        {
            self.fail(field, "must be 0 or more");
        }
        offset
    }

    /// A `[start, end]` pair of time filters, each rendered as [`Self::time`]
    /// does; `end` before `start` is reported on `end_time`.
    fn time_range(
        &mut self,
        start: Option<&Timestamp>,
        end: Option<&Timestamp>,
    ) -> (Option<String>, Option<String>) {
        let start = self.time("start_time", start);
        let end = self.time("end_time", end);
        if let (Some(s), Some(e)) = (&start, &end)
            && s > e
        {
            self.fail("end_time", "must not be before start_time");
        }
        (start, end)
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

/// An optional idempotency key: empty means none, anything else must be a
/// UUID (normalised, so that `ABC…` and `abc…` are one key).
fn request_id(c: &mut Checker, raw: &str) -> Option<uuid::Uuid> {
    if raw.is_empty() {
        return None;
    }
    match uuid::Uuid::parse_str(raw) {
        Ok(u) => Some(u),
        Err(_) => {
            c.fail("request_id", "must be a UUID");
            None
        }
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

/// A stream's check, made from its list's: the list's violations with
/// `limit` named `page_size`, and on success the page size (default
/// [`DEFAULT_PAGE_SIZE`]) and the start (default 0) always set by `set`.
fn as_stream<Q>(
    checked: Result<(String, Q), ValidationError>,
    page_size: Option<i32>,
    offset: Option<i32>,
    set: impl FnOnce(&mut Q, i32, i32),
) -> Result<(String, Q), ValidationError> {
    match checked {
        Ok((project_id, mut query)) => {
            set(
                &mut query,
                page_size.unwrap_or(DEFAULT_PAGE_SIZE),
                offset.unwrap_or(0),
            );
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

// ---------------------------------------------------------------- upstream times

/// 0001-01-01T00:00:00Z, the earliest `google.protobuf.Timestamp`.
const MIN_TIMESTAMP: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// Parses an upstream time into a protobuf `Timestamp`; times a Timestamp
/// cannot hold are left unset.
pub fn timestamp(raw: Option<&str>) -> Option<Timestamp> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|dt| dt.to_utc())
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z").map(|dt| dt.to_utc()))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc())
        })
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
        })
        .or_else(|_| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        });
    match parsed {
        // google.protobuf.Timestamp covers years 0001-9999 only; strict
        // clients (Go's CheckValid, the JSON mapping) refuse anything else.
        Ok(dt) if !(MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&dt.timestamp()) => {
            tracing::debug!(value = raw, "upstream timestamp out of range left unset");
            None
        }
        Ok(dt) => Some(Timestamp {
            seconds: dt.timestamp(),
            // chrono gives a leap second nanos >= 1e9; Timestamps smear it.
            nanos: i32::try_from(dt.timestamp_subsec_nanos().min(999_999_999)).unwrap_or(0),
        }),
        Err(_) => {
            tracing::debug!(value = raw, "unparseable upstream timestamp left unset");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto as pb;
    use enums::*;

    #[test]
    fn times_a_timestamp_cannot_hold_are_left_unset() {
        assert_eq!(timestamp(Some("+10000-01-01")), None);
        assert_eq!(timestamp(Some("-0001-01-01T00:00:00Z")), None);
        let leap = timestamp(Some("2016-12-31T23:59:60.5Z")).unwrap();
        assert_eq!(leap.nanos, 999_999_999);
        let last = timestamp(Some("9999-12-31T23:59:59Z")).unwrap();
        assert_eq!(last.seconds, MAX_TIMESTAMP);
        let first = timestamp(Some("0001-01-01")).unwrap();
        assert_eq!(first.seconds, MIN_TIMESTAMP);
    }

    #[test]
    fn both_timestamp_forms_parse_as_utc() {
        let a = timestamp(Some("2020-02-05T10:38:34.209782")).unwrap();
        assert_eq!((a.seconds, a.nanos), (1_580_899_114, 209_782_000));
        let b = timestamp(Some("2019-05-10T07:59:12.733+00:00")).unwrap();
        assert_eq!((b.seconds, b.nanos), (1_557_475_152, 733_000_000));
        let c = timestamp(Some("2019-05-10T09:59:12.733+02:00")).unwrap();
        assert_eq!(c.seconds, b.seconds);
        assert_eq!(
            timestamp(Some("2019-05-10T07:59:12Z")).unwrap().seconds,
            1_557_475_152
        );
        assert_eq!(
            timestamp(Some("2019-05-10 07:59:12")).unwrap().seconds,
            1_557_475_152
        );
        assert_eq!(
            timestamp(Some("2019-05-10")).unwrap().seconds,
            1_557_446_400
        );
        assert_eq!(timestamp(Some("yesterday")), None);
        assert_eq!(timestamp(Some("")), None);
        assert_eq!(timestamp(None), None);
    }

    #[test]
    fn statuses_map_both_ways_and_unknown_is_unspecified() {
        assert_eq!(
            checkpoint_status(Some("error-deleting")),
            pb::CheckpointStatus::ErrorDeleting
        );
        assert_eq!(
            checkpoint_status(Some("creating")),
            pb::CheckpointStatus::Unspecified
        );
        assert_eq!(checkpoint_status(None), pb::CheckpointStatus::Unspecified);
        assert_eq!(
            backup_status_to_upstream(pb::BackupStatus::WaitingProtect as i32),
            Some("waiting_protect")
        );
        assert_eq!(backup_status_to_upstream(0), None);
        assert_eq!(backup_status_to_upstream(99), None);
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
