//! Everything in which the gateway and its simulator knowingly differ from
//! Huawei's published definitions, each with the reason: the one place to
//! look (and to edit) when the parity tests fail after a bump of the
//! definitions crate.

use super::definitions::{Finding, Violation};

/// Upstream operations the gateway calls that the CBR definitions do not
/// define, by `cbr_wire` route name.
pub const NOT_DEFINED: &[(&str, &str)] = &[
    (
        "get_checkpoint_item",
        "CSBS v1 (`GET /v1/{project_id}/checkpoint_items/{id}`), not CBR: Huawei publishes no \
         definitions crate for CSBS; REFERENCE.md and the CSBS pages are its ground truth",
    ),
    (
        "iam_tokens",
        "IAM, not CBR: the token provider's login, not an operation the gateway serves",
    ),
    (
        "iam_projects",
        "IAM, not CBR: how a region's project ID is found, not an operation the gateway serves",
    ),
];

/// Parameters and answer fields the definitions have and the gateway's
/// messages deliberately do not, as `Message.field`.
pub const OMITTED: &[(&str, &str)] = &[
    (
        "StreamBackupsRequest.limit",
        "the stream walks every page itself: `page_size` is the `limit` it sends",
    ),
    (
        "StreamBackupsRequest.marker",
        "the stream walks every page itself, from `offset`; markers are its own business",
    ),
    (
        "StreamVaultsRequest.limit",
        "the stream walks every page itself: `page_size` is the `limit` it sends",
    ),
    (
        "StreamOperationLogsRequest.limit",
        "the stream walks every page itself: `page_size` is the `limit` it sends",
    ),
    (
        "WatchOperationRequest.project_id",
        "an operation is named as google.longrunning names it: \
         `projects/{project_id}/operations/{kind}.{operation_log_id}` carries both path parameters",
    ),
    (
        "WatchOperationRequest.operation_log_id",
        "a watched operation is named, not numbered: its `name` \
         (`projects/{project_id}/operations/restore.{operation_log_id}`) carries the log's ID",
    ),
];

/// Upstream enum values the gateway's enums deliberately have no value for,
/// as `Message.field=value`.
pub const UNMAPPED_VALUES: &[(&str, &str)] = &[(
    "YearlyRetentionRule.retention_type=WEEKLY,MONTHLY",
    "the definition's enum is the single string `WEEKLY,MONTHLY`, a defect (quirk \
     yearly-retention-type): upstream sends `WEEKLY` or `MONTHLY`, which RetentionType has",
)];

/// A documented way in which upstream's answers (and so the simulator's)
/// differ from the definitions.
pub struct Quirk {
    /// Its name, as the test reports it.
    pub name: &'static str,
    /// The properties it applies to, as findings name them
    /// (`BackupResp.resource_size`).
    pub at: &'static [&'static str],
    /// The differences it allows there.
    pub allows: &'static [Allows],
    /// Where it is documented, and why the simulator keeps it.
    pub why: &'static str,
}

/// The difference a quirk allows.
pub enum Allows {
    /// A number where the definition says string.
    Number,
    /// `null` where the definition requires a value.
    Null,
    /// Absent where the definition requires it.
    Absent,
    /// A date-time without a UTC offset (`2020-02-05T10:38:34.209782`).
    NaiveTime,
    /// A date-time where the definition says `date`.
    TimeForDate,
    /// These values besides the definition's enum.
    Values(&'static [&'static str]),
    /// A body where the definition has none.
    Body,
}

impl Quirk {
    /// Whether this quirk explains `finding`.
    pub fn allows(&self, finding: &Finding) -> bool {
        if !self.at.contains(&finding.key.as_str()) {
            return false;
        }
        self.allows
            .iter()
            .any(|allows| allowed(allows, &finding.violation))
    }
}

fn allowed(allows: &Allows, violation: &Violation) -> bool {
    {
        match (allows, violation) {
            (
                Allows::Number,
                Violation::Type {
                    expected: "string",
                    found,
                },
            ) => {
                matches!(*found, "integer" | "number")
            }
            (Allows::Null, Violation::Null) | (Allows::Absent, Violation::Missing) => true,
            (Allows::NaiveTime, Violation::Format("date-time", s)) => {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            }
            (Allows::TimeForDate, Violation::Format("date", s)) => {
                chrono::DateTime::parse_from_rfc3339(s).is_ok()
                    || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            }
            (Allows::Values(values), Violation::NotInEnum(v)) => values.contains(&v.as_str()),
            (Allows::Body, Violation::Body) => true,
            _ => false,
        }
    }
}

