//! Vaults (CBR): ListVaults' checks into the upstream query, and the vaults
//! upstream answers with (LIFECYCLE.md §2).

use super::{Checker, MAX_RESOURCES, ValidationError, VaultQuery, enums::*, project, timestamp};
use crate::{
    proto as pb,
    upstream::{dto, lenient::Text},
};

/// Most vault IDs one ListVaults may filter by.
pub const MAX_VAULT_IDS: usize = 256;

/// Longest vault name.
const MAX_NAME: usize = 64;

/// Whether `c` may be in a vault name: upstream's pattern
/// `^[\u4E00-\u9FA5\uf900-\ufa2da-zA-Z0-9_\-]*$`.
fn vault_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || c == '-'
        || ('\u{4E00}'..='\u{9FA5}').contains(&c)
        || ('\u{F900}'..='\u{FA2D}').contains(&c)
}

/// Checks a ListVaults request.
pub fn check_list_vaults(
    req: &pb::ListVaultsRequest,
    default_project: Option<&str>,
) -> Result<(String, VaultQuery), ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);
    let name = (!req.name.is_empty()).then(|| {
        if req.name.chars().count() > MAX_NAME {
            c.fail("name", format!("must be at most {MAX_NAME} characters"));
        } else if !req.name.chars().all(vault_name_char) {
            c.fail(
                "name",
                "must be letters, digits, '_', '-' or CJK characters (no spaces)",
            );
        }
        req.name.clone()
    });
    // Only `backup` and `replication` are filters; `hybrid` is a response value.
    let protect_type = c.enum_value("protect_type", req.protect_type, |raw| {
        protect_type_to_upstream(raw).filter(|t| *t != "hybrid")
    });
    let mut ids = Vec::new();
    if c.at_most("id", &req.id, MAX_VAULT_IDS) {
        for (i, id) in req.id.iter().enumerate() {
            ids.push(c.id(&format!("id[{i}]"), id));
        }
    }
    let mut resource_ids = Vec::new();
    if c.at_most("resource_ids", &req.resource_ids, MAX_RESOURCES) {
        for (i, id) in req.resource_ids.iter().enumerate() {
            resource_ids.push(c.id(&format!("resource_ids[{i}]"), id));
        }
    }
    let query = VaultQuery {
        limit: c.limit("limit", req.limit),
        name,
        offset: c.offset("offset", req.offset),
        cloud_type: c.enum_value("cloud_type", req.cloud_type, cloud_type_to_upstream),
        protect_type,
        object_type: c.enum_value("object_type", req.object_type, object_type_to_upstream),
        enterprise_project_id: c.opt_id("enterprise_project_id", &req.enterprise_project_id),
        id: ids,
        policy_id: c.opt_id("policy_id", &req.policy_id),
        status: c.enum_value("status", req.status, vault_status_to_upstream),
        resource_ids,
        availability_zone: c.opt_text("availability_zone", &req.availability_zone),
    };
    c.finish((project_id, query))
}

/// Checks a StreamVaults request by ListVaults' rules (`page_size` in the
/// place of `limit`); the query's `limit` is the page size and its `offset`
/// where the walk starts, both always set.
pub fn check_stream_vaults(
    req: &pb::StreamVaultsRequest,
    default_project: Option<&str>,
) -> Result<(String, VaultQuery), ValidationError> {
    // Destructured in full: a field added to one message and not mapped here
    // fails to compile.
    let pb::StreamVaultsRequest {
        project_id,
        page_size,
        name,
        offset,
        cloud_type,
        protect_type,
        object_type,
        enterprise_project_id,
        id,
        policy_id,
        status,
        resource_ids,
        availability_zone,
        region,
    } = req.clone();
    let list = pb::ListVaultsRequest {
        project_id,
        limit: page_size,
        name,
        offset,
        cloud_type,
        protect_type,
        object_type,
        enterprise_project_id,
        id,
        policy_id,
        status,
        resource_ids,
        availability_zone,
        region,
    };
    super::as_stream(
        check_list_vaults(&list, default_project),
        page_size,
        offset,
        |q, size, start| {
            q.limit = Some(size);
            q.offset = Some(start);
        },
    )
}

