//! `cbr-gateway checkpoint|backups|backup|checkpoint-item|vaults|vault|policies|
//! policy|operations|operation …`: a command-line
//! client of the gateway's own gRPC API, for people and for scripts.
//!
//! It is a plain gRPC client, exactly what any other caller uses:
//!
//! - `connect`: the channel to `--gateway` (plaintext or TLS/mTLS), the
//!   `x-auth-token` from `CBR_AUTH_TOKEN`, deadlines on unary calls;
//! - [`run`] (here): one function per command, each a call and its output;
//! - `lifecycle`: the vault, policy and operation-log reads (`vaults`,
//!   `vault`, `policies`, `policy`, `operations`, `operation`) and the vault
//!   look-up behind `checkpoint create --vault-name`, kept apart so that this
//!   file stays the checkpoint and backup commands;
//! - `render`: text for people (key/value blocks, tables on a terminal,
//!   tab-separated rows otherwise) and [`json`]: protobuf JSON (NDJSON for
//!   streams), the same mapping grpcurl prints;
//! - `live`: `checkpoint watch` and `checkpoint create --watch`: progress bars
//!   on a terminal, one plain line per change otherwise, a summary, and the exit
//!   code of the checkpoint's fate;
//! - `operations`: `backup restore`, `backup delete`, `operation wait`,
//!   `operation get NAME` and `operation list`:
//!   long-running operations followed live (WatchOperation) or waited for
//!   (WaitOperation);
//! - `error`: every failure as one or two readable lines and an exit code.
//!
//! Exit codes: 0 success (a watched checkpoint ended `available`, a followed
//! operation succeeded), 1 a call failed, 2 bad usage, 3 the watched
//! checkpoint ended in `error`, `deleted` or `error-deleting`, or the followed
//! operation failed, 130 interrupted.

pub(crate) mod connect;
pub(crate) mod error;
pub mod json;
mod lifecycle;
pub(crate) mod live;
mod operations;
pub(crate) mod render;

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Subcommand, ValueEnum};
use prost_types::Timestamp;

pub use self::error::CliError;
pub use self::lifecycle::{
    CloudTypeArg, LongRunningListArgs, ObjectTypeArg, OperationArgs, OperationCommand,
    OperationListArgs, OperationStatusArg, OperationTypeArg, OperationsArgs, OperationsCommand,
    PoliciesArgs, PoliciesCommand, PolicyArgs, PolicyCommand, PolicyListArgs,
    PolicyOperationTypeArg, ProtectTypeArg, VaultArgs, VaultCommand, VaultListArgs, VaultStatusArg,
    VaultsArgs, VaultsCommand,
};
use self::{
    connect::Connection,
    live::{Outcome, WatchTarget},
    render::Out,
};
use crate::proto as pb;

/// Printed under every client command's `--help`.
const CLIENT_HELP: &str = "\
Environment:
  CBR_AUTH_TOKEN  IAM token sent as x-auth-token (the gateway then calls the cloud as its owner);
                  unset: the gateway uses its own credentials

Exit codes: 0 success (a watched checkpoint ended available, a followed restore or deletion
            succeeded), 1 a call failed, 2 bad usage, 3 the watched checkpoint ended in error (or
            was deleted) or the followed restore or deletion failed, 130 interrupted";

