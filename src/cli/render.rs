//! Output of the client's commands. `--output json` prints each response as
//! one line of protobuf JSON ([`super::json`]); text prints key/value blocks for
//! one object and tables for lists: aligned with a header on a terminal,
//! tab-separated without one otherwise (for `cut`/`awk`), never with escape
//! codes when stdout is not a terminal.

use std::io::{IsTerminal, Write};

use console::style;
use prost::{Message, Name};
use prost_types::Timestamp;

use super::{CliError, OutputFormat, json};
use crate::proto as pb;

/// A titled table inside a record: title, header, rows.
pub(crate) type SubTable<'a> = (&'a str, &'a [&'a str], Vec<Vec<String>>);

/// Where a command's output goes, and in what form.
pub(crate) struct Out {
    /// `--output`.
    pub format: OutputFormat,
    /// stdout is a terminal that can take escape codes (not `TERM=dumb`).
    pub terminal: bool,
    stdout: std::io::Stdout,
}

impl Out {
    /// Output to stdout, detecting whether it is a terminal.
    pub(crate) fn stdout(format: OutputFormat) -> Self {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Self {
            format,
            terminal,
            stdout,
        }
    }

    /// Text for people, with tables and progress bars (a terminal and `--output text`).
    pub(crate) fn interactive(&self) -> bool {
        self.terminal && self.format == OutputFormat::Text
    }

    /// Writes one line and flushes it, so that followers (`| tee`, logs) see
    /// each change as it happens.
    pub(crate) fn line(&mut self, text: &str) -> Result<(), CliError> {
        let mut w = self.stdout.lock();
        writeln!(w, "{text}")?;
        w.flush()?;
        Ok(())
    }

    /// One message as a line of protobuf JSON.
    pub(crate) fn json<M: Message + Name>(&mut self, message: &M) -> Result<(), CliError> {
        let line = json::to_line(message)?;
        self.line(&line)
    }

    /// A tip for the person at the terminal, on stderr; scripts never see it.
    pub(crate) fn hint(&self, text: &str) {
        if self.format == OutputFormat::Text && std::io::stderr().is_terminal() {
            eprintln!("{}", style(text).dim().for_stderr());
        }
    }

    /// The response of `checkpoint create --watch`, before the live view.
    pub(crate) fn created(
        &mut self,
        response: &pb::CreateCheckpointResponse,
    ) -> Result<(), CliError> {
        if self.format == OutputFormat::Json {
            return self.json(response);
        }
        let c = response.checkpoint.clone().unwrap_or_default();
        let vault = c.vault.unwrap_or_default();
        self.line(&format!(
            "checkpoint {} created in vault {}: {} resource(s)",
            c.id,
            or_id(&vault.name, &vault.id),
            vault.resources.len()
        ))
    }

