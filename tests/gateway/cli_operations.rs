//! `backup restore`, `backup delete` and `operation wait` as a user runs them:
//! the real binary → the real gateway → upstream (a mock, to pin the exact
//! request the flags make; the simulator, to follow real restores and
//! deletions to their end), piped, as JSON and in a real terminal (tmux).

use std::{process::Stdio, time::Duration};

use crate::{
    client_cli::{RUN_LIMIT, Tmux, assert_plain, cli, code, json_lines, stderr, stdout},
    common,
    operations::{SIM_CHILD, seeded_disk, sim_stack},
};

use cbr_simulator::SimulatorSettings;
use common::*;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, method, path, query_param},
};

const LOG: &str = "4827f2da-b008-4507-ab7d-42d0df5ed912";

fn addr(gw: &Gateway) -> String {
    format!("http://{}", gw.addr)
}

#[tokio::test]
async fn restore_sends_every_flag_as_upstreams_body_and_prints_the_operation() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v3/{PROJECT}/backups/{BACKUP}/restore")))
        .and(body_json(serde_json::json!({"restore": {
            "server_id": SERVER, "power_on": false,
            "mappings": [{"backup_id": "c1", "volume_id": "v1"}, {"backup_id": "c2", "volume_id": "v2"}]}})))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_raw(format!(r#"{{"job_id":"{LOG}"}}"#), "application/json"),
        )
        .expect(2)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let args = [
        "backup",
        "restore",
        BACKUP,
        "--server",
        SERVER,
        "--mapping",
        "c1:v1",
        "--mapping",
        "c2:v2",
        "--no-power-on",
        "--project-id",
        PROJECT,
    ];
    let out = cli(&addr(&gw), &args, &[]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let name = format!("projects/{PROJECT}/operations/restore.{LOG}");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("operation") && first.ends_with(&name),
        "{text}"
    );
    for line in [
        "type",
        "status",
        "done",
        "backup",
        "target",
        "operation log",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line} in:\n{text}"
        );
    }
    // As JSON: the Operation in protobuf JSON, its metadata's type named.
    let mut json = args.to_vec();
    json.extend(["-o", "json"]);
    let out = cli(&addr(&gw), &json, &[]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], name.as_str());
    assert_eq!(
        lines[0]["metadata"]["@type"],
        "type.googleapis.com/cbr.gateway.v1.OperationMetadata"
    );
    assert_eq!(lines[0]["metadata"]["operationLogId"], LOG);
}

