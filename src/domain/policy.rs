//! Policies (CBR): ListPolicies' checks into the upstream query, and the
//! policies upstream answers with (LIFECYCLE.md §6). Trigger patterns are
//! kept verbatim: clients such as terraform parse them back.

use super::{Checker, PolicyQuery, ValidationError, enums::*, project, timestamp};
use crate::{
    proto as pb,
    upstream::{dto, lenient::Text},
};

/// Checks a ListPolicies request.
pub fn check_list_policies(
    req: &pb::ListPoliciesRequest,
    default_project: Option<&str>,
) -> Result<(String, PolicyQuery), ValidationError> {
    let mut c = Checker::default();
    let project_id = project(&mut c, &req.project_id, default_project);
    let query = PolicyQuery {
        operation_type: c.enum_value(
            "operation_type",
            req.operation_type,
            policy_operation_type_to_upstream,
        ),
        vault_id: c.opt_id("vault_id", &req.vault_id),
    };
    c.finish((project_id, query))
}

impl From<dto::PolicyListDto> for pb::ListPoliciesResponse {
    fn from(d: dto::PolicyListDto) -> Self {
        let policies: Vec<pb::Policy> = d.policies.0.into_iter().map(pb::Policy::from).collect();
        let len = i32::try_from(policies.len()).unwrap_or(i32::MAX);
        Self {
            count: d.count.as_i32().unwrap_or(len),
            policies,
        }
    }
}

impl From<dto::PolicyDto> for pb::Policy {
    fn from(d: dto::PolicyDto) -> Self {
        Self {
            id: d.id.into_string(),
            name: d.name.into_string(),
            enabled: d.enabled.0.unwrap_or(false),
            operation_type: policy_operation_type(d.operation_type.as_deref()) as i32,
            operation_definition: d.operation_definition.map(operation_definition),
            trigger: d.trigger.map(|t| pb::PolicyTrigger {
                id: t.id.into_string(),
                name: t.name.into_string(),
                r#type: trigger_type(t.kind.as_deref()) as i32,
                properties: t.properties.map(|p| pb::PolicyTriggerProperties {
                    pattern: p.pattern.0.into_iter().map(Text::into_string).collect(),
                    start_time: timestamp(p.start_time.as_deref()),
                    start_window_minutes: p.start_window_minutes.as_i32(),
                }),
            }),
            associated_vaults: d
                .associated_vaults
                .0
                .into_iter()
                .map(|v| pb::PolicyAssociatedVault {
                    vault_id: v.vault_id.into_string(),
                    destination_vault_id: v.destination_vault_id.into_string(),
                })
                .collect(),
            policy_type: policy_type(d.policy_type.as_deref()) as i32,
        }
    }
}

fn operation_definition(o: dto::OperationDefinitionDto) -> pb::PolicyOperationDefinition {
    pb::PolicyOperationDefinition {
        max_backups: o.max_backups.as_i32(),
        retention_duration_days: o.retention_duration_days.as_i32(),
        day_backups: o.day_backups.as_i32(),
        week_backups: o.week_backups.as_i32(),
        month_backups: o.month_backups.as_i32(),
        year_backups: o.year_backups.as_i32(),
        timezone: o.timezone.into_string(),
        full_backup_interval: o.full_backup_interval.as_i32(),
        destination_region: o.destination_region.into_string(),
        destination_project_id: o.destination_project_id.into_string(),
        enable_acceleration: o.enable_acceleration.0,
        cross_account_urn: o.cross_account_urn.into_string(),
        advanced_retention_rules: o.advanced_retention_rules.map(|a| {
            pb::PolicyAdvancedRetentionRules {
                weekly_retention_rules: a.weekly_retention_rules.map(|r| pb::WeeklyRetentionRule {
                    days_of_week: texts(r.days_of_week),
                    retention_duration_periods: r.retention_duration_periods.as_i32(),
                }),
                monthly_retention_rules: a.monthly_retention_rules.map(|r| {
                    pb::MonthlyRetentionRule {
                        retention_type: retention_type(r.retention_type.as_deref()) as i32,
                        retention_weeks: texts(r.retention_weeks),
                        days_of_week: texts(r.days_of_week),
                        days_of_month: ints(r.days_of_month),
                        retention_duration_periods: r.retention_duration_periods.as_i32(),
                    }
                }),
                yearly_retention_rules: a.yearly_retention_rules.map(|r| pb::YearlyRetentionRule {
                    retention_type: retention_type(r.retention_type.as_deref()) as i32,
                    retention_months: texts(r.retention_months),
                    retention_weeks: texts(r.retention_weeks),
                    days_of_week: texts(r.days_of_week),
                    days_of_month: ints(r.days_of_month),
                    retention_duration_periods: r.retention_duration_periods.as_i32(),
                }),
            }
        }),
    }
}

fn texts(list: crate::upstream::lenient::List<Text>) -> Vec<String> {
    list.0.into_iter().map(Text::into_string).collect()
}

/// Numbers upstream sent as numbers (or numeric text); others are dropped.
fn ints(list: crate::upstream::lenient::List<crate::upstream::lenient::Int>) -> Vec<i32> {
    list.0.into_iter().filter_map(|i| i.as_i32()).collect()
}