/// The client's subcommands, flattened into the binary's command list.
// Parsed once at start: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// Create, read and watch checkpoints (one backup run of a vault's resources).
    #[command(after_help = CLIENT_HELP)]
    Checkpoint(CheckpointArgs),
    /// List backups: one page, or every match as a stream (`--all`).
    #[command(after_help = CLIENT_HELP)]
    Backups(BackupsArgs),
    /// Read one backup.
    #[command(after_help = CLIENT_HELP)]
    Backup(BackupArgs),
    /// Read one checkpoint item (CSBS v1 backup).
    #[command(name = "checkpoint-item", after_help = CLIENT_HELP)]
    CheckpointItem(CheckpointItemArgs),
    /// List vaults: where backups are kept, what they protect, what they use.
    #[command(after_help = CLIENT_HELP)]
    Vaults(VaultsArgs),
    /// Read one vault.
    #[command(after_help = CLIENT_HELP)]
    Vault(VaultArgs),
    /// List backup and replication policies.
    #[command(after_help = CLIENT_HELP)]
    Policies(PoliciesArgs),
    /// Read one policy.
    #[command(after_help = CLIENT_HELP)]
    Policy(PolicyArgs),
    /// List operation logs: CBR's tasks (backups, restores, deletions, …).
    #[command(after_help = CLIENT_HELP)]
    Operations(OperationsArgs),
    /// Read one operation log, or a restore or deletion by its operation
    /// name; list restores and deletions; wait for one to end.
    #[command(after_help = CLIENT_HELP)]
    Operation(OperationArgs),
}

/// How to reach the gateway and how to print; every client command takes them,
/// before or after its subcommand.
#[derive(Debug, Clone, Args)]
pub struct ClientOptions {
    /// Gateway address: `http://host:port`, or `https://host:port` for TLS.
    #[arg(long, env = "CBR_GATEWAY_ADDR", default_value = "http://127.0.0.1:50051",
          value_parser = connect::parse_gateway, global = true)]
    pub gateway: http::Uri,

    /// CA certificate (PEM) that signed the gateway's certificate; without it,
    /// the system's roots. Needs an `https://` address.
    #[arg(long, env = "CBR_GATEWAY_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,

    /// Client certificate (PEM), for a gateway that requires mutual TLS.
    #[arg(
        long,
        env = "CBR_GATEWAY_CLIENT_CERT",
        requires = "client_key",
        global = true
    )]
    pub client_cert: Option<PathBuf>,

    /// Private key (PEM) of `--client-cert`.
    #[arg(
        long,
        env = "CBR_GATEWAY_CLIENT_KEY",
        requires = "client_cert",
        global = true
    )]
    pub client_key: Option<PathBuf>,

    /// Name to verify in the gateway's certificate, when it is not the address' host.
    #[arg(long, env = "CBR_GATEWAY_TLS_SERVER_NAME", global = true)]
    pub tls_server_name: Option<String>,

    /// Project to act in; unset, the gateway's configured project.
    #[arg(
        long,
        env = "CBR_PROJECT_ID",
        default_value = "",
        hide_default_value = true,
        global = true
    )]
    pub project_id: String,

    /// Region to act in, e.g. `ap-southeast-3` (sent as `x-cbr-region`);
    /// unset, the gateway's default region.
    #[arg(long, env = "CBR_REGION", global = true)]
    pub region: Option<String>,

    /// Output: `text` (tables and progress bars on a terminal, plain lines
    /// otherwise) or `json` (protobuf JSON, as grpcurl prints it; one message per
    /// line for streams).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub output: OutputFormat,

    /// Deadline of each unary call (watches and streams run until they end).
    #[arg(long, default_value = "30s", value_parser = crate::config::parse_duration,
          global = true)]
    pub timeout: Duration,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: tables and progress bars on a terminal, plain lines otherwise.
    Text,
    /// Protobuf JSON; NDJSON (one message per line) for streams.
    Json,
}

/// `cbr-gateway checkpoint …`.
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: CheckpointCommand,
}

/// Checkpoint operations.
#[derive(Debug, Clone, Subcommand)]
pub enum CheckpointCommand {
    /// Back up a vault's resources (all of them, or those named by --resource).
    #[command(after_help = CLIENT_HELP)]
    Create(CreateArgs),
    /// Read a checkpoint.
    #[command(after_help = CLIENT_HELP)]
    Get {
        /// Checkpoint ID.
        id: String,
    },
    /// Follow a checkpoint until it ends: progress bars on a terminal, one line
    /// per change otherwise. Exits 0 when it ends available, 3 on error.
    #[command(after_help = CLIENT_HELP)]
    Watch {
        /// Checkpoint ID.
        id: String,
        /// Also follow its backups (status and progress of each).
        #[arg(long)]
        backups: bool,
    },
}

