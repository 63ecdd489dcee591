//! Huawei's official Python SDK (`huaweicloudsdkcbr`, installed by
//! `scripts/test.sh`) against `cbr-gateway simulator` with signature checking on:
//! create, show until available, list with filters and paging, show, a 404 with
//! its error code, and a wrong-SK 401; then vaults, policies and operation logs
//! (every list with filters and paging, every show, their 400 and 404 codes);
//! then a restore and a deletion of the created backup, followed to their end;
//! and, on a second simulator answering restores with a bare 202 (no
//! `job_id`), a restore that fails.
//! The script is `tests/sdk/official_sdk.py`.

use crate::common;

use common::*;
use tokio::process::Command;

#[tokio::test]
async fn the_official_python_sdk_works_against_the_simulator() {
    let sim = Binary::start(&[
        "simulator",
        "--listen",
        "127.0.0.1:0",
        "--sim-credentials",
        "SDKTESTAK:SDKTESTSK",
        "--sim-backup-duration",
        "1s",
        "--sim-restore-duration",
        "1s",
        "--sim-delete-duration",
        "500ms",
        "--sim-regions",
        "ap-southeast-1,ap-southeast-3",
        "--log-format",
        "json",
    ])
    .await;
    // Restores answered as the documents say, with no body.
    let bare = Binary::start(&[
        "simulator",
        "--listen",
        "127.0.0.1:0",
        "--sim-credentials",
        "SDKTESTAK:SDKTESTSK",
        "--sim-fleet-size",
        "10",
        "--sim-restore-duration",
        "500ms",
        "--sim-restore-without-job-id",
        "--log-format",
        "json",
    ])
    .await;
    let script = format!("{}/tests/sdk/official_sdk.py", env!("CARGO_MANIFEST_DIR"));
    let run = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .args([
            "-W",
            "ignore::Warning",
            &script,
            &format!("http://{}", sim.addr),
            "SDKTESTAK",
            "SDKTESTSK",
            &format!("http://{}", bare.addr),
        ])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), run)
        .await
        .expect("the SDK script finished in time")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "official SDK script failed (pip install huaweicloudsdkcbr; scripts/test.sh does)\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("official SDK: all checks passed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("missing backup -> 404 BackupService.6200"),
        "{stdout}"
    );
    assert!(stdout.contains("wrong SK -> 401 APIGW.0301"), "{stdout}");
    for line in [
        "list_vault/show_vault -> 7 vaults, 81920 MB used",
        "list_policies/show_policy -> 2 bound to the vault",
        "list_op_logs/show_op_log ->",
        "restore_backup -> 202 restoring -> success",
        "restore_backup without job_id -> 202 restoring -> failed BackupService.2008",
        "delete_backup -> 204 deleting -> gone, delete log success",
        "two regions ->",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
}
