//! The client examples in other languages, run against the real binary serving
//! from the built-in simulator: `examples/python/checkpoint_flow.py` (grpcio, stubs
//! generated here by `examples/python/generate.sh`) and
//! `examples/node/checkpoint_flow.js` (`@grpc/grpc-js` + `@grpc/proto-loader`).
//! Each must create a checkpoint, watch it to `available`, list its backups,
//! restore the server backup and wait for that operation with the standard
//! `google.longrunning.Operations` client, and exit 0 within [`EXAMPLE_LIMIT`].
//!
//! The Python packages and the Node modules are installed by `scripts/test.sh`;
//! when they are missing these tests fail (they never skip) and say so.

use crate::common;

use std::{
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use cbr_gateway::proto::{
    BackupStatus, ListBackupsRequest, backup_service_client::BackupServiceClient,
};
use common::*;
use tokio::{io::AsyncReadExt, process::Command};

/// How long one example may take (a backup takes 2 s in the test's simulator).
const EXAMPLE_LIMIT: Duration = Duration::from_secs(30);

/// How long generating the Python stubs may take.
const GENERATE_LIMIT: Duration = Duration::from_secs(60);

/// Environment variables the examples read; the test passes its settings as flags.
const EXAMPLE_ENV: &[&str] = &[
    "CBR_GATEWAY_ADDRESS",
    "CBR_VAULT_ID",
    "CBR_PROJECT_ID",
    "CBR_GATEWAY_TLS",
    "CBR_AUTH_TOKEN",
];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The gateway with no cloud configured (so the simulator), quick backups and a
/// watch that polls often enough to see their progress.
async fn gateway() -> Binary {
    Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--shutdown-delay",
        "0s",
        "--sim-backup-duration",
        "2s",
        "--sim-restore-duration",
        "1s",
        "--watch-poll-interval",
        "200ms",
    ])
    .await
}

/// What a finished child process printed.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn transcript(&self) -> String {
        format!(
            "exit status: {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, killing it (and failing the test with what it
/// printed so far) when it takes longer than `limit`.
async fn run(what: &str, mut cmd: Command, limit: Duration) -> Run {
    for var in EXAMPLE_ENV {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {what} ({e}); scripts/test.sh lists what the examples need")
    });
    // Read both pipes while the child runs, so it never blocks on a full pipe and
    // a hang still shows what it printed.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    });
    let stderr = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    });
    let waited = tokio::time::timeout(limit, child.wait()).await;
    if waited.is_err() {
        let _ = child.kill().await;
    }
    let (stdout, stderr) = (stdout.await.unwrap(), stderr.await.unwrap());
    match waited {
        Ok(status) => Run {
            status: status.unwrap_or_else(|e| panic!("wait for {what}: {e}")),
            stdout,
            stderr,
            took: started.elapsed(),
        },
        Err(_) => panic!(
            "{what} did not finish within {limit:?}; killed it\n--- stdout\n{stdout}--- stderr\n{stderr}"
        ),
    }
}

/// Checks an example's output (both print the same lines) and returns the
/// created checkpoint's ID and the backup IDs it listed.
fn check_output(example: &str, run: &Run) -> (String, Vec<String>) {
    let transcript = run.transcript();
    assert!(run.status.success(), "{example} failed\n{transcript}");
    let lines: Vec<&str> = run.stdout.lines().collect();

    // The created checkpoint.
    let checkpoint = lines
        .iter()
        .find_map(|l| l.strip_prefix("created checkpoint "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{example}: no `created checkpoint` line\n{transcript}"))
        .to_owned();
    assert!(
        checkpoint.len() == 36
            && checkpoint
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-'),
        "{example}: checkpoint id {checkpoint:?} is not a UUID\n{transcript}"
    );

    // The watch: the initial state, then changes, the last one terminal.
    let watch: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("watch "))
        .collect();
    assert!(
        watch
            .first()
            .is_some_and(|l| l.starts_with("watch initial:")),
        "{example}: the watch printed no initial update\n{transcript}"
    );
    assert!(
        watch.last().is_some_and(|l| l.contains("status=available")),
        "{example}: the last watch update is not `available`\n{transcript}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    backup ") && l.contains("progress=")),
        "{example}: the watch printed no backup progress\n{transcript}"
    );
    assert!(
        lines.contains(&format!("checkpoint {checkpoint} finished: available").as_str()),
        "{example}: no terminal status `available`\n{transcript}"
    );

    // The listing: a header, then one line per backup.
    let header = lines
        .iter()
        .position(|l| l.starts_with("listed "))
        .unwrap_or_else(|| panic!("{example}: no `listed` line\n{transcript}"));
    assert!(
        lines[header].contains(&checkpoint),
        "{example}: the listing is not of checkpoint {checkpoint}\n{transcript}"
    );
    let listed: Vec<String> = lines[header + 1..]
        .iter()
        .filter_map(|l| l.strip_prefix("  backup "))
        .map(|rest| {
            assert!(
                rest.contains(" available "),
                "{example}: a listed backup is not available: {rest}\n{transcript}"
            );
            rest.split_whitespace().next().unwrap().to_owned()
        })
        .collect();
    assert!(
        !listed.is_empty(),
        "{example}: listed no backups\n{transcript}"
    );

    // The restore: an operation, waited for until done, then its response.
    let started = lines
        .iter()
        .find_map(|l| l.strip_prefix("restore started "))
        .unwrap_or_else(|| panic!("{example}: no `restore started` line\n{transcript}"));
    assert!(
        started.starts_with("projects/") && started.contains("/operations/restore."),
        "{example}: {started:?} is not an operation name\n{transcript}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("restore ") && l.ends_with("done=true")),
        "{example}: WaitOperation never answered done\n{transcript}"
    );
    let restored = lines
        .iter()
        .find_map(|l| l.strip_prefix("restore finished: success backup="))
        .unwrap_or_else(|| panic!("{example}: the restore did not finish\n{transcript}"));
    assert!(
        listed.iter().any(|b| restored.starts_with(b.as_str())),
        "{example}: restored {restored:?}, not a listed backup\n{transcript}"
    );
    eprintln!(
        "{example}: exit 0 in {:?}, checkpoint {checkpoint}, {} watch update(s), listed {listed:?}",
        run.took,
        watch.len()
    );
    (checkpoint, listed)
}

