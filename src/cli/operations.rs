//! `backup restore`, `backup delete`, `operation wait`, `operation get NAME`
//! and `operation list`: long-running operations (RestoreBackup,
//! DeleteBackup, google.longrunning.Operations).
//!
//! Each command prints the operation first (its name is what to keep), then,
//! when asked to, follows it to its end:
//!
//! - `--watch` follows WatchOperation: a live line with a progress bar on a
//!   terminal, one plain line per change otherwise, every stream message as
//!   protobuf JSON with `--output json`; a stream the gateway cut (restart,
//!   drain) is re-opened, as `checkpoint watch` does;
//! - `--wait` and `operation wait` call WaitOperation until the operation is
//!   done (each call returns when it is, or after a minute with the latest
//!   state), then print it.
//!
//! Exit codes as for checkpoints: 0 done and succeeded, 3 done and failed
//! (the error is printed with upstream's code), 1 a call failed, 2 usage,
//! 130 interrupted.

use std::time::Duration;

use prost::Message as _;
use tonic::Code;

use super::{
    CliError, OutputFormat,
    connect::Connection,
    live::{Outcome, human, reconnectable, reopen},
    render::{Out, enum_name, time},
};
use crate::proto::{self as pb, google::longrunning as lro};

/// Longest a single WaitOperation call waits before answering: short enough
/// that a gateway going away is noticed, long enough to be cheap.
const WAIT_ROUND: Duration = Duration::from_secs(60);

/// The arguments of `backup restore`, checked by the gateway.
pub(crate) struct Restore {
    pub backup_id: String,
    pub restore: pb::BackupRestore,
    pub request_id: Option<String>,
    pub watch: bool,
}

/// `backup restore`.
pub(crate) async fn restore(
    conn: &Connection,
    out: &mut Out,
    r: Restore,
) -> Result<Outcome, CliError> {
    let request = pb::RestoreBackupRequest {
        project_id: conn.project_id.clone(),
        backup_id: r.backup_id,
        restore: Some(r.restore),
        request_id: r.request_id.unwrap_or_default(),
        region: String::new(),
    };
    let op = conn
        .backups()
        .restore_backup(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    started(conn, out, op, r.watch, false).await
}

/// `backup delete`.
pub(crate) async fn delete(
    conn: &Connection,
    out: &mut Out,
    backup_id: String,
    request_id: Option<String>,
    wait: bool,
) -> Result<Outcome, CliError> {
    let request = pb::DeleteBackupRequest {
        project_id: conn.project_id.clone(),
        backup_id,
        request_id: request_id.unwrap_or_default(),
        region: String::new(),
    };
    let op = conn
        .backups()
        .delete_backup(conn.unary(request))
        .await
        .map_err(CliError::call)?
        .into_inner();
    started(conn, out, op, false, wait).await
}

/// The operation a command started: printed, then followed as asked.
async fn started(
    conn: &Connection,
    out: &mut Out,
    op: lro::Operation,
    watch: bool,
    wait: bool,
) -> Result<Outcome, CliError> {
    if watch {
        if out.format == OutputFormat::Json {
            out.json(&op)?;
        } else {
            out.line(&op.name)?;
        }
        return follow(conn, out, op.name).await;
    }
    if wait {
        if out.format == OutputFormat::Text {
            out.line(&op.name)?;
        }
        return wait_for(conn, out, op.name, None).await;
    }
    print(out, &op)?;
    out.hint(&format!(
        "follow it: cbr-gateway operation wait {}",
        op.name
    ));
    Ok(ended(&op))
}

/// `operation wait NAME`: WaitOperation until done (or `--timeout`), then the
/// operation.
pub(crate) async fn wait_for(
    conn: &Connection,
    out: &mut Out,
    name: String,
    timeout: Option<Duration>,
) -> Result<Outcome, CliError> {
    let until = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut failures = 0u32;
    loop {
        let round = until.map_or(WAIT_ROUND, |u| {
            u.saturating_duration_since(tokio::time::Instant::now())
                .min(WAIT_ROUND)
        });
        let request = lro::WaitOperationRequest {
            name: name.clone(),
            timeout: prost_types::Duration::try_from(round).ok(),
        };
        // The call's own deadline leaves the gateway time to answer with
        // the latest state rather than run into it.
        let mut request = conn.streaming(request);
        request.set_timeout(round + Duration::from_secs(10));
        match conn.operations().wait_operation(request).await {
            Ok(response) => {
                failures = 0;
                let op = response.into_inner();
                let over = until.is_some_and(|u| tokio::time::Instant::now() >= u);
                if op.done || over {
                    print(out, &op)?;
                    if !op.done {
                        eprintln!(
                            "not done after {}",
                            humantime::format_duration(timeout.unwrap_or_default())
                        );
                        return Err(CliError::OperationUnfinished(op.name));
                    }
                    return Ok(ended(&op));
                }
            }
            // The gateway went away (restart, drain): ask again, a few times.
            Err(status) if reconnectable(&status) && failures < 6 => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(250) * 2u32.pow(failures)).await;
            }
            Err(status) => return Err(CliError::call(status)),
        }
    }
}