/// `checkpoint create`. The vault is named by exactly one of `--vault` and
/// `--vault-name` (one clap group, so that a usage error names both).
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("which_vault").required(true).args(["vault", "vault_name"])))]
pub struct CreateArgs {
    /// Vault whose resources to back up, by ID.
    #[arg(long, value_name = "VAULT_ID")]
    pub vault: Option<String>,
    /// Vault whose resources to back up, by name (resolved with ListVaults;
    /// exactly one vault must have it).
    #[arg(long, value_name = "NAME")]
    pub vault_name: Option<String>,
    /// A resource to back up, as `ID:TYPE` (e.g. `…:OS::Nova::Server`); repeat
    /// for several. None: every resource of the vault.
    #[arg(long = "resource", value_name = "ID:TYPE", value_parser = parse_resource)]
    pub resources: Vec<pb::Resource>,
    /// Name of the backups (upstream generates one when unset).
    #[arg(long)]
    pub name: Option<String>,
    /// Description of the backups.
    #[arg(long)]
    pub description: Option<String>,
    /// Full backup instead of an incremental one.
    #[arg(long)]
    pub full: bool,
    /// Keep the backups this many days (upstream's vault policy when unset).
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<i32>,
    /// Idempotency key (a UUID): repeating the command with it returns the first
    /// checkpoint instead of starting another backup.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Then follow the checkpoint and its backups until it ends, as `checkpoint watch --backups`.
    #[arg(long)]
    pub watch: bool,
}

/// `cbr-gateway backups …`.
#[derive(Debug, Clone, Args)]
pub struct BackupsArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: BackupsCommand,
}

/// Backup listing.
#[derive(Debug, Clone, Subcommand)]
pub enum BackupsCommand {
    /// List backups matching every filter given.
    #[command(after_help = CLIENT_HELP)]
    List(ListArgs),
}

/// `backups list`: every ListBackups filter as a flag.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Every match, streamed page by page (StreamBackups) instead of one page.
    #[arg(long, conflicts_with_all = ["limit", "marker"])]
    pub all: bool,
    /// With --all: backups fetched per upstream page.
    #[arg(long, requires = "all")]
    pub page_size: Option<i32>,
    /// Backups per page (1–1000; upstream's default when unset).
    #[arg(long)]
    pub limit: Option<i32>,
    /// Backups to skip.
    #[arg(long)]
    pub offset: Option<i32>,
    /// ID of the last backup of the previous page.
    #[arg(long)]
    pub marker: Option<String>,
    /// Backups of this checkpoint.
    #[arg(long)]
    pub checkpoint_id: Option<String>,
    /// Backups in this vault.
    #[arg(long)]
    pub vault_id: Option<String>,
    /// Backups of this resource.
    #[arg(long)]
    pub resource_id: Option<String>,
    /// Backups of resources with this name.
    #[arg(long)]
    pub resource_name: Option<String>,
    /// Resource type, e.g. `OS::Nova::Server`, `OS::Cinder::Volume`.
    #[arg(long)]
    pub resource_type: Option<String>,
    /// Availability zone of the resource.
    #[arg(long)]
    pub resource_az: Option<String>,
    /// Backup name.
    #[arg(long)]
    pub name: Option<String>,
    /// Backups whose parent is this backup.
    #[arg(long)]
    pub parent_id: Option<String>,
    /// Enterprise project (`0` is the default one, `all_granted_eps` all).
    #[arg(long)]
    pub enterprise_project_id: Option<String>,
    /// Status; repeat or separate with commas for several.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<BackupStatusArg>,
    /// Backup or replica.
    #[arg(long, value_enum)]
    pub image_type: Option<ImageTypeArg>,
    /// Ownership of shared backups.
    #[arg(long, value_enum)]
    pub own_type: Option<OwnTypeArg>,
    /// Sharing status.
    #[arg(long, value_enum)]
    pub member_status: Option<MemberStatusArg>,
    /// Created at or after this time (RFC 3339, e.g. `2026-11-01T00:00:00Z`).
    #[arg(long, value_parser = parse_time)]
    pub start_time: Option<Timestamp>,
    /// Created at or before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub end_time: Option<Timestamp>,
    /// Sort order, `key:asc|desc` (e.g. `created_at:desc`).
    #[arg(long)]
    pub sort: Option<String>,
    /// Backups of dedicated-cloud resources.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub dec: Option<bool>,
    /// Include replication records.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub show_replication: Option<bool>,
    /// Incremental (`true`) or full (`false`) backups only.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub incremental: Option<bool>,
    /// Automatic backups a policy keeps by count or forever (`true`), or by
    /// number of days (`false`), only.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub existed_quantity_based_retention_backups: Option<bool>,
    /// Backups of resources whose used capacity is at least this percentage.
    #[arg(long)]
    pub used_percent: Option<i32>,
}