/// Asks the gateway itself for the checkpoint's backups: what the example
/// printed must be what exists.
async fn assert_backups_exist(gw: &Binary, checkpoint: &str, printed: &[String]) {
    let mut backups = BackupServiceClient::connect(format!("http://{}", gw.addr))
        .await
        .expect("connect to the gateway");
    let listed = backups
        .list_backups(ListBackupsRequest {
            checkpoint_id: checkpoint.to_owned(),
            ..Default::default()
        })
        .await
        .expect("ListBackups")
        .into_inner();
    let ids: Vec<&str> = listed.backups.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, printed, "the example listed other backups than exist");
    assert!(
        listed
            .backups
            .iter()
            .all(|b| b.status == BackupStatus::Available as i32),
        "{listed:?}"
    );
}

#[tokio::test]
async fn the_python_example_creates_watches_and_lists() {
    let dir = examples_dir().join("python");
    // grpcio, grpcio-tools and grpcio-status (examples/python/requirements.txt).
    let probe = run(
        "python3",
        {
            let mut cmd = Command::new(python());
            cmd.args(["-c", "import grpc, grpc_tools, grpc_status"]);
            cmd
        },
        GENERATE_LIMIT,
    )
    .await;
    assert!(
        probe.status.success(),
        "the Python example's packages are missing: run scripts/test.sh \
         (or python3 -m pip install -r examples/python/requirements.txt)\n{}",
        probe.transcript()
    );

    // The stubs are build output: generate them, as a user would.
    let generate = run(
        "examples/python/generate.sh",
        {
            let mut cmd = Command::new("sh");
            cmd.arg(dir.join("generate.sh")).env("PYTHON", python());
            cmd
        },
        GENERATE_LIMIT,
    )
    .await;
    assert!(
        generate.status.success(),
        "examples/python/generate.sh failed\n{}",
        generate.transcript()
    );

    let gw = gateway().await;
    let example = run(
        "examples/python/checkpoint_flow.py",
        {
            let mut cmd = Command::new(python());
            cmd.arg(dir.join("checkpoint_flow.py"))
                .args(["--address", &gw.addr])
                .env("PYTHONUNBUFFERED", "1")
                .current_dir(&dir);
            cmd
        },
        EXAMPLE_LIMIT,
    )
    .await;
    let (checkpoint, listed) = check_output("examples/python", &example);
    assert_backups_exist(&gw, &checkpoint, &listed).await;
}

#[tokio::test]
async fn the_node_example_creates_watches_and_lists() {
    let dir = examples_dir().join("node");
    // @grpc/grpc-js, @grpc/proto-loader and protobufjs (examples/node/package.json).
    for module in ["@grpc/grpc-js", "@grpc/proto-loader", "protobufjs"] {
        assert!(
            dir.join("node_modules")
                .join(module)
                .join("package.json")
                .is_file(),
            "examples/node/node_modules/{module} is missing: run scripts/test.sh \
             (or npm ci --prefix examples/node)"
        );
    }

    let gw = gateway().await;
    let example = run(
        "node examples/node/checkpoint_flow.js",
        {
            let mut cmd = Command::new("node");
            cmd.arg(dir.join("checkpoint_flow.js"))
                .args(["--address", &gw.addr])
                .current_dir(&dir);
            cmd
        },
        EXAMPLE_LIMIT,
    )
    .await;
    let (checkpoint, listed) = check_output("examples/node", &example);
    assert_backups_exist(&gw, &checkpoint, &listed).await;
}
