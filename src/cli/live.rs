//! `checkpoint watch` and `checkpoint create --watch`: follows WatchCheckpoint
//! until the checkpoint ends and shows it three ways:
//!
//! - on a terminal, a status line for the checkpoint and one progress bar per
//!   resource (its backup's progress, status and elapsed time), redrawn as
//!   changes arrive, then a summary;
//! - otherwise one plain line per change (no escape codes), then the summary;
//! - with `--output json`, every stream message as a line of protobuf JSON.
//!
//! A stream cut by the gateway (restart, drain: `UNAVAILABLE`) is re-opened
//! with backoff; the gateway's first message then brings the view up to date.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use prost_types::Timestamp;
use tonic::{Code, Status, Streaming};

use super::{
    CliError, OutputFormat,
    connect::Connection,
    render::{Out, backup_status, checkpoint_status, or_id, paint, protect_status},
};
use crate::proto as pb;

/// Which checkpoint to follow.
#[derive(Debug, Clone)]
pub struct WatchTarget {
    /// Checkpoint ID.
    pub id: String,
    /// Follow its backups too (progress of each).
    pub include_backups: bool,
}

/// How a command ended, when no call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A command without a checkpoint to wait for.
    Done,
    /// The watched checkpoint ended `available`.
    Available,
    /// The watched checkpoint ended in this other final status.
    Failed(String),
    /// Ctrl-C: the checkpoint goes on without us.
    Interrupted,
}

impl Outcome {
    /// The process' exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Done | Self::Available => 0,
            Self::Failed(_) => 3,
            Self::Interrupted => 130,
        }
    }
}

/// Stream failures worth re-opening the watch for: the gateway went away
/// (restart, drain) rather than refusing the request. Watches carry no
/// deadline and are never cancelled by us, so CANCELLED here is hyper giving up
/// a request on a connection that closed under it.
fn reconnectable(status: &Status) -> bool {
    use crate::upstream::FailureClass;
    // Transient by the gateway's own classification, or the connection to
    // the gateway broke (tonic reports that as UNKNOWN, hyper as CANCELLED).
    FailureClass::of_code(status.code()) == FailureClass::Transient
        || matches!(status.code(), Code::Unknown | Code::Cancelled)
}

/// Follows the checkpoint until it ends.
pub async fn watch(
    conn: &Connection,
    out: &mut Out,
    target: WatchTarget,
) -> Result<Outcome, CliError> {
    let mut view: Box<dyn View> = match out.format {
        OutputFormat::Json => Box::new(JsonView),
        OutputFormat::Text if out.interactive() => Box::new(Bars::new()),
        OutputFormat::Text => Box::new(Lines),
    };
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
    let mut state = State::default();
    let mut stream = subscribe(conn, &target).await.map_err(CliError::call)?;
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            message = stream.message() => match message {
                Ok(Some(event)) => {
                    let changes = state.apply(&event);
                    view.event(out, &state, &event, &changes)?;
                }
                Ok(None) => break,
                Err(status) if reconnectable(&status) => {
                    view.notice(&format!(
                        "watch interrupted ({}); reconnecting",
                        CliError::call(status).to_string().lines().next().unwrap_or_default()
                    ));
                    stream = match resubscribe(conn, &target).await {
                        Ok(s) => s,
                        Err(e) => {
                            view.abandon();
                            return Err(e);
                        }
                    };
                }
                Err(status) => {
                    view.abandon();
                    return Err(CliError::call(status));
                }
            },
            _ = ticker.tick() => view.tick(&state),
            _ = &mut interrupted => {
                view.abandon();
                eprintln!(
                    "interrupted: checkpoint {0} goes on; follow it again with: cbr-gateway checkpoint watch {0}",
                    target.id
                );
                return Ok(Outcome::Interrupted);
            }
        }
    }
    let outcome = match state.checkpoint.as_ref().map(pb::Checkpoint::status) {
        Some(pb::CheckpointStatus::Available) => Outcome::Available,
        Some(
            s @ (pb::CheckpointStatus::Error
            | pb::CheckpointStatus::Deleted
            | pb::CheckpointStatus::ErrorDeleting),
        ) => Outcome::Failed(checkpoint_status(s)),
        _ => {
            view.abandon();
            return Err(CliError::Unfinished(target.id));
        }
    };
    view.finish(out, &state)?;
    Ok(outcome)
}