/// `--status` values, as upstream spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum BackupStatusArg {
    Available,
    Protecting,
    Deleting,
    Restoring,
    Error,
    WaitingProtect,
    WaitingDelete,
    WaitingRestore,
}

/// `--image-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum ImageTypeArg {
    Backup,
    Replication,
}

/// `--own-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum OwnTypeArg {
    AllGranted,
    Private,
    Shared,
}

/// `--member-status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum MemberStatusArg {
    Pending,
    Accepted,
    Rejected,
}

impl From<BackupStatusArg> for pb::BackupStatus {
    fn from(s: BackupStatusArg) -> Self {
        use BackupStatusArg as A;
        match s {
            A::Available => Self::Available,
            A::Protecting => Self::Protecting,
            A::Deleting => Self::Deleting,
            A::Restoring => Self::Restoring,
            A::Error => Self::Error,
            A::WaitingProtect => Self::WaitingProtect,
            A::WaitingDelete => Self::WaitingDelete,
            A::WaitingRestore => Self::WaitingRestore,
        }
    }
}

impl From<ImageTypeArg> for pb::ImageType {
    fn from(t: ImageTypeArg) -> Self {
        match t {
            ImageTypeArg::Backup => Self::Backup,
            ImageTypeArg::Replication => Self::Replication,
        }
    }
}

impl From<OwnTypeArg> for pb::OwnType {
    fn from(t: OwnTypeArg) -> Self {
        match t {
            OwnTypeArg::AllGranted => Self::AllGranted,
            OwnTypeArg::Private => Self::Private,
            OwnTypeArg::Shared => Self::Shared,
        }
    }
}

impl From<MemberStatusArg> for pb::MemberStatus {
    fn from(s: MemberStatusArg) -> Self {
        match s {
            MemberStatusArg::Pending => Self::Pending,
            MemberStatusArg::Accepted => Self::Accepted,
            MemberStatusArg::Rejected => Self::Rejected,
        }
    }
}

/// `cbr-gateway backup …`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: BackupCommand,
}

/// Backup operations.
#[derive(Debug, Clone, Subcommand)]
pub enum BackupCommand {
    /// Read a backup.
    #[command(after_help = CLIENT_HELP)]
    Get {
        /// Backup ID.
        id: String,
    },
    /// Restore a backup: onto a server (--server, with one --mapping per
    /// disk), a disk (--volume), another resource (--resource) or a directory
    /// (--destination-path). Prints the operation (its name first); --watch
    /// follows it. Exits 0 when it succeeded, 3 when it failed.
    #[command(after_help = CLIENT_HELP)]
    Restore(RestoreArgs),
    /// Delete a backup. Prints the operation; --wait waits until the backup
    /// is gone. Exits 0 when it is, 3 when the deletion failed.
    #[command(after_help = CLIENT_HELP)]
    Delete {
        /// Backup ID.
        #[arg(value_name = "BACKUP_ID")]
        id: String,
        /// Idempotency key (a UUID): repeating the command with it returns the
        /// first deletion's operation.
        #[arg(long)]
        request_id: Option<String>,
        /// Then wait until the deletion has ended (WaitOperation).
        #[arg(long)]
        wait: bool,
    },
}

