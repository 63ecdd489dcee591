//! The built-in simulator's RestoreBackup and DeleteBackup at the HTTP level,
//! as any CBR client sees them (LIFECYCLE.md §3, §4, §5): the 202 with and
//! without `job_id`, the 204, the backup's `restoring` and `deleting`, the
//! restore and delete operation logs with their filters, a restore failed by
//! a `sim-error` target (2008 for a server, 2011 for a disk), every refusal
//! with upstream's code, and faults and counters by the new routes' names.
//!
//! Durations are a few hundred milliseconds and every wait is a bounded poll
//! of the simulator's own answers, never one long sleep.

use std::time::Duration;

use cbr_simulator::{
    self as simulator, SimulatorSettings,
    seed::{BACKUP, CHECKPOINT, CHILD_BACKUP, PROJECT, SERVER, VAULT},
};
use serde_json::{Value, json};

/// How long restores and deletions take here.
const TAKES: Duration = Duration::from_millis(300);

struct Sim {
    base: String,
    http: reqwest::Client,
}

/// Status, JSON body (`Null` when there is none), raw body, `X-Request-Id`.
struct Answer {
    status: u16,
    body: Value,
    raw: Vec<u8>,
    request_id: String,
}

impl Sim {
    async fn start(job_id: bool) -> Sim {
        Sim::taking(job_id, TAKES).await
    }

    /// A simulator whose backups take `backups` (restores and deletions
    /// [`TAKES`]).
    async fn taking(job_id: bool, backups: Duration) -> Sim {
        cbr_gateway::install_crypto_provider();
        let sim = simulator::spawn(&SimulatorSettings {
            fleet_size: 60,
            backup_duration: backups,
            restore_duration: TAKES,
            delete_duration: TAKES,
            restore_job_id: job_id,
            ..Default::default()
        })
        .await
        .unwrap();
        Sim {
            base: format!("http://{}", sim.addr),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let raw = resp.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            raw,
            request_id,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v3/{PROJECT}/{path}", self.base)
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(self.url(path))).await
    }

    async fn restore(&self, backup: &str, body: &Value) -> Answer {
        self.send(
            self.http
                .post(self.url(&format!("backups/{backup}/restore")))
                .json(body),
        )
        .await
    }

    async fn delete(&self, backup: &str) -> Answer {
        self.send(self.http.delete(self.url(&format!("backups/{backup}"))))
            .await
    }

    async fn backup_status(&self, backup: &str) -> Option<String> {
        let a = self.get(&format!("backups/{backup}")).await;
        (a.status == 200).then(|| a.body["backup"]["status"].as_str().unwrap().to_owned())
    }

    /// Polls `check` (every 20 ms, for at most 5 s) until it gives a value.
    async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for operation log `id` to end; the ended log.
    async fn ended_log(&self, id: &str) -> Value {
        self.until("the operation log ends", || async {
            let log = self.get(&format!("operation-logs/{id}")).await.body["operation_log"].clone();
            (log["status"] != "running" && log["status"] != "waiting").then_some(log)
        })
        .await
    }

    /// Creates a checkpoint of the example vault (its server and disks)
    /// named `name`; its ID.
    async fn create(&self, name: &str) -> String {
        let body = json!({"checkpoint": {"vault_id": VAULT, "parameters": {"name": name}}});
        let a = self
            .send(self.http.post(self.url("checkpoints")).json(&body))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["checkpoint"]["id"].as_str().unwrap().to_owned()
    }

    /// The top-level backup of checkpoint `cp`, once it is `status`.
    async fn backup_of(&self, cp: &str, status: &str) -> Value {
        self.until(status, || async {
            let a = self.get(&format!("backups?checkpoint_id={cp}")).await;
            let b = a.body["backups"][0].clone();
            (b["status"] == status).then_some(b)
        })
        .await
    }

    /// An `available` disk backup of the fleet.
    async fn disk_backup(&self) -> Value {
        let a = self
            .get("backups?resource_type=OS::Cinder::Volume&status=available&limit=1")
            .await;
        a.body["backups"][0].clone()
    }
}

