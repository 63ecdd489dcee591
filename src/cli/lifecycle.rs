//! `vaults list`, `vault get`, `policies list`, `policy get`, `operations
//! list`, `operation get`: the reads a person needs before and after a backup
//! (which vault, which policy, what CBR did), each a plain gRPC call and its
//! output.
//!
//! Enum flags take upstream's words (`available`, `backup`, `vault_delete`,
//! snake_case as the REST API and its documents spell them, not clap's
//! kebab-case), so a value copied from Huawei's documents or from this
//! client's own output is a valid flag value. Each is a `ValueEnum` with a
//! `From` into its proto enum: a typo is a usage error (exit 2) before any
//! call, and a value missing from the proto fails to compile rather than
//! silently filtering on nothing.

use clap::{Args, Subcommand, ValueEnum};
use prost_types::Timestamp;

use super::{
    CLIENT_HELP, CliError, ClientOptions,
    connect::Connection,
    live::Outcome,
    parse_time,
    render::{Out, enum_name, paint, protect_status, time, with_id},
};
use crate::proto as pb;

/// A flag's values in upstream's words, one variant per proto value of the
/// same name (`VaultDelete` ⇄ `vault_delete` ⇄ `OPERATION_TYPE_VAULT_DELETE`).
macro_rules! upstream_words {
    ($(#[$doc:meta])* $name:ident => $proto:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        #[value(rename_all = "snake_case")]
        #[allow(missing_docs)]
        pub enum $name {
            $($variant),+
        }

        impl From<$name> for pb::$proto {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => Self::$variant),+
                }
            }
        }
    };
}

upstream_words! {
    /// `vaults list --cloud-type`.
    CloudTypeArg => CloudType { Public, Hybrid }
}
upstream_words! {
    /// `vaults list --protect-type` (upstream filters on these two only).
    ProtectTypeArg => ProtectType { Backup, Replication }
}
upstream_words! {
    /// `vaults list --object-type`.
    ObjectTypeArg => ObjectType { Server, Disk, Turbo, Workspace, Vmware, Rds, File }
}
upstream_words! {
    /// `vaults list --status`.
    VaultStatusArg => VaultStatus { Available, Lock, Frozen, Deleting, Error }
}
upstream_words! {
    /// `policies list --operation-type`.
    PolicyOperationTypeArg => PolicyOperationType { Backup, Replication }
}
upstream_words! {
    /// `operations list --operation-type`.
    OperationTypeArg => OperationType {
        Backup, Copy, Replication, Delete, Restore, VaultDelete, RemoveResource, Sync,
        MigrateResources,
    }
}
upstream_words! {
    /// `operations list --status`.
    OperationStatusArg => OperationLogStatus { Success, Skipped, Failed, Running, Timeout, Waiting }
}

// ---------------------------------------------------------------- vaults

/// `cbr-gateway vaults …`.
#[derive(Debug, Clone, Args)]
pub struct VaultsArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: VaultsCommand,
}

/// Vault listing.
#[derive(Debug, Clone, Subcommand)]
pub enum VaultsCommand {
    /// List vaults matching every filter given (one page).
    #[command(after_help = CLIENT_HELP)]
    List(VaultListArgs),
}

/// `vaults list`: every ListVaults filter as a flag.
#[derive(Debug, Clone, Args)]
pub struct VaultListArgs {
    /// Every match, streamed page by page (StreamVaults) instead of one page.
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// With --all: vaults fetched per upstream page.
    #[arg(long, requires = "all")]
    pub page_size: Option<i32>,
    /// Vaults per page (1–1000; upstream's default when unset).
    #[arg(long)]
    pub limit: Option<i32>,
    /// Vaults to skip.
    #[arg(long)]
    pub offset: Option<i32>,
    /// Vault name.
    #[arg(long)]
    pub name: Option<String>,
    /// Cloud platform.
    #[arg(long, value_enum)]
    pub cloud_type: Option<CloudTypeArg>,
    /// Protection type.
    #[arg(long, value_enum)]
    pub protect_type: Option<ProtectTypeArg>,
    /// What the vault protects.
    #[arg(long, value_enum)]
    pub object_type: Option<ObjectTypeArg>,
    /// Enterprise project (`0` is the default one, `all_granted_eps` all).
    #[arg(long)]
    pub enterprise_project_id: Option<String>,
    /// Only these vaults; repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub id: Vec<String>,
    /// Vaults bound to this policy.
    #[arg(long)]
    pub policy_id: Option<String>,
    /// Vault status.
    #[arg(long, value_enum)]
    pub status: Option<VaultStatusArg>,
    /// Vaults holding this resource; repeat or separate with commas.
    #[arg(long = "resource-id", value_delimiter = ',')]
    pub resource_ids: Vec<String>,
    /// Availability zone.
    #[arg(long)]
    pub availability_zone: Option<String>,
}

