//! The query of upstream's ListBackups, as validation produces it: every
//! value already in upstream's wire form (see [`crate::domain`]).

/// Checked ListBackups filters, every value already in upstream's wire form.
/// `None` (or an empty `status`) means "not sent".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupQuery {
    /// `checkpoint_id`
    pub checkpoint_id: Option<String>,
    /// `dec`
    pub dec: Option<bool>,
    /// `end_time`, `YYYY-MM-DDTHH:MM:SSZ`
    pub end_time: Option<String>,
    /// `image_type`
    pub image_type: Option<&'static str>,
    /// `limit`, 1-1000
    pub limit: Option<i32>,
    /// `marker`
    pub marker: Option<String>,
    /// `name`
    pub name: Option<String>,
    /// `offset`, ≥ 0
    pub offset: Option<i32>,
    /// `resource_az`
    pub resource_az: Option<String>,
    /// `resource_id`
    pub resource_id: Option<String>,
    /// `resource_name`
    pub resource_name: Option<String>,
    /// `resource_type`
    pub resource_type: Option<String>,
    /// `sort`
    pub sort: Option<String>,
    /// `start_time`, `YYYY-MM-DDTHH:MM:SSZ`
    pub start_time: Option<String>,
    /// `status`, repeated
    pub status: Vec<&'static str>,
    /// `vault_id`
    pub vault_id: Option<String>,
    /// `enterprise_project_id`
    pub enterprise_project_id: Option<String>,
    /// `own_type`
    pub own_type: Option<&'static str>,
    /// `member_status`
    pub member_status: Option<&'static str>,
    /// `parent_id`
    pub parent_id: Option<String>,
    /// `used_percent`, 1-100
    pub used_percent: Option<i32>,
    /// `show_replication`
    pub show_replication: Option<bool>,
    /// `incremental`
    pub incremental: Option<bool>,
    /// `existed_quantity_based_retention_backups`
    pub existed_quantity_based_retention_backups: Option<bool>,
}

/// Checked ListVaults filters, in upstream's wire form; `None` (or empty)
/// means "not sent".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultQuery {
    /// `limit`, 1-1000
    pub limit: Option<i32>,
    /// `name`
    pub name: Option<String>,
    /// `offset`, ≥ 0
    pub offset: Option<i32>,
    /// `cloud_type`
    pub cloud_type: Option<&'static str>,
    /// `protect_type`
    pub protect_type: Option<&'static str>,
    /// `object_type`
    pub object_type: Option<&'static str>,
    /// `enterprise_project_id`
    pub enterprise_project_id: Option<String>,
    /// `id`, sent comma-separated (the SDKs' `csv` collection format)
    pub id: Vec<String>,
    /// `policy_id`
    pub policy_id: Option<String>,
    /// `status`
    pub status: Option<&'static str>,
    /// `resource_ids`, sent comma-separated
    pub resource_ids: Vec<String>,
    /// `availability_zone`
    pub availability_zone: Option<String>,
}

impl VaultQuery {
    /// The query's pairs, in name order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Pairs::default();
        pairs.text("availability_zone", self.availability_zone.as_deref());
        pairs.text("cloud_type", self.cloud_type);
        pairs.text(
            "enterprise_project_id",
            self.enterprise_project_id.as_deref(),
        );
        pairs.list("id", &self.id);
        pairs.int("limit", self.limit);
        pairs.text("name", self.name.as_deref());
        pairs.text("object_type", self.object_type);
        pairs.int("offset", self.offset);
        pairs.text("policy_id", self.policy_id.as_deref());
        pairs.text("protect_type", self.protect_type);
        pairs.list("resource_ids", &self.resource_ids);
        pairs.text("status", self.status);
        pairs.0
    }
}

/// Checked ListPolicies filters, in upstream's wire form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyQuery {
    /// `operation_type`
    pub operation_type: Option<&'static str>,
    /// `vault_id`
    pub vault_id: Option<String>,
}

impl PolicyQuery {
    /// The query's pairs, in name order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Pairs::default();
        pairs.text("operation_type", self.operation_type);
        pairs.text("vault_id", self.vault_id.as_deref());
        pairs.0
    }
}

/// Checked ListOperationLogs filters, in upstream's wire form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationLogQuery {
    /// `operation_type`
    pub operation_type: Option<&'static str>,
    /// `status` (one value)
    pub status: Option<&'static str>,
    /// `provider_id`
    pub provider_id: Option<String>,
    /// `resource_id`
    pub resource_id: Option<String>,
    /// `resource_name`
    pub resource_name: Option<String>,
    /// `vault_id`
    pub vault_id: Option<String>,
    /// `vault_name`
    pub vault_name: Option<String>,
    /// `start_time`, `YYYY-MM-DDTHH:MM:SSZ`
    pub start_time: Option<String>,
    /// `end_time`, `YYYY-MM-DDTHH:MM:SSZ`
    pub end_time: Option<String>,
    /// `enterprise_project_id`
    pub enterprise_project_id: Option<String>,
    /// `limit`, 1-1000
    pub limit: Option<i32>,
    /// `offset`, ≥ 0
    pub offset: Option<i32>,
    /// `destination_region`
    pub destination_region: Option<String>,
    /// `destination_project_id`
    pub destination_project_id: Option<String>,
}

impl OperationLogQuery {
    /// The query's pairs, in name order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Pairs::default();
        pairs.text(
            "destination_project_id",
            self.destination_project_id.as_deref(),
        );
        pairs.text("destination_region", self.destination_region.as_deref());
        pairs.text("end_time", self.end_time.as_deref());
        pairs.text(
            "enterprise_project_id",
            self.enterprise_project_id.as_deref(),
        );
        pairs.int("limit", self.limit);
        pairs.int("offset", self.offset);
        pairs.text("operation_type", self.operation_type);
        pairs.text("provider_id", self.provider_id.as_deref());
        pairs.text("resource_id", self.resource_id.as_deref());
        pairs.text("resource_name", self.resource_name.as_deref());
        pairs.text("start_time", self.start_time.as_deref());
        pairs.text("status", self.status);
        pairs.text("vault_id", self.vault_id.as_deref());
        pairs.text("vault_name", self.vault_name.as_deref());
        pairs.0
    }
}

/// Query pairs, only for the values that are set.
#[derive(Default)]
struct Pairs(Vec<(&'static str, String)>);

impl Pairs {
    fn text(&mut self, key: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.0.push((key, v.to_owned()));
        }
    }

    fn int(&mut self, key: &'static str, value: Option<i32>) {
        if let Some(v) = value {
            self.0.push((key, v.to_string()));
        }
    }

    fn list(&mut self, key: &'static str, values: &[String]) {
        if !values.is_empty() {
            self.0.push((key, values.join(",")));
        }
    }
}