/// `backup restore`: every field of upstream's restore body as a flag.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore (a server or disk backup).
    #[arg(value_name = "BACKUP_ID")]
    pub id: String,
    /// Server to restore onto (server backups; needs --mapping).
    #[arg(long, value_name = "SERVER_ID")]
    pub server: Option<String>,
    /// One disk of a server restore: a disk backup of BACKUP_ID (`backup get`
    /// lists them as its children) and the server's disk it overwrites.
    /// Repeat for every disk.
    #[arg(long = "mapping", value_name = "DISK_BACKUP_ID:VOLUME_ID", value_parser = operations::parse_mapping)]
    pub mappings: Vec<pb::BackupRestoreServerMapping>,
    /// Disk to restore onto (disk backups).
    #[arg(long, value_name = "VOLUME_ID")]
    pub volume: Option<String>,
    /// Resource to restore onto (neither server nor disk backups, e.g. a
    /// Workspace desktop).
    #[arg(long, value_name = "RESOURCE_ID")]
    pub resource: Option<String>,
    /// Directory to restore files into (file backups).
    #[arg(long, value_name = "PATH")]
    pub destination_path: Option<String>,
    /// Start the server afterwards (upstream's default when neither flag is given).
    #[arg(long, conflicts_with = "no_power_on")]
    pub power_on: bool,
    /// Leave the server stopped afterwards.
    #[arg(long)]
    pub no_power_on: bool,
    /// Idempotency key (a UUID): repeating the command with it returns the
    /// first restore's operation instead of starting another.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Then follow the restore to its end (WatchOperation), live.
    #[arg(long)]
    pub watch: bool,
}

/// `cbr-gateway checkpoint-item …`.
#[derive(Debug, Clone, Args)]
pub struct CheckpointItemArgs {
    /// Connection and output.
    #[command(flatten)]
    pub client: ClientOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: CheckpointItemCommand,
}

/// Checkpoint item operations.
#[derive(Debug, Clone, Subcommand)]
pub enum CheckpointItemCommand {
    /// Read a checkpoint item.
    #[command(after_help = CLIENT_HELP)]
    Get {
        /// Checkpoint item ID.
        id: String,
    },
}

/// `--resource ID:TYPE`. The type itself contains colons (`OS::Nova::Server`),
/// so the ID ends at the first one.
fn parse_resource(raw: &str) -> Result<pb::Resource, String> {
    match raw.split_once(':') {
        Some((id, kind)) if !id.is_empty() && !kind.is_empty() => Ok(pb::Resource {
            id: id.to_owned(),
            r#type: kind.to_owned(),
            ..Default::default()
        }),
        _ => Err(
            "expected ID:TYPE, e.g. 94eba8b2-acc9-4d82-badc-127144cc5526:OS::Nova::Server".into(),
        ),
    }
}

/// An RFC 3339 time as a protobuf timestamp.
fn parse_time(raw: &str) -> Result<Timestamp, String> {
    let t = chrono::DateTime::parse_from_rfc3339(raw)
        .map_err(|e| format!("{e}: expected RFC 3339, e.g. 2026-11-01T00:00:00Z"))?;
    Ok(Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

/// Runs one client command and returns the process' exit code; failures are
/// printed to stderr as one or two readable lines.
pub async fn run(command: ClientCommand) -> ExitCode {
    crate::install_crypto_provider();
    let result = match command {
        ClientCommand::Checkpoint(a) => checkpoint(a).await,
        ClientCommand::Backups(a) => backups(a).await,
        ClientCommand::Backup(a) => backup(a).await,
        ClientCommand::CheckpointItem(a) => checkpoint_item(a).await,
        ClientCommand::Vaults(a) => lifecycle::vaults(a).await,
        ClientCommand::Vault(a) => lifecycle::vault(a).await,
        ClientCommand::Policies(a) => lifecycle::policies(a).await,
        ClientCommand::Policy(a) => lifecycle::policy(a).await,
        ClientCommand::Operations(a) => lifecycle::operations(a).await,
        ClientCommand::Operation(a) => lifecycle::operation(a).await,
    };
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{}", e.report());
            ExitCode::from(e.exit_code())
        }
    }
}