    /// A checkpoint (`get`, `create`).
    pub(crate) fn checkpoint<M: Message + Name>(
        &mut self,
        response: &M,
        c: &pb::Checkpoint,
    ) -> Result<(), CliError> {
        if self.format == OutputFormat::Json {
            return self.json(response);
        }
        let vault = c.vault.clone().unwrap_or_default();
        let extra = c.extra_info.clone().unwrap_or_default();
        let mut text = block(&[
            ("checkpoint", c.id.clone()),
            ("status", paint(&checkpoint_status(c.status()))),
            ("name", extra.name),
            ("description", extra.description),
            ("vault", with_id(&vault.name, &vault.id)),
            ("project", c.project_id.clone()),
            ("created", time(c.created_at.as_ref())),
            (
                "retention",
                extra
                    .retention_duration
                    .map_or_else(String::new, |d| format!("{d} days")),
            ),
        ]);
        if !vault.resources.is_empty() {
            text.push_str("resources:\n");
            let rows: Vec<Vec<String>> = vault
                .resources
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.name.clone(),
                        r.r#type.clone(),
                        paint(&protect_status(r.protect_status())),
                        r.resource_size.clone(),
                    ]
                })
                .collect();
            text.push_str(&self.table(&["ID", "NAME", "TYPE", "STATUS", "SIZE (GB)"], &rows, "  "));
        }
        if !vault.skipped_resources.is_empty() {
            text.push_str("skipped:\n");
            let rows: Vec<Vec<String>> = vault
                .skipped_resources
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.name.clone(),
                        r.r#type.clone(),
                        r.code.clone(),
                        r.reason.clone(),
                    ]
                })
                .collect();
            text.push_str(&self.table(&["ID", "NAME", "TYPE", "CODE", "REASON"], &rows, "  "));
        }
        self.line(text.trim_end())
    }

    /// A backup (`backup get`).
    pub(crate) fn backup(&mut self, response: &pb::GetBackupResponse) -> Result<(), CliError> {
        if self.format == OutputFormat::Json {
            return self.json(response);
        }
        let b = response.backup.clone().unwrap_or_default();
        let ext = b.extend_info.clone().unwrap_or_default();
        let mut text = block(&[
            ("backup", b.id.clone()),
            ("name", b.name.clone()),
            ("status", paint(&backup_status(b.status()))),
            (
                "progress",
                ext.progress.map_or_else(String::new, |p| format!("{p}%")),
            ),
            ("description", b.description.clone()),
            ("resource", with_id(&b.resource_name, &b.resource_id)),
            ("resource type", b.resource_type.clone()),
            ("resource size", size_gb(b.resource_size)),
            ("resource az", b.resource_az.clone()),
            ("checkpoint", b.checkpoint_id.clone()),
            ("vault", b.vault_id.clone()),
            ("parent", b.parent_id.clone()),
            ("project", b.project_id.clone()),
            (
                "image type",
                enum_name(b.image_type().as_str_name(), "IMAGE_TYPE_"),
            ),
            ("incremental", flag(b.incremental.or(ext.incremental))),
            ("auto trigger", flag(ext.auto_trigger)),
            ("policy", b.scheduled_operation_id.clone()),
            ("created", time(b.created_at.as_ref())),
            ("updated", time(b.updated_at.as_ref())),
            ("protected", time(b.protected_at.as_ref())),
            ("expires", time(b.expired_at.as_ref())),
        ]);
        if !b.children.is_empty() {
            text.push_str("children:\n");
            let rows: Vec<Vec<String>> = b.children.iter().map(|c| self.backup_row(c)).collect();
            text.push_str(&self.table(BACKUP_COLUMNS, &rows, "  "));
        }
        self.line(text.trim_end())
    }

    /// A checkpoint item (`checkpoint-item get`).
    pub(crate) fn checkpoint_item(
        &mut self,
        response: &pb::GetCheckpointItemResponse,
    ) -> Result<(), CliError> {
        if self.format == OutputFormat::Json {
            return self.json(response);
        }
        let i = response.checkpoint_item.clone().unwrap_or_default();
        let ext = i.extend_info.clone().unwrap_or_default();
        let text = block(&[
            ("checkpoint item", i.id.clone()),
            ("name", i.name.clone()),
            (
                "status",
                paint(&enum_name(
                    i.status().as_str_name(),
                    "CHECKPOINT_ITEM_STATUS_",
                )),
            ),
            (
                "progress",
                ext.progress.map_or_else(String::new, |p| format!("{p}%")),
            ),
            ("description", i.description.clone()),
            ("resource", i.resource_id.clone()),
            ("resource type", i.resource_type.clone()),
            ("checkpoint", i.checkpoint_id.clone()),
            ("fail reason", ext.fail_reason.clone()),
            ("created", time(i.created_at.as_ref())),
            ("updated", time(i.updated_at.as_ref())),
            ("protected", time(i.protected_at.as_ref())),
            ("expires", time(i.expired_at.as_ref())),
            (
                "tags",
                i.tags
                    .iter()
                    .map(|t| format!("{}={}", t.key, t.value))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ]);
        self.line(text.trim_end())
    }

    /// One page of `backups list`, and on a terminal where the next one starts.
    pub(crate) fn backup_page(&mut self, page: &pb::ListBackupsResponse) -> Result<(), CliError> {
        if self.format == OutputFormat::Json {
            return self.json(page);
        }
        let rows: Vec<Vec<String>> = page.backups.iter().map(|b| self.backup_row(b)).collect();
        if self.terminal {
            if !rows.is_empty() {
                let text = self.table(BACKUP_COLUMNS, &rows, "");
                self.line(text.trim_end())?;
            }
            let shown = i32::try_from(page.backups.len()).unwrap_or(i32::MAX);
            let next = page.offset.saturating_add(shown);
            if next < page.count {
                self.hint(&format!(
                    "{shown} of {} backups (offset {}); next page: --offset {next}, or every one: --all",
                    page.count, page.offset
                ));
            } else {
                self.hint(&format!("{} backup(s)", page.count));
            }
            Ok(())
        } else {
            for row in rows {
                self.line(&row.join("\t"))?;
            }
            Ok(())
        }
    }

    /// One object of any kind: protobuf JSON, or a `label  value` block.
    pub(crate) fn record<M: Message + Name>(
        &mut self,
        message: &M,
        rows: &[(&str, String)],
        tables: &[SubTable<'_>],
    ) -> Result<(), CliError> {
        if self.format == OutputFormat::Json {
            return self.json(message);
        }
        let mut text = block(rows);
        for (title, header, table) in tables {
            if !table.is_empty() {
                text.push_str(&format!("{title}:\n"));
                text.push_str(&self.table(header, table, "  "));
            }
        }
        self.line(text.trim_end())
    }

    /// Rows gathered from a stream, as text: a table with a summary hint on a
    /// terminal, or tab-separated rows.
    pub(crate) fn rows(
        &mut self,
        header: &[&str],
        rows: &[Vec<String>],
        summary: &str,
    ) -> Result<(), CliError> {
        if !rows.is_empty() {
            let text = self.table(header, rows, "");
            self.line(text.trim_end())?;
        }
        self.hint(summary);
        Ok(())
    }

    /// One page of a list of any kind: protobuf JSON, a table with a summary
    /// hint on a terminal, or tab-separated rows.
    pub(crate) fn page<M: Message + Name>(
        &mut self,
        message: &M,
        header: &[&str],
        rows: &[Vec<String>],
        summary: &str,
    ) -> Result<(), CliError> {
        if self.format == OutputFormat::Json {
            return self.json(message);
        }
        if !rows.is_empty() {
            let text = self.table(header, rows, "");
            self.line(text.trim_end())?;
        }
        self.hint(summary);
        Ok(())
    }

    /// A table of backups printed row by row as a stream delivers them.
    pub(crate) fn backup_table(&mut self) -> Result<BackupTable, CliError> {
        if self.interactive() {
            self.line(
                &style(fixed_row(&BACKUP_COLUMNS.map(str::to_owned)))
                    .bold()
                    .for_stdout()
                    .to_string(),
            )?;
        }
        Ok(BackupTable { rows: 0 })
    }

    /// A backup as the cells of [`BACKUP_COLUMNS`].
    fn backup_row(&self, b: &pb::Backup) -> Vec<String> {
        let progress = b
            .extend_info
            .as_ref()
            .and_then(|e| e.progress)
            .map_or_else(String::new, |p| format!("{p}%"));
        vec![
            b.id.clone(),
            paint(&backup_status(b.status())),
            progress,
            time(b.created_at.as_ref()),
            b.resource_type.clone(),
            b.resource_name.clone(),
            b.name.clone(),
        ]
    }

    /// An aligned table with a header (terminal) or tab-separated rows.
    fn table(&self, header: &[&str], rows: &[Vec<String>], indent: &str) -> String {
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(console::measure_text_width(cell));
            }
        }
        let aligned = |cells: &[String]| {
            let mut line = indent.to_owned();
            let last = cells.len().saturating_sub(1);
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i < last {
                    let pad = w.saturating_sub(console::measure_text_width(cell)) + 2;
                    line.push_str(&" ".repeat(pad));
                }
            }
            line + "\n"
        };
        let mut out = String::new();
        if self.terminal {
            let header: Vec<String> = header
                .iter()
                .map(|h| style(h).bold().for_stdout().to_string())
                .collect();
            out.push_str(&aligned(&header));
            for row in rows {
                out.push_str(&aligned(row));
            }
        } else {
            for row in rows {
                out.push_str(indent);
                out.push_str(&row.join("\t"));
                out.push('\n');
            }
        }
        out
    }
}

