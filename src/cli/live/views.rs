//! The three ways of showing a watch: JSON lines, plain lines, and progress
//! bars on a terminal.

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{
    format::{fit, suffixed},
    state::{Changes, Item, State},
};
use crate::{
    cli::{
        CliError,
        render::{Out, checkpoint_status, or_id, paint},
    },
    proto as pb,
};

/// One way of showing the watch.
pub(super) trait View {
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
pub(super) struct JsonView;

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
pub(super) struct Lines;

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
pub(super) struct Bars {
    pub(super) multi: MultiProgress,
    pub(super) header: ProgressBar,
    /// Bars of `State::items`, same order.
    pub(super) bars: Vec<ProgressBar>,
    /// Width of the names before the bars, set by the first resources seen.
    pub(super) name_width: usize,
}

/// Widest name column before the bars.
const MAX_NAME_WIDTH: usize = 28;

impl Bars {
    pub(super) fn new() -> Self {
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

    pub(super) fn header_message(state: &State) -> String {
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
