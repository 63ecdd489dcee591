//! `backup restore`, `backup delete` and `operation wait` as a user runs them:
//! the real binary → the real gateway → upstream (a mock, to pin the exact
//! request the flags make; the simulator, to follow real restores and
//! deletions to their end), piped, as JSON and in a real terminal (tmux).

use crate::{
    client_cli::{RUN_LIMIT, Tmux, cli, code, json_lines, stderr, stdout},
    common,
    operations::{SIM_CHILD, seeded_disk, sim_stack},
};

use common::*;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, method, path},
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