async fn subscribe(
    conn: &Connection,
    target: &WatchTarget,
) -> Result<Streaming<pb::WatchCheckpointResponse>, Status> {
    let request = pb::WatchCheckpointRequest {
        project_id: conn.project_id.clone(),
        checkpoint_id: target.id.clone(),
        include_backups: target.include_backups,
    };
    Ok(conn
        .checkpoints()
        .watch_checkpoint(conn.streaming(request))
        .await?
        .into_inner())
}

/// Re-opens the watch after the gateway cut it, with backoff (about 30 s in
/// all); any other refusal ends the command.
async fn resubscribe(
    conn: &Connection,
    target: &WatchTarget,
) -> Result<Streaming<pb::WatchCheckpointResponse>, CliError> {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(8))
        .with_max_times(6)
        .with_jitter()
        .build();
    loop {
        match subscribe(conn, target).await {
            Ok(stream) => return Ok(stream),
            Err(status) if reconnectable(&status) => match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(CliError::call(status)),
            },
            Err(status) => return Err(CliError::call(status)),
        }
    }
}

/// What the client knows of the checkpoint, merged from the stream.
#[derive(Debug, Default)]
struct State {
    checkpoint: Option<pb::Checkpoint>,
    /// One per resource, in the order they appeared.
    items: Vec<Item>,
    /// When the checkpoint reached its final status.
    finished: Option<SystemTime>,
    /// The checkpoint was seen running: its elapsed time means something
    /// (one that ended long ago has no run time to show).
    seen_running: bool,
}

/// One resource being backed up.
#[derive(Debug, Clone)]
struct Item {
    resource_id: String,
    /// Resource name (its ID when upstream has none).
    name: String,
    /// Resource type, e.g. `OS::Nova::Server`.
    kind: String,
    /// Its backup's status when the stream carries backups, else its `protect_status`.
    status: String,
    /// 0–100.
    progress: u64,
    /// When its backup (or the checkpoint) started.
    started: Option<SystemTime>,
    /// When it reached a final status.
    finished: Option<SystemTime>,
    /// Its run time is known: seen running, or timed by upstream's update time.
    timed: bool,
}

impl Item {
    fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "available" | "error")
    }

    fn failed(&self) -> bool {
        self.status == "error"
    }

    fn elapsed(&self) -> Duration {
        since(self.started, self.finished)
    }

    /// `4s`, or nothing when the run time is unknown.
    fn elapsed_text(&self) -> String {
        if self.timed {
            human(self.elapsed())
        } else {
            String::new()
        }
    }
}

/// What one message changed.
#[derive(Debug, Default)]
struct Changes {
    /// The checkpoint's status, when it changed (or was first seen).
    checkpoint: bool,
    /// Indexes of items that appeared or changed.
    items: Vec<usize>,
}