/// The upstream quirks the simulator reproduces on purpose, and so the only
/// differences from the definitions its answers may show.
pub const QUIRKS: &[Quirk] = &[
    Quirk {
        name: "naive-timestamps",
        at: &[
            "BackupResp.created_at",
            "BackupResp.updated_at",
            "BackupResp.expired_at",
        ],
        allows: &[Allows::NaiveTime],
        why: "REFERENCE.md §2.5 and the definitions' own examples (`2020-02-05T10:38:34.209782`): \
              CBR writes UTC without an offset; the gateway reads it as UTC",
    },
    Quirk {
        name: "protected-at-is-a-time",
        at: &["BackupResp.protected_at"],
        allows: &[Allows::TimeForDate],
        why: "the definition says `format: date`; every documented answer carries a full timestamp",
    },
    Quirk {
        name: "nulls-for-required-fields",
        at: &[
            "BackupResp.description",
            "BackupResp.expired_at",
            "BackupResp.parent_id",
            "BackupResp.protected_at",
        ],
        allows: &[Allows::Null],
        why: "the documents' ListBackups and ShowBackup examples send `null` for a backup without \
              description, expiry or parent, and for `protected_at` while it is protecting",
    },
    Quirk {
        name: "numeric-resource-size",
        at: &["CheckpointResourceResp.resource_size"],
        allows: &[Allows::Number],
        why: "REFERENCE.md §2.5: the CreateCheckpoint and ShowCheckpoint examples send \
              `\"resource_size\": 40`, a number, where the definition says string",
    },
    Quirk {
        name: "numeric-enterprise-project-id",
        at: &[
            "BackupResp.enterprise_project_id",
            "Vault.enterprise_project_id",
        ],
        allows: &[Allows::Number],
        why: "REFERENCE.md §2.5: OTC's documents send `\"enterprise_project_id\": 0`; the \
              simulator's OTC-dialect vault and the documents' backup do too",
    },
    Quirk {
        name: "otc-tag-without-value",
        at: &["Tag.value"],
        allows: &[Allows::Null, Allows::Absent],
        why: "OTC's vault documents show a tag with no value (`null` or left out)",
    },
    Quirk {
        name: "incremental-as-text",
        at: &["OpExtendInfoBckup.incremental"],
        allows: &[Allows::Values(&["true", "false"])],
        why: "the definition's enum is `[\"\\\"true\\\"\", \"\\\"false\\\"\"]`, quotes included \
              (a defect); the documents' operation logs send `\"true\"`/`\"false\"`",
    },
    Quirk {
        name: "yearly-retention-type",
        at: &["PolicyYearlyRetentionRules.retention_type"],
        allows: &[Allows::Values(&["WEEKLY", "MONTHLY"])],
        why: "the definition's enum is the single string `WEEKLY,MONTHLY` (a defect, LIFECYCLE.md \
              §6); the monthly rule's enum and the docstrings say `WEEKLY` | `MONTHLY`",
    },
    Quirk {
        name: "restore-job-id",
        at: &["RestoreBackup.body"],
        allows: &[Allows::Body],
        why: "the definition's 202 has no body; terraform requires `{\"job_id\"}` and LIFECYCLE.md \
              §3.4 expects the live service to send it (the simulator's default; \
              `--sim-restore-without-job-id` follows the documents instead)",
    },
];

/// Properties the gateway sends in request bodies that the definitions do
/// not have, as findings name them.
pub const REQUEST_EXTRAS: &[(&str, &str)] = &[
    (
        "CheckpointParam.policy_id",
        "in Huawei's SDK models (Python `CheckpointParam`, Go HEAD; REFERENCE.md §2.1) though not in \
         the API Explorer definition: sent only when the caller sets it",
    ),
    (
        "ResourceExtraInfo.include_volumes",
        "in Huawei's SDK models (`ResourceExtraInfoIncludeVolumes`, REFERENCE.md §2.1) though not in \
         the API Explorer definition: sent only when the caller sets it",
    ),
];
