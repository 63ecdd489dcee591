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
}