/// `cbr-gateway vault …`.
#[derive(Debug, Clone, Args)]
pub struct VaultArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: VaultCommand,
}

/// Reading one vault.
#[derive(Debug, Clone, Subcommand)]
pub enum VaultCommand {
    /// Read a vault: billing, usage, resources.
    #[command(after_help = CLIENT_HELP)]
    Get {
        /// Vault ID.
        #[arg(value_name = "VAULT_ID")]
        id: String,
    },
}

// ---------------------------------------------------------------- policies

/// `cbr-gateway policies …`.
#[derive(Debug, Clone, Args)]
pub struct PoliciesArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: PoliciesCommand,
}

/// Policy listing.
#[derive(Debug, Clone, Subcommand)]
pub enum PoliciesCommand {
    /// List policies (upstream does not page them).
    #[command(after_help = CLIENT_HELP)]
    List(PolicyListArgs),
}

/// `policies list`: every ListPolicies filter as a flag.
#[derive(Debug, Clone, Args)]
pub struct PolicyListArgs {
    /// Backup or replication policies.
    #[arg(long, value_enum)]
    pub operation_type: Option<PolicyOperationTypeArg>,
    /// Policies bound to this vault: how a vault's policy is found.
    #[arg(long)]
    pub vault_id: Option<String>,
}

/// `cbr-gateway policy …`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// Reading one policy.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Read a policy: schedule, retention, bound vaults.
    #[command(after_help = CLIENT_HELP)]
    Get {
        /// Policy ID.
        #[arg(value_name = "POLICY_ID")]
        id: String,
    },
}

// ---------------------------------------------------------------- operations

/// `cbr-gateway operations …`.
#[derive(Debug, Clone, Args)]
pub struct OperationsArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: OperationsCommand,
}

/// Operation log listing.
#[derive(Debug, Clone, Subcommand)]
pub enum OperationsCommand {
    /// List operation logs (CBR's tasks) matching every filter given, newest first.
    #[command(after_help = CLIENT_HELP)]
    List(OperationListArgs),
}

/// `operations list`: every ListOperationLogs filter as a flag.
#[derive(Debug, Clone, Args)]
pub struct OperationListArgs {
    /// Every match, streamed page by page (StreamOperationLogs) instead of one page.
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    /// With --all: operation logs fetched per upstream page.
    #[arg(long, requires = "all")]
    pub page_size: Option<i32>,
    /// Kind of operation.
    #[arg(long, value_enum)]
    pub operation_type: Option<OperationTypeArg>,
    /// Status.
    #[arg(long, value_enum)]
    pub status: Option<OperationStatusArg>,
    /// Backup provider ID.
    #[arg(long)]
    pub provider_id: Option<String>,
    /// Operations on this resource.
    #[arg(long)]
    pub resource_id: Option<String>,
    /// Operations on resources with this name.
    #[arg(long)]
    pub resource_name: Option<String>,
    /// Operations in this vault.
    #[arg(long)]
    pub vault_id: Option<String>,
    /// Operations in vaults with this name.
    #[arg(long)]
    pub vault_name: Option<String>,
    /// At or after this time (RFC 3339, whole seconds).
    #[arg(long, value_parser = parse_time)]
    pub start_time: Option<Timestamp>,
    /// At or before this time (RFC 3339, whole seconds).
    #[arg(long, value_parser = parse_time)]
    pub end_time: Option<Timestamp>,
    /// Enterprise project (`all_granted_eps` for all).
    #[arg(long)]
    pub enterprise_project_id: Option<String>,
    /// Operations per page (1–1000).
    #[arg(long)]
    pub limit: Option<i32>,
    /// Operations to skip.
    #[arg(long)]
    pub offset: Option<i32>,
    /// Replications to this region.
    #[arg(long)]
    pub destination_region: Option<String>,
    /// Replications to this project.
    #[arg(long)]
    pub destination_project_id: Option<String>,
}