#[tokio::test]
async fn bad_flags_are_usage_errors_and_nothing_is_sent() {
    let upstream = MockServer::start().await;
    let gw = Gateway::against(&upstream).await;
    for (args, flag) in [
        (
            vec![
                "backup",
                "restore",
                BACKUP,
                "--server",
                SERVER,
                "--mapping",
                "c1",
            ],
            "--mapping",
        ),
        (
            vec!["backup", "restore", BACKUP, "--mapping", ":v1"],
            "--mapping",
        ),
        (vec!["backup", "restore"], "BACKUP_ID"),
        (
            vec!["backup", "restore", BACKUP, "--power-on", "--no-power-on"],
            "--no-power-on",
        ),
        (vec!["backup", "delete"], "BACKUP_ID"),
        (vec!["operation", "wait"], "NAME"),
        (
            vec![
                "operation",
                "wait",
                "projects/p/operations/delete.b",
                "--timeout",
                "soon",
            ],
            "--timeout",
        ),
    ] {
        let out = cli(&addr(&gw), &args, &[]).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
    // A name the gateway refuses: exit 1, the field named.
    let out = cli(&addr(&gw), &["operation", "wait", "not-a-name"], &[]).await;
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("name"), "{}", stderr(&out));
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn restore_watch_follows_to_success_or_to_failure_when_piped() {
    let stack = sim_stack(true).await;
    let disk = seeded_disk(&stack).await;
    let mapping = format!("{SIM_CHILD}:{disk}");
    let out = cli(
        &addr(&stack),
        &[
            "backup",
            "restore",
            BACKUP,
            "--server",
            SERVER,
            "--mapping",
            &mapping,
            "--watch",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("projects/{PROJECT}/operations/restore.")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("restore running")),
        "{text}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!("restore of backup {BACKUP} succeeded")
    );
    assert!(!text.contains('\u{1b}'), "no escape codes when piped");

    // A target the simulator fails: exit 3, upstream's code on stderr.
    let out = cli(
        &addr(&stack),
        &[
            "backup",
            "restore",
            BACKUP,
            "--server",
            "sim-error-server",
            "--mapping",
            &mapping,
            "--watch",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).ends_with(&format!("restore of backup {BACKUP} failed\n")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("BackupService.2008"),
        "{}",
        stderr(&out)
    );

    // -o json: every stream message, the last one done.
    let out = cli(
        &addr(&stack),
        &[
            "backup",
            "restore",
            BACKUP,
            "--server",
            SERVER,
            "--mapping",
            &mapping,
            "--watch",
            "-o",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert!(
        lines[0]["name"]
            .as_str()
            .unwrap()
            .contains("/operations/restore.")
    );
    let last = lines.last().unwrap();
    assert_eq!(last["operation"]["done"], true, "{last}");
}

#[tokio::test]
async fn delete_wait_and_operation_wait_end_when_the_backup_is_gone() {
    let stack = sim_stack(true).await;
    let out = cli(&addr(&stack), &["backup", "delete", BACKUP, "--wait"], &[]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let name = format!("projects/{PROJECT}/operations/delete.{BACKUP}");
    assert_eq!(text.lines().next(), Some(name.as_str()), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("done") && l.ends_with("yes")),
        "{text}"
    );
    // Waiting for it again answers at once: it is done.
    let out = cli(
        &addr(&stack),
        &["operation", "wait", &name, "-o", "json"],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let op = &json_lines(&out)[0];
    assert_eq!(op["done"], true);
    assert_eq!(
        op["response"]["@type"],
        "type.googleapis.com/google.protobuf.Empty"
    );
    // The backup is gone: reading it fails with upstream's code.
    let out = cli(&addr(&stack), &["backup", "get", BACKUP], &[]).await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("BackupService.6200"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn restore_watch_in_a_real_terminal() {
    let stack = sim_stack(true).await;
    let disk = seeded_disk(&stack).await;
    let tmux = Tmux::named("cbr-cli-operations");
    let command = format!(
        "env CBR_GATEWAY_ADDR={} TERM=xterm-256color {} backup restore {BACKUP} --server {SERVER} --mapping {SIM_CHILD}:{disk} --watch; echo EXIT=$?; tmux -L {} wait-for -S done",
        addr(&stack),
        env!("CARGO_BIN_EXE_cbr-gateway"),
        tmux.socket
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "cli",
        "-x",
        "160",
        "-y",
        "20",
        &command,
    ]);
    let waited = tokio::time::timeout(
        RUN_LIMIT,
        tokio::process::Command::new("tmux")
            .args(["-L", &tmux.socket, "wait-for", "done"])
            .kill_on_drop(true)
            .status(),
    )
    .await
    .expect("the command ended")
    .expect("run tmux wait-for");
    assert!(waited.success());
    let screen = tmux.run(&["capture-pane", "-p", "-S", "-", "-t", "cli"]);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains(&format!("restore of backup {BACKUP} succeeded")),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("projects/{PROJECT}/operations/restore.")),
        "{screen}"
    );
}

// ------------------------------------------------- upstream's exact shapes

const DISK: &str = "eccbcfdd-f843-4bbb-b2c0-a5ce861f9376";
/// `--mapping` of the seeded server backup's disk backup onto [`DISK`].
const MAPPING: &str = "5d822633-2bbf-4af8-a16e-5ab1c7705235:eccbcfdd-f843-4bbb-b2c0-a5ce861f9376";

/// A gateway in front of `upstream` that polls it every 50 ms while an
/// operation is followed.
async fn fast_polling(upstream: &MockServer) -> TestStack {
    TestStack::builder()
        .upstream(&upstream.uri())
        .settings(|s| {
            s.watch.poll_interval = Duration::from_millis(50);
            s.watch.max_poll_interval = Duration::from_millis(100);
        })
        .spawn()
        .await
}

fn answer(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

/// A restore operation log as `GET /v3/{project}/operation-logs/{id}` answers.
fn restore_log(status: &str, progress: i32, error: (&str, &str)) -> serde_json::Value {
    serde_json::json!({"operation_log": {
        "id": LOG, "project_id": PROJECT, "operation_type": "restore", "status": status,
        "checkpoint_id": CHECKPOINT, "provider_id": "0daac4c5-6707-4851-97ba-169e36266b66",
        "created_at": "2026-12-04T10:00:00.123456", "started_at": "2026-12-04T10:00:00.100000",
        "updated_at": "2026-12-04T10:01:30.000000",
        "ended_at": if status == "running" { serde_json::Value::Null } else { "2026-12-04T10:05:00.000000".into() },
        "error_info": {"code": error.0, "message": error.1},
        "vault_id": VAULT, "vault_name": "vault-be94",
        "extra_info": {"common": {"progress": progress, "request_id": "req-x"},
            "resource": {"id": SERVER, "name": "ecs-1f0f-0002", "type": "OS::Nova::Server"},
            "restore": {"backup_id": BACKUP, "backup_name": "backup_name",
                "target_resource_id": SERVER, "target_resource_name": "ecs-1f0f-0002"}}}})
}

/// Upstream's restore log: `running` for `running` reads, then `end`.
async fn mount_restore_log(upstream: &MockServer, running: u64, end: serde_json::Value) {
    let log_path = format!("/v3/{PROJECT}/operation-logs/{LOG}");
    Mock::given(method("GET"))
        .and(path(&log_path))
        .respond_with(answer(200, restore_log("running", 35, ("", ""))))
        .up_to_n_times(running)
        .mount(upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(&log_path))
        .respond_with(answer(200, end))
        .mount(upstream)
        .await;
}

fn restore_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "backup",
        "restore",
        BACKUP,
        "--server",
        SERVER,
        "--mapping",
        MAPPING,
        "--power-on",
        "--project-id",
        PROJECT,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn restore_watch_against_upstream_runs_to_success_or_to_its_failure_code() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v3/{PROJECT}/backups/{BACKUP}/restore")))
        .and(body_json(serde_json::json!({"restore": {
            "server_id": SERVER, "power_on": true,
            "mappings": [{"backup_id": SIM_CHILD, "volume_id": DISK}]}})))
        .respond_with(answer(202, serde_json::json!({"job_id": LOG})))
        .mount(&upstream)
        .await;
    mount_restore_log(&upstream, 3, restore_log("success", 100, ("", ""))).await;
    let gw = fast_polling(&upstream).await;
    let out = cli(&addr(&gw), &restore_args(&["--watch"]), &[]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert_plain(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("projects/{PROJECT}/operations/restore.{LOG}")
    );
    // Status, progress, backup and target, and the run's time by upstream's
    // clock (started 10:00:00, last updated 10:01:30 while running).
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("restore running 35% backup {BACKUP} -> {SERVER}"))),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("restore success 100%") && l.ends_with(" 5m00s")),
        "{text}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!("restore of backup {BACKUP} succeeded")
    );

    // The same restore failing upstream: exit 3, its code and message on stderr.
    upstream.reset().await;
    Mock::given(method("POST"))
        .and(path(format!("/v3/{PROJECT}/backups/{BACKUP}/restore")))
        .respond_with(answer(202, serde_json::json!({"job_id": LOG})))
        .mount(&upstream)
        .await;
    mount_restore_log(
        &upstream,
        2,
        restore_log(
            "failed",
            40,
            ("BackupService.2008", "The server cannot be restored."),
        ),
    )
    .await;
    let out = cli(&addr(&gw), &restore_args(&["--watch"]), &[]).await;
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    assert_plain(&out);
    assert!(
        stdout(&out).ends_with(&format!("restore of backup {BACKUP} failed\n")),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("restore failed"), "{err}");
    assert!(err.contains("BackupService.2008"), "{err}");
    assert!(err.contains("The server cannot be restored."), "{err}");
    // As JSON: the last message's operation carries upstream's code in its
    // error's details (google.rpc.ErrorInfo, printed as protobuf JSON).
    let out = cli(&addr(&gw), &restore_args(&["--watch", "-o", "json"]), &[]).await;
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    let lines = json_lines(&out);
    let last = &lines.last().unwrap()["operation"];
    assert_eq!(last["done"], true, "{last}");
    assert_eq!(
        last["error"]["details"][0]["reason"], "BackupService.2008",
        "{last}"
    );
}

#[tokio::test]
async fn delete_wait_waits_until_upstream_answers_6200_for_the_backup() {
    let upstream = MockServer::start().await;
    let backup_path = format!("/v3/{PROJECT}/backups/{BACKUP}");
    Mock::given(method("DELETE"))
        .and(path(&backup_path))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(&backup_path))
        .respond_with(answer(
            200,
            serde_json::json!({"backup": {"id": BACKUP, "name": "b1", "status": "deleting",
                "resource_id": SERVER, "resource_type": "OS::Nova::Server"}}),
        ))
        .up_to_n_times(3)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(&backup_path))
        .respond_with(answer(
            404,
            serde_json::json!({"error_code": "BackupService.6200",
                "error_msg": "The backup does not exist."}),
        ))
        .mount(&upstream)
        .await;
    let gw = fast_polling(&upstream).await;
    let out = cli(
        &addr(&gw),
        &[
            "backup",
            "delete",
            BACKUP,
            "--wait",
            "--project-id",
            PROJECT,
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert_plain(&out);
    let text = stdout(&out);
    let name = format!("projects/{PROJECT}/operations/delete.{BACKUP}");
    assert_eq!(text.lines().next(), Some(name.as_str()), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("done") && l.ends_with("yes")),
        "{text}"
    );
    let received = upstream.received_requests().await.unwrap();
    let deletes = received
        .iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .count();
    let reads = received
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path() == backup_path)
        .count();
    assert_eq!(deletes, 1, "one DELETE");
    assert!(reads >= 4, "read until gone: {reads} reads");
}