impl State {
    fn apply(&mut self, event: &pb::WatchCheckpointResponse) -> Changes {
        let mut changes = Changes::default();
        // A heartbeat before the first state carries no checkpoint: nothing
        // to merge, nothing to show.
        let Some(c) = &event.checkpoint else {
            return changes;
        };
        let observed = event
            .observed_at
            .as_ref()
            .and_then(to_system)
            .unwrap_or_else(SystemTime::now);
        self.seen_running |= !is_final_checkpoint(c.status());
        if self.checkpoint.as_ref().map(|old| old.status) != Some(c.status) {
            changes.checkpoint = true;
            if is_final_checkpoint(c.status()) && self.finished.is_none() {
                self.finished = Some(observed);
            }
        }
        let checkpoint_start = c.created_at.as_ref().and_then(to_system);
        self.checkpoint = Some(c.clone());
        for r in c.vault.iter().flat_map(|v| &v.resources) {
            let status = protect_status(r.protect_status());
            let i = self.item(&r.id, &r.name, &r.r#type, checkpoint_start);
            // Once backups are known, theirs is the finer status.
            if event.backups.iter().any(|b| b.resource_id == r.id) {
                continue;
            }
            let progress = if status == "available" {
                100
            } else {
                self.items[i].progress
            };
            if self.update(i, status, progress, None, observed) {
                changes.items.push(i);
            }
        }
        let ids: Vec<&str> = event.backups.iter().map(|b| b.id.as_str()).collect();
        // Volume backups of a server backup are its parts, not resources of their own.
        for b in event
            .backups
            .iter()
            .filter(|b| !ids.contains(&b.parent_id.as_str()))
        {
            let start = b
                .created_at
                .as_ref()
                .and_then(to_system)
                .or(checkpoint_start);
            let i = self.item(&b.resource_id, &b.resource_name, &b.resource_type, start);
            if let Some(s) = start {
                self.items[i].started = Some(s);
            }
            let status = backup_status(b.status());
            let progress = match b.extend_info.as_ref().and_then(|e| e.progress) {
                Some(p) => u64::try_from(p.clamp(0, 100)).unwrap_or(0),
                None if status == "available" => 100,
                None => self.items[i].progress,
            };
            let updated = b.updated_at.as_ref().and_then(to_system);
            if self.update(i, status, progress, updated, observed) && !changes.items.contains(&i) {
                changes.items.push(i);
            }
        }
        changes
    }

    /// The item of this resource, added when new.
    fn item(&mut self, id: &str, name: &str, kind: &str, started: Option<SystemTime>) -> usize {
        if let Some(i) = self.items.iter().position(|it| it.resource_id == id) {
            return i;
        }
        self.items.push(Item {
            resource_id: id.to_owned(),
            name: or_id(name, id),
            kind: kind.to_owned(),
            status: String::new(),
            progress: 0,
            started,
            finished: None,
            timed: false,
        });
        self.items.len() - 1
    }

    /// Sets an item's status and progress; whether anything changed.
    fn update(
        &mut self,
        i: usize,
        status: String,
        progress: u64,
        updated: Option<SystemTime>,
        observed: SystemTime,
    ) -> bool {
        let item = &mut self.items[i];
        if item.status == status && item.progress == progress {
            return false;
        }
        item.status = status;
        item.progress = progress;
        if !item.is_final() {
            item.timed = true;
        } else if item.finished.is_none() {
            // Upstream's update time is when it really finished; the poll that
            // saw it can be a while later.
            item.finished = Some(match (updated, item.started) {
                (Some(u), Some(s)) if u > s && u <= observed => {
                    item.timed = true;
                    u
                }
                _ => observed,
            });
        }
        true
    }

    fn checkpoint_elapsed(&self) -> Duration {
        let start = self
            .checkpoint
            .as_ref()
            .and_then(|c| c.created_at.as_ref())
            .and_then(to_system);
        since(start, self.finished)
    }

    /// `4s`, or nothing for a checkpoint that had ended before the watch.
    fn elapsed_text(&self) -> String {
        if self.seen_running {
            human(self.checkpoint_elapsed())
        } else {
            String::new()
        }
    }

    fn summary(&self) -> Vec<String> {
        let Some(c) = &self.checkpoint else {
            return vec![];
        };
        let failed: Vec<&Item> = self.items.iter().filter(|i| i.failed()).collect();
        let done = self
            .items
            .iter()
            .filter(|i| i.status == "available")
            .count();
        let status = checkpoint_status(c.status());
        let mut lines = vec![format!(
            "checkpoint {} {status}{}: {done} of {} resource(s) backed up{}",
            c.id,
            if self.seen_running {
                format!(" after {}", self.elapsed_text())
            } else {
                String::new()
            },
            self.items.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(", {} failed", failed.len())
            }
        )];
        for i in failed {
            lines.push(format!(
                "  failed: {} ({}, {})",
                i.name, i.kind, i.resource_id
            ));
        }
        lines
    }
}

fn is_final_checkpoint(s: pb::CheckpointStatus) -> bool {
    use pb::CheckpointStatus as S;
    matches!(s, S::Available | S::Error | S::Deleted | S::ErrorDeleting)
}