/// `cbr-gateway operation …`.
#[derive(Debug, Clone, Args)]
pub struct OperationArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: OperationCommand,
}

/// Reading one operation log; reading, listing and waiting for long-running
/// operations (restores and deletions).
#[derive(Debug, Clone, Subcommand)]
pub enum OperationCommand {
    /// Read an operation log: status, progress, error, what it worked on.
    /// Given a restore's or deletion's operation NAME instead
    /// (`projects/{project_id}/operations/{id}`, as `backup restore` and
    /// `backup delete` print it), read that operation (GetOperation).
    #[command(after_help = CLIENT_HELP)]
    Get {
        /// Operation log ID (a UUID), or an operation NAME (it contains `/`,
        /// which no log ID does).
        #[arg(value_name = "OPERATION_LOG_ID")]
        id: String,
    },
    /// List restores and deletions as long-running operations
    /// (ListOperations): their names, for `operation get` and `operation
    /// wait`. `operations list` lists CBR's operation logs instead.
    #[command(after_help = CLIENT_HELP)]
    List(LongRunningListArgs),
    /// Wait for a restore or deletion (the operation NAME `backup restore`
    /// or `backup delete` printed) to end, then print it. Exits 0 when it
    /// succeeded, 3 when it failed, 1 when --timeout passed first.
    #[command(after_help = CLIENT_HELP)]
    Wait {
        /// Operation name, `projects/{project_id}/operations/{id}`.
        #[arg(value_name = "NAME")]
        name: String,
        /// Give up after this long (e.g. `30m`); unset, wait until it ends.
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
}

/// `operation list`: ListOperations' filter and paging.
#[derive(Debug, Clone, Args)]
pub struct LongRunningListArgs {
    /// `field = value` terms joined by ` AND `, over `type` (`restore`,
    /// `delete`), `status` (upstream's words: `running`, `success`, `failed`,
    /// …), `resource_id` and `vault_id`; e.g. `type = restore AND status = running`.
    #[arg(long)]
    pub filter: Option<String>,
    /// Operations per page (the gateway's default and maximum when unset).
    #[arg(long)]
    pub page_size: Option<i32>,
    /// The page after the one whose hint printed this token.
    #[arg(long, conflicts_with = "all")]
    pub page_token: Option<String>,
    /// Every page, one call after another (NDJSON of operations with `-o json`).
    #[arg(long)]
    pub all: bool,
}

// ---------------------------------------------------------------- commands

/// `vaults list`.
pub(crate) async fn vaults(args: VaultsArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let VaultsCommand::List(a) = args.command;
    let request = pb::ListVaultsRequest {
        project_id: conn.project_id.clone(),
        limit: a.limit,
        name: a.name.unwrap_or_default(),
        offset: a.offset,
        cloud_type: a.cloud_type.map_or(0, |v| pb::CloudType::from(v) as i32),
        protect_type: a
            .protect_type
            .map_or(0, |v| pb::ProtectType::from(v) as i32),
        object_type: a.object_type.map_or(0, |v| pb::ObjectType::from(v) as i32),
        enterprise_project_id: a.enterprise_project_id.unwrap_or_default(),
        id: a.id,
        policy_id: a.policy_id.unwrap_or_default(),
        status: a.status.map_or(0, |v| pb::VaultStatus::from(v) as i32),
        resource_ids: a.resource_ids,
        availability_zone: a.availability_zone.unwrap_or_default(),
        region: String::new(),
    };
    if a.all {
        let request = pb::StreamVaultsRequest {
            project_id: request.project_id,
            page_size: a.page_size,
            name: request.name,
            offset: request.offset,
            cloud_type: request.cloud_type,
            protect_type: request.protect_type,
            object_type: request.object_type,
            enterprise_project_id: request.enterprise_project_id,
            id: request.id,
            policy_id: request.policy_id,
            status: request.status,
            resource_ids: request.resource_ids,
            availability_zone: request.availability_zone,
            region: String::new(),
        };
        let stream = conn
            .vaults()
            .stream_vaults(conn.streaming(request))
            .await
            .map_err(CliError::call)?
            .into_inner();
        print_all(&mut out, stream, VAULT_COLUMNS, "vault", |m| {
            vault_row(&m.vault.unwrap_or_default())
        })
        .await?;
        return Ok(Outcome::Done);
    }
    let page = conn
        .vaults()
        .list_vaults(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    let rows: Vec<Vec<String>> = page.vaults.iter().map(vault_row).collect();
    let summary = summary("vault", page.vaults.len(), page.count, page.offset);
    out.page(&page, VAULT_COLUMNS, &rows, &summary)?;
    Ok(Outcome::Done)
}

/// `vault get`.
pub(crate) async fn vault(args: VaultArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let VaultCommand::Get { id } = args.command;
    let request = pb::GetVaultRequest {
        project_id: conn.project_id.clone(),
        vault_id: id,
        region: String::new(),
    };
    let response = conn
        .vaults()
        .get_vault(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    let v = response.vault.clone().unwrap_or_default();
    let billing = v.billing.clone().unwrap_or_default();
    let resources: Vec<Vec<String>> = v
        .resources
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.name.clone(),
                r.r#type.clone(),
                protect_status(r.protect_status()),
                r.backup_count.to_string(),
            ]
        })
        .collect();
    out.record(
        &response,
        &[
            ("vault", v.id.clone()),
            ("name", v.name.clone()),
            ("status", paint(&vault_status(&billing))),
            (
                "object type",
                enum_name(billing.object_type().as_str_name(), "OBJECT_TYPE_"),
            ),
            (
                "protect type",
                enum_name(billing.protect_type().as_str_name(), "PROTECT_TYPE_"),
            ),
            ("capacity", format!("{} GB", billing.size)),
            ("allocated", format!("{} GB", billing.allocated)),
            ("used", format!("{} MB", billing.used)),
            (
                "billing",
                enum_name(billing.charging_mode().as_str_name(), "CHARGING_MODE_"),
            ),
            ("spec", billing.spec_code.clone()),
            ("description", v.description.clone()),
            ("project", v.project_id.clone()),
            ("availability zone", v.availability_zone.clone()),
            ("created", time(v.created_at.as_ref())),
            (
                "tags",
                v.tags
                    .iter()
                    .map(|t| format!("{}={}", t.key, t.value))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
        &[(
            "resources",
            &["ID", "NAME", "TYPE", "PROTECT STATUS", "BACKUPS"],
            resources,
        )],
    )?;
    out.hint(&format!(
        "its policy: cbr-gateway policies list --vault-id {}",
        v.id
    ));
    Ok(Outcome::Done)
}

/// `policies list`.
pub(crate) async fn policies(args: PoliciesArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let PoliciesCommand::List(a) = args.command;
    let request = pb::ListPoliciesRequest {
        project_id: conn.project_id.clone(),
        operation_type: a
            .operation_type
            .map_or(0, |v| pb::PolicyOperationType::from(v) as i32),
        vault_id: a.vault_id.unwrap_or_default(),
        region: String::new(),
    };
    let page = conn
        .policies()
        .list_policies(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    let rows: Vec<Vec<String>> = page.policies.iter().map(policy_row).collect();
    let summary = format!("{} policy(ies)", page.policies.len());
    out.page(&page, POLICY_COLUMNS, &rows, &summary)?;
    Ok(Outcome::Done)
}

/// `policy get`.
pub(crate) async fn policy(args: PolicyArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let PolicyCommand::Get { id } = args.command;
    let request = pb::GetPolicyRequest {
        project_id: conn.project_id.clone(),
        policy_id: id,
        region: String::new(),
    };
    let response = conn
        .policies()
        .get_policy(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    let p = response.policy.clone().unwrap_or_default();
    let d = p.operation_definition.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.map_or_else(String::new, |v| v.to_string());
    let vaults: Vec<Vec<String>> = p
        .associated_vaults
        .iter()
        .map(|v| vec![v.vault_id.clone(), v.destination_vault_id.clone()])
        .collect();
    out.record(
        &response,
        &[
            ("policy", p.id.clone()),
            ("name", p.name.clone()),
            ("type", policy_type(&p)),
            ("enabled", if p.enabled { "yes" } else { "no" }.into()),
            ("schedule", schedule(&p)),
            ("max backups", n(d.max_backups)),
            ("retention days", n(d.retention_duration_days)),
            ("daily backups", n(d.day_backups)),
            ("weekly backups", n(d.week_backups)),
            ("monthly backups", n(d.month_backups)),
            ("yearly backups", n(d.year_backups)),
            ("timezone", d.timezone.clone()),
            ("destination region", d.destination_region.clone()),
            ("destination project", d.destination_project_id.clone()),
        ],
        &[("vaults", &["VAULT", "DESTINATION VAULT"], vaults)],
    )?;
    Ok(Outcome::Done)
}

/// `operations list`.
pub(crate) async fn operations(args: OperationsArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let OperationsCommand::List(a) = args.command;
    let request = pb::ListOperationLogsRequest {
        project_id: conn.project_id.clone(),
        operation_type: a
            .operation_type
            .map_or(0, |v| pb::OperationType::from(v) as i32),
        status: a
            .status
            .map_or(0, |v| pb::OperationLogStatus::from(v) as i32),
        provider_id: a.provider_id.unwrap_or_default(),
        resource_id: a.resource_id.unwrap_or_default(),
        resource_name: a.resource_name.unwrap_or_default(),
        vault_id: a.vault_id.unwrap_or_default(),
        vault_name: a.vault_name.unwrap_or_default(),
        start_time: a.start_time,
        end_time: a.end_time,
        enterprise_project_id: a.enterprise_project_id.unwrap_or_default(),
        limit: a.limit,
        offset: a.offset,
        destination_region: a.destination_region.unwrap_or_default(),
        destination_project_id: a.destination_project_id.unwrap_or_default(),
        region: String::new(),
    };
    if a.all {
        let request = pb::StreamOperationLogsRequest {
            project_id: request.project_id,
            operation_type: request.operation_type,
            status: request.status,
            provider_id: request.provider_id,
            resource_id: request.resource_id,
            resource_name: request.resource_name,
            vault_id: request.vault_id,
            vault_name: request.vault_name,
            start_time: request.start_time,
            end_time: request.end_time,
            enterprise_project_id: request.enterprise_project_id,
            page_size: a.page_size,
            offset: request.offset,
            destination_region: request.destination_region,
            destination_project_id: request.destination_project_id,
            region: String::new(),
        };
        let stream = conn
            .operation_logs()
            .stream_operation_logs(conn.streaming(request))
            .await
            .map_err(CliError::call)?
            .into_inner();
        print_all(&mut out, stream, OPERATION_COLUMNS, "operation", |m| {
            operation_row(&m.operation_log.unwrap_or_default())
        })
        .await?;
        return Ok(Outcome::Done);
    }
    let page = conn
        .operation_logs()
        .list_operation_logs(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    let rows: Vec<Vec<String>> = page.operation_logs.iter().map(operation_row).collect();
    let summary = summary(
        "operation",
        page.operation_logs.len(),
        page.count,
        page.offset,
    );
    out.page(&page, OPERATION_COLUMNS, &rows, &summary)?;
    Ok(Outcome::Done)
}

/// `operation get`.
pub(crate) async fn operation(args: OperationArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let id = match args.command {
        // A name always has a `/`, an operation log ID never.
        OperationCommand::Get { id } if id.contains('/') => {
            return super::operations::get(&conn, &mut out, id).await;
        }
        OperationCommand::Get { id } => id,
        OperationCommand::List(list) => {
            return super::operations::list(&conn, &mut out, list).await;
        }
        OperationCommand::Wait { name, timeout } => {
            return super::operations::wait_for(&conn, &mut out, name, timeout).await;
        }
    };
    let request = pb::GetOperationLogRequest {
        project_id: conn.project_id.clone(),
        operation_log_id: id,
        region: String::new(),
    };
    let response = conn
        .operation_logs()
        .get_operation_log(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    let o = response.operation_log.clone().unwrap_or_default();
    let extra = o.extra_info.clone().unwrap_or_default();
    let error = o.error_info.clone().unwrap_or_default();
    let resource = extra.resource.clone().unwrap_or_default();
    let backup = extra
        .backup
        .as_ref()
        .map(|b| with_id(&b.backup_name, &b.backup_id))
        .or_else(|| {
            extra
                .restore
                .as_ref()
                .map(|r| with_id(&r.backup_name, &r.backup_id))
        })
        .or_else(|| {
            extra
                .delete
                .as_ref()
                .map(|d| with_id(&d.backup_name, &d.backup_id))
        })
        .unwrap_or_default();
    out.record(
        &response,
        &[
            ("operation", o.id.clone()),
            ("type", operation_type(&o)),
            ("status", paint(&operation_status(&o))),
            ("progress", progress(&o)),
            (
                "error",
                if error.code.is_empty() {
                    String::new()
                } else {
                    format!("{}: {}", error.code, error.message)
                },
            ),
            (
                "resource",
                with_id(resource.name.as_deref().unwrap_or_default(), &resource.id),
            ),
            ("resource type", resource.r#type.clone()),
            ("backup", backup),
            (
                "restored to",
                extra
                    .restore
                    .as_ref()
                    .map(|r| with_id(&r.target_resource_name, &r.target_resource_id))
                    .unwrap_or_default(),
            ),
            ("vault", with_id(&o.vault_name, &o.vault_id)),
            ("checkpoint", o.checkpoint_id.clone()),
            ("policy", o.policy_id.clone()),
            ("started", time(o.started_at.as_ref())),
            ("ended", time(o.ended_at.as_ref())),
            ("updated", time(o.updated_at.as_ref())),
        ],
        &[],
    )?;
    Ok(Outcome::Done)
}

/// The one vault named `name` (for `checkpoint create --vault-name`): none
/// or several is a usage error naming them, and nothing is created.
///
/// Whether upstream's `name` filter is exact or a substring match is
/// undocumented, so only an exact name counts. One page (upstream's default,
/// 1000 vaults) holds every match in practice; if it does not (`count` says
/// more), the name cannot be known to be unique and is refused too.
pub(crate) async fn vault_named(conn: &Connection, name: &str) -> Result<String, CliError> {
    let request = pb::ListVaultsRequest {
        project_id: conn.project_id.clone(),
        name: name.to_owned(),
        ..Default::default()
    };
    let page = conn
        .vaults()
        .list_vaults(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    let listed = i32::try_from(page.vaults.len()).unwrap_or(i32::MAX);
    if page.count > listed {
        return Err(CliError::Usage(format!(
            "{} vaults match the name {name:?}, more than one page: give --vault with the ID",
            page.count
        )));
    }
    let matching: Vec<&pb::Vault> = page.vaults.iter().filter(|v| v.name == name).collect();
    match matching.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(CliError::Usage(format!(
            "no vault is named {name:?} (cbr-gateway vaults list shows them)"
        ))),
        several => Err(CliError::Usage(format!(
            "{} vaults are named {name:?} ({}): give --vault with one's ID",
            several.len(),
            several
                .iter()
                .map(|v| v.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `--all`: every message of a paged stream, one protobuf JSON line each as
/// it arrives, or rows gathered into one table (its widths need every row).
async fn print_all<M: prost::Message + prost::Name>(
    out: &mut Out,
    mut stream: tonic::Streaming<M>,
    header: &[&str],
    noun: &str,
    row: impl Fn(M) -> Vec<String>,
) -> Result<(), CliError> {
    let json = out.format == super::OutputFormat::Json;
    let mut rows = Vec::new();
    while let Some(message) = stream.message().await.map_err(CliError::call)? {
        if json {
            out.json(&message)?;
        } else {
            rows.push(row(message));
        }
    }
    if !json {
        out.rows(header, &rows, &format!("{} {noun}(s)", rows.len()))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- rows

const VAULT_COLUMNS: &[&str] = &[
    "ID",
    "NAME",
    "STATUS",
    "OBJECT",
    "USED",
    "SIZE",
    "RESOURCES",
];
const POLICY_COLUMNS: &[&str] = &["ID", "NAME", "TYPE", "ENABLED", "SCHEDULE", "VAULTS"];
const OPERATION_COLUMNS: &[&str] = &[
    "ID", "TYPE", "STATUS", "PROGRESS", "RESOURCE", "VAULT", "STARTED", "ENDED",
];

fn summary(kind: &str, shown: usize, count: i32, offset: i32) -> String {
    let shown = i32::try_from(shown).unwrap_or(i32::MAX);
    let next = offset.saturating_add(shown);
    if next < count {
        format!("{shown} of {count} {kind}s (offset {offset}); next page: --offset {next}")
    } else {
        format!("{count} {kind}(s)")
    }
}

fn vault_status(b: &pb::Billing) -> String {
    enum_name(b.status().as_str_name(), "VAULT_STATUS_")
}

fn vault_row(v: &pb::Vault) -> Vec<String> {
    let b = v.billing.clone().unwrap_or_default();
    vec![
        v.id.clone(),
        v.name.clone(),
        paint(&vault_status(&b)),
        enum_name(b.object_type().as_str_name(), "OBJECT_TYPE_"),
        format!("{} MB", b.used),
        format!("{} GB", b.size),
        v.resources.len().to_string(),
    ]
}

fn policy_type(p: &pb::Policy) -> String {
    enum_name(p.operation_type().as_str_name(), "POLICY_OPERATION_TYPE_")
}

fn schedule(p: &pb::Policy) -> String {
    p.trigger
        .as_ref()
        .and_then(|t| t.properties.as_ref())
        .map(|props| props.pattern.join(" | "))
        .unwrap_or_default()
}

fn policy_row(p: &pb::Policy) -> Vec<String> {
    vec![
        p.id.clone(),
        p.name.clone(),
        policy_type(p),
        if p.enabled { "yes" } else { "no" }.into(),
        schedule(p),
        p.associated_vaults
            .iter()
            .map(|v| v.vault_id.as_str())
            .collect::<Vec<_>>()
            .join(","),
    ]
}

fn operation_type(o: &pb::OperationLog) -> String {
    enum_name(o.operation_type().as_str_name(), "OPERATION_TYPE_")
}

fn operation_status(o: &pb::OperationLog) -> String {
    enum_name(o.status().as_str_name(), "OPERATION_LOG_STATUS_")
}

fn progress(o: &pb::OperationLog) -> String {
    o.extra_info
        .as_ref()
        .and_then(|e| e.common.as_ref())
        .map_or_else(String::new, |c| format!("{}%", c.progress))
}

fn operation_row(o: &pb::OperationLog) -> Vec<String> {
    let resource = o
        .extra_info
        .as_ref()
        .and_then(|e| e.resource.as_ref())
        .map(|r| {
            r.name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| r.id.clone())
        })
        .unwrap_or_default();
    vec![
        o.id.clone(),
        operation_type(o),
        paint(&operation_status(o)),
        progress(o),
        resource,
        if o.vault_name.is_empty() {
            o.vault_id.clone()
        } else {
            o.vault_name.clone()
        },
        time(o.started_at.as_ref()),
        time(o.ended_at.as_ref()),
    ]
}