impl From<dto::VaultListDto> for pb::ListVaultsResponse {
    /// Where upstream omits `offset`/`limit`, its defaults (0, 1000) are
    /// reported; `count` is upstream's total, else the page's length.
    fn from(d: dto::VaultListDto) -> Self {
        let vaults: Vec<pb::Vault> = d.vaults.0.into_iter().map(pb::Vault::from).collect();
        let page_len = i32::try_from(vaults.len()).unwrap_or(i32::MAX);
        Self {
            count: d.count.as_i32().unwrap_or(page_len),
            limit: d.limit.as_i32().unwrap_or(1000),
            offset: d.offset.as_i32().unwrap_or(0),
            vaults,
        }
    }
}

impl From<dto::VaultDto> for pb::Vault {
    fn from(d: dto::VaultDto) -> Self {
        Self {
            id: d.id.into_string(),
            name: d.name.into_string(),
            project_id: d.project_id.into_string(),
            provider_id: d.provider_id.into_string(),
            billing: d.billing.map(billing),
            resources: d.resources.0.into_iter().map(vault_resource).collect(),
            description: d.description.into_string(),
            tags: d.tags.0.into_iter().map(tag).collect(),
            enterprise_project_id: d.enterprise_project_id.into_string(),
            auto_bind: d.auto_bind.0.unwrap_or(false),
            bind_rules: d.bind_rules.map(|b| pb::VaultBindRules {
                tags: b.tags.0.into_iter().map(tag).collect(),
            }),
            user_id: d.user_id.into_string(),
            created_at: timestamp(d.created_at.as_deref()),
            auto_expand: d.auto_expand.0.unwrap_or(false),
            smn_notify: d.smn_notify.0,
            threshold: d.threshold.as_i32(),
            sys_lock_source_service: d.sys_lock_source_service.into_string(),
            locked: d.locked.0.unwrap_or(false),
            availability_zone: d.availability_zone.into_string(),
        }
    }
}

fn billing(b: dto::BillingDto) -> pb::Billing {
    pb::Billing {
        allocated: b.allocated.as_i32().unwrap_or(0),
        charging_mode: charging_mode(b.charging_mode.as_deref()) as i32,
        cloud_type: cloud_type(b.cloud_type.as_deref()) as i32,
        consistent_level: consistent_level(b.consistent_level.as_deref()) as i32,
        object_type: object_type(b.object_type.as_deref()) as i32,
        order_id: b.order_id.into_string(),
        product_id: b.product_id.into_string(),
        protect_type: protect_type(b.protect_type.as_deref()) as i32,
        size: b.size.as_i32().unwrap_or(0),
        spec_code: b.spec_code.into_string(),
        status: vault_status(b.status.as_deref()) as i32,
        storage_unit: b.storage_unit.into_string(),
        used: b.used.as_i32().unwrap_or(0),
        frozen_scene: b.frozen_scene.into_string(),
        is_multi_az: b.is_multi_az.0.unwrap_or(false),
    }
}

fn vault_resource(r: dto::VaultResourceDto) -> pb::VaultResource {
    pb::VaultResource {
        id: r.id.into_string(),
        name: r.name.into_string(),
        r#type: r.kind.into_string(),
        protect_status: protect_status(r.protect_status.as_deref()) as i32,
        size: r.size.as_i32().unwrap_or(0),
        backup_size: r.backup_size.as_i32().unwrap_or(0),
        backup_count: r.backup_count.as_i32().unwrap_or(0),
        auto_protect: r.auto_protect.0,
        extra_info: r.extra_info.map(resource_extra_info),
    }
}

/// A resource's included and excluded volumes, as upstream answers them.
pub(super) fn resource_extra_info(e: dto::ResourceExtraInfoDto) -> pb::ResourceExtraInfo {
    pb::ResourceExtraInfo {
        exclude_volumes: e
            .exclude_volumes
            .0
            .into_iter()
            .map(Text::into_string)
            .collect(),
        include_volumes: e
            .include_volumes
            .0
            .into_iter()
            .map(|v| pb::IncludeVolume {
                id: v.id.into_string(),
                os_version: v.os_version.0,
            })
            .collect(),
    }
}

fn tag(t: dto::TagDto) -> pb::Tag {
    pb::Tag {
        key: t.key.into_string(),
        value: t.value.into_string(),
    }
}