async fn checkpoint(args: CheckpointArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    match args.command {
        CheckpointCommand::Create(create) => {
            let watch = create.watch;
            let request = create_request(&conn, create).await?;
            let response = conn
                .checkpoints()
                .create_checkpoint(conn.unary(request))
                .await
                .map_err(CliError::call)?
                .into_inner();
            let checkpoint = response.checkpoint.clone().unwrap_or_default();
            if watch {
                out.created(&response)?;
                live::watch(
                    &conn,
                    &mut out,
                    WatchTarget {
                        id: checkpoint.id,
                        include_backups: true,
                    },
                )
                .await
            } else {
                out.checkpoint(&response, &checkpoint)?;
                out.hint(&format!(
                    "follow it: cbr-gateway checkpoint watch {} --backups",
                    checkpoint.id
                ));
                Ok(Outcome::Done)
            }
        }
        CheckpointCommand::Get { id } => {
            let request = pb::GetCheckpointRequest {
                project_id: conn.project_id.clone(),
                checkpoint_id: id,
                region: String::new(),
            };
            let response = conn
                .checkpoints()
                .get_checkpoint(conn.unary(request))
                .await
                .map_err(CliError::call)?
                .into_inner();
            let checkpoint = response.checkpoint.clone().unwrap_or_default();
            out.checkpoint(&response, &checkpoint)?;
            Ok(Outcome::Done)
        }
        CheckpointCommand::Watch { id, backups } => {
            live::watch(
                &conn,
                &mut out,
                WatchTarget {
                    id,
                    include_backups: backups,
                },
            )
            .await
        }
    }
}

async fn create_request(
    conn: &Connection,
    a: CreateArgs,
) -> Result<pb::CreateCheckpointRequest, CliError> {
    let vault_id = match (a.vault, &a.vault_name) {
        (Some(id), None) => id,
        (None, Some(name)) => lifecycle::vault_named(conn, name).await?,
        // clap's group admits exactly one of them.
        _ => {
            return Err(CliError::Usage(
                "give exactly one of --vault and --vault-name".into(),
            ));
        }
    };
    Ok(pb::CreateCheckpointRequest {
        project_id: conn.project_id.clone(),
        vault_id,
        parameters: Some(pb::CheckpointParameters {
            description: a.description,
            incremental: a.full.then_some(false),
            name: a.name,
            resource_details: a.resources,
            retention_duration_days: a.retention_days,
            ..Default::default()
        }),
        request_id: a.request_id.unwrap_or_default(),
        region: String::new(),
    })
}

async fn backups(args: BackupsArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let BackupsCommand::List(list) = args.command;
    if list.all {
        let request = stream_request(&conn, list);
        let mut stream = conn
            .backups()
            .stream_backups(conn.streaming(request))
            .await
            .map_err(CliError::call)?
            .into_inner();
        let mut table = out.backup_table()?;
        while let Some(message) = stream.message().await.map_err(CliError::call)? {
            table.row(&mut out, &message)?;
        }
        table.finish(&mut out)?;
    } else {
        let request = list_request(&conn, list);
        let response = conn
            .backups()
            .list_backups(conn.unary(request))
            .await
            .map_err(CliError::call)?
            .into_inner();
        out.backup_page(&response)?;
    }
    Ok(Outcome::Done)
}

