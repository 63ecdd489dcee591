//! The command-line client (`cbr-gateway checkpoint|backups|vaults|operations …`)
//! as a user runs it: the real binary against the real gateway serving from the
//! simulator. Piped output (plain lines, tab-separated rows, no escape codes),
//! `--output json` (every stream message, parseable), exit codes (0 available,
//! 3 error, 1 failed call, 2 usage), errors as two readable lines, the caller's
//! token, and the live view in a real terminal (tmux).

use crate::common;

use std::{
    process::{Output, Stdio},
    time::Duration,
};

use cbr_gateway::proto as pb;
use cbr_simulator::{self as simulator, SimulatorSettings};
use common::*;
use serde_json::Value;
use tokio::process::Command;

/// Upper bound of one CLI run; reached only by a regression (a hang).
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(60);

struct Stack {
    gw: TestStack,
}

async fn stack(backup_duration: Duration) -> Stack {
    stack_polling(backup_duration, Duration::from_millis(100)).await
}

/// A stack whose gateway polls upstream every `poll` while watched.
async fn stack_polling(backup_duration: Duration, poll: Duration) -> Stack {
    let gw = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 20,
            backup_duration,
            ..Default::default()
        })
        .project(PROJECT)
        .settings(move |s| {
            s.watch.poll_interval = poll;
            s.watch.max_poll_interval = poll;
        })
        .spawn()
        .await;
    Stack { gw }
}

impl Stack {
    fn addr(&self) -> String {
        format!("http://{}", self.gw.addr)
    }

    /// Runs the CLI against this gateway with stdout and stderr piped.
    async fn cli(&self, args: &[&str]) -> Output {
        cli(&self.addr(), args, &[]).await
    }