#[tokio::test]
async fn operation_wait_on_running_done_failed_and_too_slow_operations() {
    let upstream = MockServer::start().await;
    let gw = fast_polling(&upstream).await;
    let name = format!("projects/{PROJECT}/operations/restore.{LOG}");

    // Running, then done: one command, exit 0, the final state printed.
    mount_restore_log(&upstream, 3, restore_log("success", 100, ("", ""))).await;
    let out = cli(&addr(&gw), &["operation", "wait", &name], &[]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("operation"), "{text}");
    assert!(text.lines().next().unwrap().ends_with(&name), "{text}");
    for (label, value) in [("done", "yes"), ("status", "success"), ("progress", "100%")] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(label) && l.ends_with(value)),
            "{label} {value} in:\n{text}"
        );
    }
    // Done already: answers at once, as JSON with the response.
    let out = cli(&addr(&gw), &["operation", "wait", &name, "-o", "json"], &[]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let op = &json_lines(&out)[0];
    assert_eq!(op["name"], name.as_str());
    assert_eq!(op["done"], true);
    assert_eq!(
        op["response"]["@type"],
        "type.googleapis.com/cbr.gateway.v1.RestoreBackupResponse"
    );

    // Failed: exit 3, upstream's code named.
    upstream.reset().await;
    mount_restore_log(
        &upstream,
        1,
        restore_log(
            "failed",
            40,
            ("BackupService.2008", "The server cannot be restored."),
        ),
    )
    .await;
    let out = cli(&addr(&gw), &["operation", "wait", &name], &[]).await;
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("BackupService.2008"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("error code") && l.ends_with("BackupService.2008")),
        "{}",
        stdout(&out)
    );
    let out = cli(&addr(&gw), &["operation", "wait", &name, "-o", "json"], &[]).await;
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    let op = &json_lines(&out)[0];
    assert_eq!(
        op["error"]["details"][0]["reason"], "BackupService.2008",
        "{op}"
    );

    // Never done within --timeout: the latest state, then exit 1.
    upstream.reset().await;
    mount_restore_log(&upstream, u64::MAX, restore_log("success", 100, ("", ""))).await;
    let started = std::time::Instant::now();
    let out = cli(
        &addr(&gw),
        &["operation", "wait", &name, "--timeout", "700ms"],
        &[],
    )
    .await;
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("done") && l.ends_with("no")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("not done after 700ms"),
        "{}",
        stderr(&out)
    );
}

