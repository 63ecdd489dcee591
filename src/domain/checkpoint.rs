//! Checkpoints (CBR): CreateCheckpoint's checks and upstream body, and the
//! checkpoint upstream answers with.

use uuid::Uuid;

use super::{
    Checker, ID_RULE, MAX_RESOURCES, MAX_TEXT, MAX_VOLUMES, ValidationError, enums::*, is_valid_id,
    project, request_id, timestamp,
};
use crate::{proto as pb, upstream::dto};

/// A checked CreateCheckpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateCheckpoint {
    /// Project ID.
    pub project_id: String,
    /// Vault to back up.
    pub vault_id: String,
    /// Parameters, unchanged (they passed every rule).
    pub parameters: Option<pb::CheckpointParameters>,
    /// Idempotency key, normalised.
    pub request_id: Option<Uuid>,
}

/// Checks a CreateCheckpoint request.
pub fn check_create_checkpoint(
    req: pb::CreateCheckpointRequest,
    default_project: Option<&str>,
) -> Result<CreateCheckpoint, ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);
    let vault_id = c.id("vault_id", &req.vault_id);
    if let Some(p) = &req.parameters {
        check_parameters(&mut c, p);
    }
    let request_id = request_id(&mut c, &req.request_id);
    c.finish(CreateCheckpoint {
        project_id,
        vault_id,
        parameters: req.parameters,
        request_id,
    })
}

fn check_parameters(c: &mut Checker, p: &pb::CheckpointParameters) {
    if let Some(name) = &p.name {
        // Upstream's rule for a checkpoint's name is its rule for IDs.
        if !is_valid_id(name) {
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

/// The upstream body of a checked CreateCheckpoint.
impl From<&CreateCheckpoint> for dto::CreateCheckpointBody {
    fn from(input: &CreateCheckpoint) -> Self {
        Self {
            checkpoint: dto::VaultBackup {
                vault_id: input.vault_id.clone(),
                parameters: input.parameters.as_ref().map(checkpoint_param),
            },
        }
    }
}

fn checkpoint_param(p: &pb::CheckpointParameters) -> dto::CheckpointParam {
    dto::CheckpointParam {
        auto_trigger: p.auto_trigger,
        description: p.description.clone(),
        incremental: p.incremental,
        name: p.name.clone(),
        resources: p.resources.clone(),
        resource_details: p
            .resource_details
            .iter()
            .map(|r| dto::ResourceDetail {
                id: r.id.clone(),
                kind: r.r#type.clone(),
                name: r.name.clone(),
                extra_info: r.extra_info.as_ref().map(|e| dto::ResourceExtraInfo {
                    exclude_volumes: e.exclude_volumes.clone(),
                    include_volumes: e
                        .include_volumes
                        .iter()
                        .map(|v| dto::IncludeVolume {
                            id: v.id.clone(),
                            os_version: v.os_version.clone(),
                        })
                        .collect(),
                }),
            })
            .collect(),
        policy_id: p.policy_id.clone(),
        retention_duration_days: p.retention_duration_days,
    }
}

/// Upstream `CheckpointCreate` → `Checkpoint`.
impl From<dto::CheckpointDto> for pb::Checkpoint {
    fn from(d: dto::CheckpointDto) -> Self {
        Self {
            status: checkpoint_status(d.status.as_deref()) as i32,
            created_at: timestamp(d.created_at.as_deref()),
            id: d.id.into_string(),
            project_id: d.project_id.into_string(),
            vault: d.vault.map(|v| pb::CheckpointVault {
                id: v.id.into_string(),
                name: v.name.into_string(),
                resources: v.resources.0.into_iter().map(checkpoint_resource).collect(),
                skipped_resources: v
                    .skipped_resources
                    .0
                    .into_iter()
                    .map(|s| pb::SkippedResource {
                        id: s.id.into_string(),
                        r#type: s.kind.into_string(),
                        name: s.name.into_string(),
                        code: s.code.into_string(),
                        reason: s.reason.into_string(),
                    })
                    .collect(),
            }),
            extra_info: d.extra_info.map(|e| pb::CheckpointExtraInfo {
                name: e.name.into_string(),
                description: e.description.into_string(),
                retention_duration: e.retention_duration.as_i32(),
            }),
        }
    }
}

fn checkpoint_resource(r: dto::CheckpointResourceDto) -> pb::CheckpointResource {
    pb::CheckpointResource {
        protect_status: protect_status(r.protect_status.as_deref()) as i32,
        id: r.id.into_string(),
        name: r.name.into_string(),
        r#type: r.kind.into_string(),
        resource_size: r.resource_size.into_string(),
        extra_info: r.extra_info.into_string(),
        backup_size: r.backup_size.into_string(),
        backup_count: r.backup_count.into_string(),
    }
}