/// `operation get NAME`: GetOperation. A read: exit 0 whatever the
/// operation's state (its error, if any, is in what is printed).
pub(crate) async fn get(
    conn: &Connection,
    out: &mut Out,
    name: String,
) -> Result<Outcome, CliError> {
    let op = conn
        .operations()
        .get_operation(conn.unary(lro::GetOperationRequest { name }))
        .await
        .map_err(CliError::call)?
        .into_inner();
    print(out, &op)?;
    Ok(Outcome::Done)
}

const LIST_COLUMNS: &[&str] = &[
    "NAME", "TYPE", "STATUS", "PROGRESS", "BACKUP", "TARGET", "DONE",
];

/// Most pages `operation list --all` reads: a gateway handing out tokens
/// without end must not keep the command running forever.
const MAX_PAGES: usize = 10_000;

/// `operation list`: one page of ListOperations, or every page (`--all`).
pub(crate) async fn list(
    conn: &Connection,
    out: &mut Out,
    a: super::LongRunningListArgs,
) -> Result<Outcome, CliError> {
    let mut request = lro::ListOperationsRequest {
        // Empty: the gateway's configured project, as every other command.
        name: if conn.project_id.is_empty() {
            String::new()
        } else {
            format!("projects/{}/operations", conn.project_id)
        },
        filter: a.filter.unwrap_or_default(),
        page_size: a.page_size.unwrap_or(0),
        page_token: a.page_token.unwrap_or_default(),
        return_partial_success: false,
    };
    if !a.all {
        let page = conn
            .operations()
            .list_operations(conn.unary(request))
            .await
            .map_err(CliError::call)?
            .into_inner();
        let rows: Vec<Vec<String>> = page.operations.iter().map(list_row).collect();
        let hint = if page.next_page_token.is_empty() {
            format!("{} operation(s)", rows.len())
        } else {
            format!(
                "{} operation(s); next page: --page-token {}",
                rows.len(),
                page.next_page_token
            )
        };
        out.page(&page, LIST_COLUMNS, &rows, &hint)?;
        return Ok(Outcome::Done);
    }
    let mut rows = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = conn
            .operations()
            .list_operations(conn.unary(request.clone()))
            .await
            .map_err(CliError::call)?
            .into_inner();
        for op in &page.operations {
            if out.format == OutputFormat::Json {
                out.json(op)?;
            } else {
                rows.push(list_row(op));
            }
        }
        // The end, or a token that would read the same page again.
        if page.next_page_token.is_empty() || page.next_page_token == request.page_token {
            break;
        }
        request.page_token = page.next_page_token;
    }
    if out.format == OutputFormat::Text {
        out.rows(LIST_COLUMNS, &rows, &format!("{} operation(s)", rows.len()))?;
    }
    Ok(Outcome::Done)
}

fn list_row(op: &lro::Operation) -> Vec<String> {
    let m = metadata(op);
    vec![
        op.name.clone(),
        kind(&m).to_owned(),
        status(&m),
        m.progress.map_or(String::new(), |p| format!("{p}%")),
        m.backup_id.clone(),
        m.target_resource_id.clone(),
        if op.done { "yes" } else { "no" }.to_owned(),
    ]
}