// ------------------------------------------------------ through the simulator

#[tokio::test]
async fn a_failed_restore_in_a_real_terminal_draws_a_bar_then_names_upstreams_code() {
    let stack = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 20,
            restore_duration: Duration::from_secs(3),
            ..Default::default()
        })
        .project(PROJECT)
        .settings(|s| {
            s.watch.poll_interval = Duration::from_millis(50);
            s.watch.max_poll_interval = Duration::from_millis(100);
        })
        .spawn()
        .await;
    let disk = seeded_disk(&stack).await;
    let tmux = Tmux::named("cbr-cli-operations-failed");
    let command = format!(
        "env CBR_GATEWAY_ADDR={} TERM=xterm-256color {} backup restore {BACKUP} --server sim-error-server --mapping {SIM_CHILD}:{disk} --watch; echo EXIT=$?",
        addr(&stack),
        env!("CARGO_BIN_EXE_cbr-gateway"),
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "cli",
        "-x",
        "160",
        "-y",
        "20",
        &command,
    ]);
    // Mid-run: the live bar, its status and subject.
    let mut mid = None;
    let mut screen = String::new();
    for _ in 0..1000 {
        screen = tmux.run(&["capture-pane", "-p", "-S", "-", "-t", "cli"]);
        if screen.contains("EXIT=") {
            break;
        }
        if mid.is_none()
            && screen
                .lines()
                .any(|l| l.contains('%') && l.contains(&format!("restore running backup {BACKUP}")))
        {
            mid = Some(screen.clone());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mid = mid.unwrap_or_else(|| panic!("a live bar while the restore runs:\n{screen}"));
    assert!(mid.contains("sim-error-server"), "{mid}");
    assert!(screen.contains("EXIT=3"), "{screen}");
    assert!(
        screen.contains(&format!("restore of backup {BACKUP} failed")),
        "{screen}"
    );
    assert!(screen.contains("BackupService.2008"), "{screen}");
    // The bar was cleared at the end, not left as a line per redraw.
    assert!(
        !screen.contains(&format!("restore running backup {BACKUP}")),
        "{screen}"
    );
}

#[tokio::test]
async fn restore_watch_survives_a_gateway_restart() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let sim = cbr_simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        restore_duration: Duration::from_secs(3),
        ..Default::default()
    })
    .await
    .unwrap();
    let sim_url = format!("http://{}", sim.addr);
    let serve_on = |listener: tokio::net::TcpListener| {
        TestStack::builder()
            .upstream(&sim_url)
            .listener(listener)
            .project(PROJECT)
            .settings(|s| s.watch.poll_interval = Duration::from_millis(100))
            .spawn()
    };
    let listener = rebindable_listener().await;
    let at = listener.local_addr().unwrap();
    let first = serve_on(listener).await.gateway;
    let gateway = format!("http://{at}");
    let disk = seeded_disk(&first).await;
    let mapping = format!("{SIM_CHILD}:{disk}");

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args([
            "backup",
            "restore",
            BACKUP,
            "--server",
            SERVER,
            "--mapping",
            &mapping,
            "--watch",
        ])
        .env("CBR_GATEWAY_ADDR", &gateway)
        .env_remove("CBR_AUTH_TOKEN")
        .env_remove("CBR_PROJECT_ID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the CLI");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let name = lines.next_line().await.unwrap().unwrap();
    assert!(name.contains("/operations/restore."), "{name}");
    let running = lines.next_line().await.unwrap().unwrap();
    assert!(running.starts_with("restore running"), "{running}");

    // The gateway restarts on the same address, a moment later: the CLI
    // keeps re-opening the watch until the new one answers.
    first.stop().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let _second = serve_on(listener).await;

    let mut rest = vec![running];
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
    assert_eq!(
        rest.last().unwrap(),
        &format!("restore of backup {BACKUP} succeeded"),
        "{rest:?}"
    );
}