fn list_request(conn: &Connection, a: ListArgs) -> pb::ListBackupsRequest {
    pb::ListBackupsRequest {
        project_id: conn.project_id.clone(),
        checkpoint_id: a.checkpoint_id.unwrap_or_default(),
        dec: a.dec,
        end_time: a.end_time,
        image_type: a.image_type.map_or(0, |t| pb::ImageType::from(t) as i32),
        limit: a.limit,
        marker: a.marker.unwrap_or_default(),
        name: a.name.unwrap_or_default(),
        offset: a.offset,
        resource_az: a.resource_az.unwrap_or_default(),
        resource_id: a.resource_id.unwrap_or_default(),
        resource_name: a.resource_name.unwrap_or_default(),
        resource_type: a.resource_type.unwrap_or_default(),
        sort: a.sort.unwrap_or_default(),
        start_time: a.start_time,
        status: a
            .status
            .into_iter()
            .map(|s| pb::BackupStatus::from(s) as i32)
            .collect(),
        vault_id: a.vault_id.unwrap_or_default(),
        enterprise_project_id: a.enterprise_project_id.unwrap_or_default(),
        own_type: a.own_type.map_or(0, |t| pb::OwnType::from(t) as i32),
        member_status: a
            .member_status
            .map_or(0, |s| pb::MemberStatus::from(s) as i32),
        parent_id: a.parent_id.unwrap_or_default(),
        used_percent: a.used_percent,
        show_replication: a.show_replication,
        incremental: a.incremental,
        existed_quantity_based_retention_backups: a.existed_quantity_based_retention_backups,
        region: String::new(),
    }
}

fn stream_request(conn: &Connection, a: ListArgs) -> pb::StreamBackupsRequest {
    // One mapping of the filters: the stream takes the list's, paged by --page-size.
    let page_size = a.page_size;
    pb::ListBackupsRequest {
        limit: page_size,
        ..list_request(conn, a)
    }
    .into_stream()
}

async fn backup(args: BackupArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let id = match args.command {
        BackupCommand::Get { id } => id,
        BackupCommand::Restore(r) => {
            let restore = operations::Restore {
                backup_id: r.id,
                restore: pb::BackupRestore {
                    server_id: r.server.unwrap_or_default(),
                    mappings: r.mappings,
                    volume_id: r.volume.unwrap_or_default(),
                    resource_id: r.resource.unwrap_or_default(),
                    power_on: match (r.power_on, r.no_power_on) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                    details: r
                        .destination_path
                        .map(|destination_path| pb::RestoreDetails { destination_path }),
                },
                request_id: r.request_id,
                watch: r.watch,
            };
            return operations::restore(&conn, &mut out, restore).await;
        }
        BackupCommand::Delete {
            id,
            request_id,
            wait,
        } => return operations::delete(&conn, &mut out, id, request_id, wait).await,
    };
    let request = pb::GetBackupRequest {
        project_id: conn.project_id.clone(),
        backup_id: id,
        region: String::new(),
    };
    let response = conn
        .backups()
        .get_backup(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    out.backup(&response)?;
    Ok(Outcome::Done)
}

async fn checkpoint_item(args: CheckpointItemArgs) -> Result<Outcome, CliError> {
    let conn = Connection::open(&args.client).await?;
    let mut out = Out::stdout(args.client.output);
    let CheckpointItemCommand::Get { id } = args.command;
    let request = pb::GetCheckpointItemRequest {
        project_id: conn.project_id.clone(),
        checkpoint_item_id: id,
        region: String::new(),
    };
    let response = conn
        .checkpoint_items()
        .get_checkpoint_item(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    out.checkpoint_item(&response)?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_splits_at_the_first_colon() {
        let r = parse_resource("94eba8b2-acc9-4d82-badc-127144cc5526:OS::Nova::Server").unwrap();
        assert_eq!(r.id, "94eba8b2-acc9-4d82-badc-127144cc5526");
        assert_eq!(r.r#type, "OS::Nova::Server");
        for bad in ["", "id", "id:", ":OS::Nova::Server"] {
            assert!(parse_resource(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_are_rfc3339() {
        let t = parse_time("2026-11-01T01:02:03.5+01:00").unwrap();
        assert_eq!((t.seconds, t.nanos), (1_793_491_323, 500_000_000));
        assert!(parse_time("yesterday").is_err());
    }
}
