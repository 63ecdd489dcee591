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

mod format;
mod reconnect;
mod state;
mod views;

use std::time::Duration;

pub(crate) use self::{
    format::human,
    reconnect::{reconnectable, reopen},
};
use self::{
    reconnect::{resubscribe, subscribe},
    state::State,
    views::{Bars, JsonView, Lines, View},
};
use super::{
    CliError, OutputFormat,
    connect::Connection,
    render::{Out, checkpoint_status},
};
use crate::proto as pb;

/// Which checkpoint to follow.
#[derive(Debug, Clone)]
pub(crate) struct WatchTarget {
    /// Checkpoint ID.
    pub id: String,
    /// Follow its backups too (progress of each).
    pub include_backups: bool,
}

/// How a command ended, when no call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
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
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Done | Self::Available => 0,
            Self::Failed(_) => 3,
            Self::Interrupted => 130,
        }
    }
}

/// Follows the checkpoint until it ends.
pub(crate) async fn watch(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost_types::Timestamp;

    use super::*;
    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

    use super::state::*;

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
}