#[tokio::test]
async fn operation_get_reads_a_name_and_operation_list_walks_restores_then_deletes() {
    let upstream = MockServer::start().await;
    let logs = format!("/v3/{PROJECT}/operation-logs");
    Mock::given(method("GET"))
        .and(path(&logs))
        .and(query_param("operation_type", "restore"))
        .respond_with(answer(
            200,
            serde_json::json!({"operation_logs": [restore_log("running", 35, ("", ""))["operation_log"]],
                "count": 1}),
        ))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(&logs))
        .and(query_param("operation_type", "delete"))
        .respond_with(answer(
            200,
            serde_json::json!({"operation_logs": [{"id": "d-log", "project_id": PROJECT,
                "operation_type": "delete", "status": "success", "error_info": {"code": "", "message": ""},
                "extra_info": {"common": {"progress": 100},
                    "resource": {"id": SERVER, "type": "OS::Nova::Server"},
                    "delete": {"backup_id": "gone-backup", "backup_name": "x"}}}],
                "count": 1}),
        ))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{logs}/{LOG}")))
        .respond_with(answer(
            200,
            restore_log(
                "failed",
                40,
                ("BackupService.2008", "The server cannot be restored."),
            ),
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let restore = format!("projects/{PROJECT}/operations/restore.{LOG}");
    let delete = format!("projects/{PROJECT}/operations/delete.gone-backup");
    let filter = format!("vault_id = {VAULT}");

    // One page, as a script reads it: tab-separated rows.
    let out = cli(
        &addr(&gw),
        &[
            "operation",
            "list",
            "--filter",
            &filter,
            "--page-size",
            "1",
            "--project-id",
            PROJECT,
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{restore}\trestore\trunning\t35%\t{BACKUP}\t{SERVER}\tno\n")
    );
    // As JSON: the page, with the token of the next one.
    let out = cli(
        &addr(&gw),
        &[
            "operation",
            "list",
            "--page-size",
            "1",
            "--project-id",
            PROJECT,
            "-o",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = &json_lines(&out)[0];
    assert_eq!(page["operations"][0]["name"], restore.as_str());
    assert_eq!(page["nextPageToken"], "delete:0");
    // --all: every page, NDJSON of operations with -o json.
    let out = cli(
        &addr(&gw),
        &[
            "operation",
            "list",
            "--all",
            "--page-size",
            "1",
            "--project-id",
            PROJECT,
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let names: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(names, [restore.as_str(), delete.as_str()]);
    let out = cli(
        &addr(&gw),
        &[
            "operation",
            "list",
            "--all",
            "--project-id",
            PROJECT,
            "-o",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ops = json_lines(&out);
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1]["name"], delete.as_str());
    assert_eq!(ops[1]["done"], true);

    // get NAME: GetOperation, a read (exit 0) showing the failure's code.
    let out = cli(&addr(&gw), &["operation", "get", &restore], &[]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().ends_with(&restore), "{text}");
    for (label, value) in [
        ("done", "yes"),
        ("status", "failed"),
        ("error code", "BackupService.2008"),
        (
            "error",
            "the operation failed upstream (BackupService.2008): The server cannot be restored.",
        ),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(label) && l.ends_with(value)),
            "{label} {value} in:\n{text}"
        );
    }
    let out = cli(
        &addr(&gw),
        &["operation", "get", &restore, "-o", "json"],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let op = &json_lines(&out)[0];
    assert_eq!(op["name"], restore.as_str());
    assert_eq!(
        op["error"]["message"],
        "the operation failed upstream (BackupService.2008): The server cannot be restored."
    );

    // A filter the gateway refuses: exit 1 naming it, nothing sent upstream.
    let before = upstream.received_requests().await.unwrap().len();
    let out = cli(
        &addr(&gw),
        &["operation", "list", "--filter", "colour = red"],
        &[],
    )
    .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("filter"), "{}", stderr(&out));
    assert_eq!(upstream.received_requests().await.unwrap().len(), before);
}