    /// Creates a checkpoint of the example vault through gRPC.
    async fn create(&self, name: &str) -> String {
        self.gw
            .checkpoints()
            .create_checkpoint(pb::CreateCheckpointRequest {
                vault_id: VAULT.into(),
                parameters: Some(pb::CheckpointParameters {
                    name: Some(name.into()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap()
            .id
    }
}

/// Runs the CLI binary to completion, killing it (and failing) if it hangs.
pub(crate) async fn cli(gateway: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cbr-gateway"));
    cmd.args(args)
        .env("CBR_GATEWAY_ADDR", gateway)
        // What a developer's shell may hold must not change the outcome.
        .env_remove("CBR_AUTH_TOKEN")
        .env_remove("CBR_PROJECT_ID")
        .env_remove("CLICOLOR_FORCE")
        // A terminal type that takes colors: piped output must still have none.
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(RUN_LIMIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the CLI hung: {args:?}"))
        .expect("run the CLI")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

pub(crate) fn code(out: &Output) -> i32 {
    out.status.code().expect("the CLI exits (not killed)")
}

/// Piped output is for scripts and logs: no escape code on either stream.
pub(crate) fn assert_plain(out: &Output) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "{name} has escape codes:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

pub(crate) fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn create_with_watch_follows_the_backup_to_available_and_exits_zero() {
    let s = stack(Duration::from_millis(1500)).await;
    let out = s
        .cli(&[
            "checkpoint",
            "create",
            "--vault",
            VAULT,
            "--name",
            "cli-ok",
            "--watch",
        ])
        .await;
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    assert_plain(&out);
    let lines: Vec<&str> = text.lines().collect();
    let id = lines[0]
        .strip_prefix("checkpoint ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("first line names the checkpoint: {text}"));
    assert!(lines[0].contains("created in vault"), "{text}");
    // One plain line per change: the resource climbs, then ends available.
    let progress: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("resource ecs-1f0f-0002 (OS::Nova::Server) protecting"))
        .copied()
        .collect();
    assert!(
        progress.len() >= 2,
        "progress lines as the backup runs:\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("resource ecs-1f0f-0002 (OS::Nova::Server) available 100%")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("checkpoint {id} available ("))
                && l.ends_with("s, vault vault-be94)")),
        "a line for the checkpoint's change to available:\n{text}"
    );
    let summary = lines.last().unwrap();
    assert!(
        summary.starts_with(&format!("checkpoint {id} available after "))
            && summary.ends_with(": 1 of 1 resource(s) backed up"),
        "summary last: {text}"
    );
    // The state the CLI reported is the gateway's.
    let checkpoint =
        s.gw.checkpoints()
            .get_checkpoint(pb::GetCheckpointRequest {
                checkpoint_id: id.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap();
    assert_eq!(checkpoint.status(), pb::CheckpointStatus::Available);
}

#[tokio::test]
async fn a_checkpoint_ending_in_error_exits_three_and_names_the_failure() {
    let s = stack(Duration::from_millis(600)).await;
    // The simulator fails backups whose name starts with `sim-error`.
    let out = s
        .cli(&[
            "checkpoint",
            "create",
            "--vault",
            VAULT,
            "--name",
            "sim-error-cli",
            "--watch",
        ])
        .await;
    let text = stdout(&out);
    assert_eq!(code(&out), 3, "{text}\n{}", stderr(&out));
    assert_plain(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains(" error after ")
            && l.ends_with("0 of 1 resource(s) backed up, 1 failed")),
        "{text}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!("  failed: ecs-1f0f-0002 (OS::Nova::Server, {SERVER})")
    );

    // Watching it again afterwards: same verdict, from its first message.
    let id = lines[0].split(' ').nth(1).unwrap();
    let again = s.cli(&["checkpoint", "watch", id]).await;
    assert_eq!(code(&again), 3, "{}", stdout(&again));
}

#[tokio::test]
async fn json_output_parses_and_carries_every_event_of_the_stream() {
    // Polls far enough apart that neither watcher, however slow the machine,
    // sees two states merged into one.
    let s = stack_polling(Duration::from_millis(2000), Duration::from_millis(250)).await;
    let id = s.create("cli-json").await;
    // An independent watcher, joined first: the gateway feeds both from one
    // poller, so from the CLI's first message on they get the same events.
    let mut reference =
        s.gw.checkpoints()
            .watch_checkpoint(pb::WatchCheckpointRequest {
                checkpoint_id: id.clone(),
                include_backups: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
    let first = reference.message().await.unwrap().unwrap();
    assert_eq!(first.kind(), pb::WatchEventKind::Initial);
    let reference = tokio::spawn(async move {
        let mut events = vec![];
        while let Some(e) = reference.message().await.unwrap() {
            events.push(e);
        }
        events
    });

    let out = s
        .cli(&["checkpoint", "watch", &id, "--backups", "--output", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    let events = json_lines(&out);
    assert!(events.len() >= 2, "{events:?}");
    assert_eq!(events[0]["kind"], "WATCH_EVENT_KIND_INITIAL");
    for e in &events[1..] {
        assert_eq!(e["kind"], "WATCH_EVENT_KIND_CHANGED", "{e}");
        assert!(!e["changes"].as_array().unwrap().is_empty(), "{e}");
        assert_eq!(e["checkpoint"]["id"], id.as_str());
    }
    let last = events.last().unwrap();
    assert_eq!(last["checkpoint"]["status"], "CHECKPOINT_STATUS_AVAILABLE");
    assert_eq!(last["backups"][0]["status"], "BACKUP_STATUS_AVAILABLE");

    let joined_at = events[0]["observedAt"].as_str().unwrap().to_owned();
    let expected: Vec<(String, Vec<String>)> = reference
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind() == pb::WatchEventKind::Changed)
        .map(|e| (rfc3339(e.observed_at.as_ref().unwrap()), e.changes))
        .filter(|(at, _)| at.as_str() > joined_at.as_str())
        .collect();
    let got: Vec<(String, Vec<String>)> = events[1..]
        .iter()
        .map(|e| {
            (
                e["observedAt"].as_str().unwrap().to_owned(),
                serde_json::from_value(e["changes"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got, expected,
        "the CLI printed every change the stream carried"
    );
}

/// A protobuf timestamp as protobuf JSON spells it (0, 3, 6 or 9 digits).
fn rfc3339(t: &prost_types::Timestamp) -> String {
    let line = cbr_gateway::cli::json::to_line(&pb::WatchCheckpointResponse {
        observed_at: Some(*t),
        ..Default::default()
    })
    .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    v["observedAt"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_json_is_the_response_then_the_events() {
    let s = stack(Duration::from_millis(400)).await;
    let out = s
        .cli(&[
            "checkpoint",
            "create",
            "--vault",
            VAULT,
            "--resource",
            &format!("{SERVER}:OS::Nova::Server"),
            "--full",
            "--watch",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    let created = &lines[0];
    assert!(created.get("kind").is_none(), "{created}");
    assert_eq!(
        created["checkpoint"]["status"],
        "CHECKPOINT_STATUS_PROTECTING"
    );
    let id = created["checkpoint"]["id"].as_str().unwrap();
    assert!(lines[1..].iter().all(|e| e["checkpoint"]["id"] == id));
    assert_eq!(
        lines.last().unwrap()["checkpoint"]["status"],
        "CHECKPOINT_STATUS_AVAILABLE"
    );
    // --full reached upstream: the backup is not incremental.
    let backup = &lines.last().unwrap()["backups"][0];
    assert_eq!(backup["resourceId"], SERVER);
    assert_eq!(backup["incremental"], false, "{backup}");
}

#[tokio::test]
async fn reads_print_blocks_or_json() {
    let s = stack(Duration::from_secs(1)).await;
    let out = s.cli(&["backup", "get", BACKUP]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("backup:         {BACKUP}\n")),
        "{text}"
    );
    assert!(text.contains("\nstatus:         available\n"), "{text}");
    assert!(
        text.contains("\nresource type:  OS::Nova::Server\n"),
        "{text}"
    );

    // The policy that made it (`scheduled_operation_id`).
    assert!(
        text.contains("\npolicy:         5c8b1c52-7a3e-4d3f-9a57-2f0e6a2b7c11\n"),
        "{text}"
    );

    let out = s.cli(&["backup", "get", BACKUP, "-o", "json"]).await;
    assert_eq!(json_lines(&out)[0]["backup"]["id"], BACKUP);
    assert_eq!(
        json_lines(&out)[0]["backup"]["scheduledOperationId"],
        "5c8b1c52-7a3e-4d3f-9a57-2f0e6a2b7c11"
    );

    // Only the automatic backups their policy keeps by count.
    let out = s
        .cli(&[
            "backups",
            "list",
            "--existed-quantity-based-retention-backups",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = &json_lines(&out)[0];
    let listed = page["backups"].as_array().expect("a page of backups");
    assert!(!listed.is_empty(), "{page}");
    assert!(
        listed
            .iter()
            .all(|b| b["scheduledOperationId"] == "e2a9c7d4-51b6-4f08-a3c2-8d7e6f5a4b10"),
        "{page}"
    );

    let out = s.cli(&["checkpoint", "get", CHECKPOINT]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("checkpoint:  {CHECKPOINT}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "resources:\n  {SERVER}\tecs-1f0f-0002\tOS::Nova::Server\tavailable"
        )),
        "{text}"
    );
    let out = s
        .cli(&["checkpoint", "get", CHECKPOINT, "--output=json"])
        .await;
    assert_eq!(json_lines(&out)[0]["checkpoint"]["id"], CHECKPOINT);

    let out = s.cli(&["checkpoint-item", "get", CHECKPOINT_ITEM]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("checkpoint item:  {CHECKPOINT_ITEM}\n")),
        "{}",
        stdout(&out)
    );
    let out = s
        .cli(&["checkpoint-item", "get", CHECKPOINT_ITEM, "-o", "json"])
        .await;
    assert_eq!(json_lines(&out)[0]["checkpointItem"]["id"], CHECKPOINT_ITEM);
}

#[tokio::test]
async fn backups_list_pages_filters_and_streams_everything() {
    let s = stack(Duration::from_secs(1)).await;
    // Piped: tab-separated rows, no header.
    let out = s.cli(&["backups", "list", "--limit", "5"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    let rows: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.len() == 7), "{rows:?}");

    // Filters reach upstream: every row matches them.
    let out = s
        .cli(&[
            "backups",
            "list",
            "--status",
            "available",
            "--resource-type",
            "OS::Cinder::Volume",
            "--limit",
            "50",
        ])
        .await;
    let text = stdout(&out);
    assert!(!text.is_empty());
    for row in text.lines() {
        let cells: Vec<&str> = row.split('\t').collect();
        assert_eq!(
            (cells[1], cells[4]),
            ("available", "OS::Cinder::Volume"),
            "{row}"
        );
    }

    // --all streams every match: as many as the page's total count.
    let page =
        s.gw.backups()
            .list_backups(pb::ListBackupsRequest {
                limit: Some(1),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
    let out = s
        .cli(&["backups", "list", "--all", "--page-size", "7"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().count(),
        usize::try_from(page.count).unwrap()
    );
    let out = s.cli(&["backups", "list", "--all", "-o", "json"]).await;
    let lines = json_lines(&out);
    assert_eq!(lines.len(), usize::try_from(page.count).unwrap());
    assert!(lines.iter().all(|l| l["backup"]["id"].is_string()));

    let out = s
        .cli(&["backups", "list", "--limit", "2", "-o", "json"])
        .await;
    let page = &json_lines(&out)[0];
    assert_eq!(page["backups"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn failed_calls_print_code_message_upstream_code_and_request_id() {
    let s = stack(Duration::from_secs(1)).await;
    let missing = "00000000-0000-4000-8000-000000000000";
    let out = s.cli(&["backup", "get", missing]).await;
    assert_eq!(code(&out), 1);
    assert_plain(&out);
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("error: NotFound: ") && lines[0].contains(missing),
        "{err}"
    );
    let rest = lines[1]
        .strip_prefix("  upstream BackupService.6200 (HTTP 404), request id ")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        rest.len() >= 16 && rest.chars().all(|c| c.is_ascii_hexdigit()),
        "{err}"
    );

    // Refused by the gateway itself: the field is named.
    let out = s.cli(&["backups", "list", "--limit", "5000"]).await;
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert_eq!(
        err.trim(),
        "error: InvalidArgument: limit: must be between 1 and 1000",
        "the field is named, once"
    );

    // Nobody listening.
    let (_held, port) = refused_port();
    let closed = format!("127.0.0.1:{port}");
    let out = cli(&format!("http://{closed}"), &["backup", "get", BACKUP], &[]).await;
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: cannot reach the gateway at http://{closed}/: "
        )),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // Bad usage: clap's message, exit 2, nothing sent.
    for args in [
        &[
            "checkpoint",
            "create",
            "--vault",
            VAULT,
            "--resource",
            "no-type",
        ][..],
        &["backups", "list", "--status", "finished"],
        &["backups", "list", "--start-time", "yesterday"],
        &["backups", "list", "--all", "--limit", "3"],
        &["backup", "get", BACKUP, "--gateway", "127.0.0.1:1"],
        &["backup", "get", BACKUP, "--ca-cert", "/nonexistent.pem"],
    ] {
        let out = s.cli(args).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error: "),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[tokio::test]
async fn the_callers_token_comes_from_the_environment() {
    let gw = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 5,
            tokens: vec!["cli-token-1".into()],
            ..Default::default()
        })
        .project(PROJECT)
        .without_credentials()
        .spawn()
        .await;
    let addr = format!("http://{}", gw.addr);

    let out = cli(
        &addr,
        &["backup", "get", BACKUP],
        &[("CBR_AUTH_TOKEN", "cli-token-1")],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let out = cli(
        &addr,
        &["backup", "get", BACKUP],
        &[("CBR_AUTH_TOKEN", "wrong-token")],
    )
    .await;
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.starts_with("error: Unauthenticated: "), "{err}");
    assert!(
        !err.contains("wrong-token"),
        "the token never appears: {err}"
    );

    let out = cli(&addr, &["backup", "get", BACKUP], &[]).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

/// tmux on a private socket, removed when dropped.
pub(crate) struct Tmux {
    /// Its `-L` socket name.
    pub(crate) socket: String,
    /// Its configuration: panes stay on screen after their command exits.
    config: std::path::PathBuf,
}

impl Tmux {
    pub(crate) fn new() -> Tmux {
        Tmux::named("cbr-cli-test")
    }

    /// A server of its own for each test that runs one (tests run side by side).
    pub(crate) fn named(name: &str) -> Tmux {
        let socket = format!("{name}-{}", std::process::id());
        let config = std::env::temp_dir().join(format!("{socket}.tmux.conf"));
        std::fs::write(&config, "set-option -g remain-on-exit on\n").unwrap();
        let t = Tmux { socket, config };
        let version = std::process::Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "tmux is needed for the terminal test (scripts/test.sh installs it)"
        );
        t
    }

    pub(crate) fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-u", "-L", &self.socket, "-f"])
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        let _ = std::fs::remove_file(&self.config);
    }
}

#[tokio::test]
async fn watch_in_a_real_terminal_draws_progress_bars_in_place() {
    let s = stack(Duration::from_secs(3)).await;
    let id = s.create("cli-tty").await;
    let tmux = Tmux::new();
    let command = format!(
        "env CBR_GATEWAY_ADDR={} {} checkpoint watch {id} --backups; echo EXIT=$?",
        s.addr(),
        env!("CARGO_BIN_EXE_cbr-gateway")
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "cli",
        "-x",
        "120",
        "-y",
        "12",
        &command,
    ]);

    // Mid-run: a checkpoint line and a partly filled bar for the resource.
    let mut mid = None;
    for _ in 0..600 {
        let screen = tmux.run(&["capture-pane", "-p", "-t", "cli"]);
        let bar = screen.lines().find(|l| {
            l.trim_start().starts_with("ecs-1f0f-0002")
                && l.contains('█')
                && l.contains("protecting")
        });
        if let Some(bar) = bar {
            let pct: u32 = bar
                .split('%')
                .next()
                .and_then(|b| b.split_whitespace().last())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if (1..100).contains(&pct) {
                mid = Some(screen);
                break;
            }
        }
        if screen.contains("EXIT=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mid = mid.expect("a partly filled progress bar while the backup runs");
    assert!(
        mid.lines()
            .any(|l| l.contains(&format!("checkpoint {id}  protecting"))),
        "{mid}"
    );

    // The end: the command exited 0 and the bar was redrawn in place.
    // From the start of the history: tmux's "Pane is dead" line can scroll
    // the screen by a line.
    let mut screen = String::new();
    for _ in 0..1000 {
        screen = tmux.run(&["capture-pane", "-p", "-S", "-", "-t", "cli"]);
        if screen.contains("EXIT=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(screen.contains("EXIT=0"), "the CLI exited 0:\n{screen}");
    let bars: Vec<&str> = screen
        .lines()
        .filter(|l| l.trim_start().starts_with("ecs-1f0f-0002"))
        .collect();
    assert_eq!(bars.len(), 1, "one bar, updated in place:\n{screen}");
    assert!(
        bars[0].contains("100%") && bars[0].contains("available"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("✔ checkpoint {id}  available")),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("checkpoint {id} available after ")),
        "summary:\n{screen}"
    );
    // Colors on a terminal (and only there).
    let colored = tmux.run(&["capture-pane", "-p", "-e", "-t", "cli"]);
    assert!(colored.contains('\u{1b}'), "{colored}");
}

/// The gateway in this process on `listener`, in front of the simulator at
/// `sim_url`, polling every 100 ms while watched.
async fn serve_on(listener: tokio::net::TcpListener, sim_url: &str) -> Gateway {
    TestStack::builder()
        .upstream(sim_url)
        .listener(listener)
        .project(PROJECT)
        .settings(|s| s.watch.poll_interval = Duration::from_millis(100))
        .spawn()
        .await
        .gateway
}

/// A CLI run whose output is read as it comes.
async fn spawn_cli(gateway: &str, args: &[&str]) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args(args)
        .env("CBR_GATEWAY_ADDR", gateway)
        .env_remove("CBR_AUTH_TOKEN")
        .env_remove("CBR_PROJECT_ID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the CLI")
}

#[tokio::test]
async fn a_watch_survives_a_gateway_restart() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 5,
        backup_duration: Duration::from_secs(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let sim_url = format!("http://{}", sim.addr);
    let listener = rebindable_listener().await;
    let addr = listener.local_addr().unwrap();
    let first_gateway = serve_on(listener, &sim_url).await;
    let gateway = format!("http://{addr}");

    let out = cli(
        &gateway,
        &["checkpoint", "create", "--vault", VAULT, "-o", "json"],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = json_lines(&out)[0]["checkpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut child = spawn_cli(&gateway, &["checkpoint", "watch", &id, "--backups"]).await;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(
        first.starts_with(&format!("checkpoint {id} protecting")),
        "{first}"
    );

    // The gateway restarts on the same address: its drain ends the stream
    // with UNAVAILABLE, and the CLI finds the new one.
    first_gateway.stop().await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let _second_gateway = serve_on(listener, &sim_url).await;

    let mut rest = vec![first];
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    let status = tokio::time::timeout(RUN_LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{rest:?}\n{err}");
    assert!(err.contains("reconnecting"), "{err}");
    assert!(
        rest.last()
            .unwrap()
            .starts_with(&format!("checkpoint {id} available after ")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn ctrl_c_leaves_the_backup_running_and_says_how_to_resume() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let s = stack(Duration::from_secs(120)).await;
    let id = s.create("cli-interrupted").await;
    let mut child = spawn_cli(&s.addr(), &["checkpoint", "watch", &id]).await;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines.next_line().await.unwrap().expect("the first state");
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "interrupted: checkpoint {id} goes on; follow it again with: cbr-gateway checkpoint watch {id}"
        )
    );
    // It does go on.
    let checkpoint =
        s.gw.checkpoints()
            .get_checkpoint(pb::GetCheckpointRequest {
                checkpoint_id: id,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap();
    assert_eq!(checkpoint.status(), pb::CheckpointStatus::Protecting);
}

#[tokio::test]
async fn help_lists_the_client_commands_options_and_their_environment() {
    let out = cli("http://127.0.0.1:1", &["--help"], &[]).await;
    let help = stdout(&out);
    for command in ["checkpoint", "backups", "backup", "checkpoint-item"] {
        assert!(help.contains(&format!("\n  {command} ")), "{help}");
    }
    let out = cli(
        "http://127.0.0.1:1",
        &["checkpoint", "watch", "--help"],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    for needle in [
        "--gateway",
        "CBR_GATEWAY_ADDR",
        "--ca-cert",
        "CBR_GATEWAY_CA_CERT",
        "--client-cert",
        "--client-key",
        "--tls-server-name",
        "--project-id",
        "CBR_PROJECT_ID",
        "--output",
        "--timeout",
        "--backups",
        "CBR_AUTH_TOKEN",
        "Exit codes",
    ] {
        assert!(help.contains(needle), "{needle} missing:\n{help}");
    }
    let out = cli("http://127.0.0.1:1", &["backups", "list", "--help"], &[]).await;
    let help = stdout(&out);
    for flag in [
        "--checkpoint-id",
        "--dec",
        "--end-time",
        "--image-type",
        "--limit",
        "--marker",
        "--name",
        "--offset",
        "--resource-az",
        "--resource-id",
        "--resource-name",
        "--resource-type",
        "--sort",
        "--start-time",
        "--status",
        "--vault-id",
        "--enterprise-project-id",
        "--own-type",
        "--member-status",
        "--parent-id",
        "--used-percent",
        "--show-replication",
        "--incremental",
        "--all",
        "--page-size",
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
}

#[tokio::test]
async fn vaults_policies_and_operations_are_read_at_the_terminal_and_in_scripts() {
    use cbr_simulator::lifecycle::{DOCUMENTED_POLICY, REPLICATION_POLICY};
    // Backups that run for the whole test: their operations stay running.
    let s = stack(Duration::from_secs(3600)).await;

    // vaults list, piped: tab-separated rows, no escape codes.
    let out = s.cli(&["vaults", "list", "--name", "vault-be94"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    let rows: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][..4], [VAULT, "vault-be94", "available", "server"]);
    assert_eq!(rows[0][6], "1", "one resource");

    // --output json: the ListVaultsResponse, filters applied upstream.
    let out = s
        .cli(&["vaults", "list", "--object-type", "disk", "-o", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = &json_lines(&out)[0];
    let vaults = page["vaults"].as_array().unwrap();
    assert!(!vaults.is_empty());
    assert!(
        vaults
            .iter()
            .all(|v| v["billing"]["objectType"] == "OBJECT_TYPE_DISK"),
        "{page}"
    );
    assert_eq!(page["count"].as_u64(), Some(vaults.len() as u64));

    // vault get: a block, with its resources.
    let out = s.cli(&["vault", "get", VAULT]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "name:",
        "vault-be94",
        "allocated:",
        "40 GB",
        SERVER,
        "resources:",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }

    // policies list by vault and type; policy get.
    let out = s.cli(&["policies", "list", "--vault-id", VAULT]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    let out = s
        .cli(&[
            "policies",
            "list",
            "--vault-id",
            VAULT,
            "--operation-type",
            "replication",
        ])
        .await;
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with(REPLICATION_POLICY), "{text}");
    let out = s.cli(&["policy", "get", DOCUMENTED_POLICY]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("policy001"), "{text}");
    assert!(
        text.contains("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"),
        "{text}"
    );

    // checkpoint create --vault-name resolves the vault.
    let out = s
        .cli(&[
            "checkpoint",
            "create",
            "--vault-name",
            "vault-be94",
            "--resource",
            &format!("{SERVER}:OS::Nova::Server"),
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let created = &json_lines(&out)[0]["checkpoint"];
    assert_eq!(created["vault"]["id"], VAULT);
    let checkpoint = created["id"].as_str().unwrap().to_owned();

    // operations list: the new backup is running in that vault.
    let out = s
        .cli(&[
            "operations",
            "list",
            "--operation-type",
            "backup",
            "--status",
            "running",
            "--vault-id",
            VAULT,
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = &json_lines(&out)[0];
    let op = page["operationLogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["checkpointId"] == checkpoint.as_str())
        .unwrap_or_else(|| panic!("the new backup's operation: {page}"))
        .clone();
    assert_eq!(op["status"], "OPERATION_LOG_STATUS_RUNNING");
    let op_id = op["id"].as_str().unwrap();
    // Piped: one row per operation, the status as upstream's word.
    let out = s
        .cli(&["operations", "list", "--vault-id", VAULT, "--limit", "1000"])
        .await;
    let row = stdout(&out)
        .lines()
        .find(|l| l.starts_with(op_id))
        .unwrap_or_else(|| panic!("{}", stdout(&out)))
        .to_owned();
    let cells: Vec<&str> = row.split('\t').collect();
    assert_eq!(cells[1..3], ["backup", "running"], "{row}");
    assert_eq!(cells[4], "ecs-1f0f-0002");
    let out = s.cli(&["operation", "get", op_id]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "type:",
        "backup",
        "status:",
        "running",
        "vault-be94",
        &checkpoint,
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }

    // Failures: a missing operation (1, upstream's code), bad usage (2).
    let out = s.cli(&["operation", "get", "no-such-log"]).await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("BackupService.6500"),
        "{}",
        stderr(&out)
    );
    let out = s.cli(&["vaults", "list", "--status", "bogus"]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = s
        .cli(&["checkpoint", "create", "--vault-name", "no-such-vault"])
        .await;
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no vault is named"),
        "{}",
        stderr(&out)
    );
    let out = s
        .cli(&[
            "checkpoint",
            "create",
            "--vault",
            VAULT,
            "--vault-name",
            "x",
        ])
        .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = s.cli(&["checkpoint", "create"]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[tokio::test]
async fn every_operations_and_vaults_flag_reaches_upstream_as_its_filter() {
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{method, path},
    };
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"operation_logs":[],"count":0}"#, "application/json"),
        )
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/vaults")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"vaults":[],"count":0}"#, "application/json"),
        )
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let addr = format!("http://{}", gw.addr);
    let out = cli(
        &addr,
        &[
            "operations",
            "list",
            "--project-id",
            PROJECT,
            "--operation-type",
            "vault_delete",
            "--status",
            "failed",
            "--provider-id",
            "0daac4c5-6707-4851-97ba-169e36266b66",
            "--resource-id",
            SERVER,
            "--resource-name",
            "ecs 1",
            "--vault-id",
            VAULT,
            "--vault-name",
            "vault-be94",
            "--start-time",
            "2026-11-01T00:00:00Z",
            "--end-time",
            "2026-12-01T00:00:00Z",
            "--enterprise-project-id",
            "0",
            "--limit",
            "10",
            "--offset",
            "20",
            "--destination-region",
            "region2",
            "--destination-project-id",
            "p2",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = cli(
        &addr,
        &[
            "vaults",
            "list",
            "--project-id",
            PROJECT,
            "--limit",
            "5",
            "--offset",
            "0",
            "--name",
            "v1",
            "--cloud-type",
            "public",
            "--protect-type",
            "replication",
            "--object-type",
            "turbo",
            "--enterprise-project-id",
            "all_granted_eps",
            "--id",
            "a,b",
            "--id",
            "c",
            "--policy-id",
            "p",
            "--status",
            "lock",
            "--resource-id",
            SERVER,
            "--availability-zone",
            "az1.dc1",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let queries: Vec<String> = upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        queries,
        [
            "destination_project_id=p2&destination_region=region2\
             &end_time=2026-12-01T00%3A00%3A00Z&enterprise_project_id=0&limit=10&offset=20\
             &operation_type=vault_delete&provider_id=0daac4c5-6707-4851-97ba-169e36266b66\
             &resource_id=94eba8b2-acc9-4d82-badc-127144cc5526&resource_name=ecs%201\
             &start_time=2026-11-01T00%3A00%3A00Z&status=failed\
             &vault_id=3b5816b5-f29c-4172-9d9a-76c719a659ce&vault_name=vault-be94",
            "availability_zone=az1.dc1&cloud_type=public&enterprise_project_id=all_granted_eps\
             &id=a%2Cb%2Cc&limit=5&name=v1&object_type=turbo&offset=0&policy_id=p\
             &protect_type=replication&resource_ids=94eba8b2-acc9-4d82-badc-127144cc5526\
             &status=lock",
        ]
    );
}

#[tokio::test]
async fn vaults_and_operations_list_all_walk_every_page() {
    let s = stack(Duration::from_millis(100)).await;
    let one_page = s.cli(&["vaults", "list"]).await;
    let all = s
        .cli(&["vaults", "list", "--all", "--page-size", "2"])
        .await;
    assert_eq!(code(&all), 0, "{}", stderr(&all));
    assert_plain(&all);
    assert!(stdout(&one_page).lines().count() >= 5);
    assert_eq!(stdout(&all), stdout(&one_page));

    let page = s
        .cli(&[
            "operations",
            "list",
            "--operation-type",
            "backup",
            "-o",
            "json",
        ])
        .await;
    let count = json_lines(&page)[0]["count"].as_u64().unwrap();
    let all = s
        .cli(&[
            "operations",
            "list",
            "--operation-type",
            "backup",
            "--all",
            "--page-size",
            "7",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&all), 0, "{}", stderr(&all));
    let lines = json_lines(&all);
    assert_eq!(lines.len() as u64, count, "one NDJSON line per operation");
    assert!(
        lines
            .iter()
            .all(|l| l["operationLog"]["operationType"] == "OPERATION_TYPE_BACKUP")
    );
    // --page-size needs --all; --all and --limit exclude each other.
    let out = s.cli(&["operations", "list", "--page-size", "5"]).await;
    assert_eq!(code(&out), 2);
    let out = s.cli(&["vaults", "list", "--all", "--limit", "5"]).await;
    assert_eq!(code(&out), 2);
}