fn to_system(t: &Timestamp) -> Option<SystemTime> {
    SystemTime::try_from(*t).ok()
}

/// From `start` to `end` (now while running); zero when unknown or when the
/// clocks disagree.
fn since(start: Option<SystemTime>, end: Option<SystemTime>) -> Duration {
    let Some(start) = start else {
        return Duration::ZERO;
    };
    end.unwrap_or_else(SystemTime::now)
        .duration_since(start)
        .unwrap_or_default()
}

/// `text` and `sep`, or nothing when `text` is empty.
fn suffixed(text: &str, sep: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{text}{sep}")
    }
}

/// `7s`, `1m05s`, `2h03m`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// One way of showing the watch.
trait View {
    /// A stream message arrived; `changes` says what it changed in `state`.
    fn event(
        &mut self,
        out: &mut Out,
        state: &State,
        event: &pb::WatchCheckpointResponse,
        changes: &Changes,
    ) -> Result<(), CliError>;
    /// Time passed (redraws elapsed times).
    fn tick(&mut self, _state: &State) {}
    /// Something the person should know that is not a change (stderr).
    fn notice(&mut self, text: &str) {
        eprintln!("{text}");
    }
    /// The checkpoint ended: the summary.
    fn finish(&mut self, out: &mut Out, state: &State) -> Result<(), CliError>;
    /// The watch failed: leave what is drawn as it is.
    fn abandon(&mut self) {}
}

/// `--output json`: every message as it came.
struct JsonView;

impl View for JsonView {
    fn event(
        &mut self,
        out: &mut Out,
        _: &State,
        event: &pb::WatchCheckpointResponse,
        _: &Changes,
    ) -> Result<(), CliError> {
        out.json(event)
    }

    fn finish(&mut self, _: &mut Out, _: &State) -> Result<(), CliError> {
        Ok(())
    }
}

/// Not a terminal: one plain line per change.
struct Lines;

impl View for Lines {
    fn event(
        &mut self,
        out: &mut Out,
        state: &State,
        _: &pb::WatchCheckpointResponse,
        changes: &Changes,
    ) -> Result<(), CliError> {
        if changes.checkpoint
            && let Some(c) = &state.checkpoint
        {
            let vault = c.vault.clone().unwrap_or_default();
            out.line(&format!(
                "checkpoint {} {} ({}vault {})",
                c.id,
                checkpoint_status(c.status()),
                suffixed(&state.elapsed_text(), ", "),
                or_id(&vault.name, &vault.id),
            ))?;
        }
        for &i in &changes.items {
            let it = &state.items[i];
            let elapsed = it.elapsed_text();
            out.line(&format!(
                "resource {} ({}) {} {}%{}",
                it.name,
                it.kind,
                it.status,
                it.progress,
                if elapsed.is_empty() {
                    String::new()
                } else {
                    format!(" ({elapsed})")
                }
            ))?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Out, state: &State) -> Result<(), CliError> {
        for line in state.summary() {
            out.line(&line)?;
        }
        Ok(())
    }
}

/// A terminal: a spinner line for the checkpoint and a bar per resource.
struct Bars {
    multi: MultiProgress,
    header: ProgressBar,
    /// Bars of `State::items`, same order.
    bars: Vec<ProgressBar>,
    /// Width of the names before the bars, set by the first resources seen.
    name_width: usize,
}

/// Widest name column before the bars.
const MAX_NAME_WIDTH: usize = 28;

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let header = multi.add(
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        );
        Self {
            multi,
            header,
            bars: Vec::new(),
            name_width: 0,
        }
    }

    fn bar_style(failed: bool) -> ProgressStyle {
        let template = if failed {
            "  {prefix} {bar:30.red/red} {pos:>3}%  {msg}"
        } else {
            "  {prefix} {bar:30.green/blue} {pos:>3}%  {msg}"
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉▊▋▌▍▎▏ ")
    }

    fn header_message(state: &State) -> String {
        let Some(c) = &state.checkpoint else {
            return "waiting for the checkpoint…".into();
        };
        let vault = c.vault.clone().unwrap_or_default();
        format!(
            "checkpoint {}  {}  {}vault {}",
            style(&c.id).bold(),
            paint(&checkpoint_status(c.status())),
            suffixed(&state.elapsed_text(), "  "),
            or_id(&vault.name, &vault.id),
        )
    }

    fn item_message(item: &Item) -> String {
        // Padded after painting: escape codes take no columns.
        let status = paint(&item.status);
        format!(
            "{} {}",
            console::pad_str(&status, 10, console::Alignment::Left, None),
            item.elapsed_text()
        )
    }

    fn redraw(&mut self, state: &State) {
        self.header.set_message(Self::header_message(state));
        for (bar, item) in self.bars.iter().zip(&state.items) {
            if !bar.is_finished() {
                bar.set_message(Self::item_message(item));
            }
        }
    }
}