/// A `start_time` filter a second before now, which leaves out the seeded
/// logs (the documents' running restore among them).
fn since_now() -> String {
    format!(
        "start_time={}",
        (chrono::Utc::now() - chrono::Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// A restore of the documents' server backup onto `server`.
fn server_restore(server: &str) -> Value {
    json!({"restore": {
        "server_id": server,
        "power_on": true,
        "mappings": [{"backup_id": CHILD_BACKUP, "volume_id": "c2a8d2f9-0000-4000-8000-000000000001"}],
    }})
}

/// An error answer: upstream's body shape and a request id.
fn assert_error(a: &Answer, status: u16, code: &str, at: &str) {
    assert_eq!(a.status, status, "{at}: {}", a.body);
    assert_eq!(a.body["error_code"], code, "{at}: {}", a.body);
    assert!(
        a.body["error_msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{at}"
    );
    assert!(!a.request_id.is_empty(), "{at}: X-Request-Id");
}

#[tokio::test]
async fn a_restore_answers_202_with_its_job_id_and_its_log_runs_to_success() {
    let sim = Sim::start(true).await;
    let a = sim.restore(BACKUP, &server_restore(SERVER)).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert!(!a.request_id.is_empty());
    let job = a.body["job_id"].as_str().expect("job_id").to_owned();
    assert_eq!(
        a.body.as_object().unwrap().len(),
        1,
        "only job_id: {}",
        a.body
    );

    // Meanwhile the backup, its disks' parent and its checkpoint's resource
    // say so.
    assert_eq!(
        sim.backup_status(BACKUP).await.as_deref(),
        Some("restoring")
    );
    let listed = sim
        .get(&format!("backups?checkpoint_id={CHECKPOINT}"))
        .await;
    assert_eq!(listed.body["backups"][0]["status"], "restoring");
    let cp = sim.get(&format!("checkpoints/{CHECKPOINT}")).await;
    assert_eq!(
        cp.body["checkpoint"]["vault"]["resources"][0]["protect_status"],
        "restoring"
    );
    let vault = sim.get(&format!("vaults/{VAULT}")).await;
    assert_eq!(
        vault.body["vault"]["resources"][0]["protect_status"],
        "restoring"
    );
    let log = sim.get(&format!("operation-logs/{job}")).await.body["operation_log"].clone();
    assert_eq!(log["operation_type"], "restore");
    assert_eq!(log["status"], "running");
    assert!(log["ended_at"].is_null());
    assert!(log["extra_info"]["common"]["progress"].as_i64().unwrap() < 100);

    let done = sim.ended_log(&job).await;
    assert_eq!(done["status"], "success");
    assert_eq!(done["id"], job.as_str());
    assert_eq!(done["project_id"], PROJECT);
    assert_eq!(done["checkpoint_id"], CHECKPOINT);
    assert_eq!(done["vault_id"], VAULT);
    assert!(done["vault_name"].is_string());
    assert_eq!(done["provider_id"], "0daac4c5-6707-4851-97ba-169e36266b66");
    assert_eq!(done["error_info"], json!({"code": "", "message": ""}));
    assert_eq!(done["extra_info"]["common"]["progress"], 100);
    assert!(done["extra_info"]["common"]["request_id"].is_string());
    assert_eq!(done["extra_info"]["resource"]["id"], SERVER);
    assert_eq!(done["extra_info"]["resource"]["type"], "OS::Nova::Server");
    let restore = &done["extra_info"]["restore"];
    assert_eq!(restore["backup_id"], BACKUP);
    assert!(restore["backup_name"].is_string());
    assert_eq!(restore["target_resource_id"], SERVER);
    // Restored onto itself: named as the backed-up server.
    assert_eq!(
        restore["target_resource_name"],
        done["extra_info"]["resource"]["name"]
    );
    // The naive times of every other log: no zone, microseconds.
    for key in ["created_at", "started_at", "updated_at", "ended_at"] {
        let t = done[key].as_str().unwrap_or_else(|| panic!("{key}"));
        assert!(
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.6f").is_ok(),
            "{key}: {t}"
        );
    }
    assert_eq!(
        sim.backup_status(BACKUP).await.as_deref(),
        Some("available")
    );
    // Done: another restore is accepted.
    assert_eq!(
        sim.restore(BACKUP, &server_restore(SERVER)).await.status,
        202
    );
}

#[tokio::test]
async fn a_restore_can_answer_a_bare_202_as_the_documents_say() {
    let sim = Sim::start(false).await;
    let a = sim.restore(BACKUP, &server_restore(SERVER)).await;
    assert_eq!(a.status, 202);
    assert!(
        a.raw.is_empty(),
        "no body: {:?}",
        String::from_utf8_lossy(&a.raw)
    );
    assert!(!a.request_id.is_empty());
    // The client finds its log among the restore logs of the resource.
    let logs = sim
        .get(&format!(
            "operation-logs?operation_type=restore&resource_id={SERVER}&{}",
            since_now()
        ))
        .await;
    assert_eq!(logs.body["count"], 1, "{}", logs.body);
    let id = logs.body["operation_logs"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sim.ended_log(&id).await["status"], "success");
}

#[tokio::test]
async fn a_restore_onto_a_sim_error_target_is_accepted_then_fails_with_2008_or_2011() {
    let sim = Sim::start(true).await;
    // A server target …
    let a = sim
        .restore(BACKUP, &server_restore("sim-error-server"))
        .await;
    assert_eq!(a.status, 202);
    let log = sim.ended_log(a.body["job_id"].as_str().unwrap()).await;
    assert_eq!(log["status"], "failed");
    assert_eq!(log["error_info"]["code"], "BackupService.2008");
    assert!(
        log["error_info"]["message"]
            .as_str()
            .unwrap()
            .contains("restor")
    );
    assert!(log["ended_at"].is_string());
    for key in ["target_resource_id", "target_resource_name"] {
        assert_eq!(log["extra_info"]["restore"][key], "sim-error-server");
    }
    assert_eq!(
        sim.backup_status(BACKUP).await.as_deref(),
        Some("available")
    );

    // … and a disk target.
    let disk = sim.disk_backup().await;
    let id = disk["id"].as_str().unwrap();
    let a = sim
        .restore(id, &json!({"restore": {"volume_id": "sim-error-volume"}}))
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(sim.backup_status(id).await.as_deref(), Some("restoring"));
    let log = sim.ended_log(a.body["job_id"].as_str().unwrap()).await;
    assert_eq!(log["status"], "failed");
    assert_eq!(log["error_info"]["code"], "BackupService.2011");
    assert_eq!(log["extra_info"]["resource"]["type"], "OS::Cinder::Volume");
    assert_eq!(sim.backup_status(id).await.as_deref(), Some("available"));

    // The same disk onto a good volume succeeds.
    let a = sim
        .restore(id, &json!({"restore": {"volume_id": disk["resource_id"]}}))
        .await;
    assert_eq!(a.status, 202);
    assert_eq!(
        sim.ended_log(a.body["job_id"].as_str().unwrap()).await["status"],
        "success"
    );
}

#[tokio::test]
async fn every_bad_restore_gets_upstreams_code_and_changes_nothing() {
    // Borrowed, so that the helper closures below can be called again.
    // Backups long enough to be seen `protecting` on a loaded machine.
    let sim = &Sim::taking(true, Duration::from_millis(1500)).await;
    let bad = |body: Value| async move { sim.restore(BACKUP, &body).await };
    // 9900: the body.
    let not_json = sim
        .send(
            sim.http
                .post(sim.url(&format!("backups/{BACKUP}/restore")))
                .header("content-type", "application/json")
                .body("not json"),
        )
        .await;
    assert_error(&not_json, 400, "BackupService.9900", "not JSON");
    let mapping = json!([{"backup_id": CHILD_BACKUP, "volume_id": "v"}]);
    for (at, body) in [
        ("empty object", json!({})),
        ("restore not an object", json!({"restore": "now"})),
        ("no server_id", json!({"restore": {"mappings": mapping}})),
        (
            "empty server_id",
            json!({"restore": {"server_id": "", "mappings": mapping}}),
        ),
        ("no mappings", json!({"restore": {"server_id": SERVER}})),
        (
            "empty mappings",
            json!({"restore": {"server_id": SERVER, "mappings": []}}),
        ),
        (
            "a mapping without volume_id",
            json!({"restore": {"server_id": SERVER, "mappings": [{"backup_id": CHILD_BACKUP}]}}),
        ),
        (
            "a mapping to another backup's disk",
            json!({"restore": {"server_id": SERVER, "mappings": [{"backup_id": BACKUP, "volume_id": "v"}]}}),
        ),
        (
            "details without destination_path",
            json!({"restore": {"server_id": SERVER, "mappings": mapping, "details": {}}}),
        ),
        (
            "power_on not a boolean",
            json!({"restore": {"server_id": SERVER, "mappings": mapping, "power_on": "yes"}}),
        ),
    ] {
        assert_error(&bad(body).await, 400, "BackupService.9900", at);
    }
    // A disk backup needs its volume.
    let disk = sim.disk_backup().await;
    let disk_id = disk["id"].as_str().unwrap();
    assert_error(
        &sim.restore(disk_id, &json!({"restore": {"server_id": SERVER}}))
            .await,
        400,
        "BackupService.9900",
        "disk without volume_id",
    );

    // 6200: not a top-level backup of this project.
    for (at, path) in [
        (
            "missing",
            format!("{}/v3/{PROJECT}/backups/nope/restore", sim.base),
        ),
        (
            "a disk backup of a server backup",
            format!("{}/v3/{PROJECT}/backups/{CHILD_BACKUP}/restore", sim.base),
        ),
        (
            "another project",
            format!(
                "{}/v3/0123456789abcdef0123456789abcdef/backups/{BACKUP}/restore",
                sim.base
            ),
        ),
    ] {
        let a = sim
            .send(sim.http.post(path).json(&server_restore(SERVER)))
            .await;
        assert_error(&a, 404, "BackupService.6200", at);
        assert!(
            a.body["error_msg"]
                .as_str()
                .unwrap()
                .contains("does not exist")
        );
    }
    // Nothing above started anything.
    let recent = since_now();
    let logs = sim
        .get(&format!("operation-logs?operation_type=restore&{recent}"))
        .await;
    assert_eq!(logs.body["count"], 0, "{}", logs.body);
    assert_eq!(
        sim.backup_status(BACKUP).await.as_deref(),
        Some("available")
    );

    // 2005: not available — still being taken, failed, being deleted.
    let cp = sim.create("restore-too-early").await;
    let protecting = sim.backup_of(&cp, "protecting").await;
    let a = sim
        .restore(
            protecting["id"].as_str().unwrap(),
            &json!({"restore": {"server_id": SERVER, "mappings": mapping}}),
        )
        .await;
    assert_error(&a, 400, "BackupService.2005", "protecting");
    // Nor another backup of the server while this one is being taken.
    let a = sim.restore(BACKUP, &server_restore(SERVER)).await;
    assert_error(&a, 400, "BackupService.2002", "server being backed up");
    let cp = sim.create("sim-error-restore").await;
    let failed = sim.backup_of(&cp, "error").await;
    let a = sim
        .restore(
            failed["id"].as_str().unwrap(),
            &json!({"restore": {"server_id": SERVER, "mappings": mapping}}),
        )
        .await;
    assert_error(&a, 400, "BackupService.2005", "error");
    assert_eq!(sim.delete(disk_id).await.status, 204);
    let a = sim
        .restore(
            disk_id,
            &json!({"restore": {"volume_id": disk["resource_id"]}}),
        )
        .await;
    assert_error(&a, 400, "BackupService.2005", "deleting");

    // 2010: one restore of a backup at a time, naming the resource.
    assert_eq!(
        sim.restore(BACKUP, &server_restore(SERVER)).await.status,
        202
    );
    let again = sim.restore(BACKUP, &server_restore(SERVER)).await;
    assert_error(&again, 400, "BackupService.2010", "concurrent restore");
    assert_eq!(
        again.body["error_msg"],
        format!("Resource {SERVER} is restoring.")
    );
    let logs = sim
        .get(&format!("operation-logs?operation_type=restore&{recent}"))
        .await;
    assert_eq!(
        logs.body["count"], 1,
        "only the accepted one: {}",
        logs.body
    );
}

#[tokio::test]
async fn a_delete_answers_204_then_deleting_then_the_backup_its_disks_and_checkpoint_are_gone() {
    let sim = Sim::start(true).await;
    let cp = sim.create("to-delete").await;
    let backup = sim.backup_of(&cp, "available").await;
    let id = backup["id"].as_str().unwrap().to_owned();
    let shown = sim.get(&format!("backups/{id}")).await.body["backup"].clone();
    let disks: Vec<String> = shown["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!disks.is_empty(), "a server backup has disk backups");

    let a = sim.delete(&id).await;
    assert_eq!(a.status, 204);
    assert!(a.raw.is_empty(), "no body");
    assert!(!a.request_id.is_empty());
    assert_eq!(sim.backup_status(&id).await.as_deref(), Some("deleting"));
    for disk in &disks {
        assert_eq!(sim.backup_status(disk).await.as_deref(), Some("deleting"));
    }
    let listed = sim.get(&format!("backups?checkpoint_id={cp}")).await;
    assert_eq!(listed.body["backups"][0]["status"], "deleting");
    let checkpoint = sim.get(&format!("checkpoints/{cp}")).await;
    assert_eq!(checkpoint.body["checkpoint"]["status"], "deleting");

    // A second delete meanwhile: 6201, and the backup's status says why.
    let again = sim.delete(&id).await;
    assert_error(&again, 400, "BackupService.6201", "second delete");

    let delete_log = sim
        .get(&format!(
            "operation-logs?operation_type=delete&resource_id={}",
            backup["resource_id"].as_str().unwrap()
        ))
        .await
        .body["operation_logs"][0]
        .clone();
    assert_eq!(delete_log["status"], "running");
    assert_eq!(delete_log["extra_info"]["delete"]["backup_id"], id.as_str());

    // Then gone: 404 6200 for it and its disks, out of the list, its
    // checkpoint 404 6217.
    let gone = sim
        .until("the backup is gone", || async {
            let a = sim.get(&format!("backups/{id}")).await;
            (a.status == 404).then_some(a)
        })
        .await;
    assert_error(&gone, 404, "BackupService.6200", "deleted backup");
    for disk in &disks {
        assert_error(
            &sim.get(&format!("backups/{disk}")).await,
            404,
            "BackupService.6200",
            "disk",
        );
    }
    let listed = sim.get(&format!("backups?checkpoint_id={cp}")).await;
    assert_eq!(listed.body["count"], 0, "{}", listed.body);
    let all = sim.get("backups?limit=1000").await;
    assert!(
        all.body["backups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["id"] != id.as_str())
    );
    assert_error(
        &sim.get(&format!("checkpoints/{cp}")).await,
        404,
        "BackupService.6217",
        "checkpoint",
    );
    // Deleting it again: it does not exist.
    assert_error(
        &sim.delete(&id).await,
        404,
        "BackupService.6200",
        "delete after gone",
    );

    // Its logs outlive it: the delete log ended, its own backup log stays.
    let done = sim.ended_log(delete_log["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "success");
    assert_eq!(done["operation_type"], "delete");
    assert_eq!(done["checkpoint_id"], cp.as_str());
    assert_eq!(done["extra_info"]["delete"]["backup_name"], "to-delete");
    assert_eq!(done["extra_info"]["resource"]["id"], backup["resource_id"]);
    assert!(done["ended_at"].is_string());
    let own = sim
        .get(&format!(
            "operation-logs?operation_type=backup&resource_id={}&limit=1000",
            backup["resource_id"].as_str().unwrap()
        ))
        .await;
    let own: Vec<&Value> = own.body["operation_logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["checkpoint_id"] == cp.as_str())
        .collect();
    assert_eq!(own.len(), 1, "the backup's own log is still listed");
    assert_eq!(own[0]["status"], "success");
    let shown = sim
        .get(&format!(
            "operation-logs/{}",
            own[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown.status, 200);
}

#[tokio::test]
async fn a_backup_being_restored_cannot_be_deleted_nor_a_missing_one() {
    let sim = Sim::start(true).await;
    assert_error(
        &sim.delete("nope").await,
        404,
        "BackupService.6200",
        "missing",
    );
    assert_error(
        &sim.delete(CHILD_BACKUP).await,
        404,
        "BackupService.6200",
        "a disk backup",
    );
    let a = sim.restore(BACKUP, &server_restore(SERVER)).await;
    assert_eq!(a.status, 202);
    assert_error(
        &sim.delete(BACKUP).await,
        400,
        "BackupService.6201",
        "restoring",
    );
    assert_eq!(
        sim.backup_status(BACKUP).await.as_deref(),
        Some("restoring")
    );
    sim.ended_log(a.body["job_id"].as_str().unwrap()).await;
    // Once restored it can be.
    assert_eq!(sim.delete(BACKUP).await.status, 204);
    // A failed backup can be deleted too (cleaning up is what one does).
    let cp = sim.create("sim-error-cleanup").await;
    let failed = sim.backup_of(&cp, "error").await;
    assert_eq!(sim.delete(failed["id"].as_str().unwrap()).await.status, 204);
}

#[tokio::test]
async fn restore_and_delete_logs_answer_every_filter_and_page() {
    // Borrowed, so that the helper closure below can be called again.
    let sim = &Sim::start(true).await;
    // A start time leaves the seeded logs out (the documents' running
    // restore, the fleet's running backups).
    let recent = &since_now();
    let restore = sim.restore(BACKUP, &server_restore(SERVER)).await;
    let restore_id = restore.body["job_id"].as_str().unwrap().to_owned();
    let disk = sim.disk_backup().await;
    let disk_id = disk["id"].as_str().unwrap();
    let volume = disk["resource_id"].as_str().unwrap();
    assert_eq!(sim.delete(disk_id).await.status, 204);

    let ids = |a: &Answer| -> Vec<String> {
        a.body["operation_logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let q =
        |query: String| async move { sim.get(&format!("operation-logs?{recent}&{query}")).await };

    let running = q("status=running".into()).await;
    assert_eq!(running.body["count"], 2, "{}", running.body);
    let restores = q("operation_type=restore".into()).await;
    assert_eq!(ids(&restores), [restore_id.as_str()]);
    let deletes = q(format!("operation_type=delete&resource_id={volume}")).await;
    assert_eq!(deletes.body["count"], 1);
    let delete_id = ids(&deletes)[0].clone();
    assert_eq!(
        ids(&q(format!("operation_type=restore&vault_id={VAULT}")).await),
        [restore_id.as_str()]
    );
    for none in [
        "operation_type=restore&vault_id=other".to_owned(),
        format!("operation_type=restore&resource_id={volume}"),
        format!("operation_type=delete&resource_id={SERVER}"),
        "operation_type=restore&status=success".to_owned(),
    ] {
        assert_eq!(q(none.clone()).await.body["count"], 0, "{none}");
    }
    // Newest first, paged.
    let both = q(String::new()).await;
    assert_eq!(ids(&both), [delete_id.as_str(), restore_id.as_str()]);
    assert_eq!(ids(&q("limit=1".into()).await), [delete_id.as_str()]);
    let second = q("limit=1&offset=1".into()).await;
    assert_eq!(ids(&second), [restore_id.as_str()]);
    assert_eq!(second.body["count"], 2);
    // Started after the end time: out.
    let before = recent.replace("start_time", "end_time");
    let earlier = sim
        .get(&format!(
            "operation-logs?{before}&operation_type=restore&limit=1000"
        ))
        .await;
    assert!(!ids(&earlier).contains(&restore_id));

    sim.ended_log(&restore_id).await;
    sim.ended_log(&delete_id).await;
    assert_eq!(q("status=running".into()).await.body["count"], 0);
    assert_eq!(
        ids(&q("status=success&operation_type=delete".into()).await),
        [delete_id.as_str()]
    );
    assert_eq!(
        ids(&q("operation_type=restore&status=success".into()).await),
        [restore_id.as_str()]
    );
    assert_error(
        &q("operation_type=restores".into()).await,
        400,
        "BackupService.9900",
        "bad type",
    );
}

#[tokio::test]
async fn faults_and_counters_know_restore_and_delete_by_name() {
    let sim = Sim::start(true).await;
    let faults = |route: &str| {
        sim.http
            .put(format!("{}/_simulator/faults", sim.base))
            .json(&json!([{"route": route, "error_rate": 1.0, "status": 503}]))
            .send()
    };
    assert_eq!(
        faults("restore_backup").await.unwrap().status().as_u16(),
        204
    );
    let a = sim.restore(BACKUP, &server_restore(SERVER)).await;
    assert_error(&a, 503, "APIGW.0203", "injected on restore");
    assert_eq!(
        sim.backup_status(BACKUP).await.as_deref(),
        Some("available"),
        "not started"
    );
    let disk = sim.disk_backup().await;
    let disk_id = disk["id"].as_str().unwrap();
    assert_eq!(
        sim.delete(disk_id).await.status,
        204,
        "only the named route"
    );

    assert_eq!(
        faults("delete_backup").await.unwrap().status().as_u16(),
        204
    );
    let a = sim.delete(BACKUP).await;
    assert_error(&a, 503, "APIGW.0203", "injected on delete");
    assert_eq!(
        sim.backup_status(BACKUP).await.as_deref(),
        Some("available"),
        "not deleted"
    );
    // ShowBackup shares DeleteBackup's path, not its name.
    assert_eq!(sim.get(&format!("backups/{BACKUP}")).await.status, 200);
    assert_eq!(
        sim.restore(BACKUP, &server_restore(SERVER)).await.status,
        202
    );

    let stats: Value = sim
        .http
        .get(format!("{}/_simulator/stats", sim.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = &stats["requests"];
    assert_eq!(requests["restore_backup"], 2, "{stats}");
    assert_eq!(requests["delete_backup"], 2, "{stats}");
}