/// Rows of a streamed backup list.
pub(crate) struct BackupTable {
    rows: u64,
}

impl BackupTable {
    /// Prints one streamed backup: a protobuf JSON line, a fixed-width row on a
    /// terminal (widths cannot wait for the last row), or tab-separated cells.
    pub(crate) fn row(
        &mut self,
        out: &mut Out,
        message: &pb::StreamBackupsResponse,
    ) -> Result<(), CliError> {
        self.rows += 1;
        if out.format == OutputFormat::Json {
            return out.json(message);
        }
        let Some(b) = &message.backup else {
            return Ok(());
        };
        let row = out.backup_row(b);
        if out.terminal {
            out.line(&fixed_row(&row))
        } else {
            out.line(&row.join("\t"))
        }
    }

    /// The count, for the person at the terminal.
    pub(crate) fn finish(self, out: &mut Out) -> Result<(), CliError> {
        out.hint(&format!("{} backup(s)", self.rows));
        Ok(())
    }
}

/// Columns of backup lists.
const BACKUP_COLUMNS: &[&str; 7] = &[
    "ID", "STATUS", "PROGRESS", "CREATED", "TYPE", "RESOURCE", "NAME",
];

/// Widths of streamed rows: IDs, statuses, times and types have known widths;
/// the free-form names come last, where overflowing shifts nothing.
const FIXED_WIDTHS: [usize; 6] = [36, 15, 8, 20, 24, 24];