impl View for Bars {
    fn event(
        &mut self,
        _: &mut Out,
        state: &State,
        _: &pb::WatchCheckpointResponse,
        changes: &Changes,
    ) -> Result<(), CliError> {
        // Set by the first message that names resources: a heartbeat before
        // the first state names none and must not fix the column at its
        // narrowest.
        if self.name_width == 0 && !state.items.is_empty() {
            self.name_width = state
                .items
                .iter()
                .map(|i| console::measure_text_width(&i.name))
                .max()
                .unwrap_or(0)
                .clamp(8, MAX_NAME_WIDTH);
        }
        while self.bars.len() < state.items.len() {
            let item = &state.items[self.bars.len()];
            let bar = self.multi.add(
                ProgressBar::new(100)
                    .with_style(Self::bar_style(false))
                    .with_prefix(fit(&item.name, self.name_width)),
            );
            self.bars.push(bar);
        }
        for &i in &changes.items {
            let (bar, item) = (&self.bars[i], &state.items[i]);
            if bar.is_finished() {
                continue;
            }
            if item.failed() {
                bar.set_style(Self::bar_style(true));
            }
            bar.set_position(item.progress);
            bar.set_message(Self::item_message(item));
            if item.is_final() {
                bar.finish();
            }
        }
        self.redraw(state);
        Ok(())
    }

    fn tick(&mut self, state: &State) {
        self.header.tick();
        self.redraw(state);
    }

    fn notice(&mut self, text: &str) {
        self.multi.suspend(|| eprintln!("{text}"));
    }

    fn finish(&mut self, out: &mut Out, state: &State) -> Result<(), CliError> {
        let ok = state
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.status() == pb::CheckpointStatus::Available);
        let mark = if ok {
            style("✔").green().for_stdout()
        } else {
            style("✘").red().for_stdout()
        };
        if let Ok(done) = ProgressStyle::with_template("{msg}") {
            self.header.set_style(done);
        }
        self.header
            .finish_with_message(format!("{mark} {}", Self::header_message(state)));
        for bar in &self.bars {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
        for line in state.summary() {
            out.line(&line)?;
        }
        Ok(())
    }

    fn abandon(&mut self) {
        self.header.abandon();
        for bar in &self.bars {
            bar.abandon();
        }
    }
}