/// WatchOperation to the end, shown live.
async fn follow(conn: &Connection, out: &mut Out, name: String) -> Result<Outcome, CliError> {
    // Registered before the first message is printed: a Ctrl-C right after it
    // must find the handler, not the default action.
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let interrupted = async move {
        match interrupt.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(interrupted);
    let bar = (out.format == OutputFormat::Text && out.interactive()).then(|| {
        let bar = indicatif::ProgressBar::new(100);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos:>3}% {msg} ({elapsed})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("waiting for {name}"));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    // Notices go to stderr above the bar, never through it.
    let notice = |text: &str| match &bar {
        Some(bar) => bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    };
    let abandon = || {
        if let Some(bar) = &bar {
            bar.abandon();
        }
    };
    let mut stream = subscribe(conn, &name).await.map_err(CliError::call)?;
    let mut last: Option<lro::Operation> = None;
    loop {
        tokio::select! {
            message = stream.message() => match message {
                Ok(Some(event)) => {
                    if out.format == OutputFormat::Json {
                        out.json(&event)?;
                    } else if event.kind() != pb::WatchEventKind::Heartbeat
                        && let Some(op) = &event.operation
                    {
                        match &bar {
                            Some(bar) => {
                                let m = metadata(op);
                                bar.set_position(u64::try_from(m.progress.unwrap_or(0).clamp(0, 100)).unwrap_or(0));
                                bar.set_message(bar_message(&m));
                            }
                            None => out.line(&progress_line(op, event.observed_at.as_ref()))?,
                        }
                    }
                    if let Some(op) = event.operation {
                        last = Some(op);
                    }
                }
                Ok(None) => break,
                // The gateway went away (restart, drain): the stream is
                // re-opened as `checkpoint watch` does; its first message
                // brings the view up to date.
                Err(status) if reconnectable(&status) => {
                    notice(&format!(
                        "watch interrupted ({}); reconnecting",
                        CliError::call(status).to_string().lines().next().unwrap_or_default()
                    ));
                    stream = match reopen(|| subscribe(conn, &name)).await {
                        Ok(s) => s,
                        Err(e) => {
                            abandon();
                            return Err(e);
                        }
                    };
                }
                Err(status) => {
                    abandon();
                    return Err(CliError::call(status));
                }
            },
            _ = &mut interrupted => {
                abandon();
                eprintln!("interrupted: the operation goes on; wait for it with: cbr-gateway operation wait {name}");
                return Ok(Outcome::Interrupted);
            }
        }
    }
    let Some(op) = last.filter(|op| op.done) else {
        abandon();
        return Err(CliError::OperationUnfinished(name));
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if out.format == OutputFormat::Text {
        out.line(&summary(&op))?;
    }
    Ok(ended(&op))
}

async fn subscribe(
    conn: &Connection,
    name: &str,
) -> Result<tonic::Streaming<pb::WatchOperationResponse>, tonic::Status> {
    let request = pb::WatchOperationRequest {
        name: name.to_owned(),
        region: String::new(),
    };
    Ok(conn
        .operation_logs()
        .watch_operation(conn.streaming(request))
        .await?
        .into_inner())
}

/// How a done operation ends the command: success, or its error printed
/// (with upstream's code, as any failed call) and exit 3.
fn ended(op: &lro::Operation) -> Outcome {
    match &op.result {
        Some(lro::operation::Result::Error(e)) => {
            let report = CliError::call(as_status(e)).to_string();
            eprintln!("{} failed: {report}", kind(&metadata(op)));
            Outcome::Failed(e.message.clone())
        }
        _ => Outcome::Done,
    }
}

/// The status carried in an operation's error, as the CLI reports a failed
/// call's (details decoded by the same code).
fn as_status(e: &crate::proto::google::rpc::Status) -> tonic::Status {
    tonic::Status::with_details(
        Code::from(e.code),
        e.message.clone(),
        e.encode_to_vec().into(),
    )
}

/// Upstream's error code (`BackupService.2008`) in an operation's error,
/// when its details carry one.
fn error_reason(e: &crate::proto::google::rpc::Status) -> Option<String> {
    use tonic_types::StatusExt;
    as_status(e)
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .filter(|r| !r.is_empty())
}

/// The operation's metadata; an unreadable one reads as empty (never a
/// panic on an odd answer).
fn metadata(op: &lro::Operation) -> pb::OperationMetadata {
    op.metadata
        .as_ref()
        .and_then(|any| pb::OperationMetadata::decode(any.value.as_slice()).ok())
        .unwrap_or_default()
}

fn kind(m: &pb::OperationMetadata) -> &'static str {
    match m.operation_type() {
        pb::OperationType::Restore => "restore",
        pb::OperationType::Delete => "delete",
        _ => "operation",
    }
}

fn status(m: &pb::OperationMetadata) -> String {
    enum_name(m.status().as_str_name(), "OPERATION_LOG_STATUS_")
}

/// One line per state: `restore running 35% backup … -> target … 12s`
/// (the run so far by upstream's clock, when its start is known).
fn progress_line(op: &lro::Operation, observed_at: Option<&prost_types::Timestamp>) -> String {
    let m = metadata(op);
    let progress = m.progress.map_or(String::new(), |p| format!(" {p}%"));
    let elapsed = elapsed(&m, observed_at).map_or(String::new(), |d| format!(" {}", human(d)));
    format!(
        "{} {}{progress} {}{elapsed}",
        kind(&m),
        status(&m),
        subject(&m)
    )
}

/// The bar's text: its percentage and clock are the bar's own.
fn bar_message(m: &pb::OperationMetadata) -> String {
    format!("{} {} {}", kind(m), status(m), subject(m))
}

/// `backup … -> target`.
fn subject(m: &pb::OperationMetadata) -> String {
    let target = if m.target_resource_id.is_empty() {
        String::new()
    } else {
        format!(" -> {}", m.target_resource_id)
    };
    format!("backup {}{target}", m.backup_id)
}

/// From upstream's start to its end, or to when the gateway last looked;
/// nothing when either is unknown or the clocks disagree.
fn elapsed(
    m: &pb::OperationMetadata,
    observed_at: Option<&prost_types::Timestamp>,
) -> Option<Duration> {
    let start = m.start_time.as_ref()?;
    let end = m.end_time.as_ref().or(observed_at)?;
    u64::try_from(end.seconds.checked_sub(start.seconds)?)
        .ok()
        .map(Duration::from_secs)
}

/// The last line: what ended, and how.
fn summary(op: &lro::Operation) -> String {
    let m = metadata(op);
    let how = match &op.result {
        Some(lro::operation::Result::Error(_)) => "failed",
        Some(lro::operation::Result::Response(_)) => "succeeded",
        None => "is not done",
    };
    format!("{} of backup {} {how}", kind(&m), m.backup_id)
}

/// An operation: protobuf JSON, or a `label  value` block.
fn print(out: &mut Out, op: &lro::Operation) -> Result<(), CliError> {
    let m = metadata(op);
    let mut rows = vec![
        ("operation", op.name.clone()),
        ("type", kind(&m).to_owned()),
        ("status", status(&m)),
        ("done", if op.done { "yes" } else { "no" }.to_owned()),
        ("backup", m.backup_id.clone()),
    ];
    if let Some(p) = m.progress {
        rows.push(("progress", format!("{p}%")));
    }
    if !m.target_resource_id.is_empty() {
        rows.push(("target", m.target_resource_id.clone()));
    }
    if !m.operation_log_id.is_empty() {
        rows.push(("operation log", m.operation_log_id.clone()));
    }
    rows.push(("started", time(m.start_time.as_ref())));
    if m.end_time.is_some() {
        rows.push(("ended", time(m.end_time.as_ref())));
    }
    if let Some(lro::operation::Result::Error(e)) = &op.result {
        rows.push(("error", e.message.clone()));
        if let Some(reason) = error_reason(e) {
            rows.push(("error code", reason));
        }
    }
    out.record(op, &rows, &[])
}

/// `--mapping DISK_BACKUP_ID:VOLUME_ID`.
pub(crate) fn parse_mapping(raw: &str) -> Result<pb::BackupRestoreServerMapping, String> {
    match raw.split_once(':') {
        Some((backup, volume)) if !backup.is_empty() && !volume.is_empty() && !volume.contains(':') => {
            Ok(pb::BackupRestoreServerMapping {
                backup_id: backup.to_owned(),
                volume_id: volume.to_owned(),
            })
        }
        _ => Err("expected DISK_BACKUP_ID:VOLUME_ID (a disk backup of the restored backup, and the server's disk it overwrites)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_two_non_empty_ids() {
        let m = parse_mapping("b1:v1").unwrap();
        assert_eq!((m.backup_id.as_str(), m.volume_id.as_str()), ("b1", "v1"));
        for bad in ["", "b1", "b1:", ":v1", "b1:v1:x"] {
            assert!(parse_mapping(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn odd_metadata_reads_as_empty() {
        let op = lro::Operation {
            name: "projects/p/operations/delete.b".into(),
            metadata: Some(prost_types::Any {
                type_url: "x".into(),
                value: vec![0xff, 0xff],
            }),
            done: false,
            result: None,
        };
        assert_eq!(progress_line(&op, None), "operation - backup ");
        assert_eq!(ended(&op), Outcome::Done);
    }
}