fn fixed_row(cells: &[String]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        out.push_str(cell);
        if let Some(w) = FIXED_WIDTHS.get(i) {
            let pad = w.saturating_sub(console::measure_text_width(cell)) + 2;
            out.push_str(&" ".repeat(pad));
        }
    }
    out.trim_end().to_owned()
}

/// `label  value` lines, aligned, leaving out empty values.
fn block(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(l, _)| l.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows.iter().filter(|(_, v)| !v.is_empty()) {
        out.push_str(&format!(
            "{:<width$}  {value}\n",
            format!("{label}:"),
            width = width + 1
        ));
    }
    out
}

/// A status word in its color; console leaves colors out when stdout is not
/// a terminal (or `NO_COLOR` is set).
pub(crate) fn paint(status: &str) -> String {
    let s = style(status.to_owned()).for_stdout();
    match status {
        "available" | "success" => s.green(),
        "error" | "error-deleting" | "fail" => s.red(),
        "deleted" | "-" => s.dim(),
        _ => s.yellow(),
    }
    .to_string()
}

/// An enum value as upstream spells it: `BACKUP_STATUS_WAITING_PROTECT` →
/// `waiting_protect`; unset → `-`.
pub(crate) fn enum_name(full: &str, prefix: &str) -> String {
    match full.strip_prefix(prefix) {
        Some("UNSPECIFIED") | None => "-".to_owned(),
        Some(rest) => rest.to_ascii_lowercase(),
    }
}

/// A checkpoint status as upstream spells it (`error-deleting` has a hyphen).
pub(crate) fn checkpoint_status(s: pb::CheckpointStatus) -> String {
    enum_name(s.as_str_name(), "CHECKPOINT_STATUS_").replace('_', "-")
}

/// A resource's `protect_status` as upstream spells it.
pub(crate) fn protect_status(s: pb::ProtectStatus) -> String {
    enum_name(s.as_str_name(), "PROTECT_STATUS_")
}

/// A backup status as upstream spells it.
pub(crate) fn backup_status(s: pb::BackupStatus) -> String {
    enum_name(s.as_str_name(), "BACKUP_STATUS_")
}

/// A time as RFC 3339 in UTC to the second (what `--start-time` takes back).
pub(crate) fn time(ts: Option<&Timestamp>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn size_gb(gb: i32) -> String {
    if gb > 0 {
        format!("{gb} GB")
    } else {
        String::new()
    }
}

fn flag(b: Option<bool>) -> String {
    b.map_or_else(String::new, |b| if b { "yes" } else { "no" }.to_owned())
}

/// `name (id)`, or whichever of them is known.
pub(crate) fn with_id(name: &str, id: &str) -> String {
    match (name.is_empty(), id.is_empty()) {
        (false, false) => format!("{name} ({id})"),
        (true, _) => id.to_owned(),
        (false, true) => name.to_owned(),
    }
}

/// The name, or the ID when there is none.
pub(crate) fn or_id(name: &str, id: &str) -> String {
    if name.is_empty() {
        id.to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_spellings() {
        assert_eq!(
            backup_status(pb::BackupStatus::WaitingProtect),
            "waiting_protect"
        );
        assert_eq!(
            checkpoint_status(pb::CheckpointStatus::ErrorDeleting),
            "error-deleting"
        );
        assert_eq!(protect_status(pb::ProtectStatus::Unspecified), "-");
    }

    #[test]
    fn blocks_align_and_skip_empty_values() {
        let text = block(&[
            ("id", "x".into()),
            ("description", String::new()),
            ("status", "ok".into()),
        ]);
        assert_eq!(text, "id:      x\nstatus:  ok\n");
    }

    #[test]
    fn times_are_rfc3339_seconds() {
        let t = Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        };
        assert_eq!(time(Some(&t)), "2023-11-14T22:13:20Z");
        assert_eq!(time(None), "");
    }
}