/// Exactly `width` columns: padded, or cut with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    let text = console::truncate_str(text, width, "…");
    console::pad_str(&text, width, console::Alignment::Left, None).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    fn event(
        status: pb::CheckpointStatus,
        backups: Vec<(pb::BackupStatus, i32)>,
        at: i64,
    ) -> pb::WatchCheckpointResponse {
        pb::WatchCheckpointResponse {
            kind: pb::WatchEventKind::Changed as i32,
            checkpoint: Some(pb::Checkpoint {
                id: "c".into(),
                status: status as i32,
                created_at: ts(1000),
                vault: Some(pb::CheckpointVault {
                    id: "v".into(),
                    resources: vec![pb::CheckpointResource {
                        id: "r1".into(),
                        name: "ecs-1".into(),
                        r#type: "OS::Nova::Server".into(),
                        protect_status: pb::ProtectStatus::Protecting as i32,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            backups: backups
                .into_iter()
                .map(|(s, p)| pb::Backup {
                    id: "b1".into(),
                    resource_id: "r1".into(),
                    resource_name: "ecs-1".into(),
                    status: s as i32,
                    created_at: ts(1001),
                    updated_at: ts(at),
                    extend_info: Some(pb::BackupExtendInfo {
                        progress: Some(p),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            observed_at: ts(at),
            ..Default::default()
        }
    }

    #[test]
    fn backups_refine_resources_and_time_their_run() {
        let mut state = State::default();
        let first = state.apply(&event(
            pb::CheckpointStatus::Protecting,
            vec![(pb::BackupStatus::Protecting, 40)],
            1005,
        ));
        assert!(first.checkpoint);
        assert_eq!(first.items, vec![0]);
        assert_eq!(
            (state.items[0].status.as_str(), state.items[0].progress),
            ("protecting", 40)
        );

        let same = state.apply(&event(
            pb::CheckpointStatus::Protecting,
            vec![(pb::BackupStatus::Protecting, 40)],
            1006,
        ));
        assert!(
            !same.checkpoint && same.items.is_empty(),
            "a repeat changes nothing"
        );

        let last = state.apply(&event(
            pb::CheckpointStatus::Available,
            vec![(pb::BackupStatus::Available, 100)],
            1011,
        ));
        assert!(last.checkpoint);
        assert_eq!(state.items[0].elapsed(), Duration::from_secs(10));
        assert_eq!(state.checkpoint_elapsed(), Duration::from_secs(11));
        assert_eq!(
            state.summary(),
            vec!["checkpoint c available after 11s: 1 of 1 resource(s) backed up"]
        );
    }

    #[test]
    fn failures_are_listed() {
        let mut state = State::default();
        state.apply(&event(
            pb::CheckpointStatus::Error,
            vec![(pb::BackupStatus::Error, 100)],
            1010,
        ));
        let summary = state.summary();
        assert_eq!(
            summary[0],
            "checkpoint c error: 0 of 1 resource(s) backed up, 1 failed"
        );
        assert_eq!(summary[1], "  failed: ecs-1 (OS::Nova::Server, r1)");
        // It ended before the watch: no run time for the checkpoint, the
        // backup's own from upstream's times.
        assert_eq!(state.elapsed_text(), "");
        assert_eq!(state.items[0].elapsed_text(), "9s");
    }

    #[test]
    fn a_heartbeat_before_the_first_state_changes_nothing() {
        let beat = pb::WatchCheckpointResponse {
            kind: pb::WatchEventKind::Heartbeat as i32,
            observed_at: ts(1001),
            ..Default::default()
        };
        let mut state = State::default();
        let changes = state.apply(&beat);
        assert!(!changes.checkpoint && changes.items.is_empty());
        assert!(state.checkpoint.is_none() && state.items.is_empty());
        assert!(state.summary().is_empty());
        assert_eq!(Bars::header_message(&state), "waiting for the checkpoint…");
        // The bars' name column waits for the first resource's name.
        let mut bars = Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            header: ProgressBar::hidden(),
            bars: Vec::new(),
            name_width: 0,
        };
        let mut out = Out::stdout(OutputFormat::Text);
        bars.event(&mut out, &state, &beat, &changes).unwrap();
        assert_eq!(bars.name_width, 0);
        assert!(bars.bars.is_empty());
        // The first state then applies as if the heartbeat had not been.
        let first = event(
            pb::CheckpointStatus::Protecting,
            vec![(pb::BackupStatus::Protecting, 40)],
            1005,
        );
        let changes = state.apply(&first);
        assert!(changes.checkpoint);
        assert_eq!(changes.items, vec![0]);
        bars.event(&mut out, &state, &first, &changes).unwrap();
        assert_eq!(bars.name_width, 8, "ecs-1 is padded to the minimum");
        assert_eq!(bars.bars.len(), 1);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_secs(7)), "7s");
        assert_eq!(human(Duration::from_secs(65)), "1m05s");
        assert_eq!(human(Duration::from_secs(7380)), "2h03m");
    }
}
