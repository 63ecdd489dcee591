//! The simulator checked against the same definitions: a crawl through every
//! route it serves for CBR — every page of every listing, every object each
//! listing names, checkpoints created, followed to the end and read again,
//! restores that succeed and fail, deletions — and every answer validated
//! against its operation's success status and answer schema. The differences
//! allowed are the named upstream quirks of [`QUIRKS`].

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use cbr_simulator::SimulatorSettings;
use cbr_wire::{self as wire};
use serde_json::{Value, json};

use super::{
    defined,
    definitions::{Extra, Finding, Violation, validate},
    exceptions::{QUIRKS, Quirk},
};
use crate::common::PROJECT;

/// A client of the simulator that validates every answer it reads.
struct Crawler {
    base: String,
    http: reqwest::Client,
    /// Answers validated, by route.
    answers: BTreeMap<&'static str, usize>,
    /// Differences no quirk allows.
    unexplained: Vec<String>,
    /// Quirks seen, with how often.
    quirks: BTreeMap<&'static str, usize>,
}

impl Crawler {
    async fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> Value {
        let bare = path.split('?').next().unwrap();
        let route = wire::route_of(method, bare)
            .unwrap_or_else(|| panic!("{method} {bare} is no upstream operation"));
        let op = defined(route).unwrap_or_else(|| panic!("{} is not defined", route.name));
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let (want, schema) = op.success();
        assert_eq!(status, want, "{method} {path}: {text}");
        *self.answers.entry(route.name).or_default() += 1;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        };
        let findings: Vec<Finding> = match schema {
            Some(schema) => validate(schema, &value, Extra::Allowed),
            None if value.is_null() => vec![],
            None => vec![Finding {
                at: "$".into(),
                key: format!("{}.body", op.name),
                violation: Violation::Body,
            }],
        };
        for f in findings {
            match QUIRKS.iter().find(|q| q.allows(&f)) {
                Some(Quirk { name, .. }) => *self.quirks.entry(name).or_default() += 1,
                None => self.unexplained.push(format!(
                    "{} {method} {path}: {} ({}): {:?}",
                    op.name, f.at, f.key, f.violation
                )),
            }
        }
        value
    }

    async fn get(&mut self, path: &str) -> Value {
        self.call("GET", path, None).await
    }

    /// Every page of a listing (`key` its array), `limit` at a time.
    async fn pages(&mut self, path: &str, key: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut all = Vec::new();
        loop {
            let page = self
                .get(&format!("{path}{sep}limit={limit}&offset={}", all.len()))
                .await;
            let items = page[key].as_array().cloned().unwrap_or_default();
            let done = items.len() < limit;
            all.extend(items);
            if done {
                return all;
            }
        }
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn every_simulator_answer_matches_the_definitions() {
    cbr_gateway::install_crypto_provider();
    let sim = cbr_simulator::spawn(&SimulatorSettings {
        fleet_size: 160,
        backup_duration: Duration::from_millis(300),
        restore_duration: Duration::from_millis(300),
        delete_duration: Duration::from_millis(300),
        // What terraform reads (and LIFECYCLE.md §3.4 expects live): a quirk.
        restore_job_id: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut c = Crawler {
        base: format!("http://{}", sim.addr),
        http: reqwest::Client::new(),
        answers: BTreeMap::new(),
        unexplained: Vec::new(),
        quirks: BTreeMap::new(),
    };
    let p = format!("/v3/{PROJECT}");

    // Vaults, each listed and read; the documents' too.
    let vaults = c.pages(&format!("{p}/vaults"), "vaults", 3).await;
    assert!(vaults.len() >= 5);
    for v in &vaults {
        c.get(&format!("{p}/vaults/{}", id(v))).await;
        c.get(&format!("{p}/policies?vault_id={}", id(v))).await;
    }

    // Checkpoints created in every vault with resources (with every
    // parameter in one), read while they run and once they are done.
    let mut created = Vec::new();
    for (n, v) in vaults.iter().enumerate() {
        if v["resources"].as_array().is_none_or(Vec::is_empty)
            || !v["name"].as_str().unwrap().starts_with("vault-")
        {
            continue;
        }
        let resource = &v["resources"][0];
        let body = if n % 2 == 0 {
            json!({"checkpoint": {"vault_id": id(v)}})
        } else {
            json!({"checkpoint": {"vault_id": id(v), "parameters": {
                "auto_trigger": false, "description": "parity", "incremental": false,
                "name": "parity-check", "resources": [id(resource)],
                "retention_duration_days": 3,
            }}})
        };
        let cp = c
            .call("POST", &format!("{p}/checkpoints"), Some(body))
            .await;
        let cp_id = cp["checkpoint"]["id"].as_str().unwrap().to_owned();
        c.get(&format!("{p}/checkpoints/{cp_id}")).await;
        created.push(cp_id);
    }
    assert!(created.len() >= 3, "{created:?}");
    let started = Instant::now();
    for cp_id in &created {
        loop {
            let cp = c.get(&format!("{p}/checkpoints/{cp_id}")).await;
            if cp["checkpoint"]["status"] != "protecting" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{cp_id} still protecting"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    c.get(&format!("{p}/checkpoints/{}", crate::common::CHECKPOINT))
        .await;

    // Every backup, listed with replication records, and each read.
    let backups = c
        .pages(&format!("{p}/backups?show_replication=true"), "backups", 40)
        .await;
    assert!(backups.len() > 160);
    for b in &backups {
        c.get(&format!("{p}/backups/{}", id(b))).await;
    }
    for filter in [
        "existed_quantity_based_retention_backups=true",
        "existed_quantity_based_retention_backups=false",
        "status=protecting&status=error",
        "image_type=replication",
        &format!("parent_id={}", crate::common::BACKUP),
    ] {
        c.get(&format!("{p}/backups?{filter}")).await;
    }

    // Restores: a server backup onto its server, a disk backup onto its
    // disk, and one that fails; then a deletion.
    let available = |kind: &str| {
        backups
            .iter()
            .filter(|b| b["status"] == "available" && b["resource_type"] == kind)
            .filter(|b| b["name"].as_str().is_some_and(|n| !n.starts_with("parity")))
            .map(id)
            .collect::<Vec<_>>()
    };
    let servers = available("OS::Nova::Server");
    let disks = available("OS::Cinder::Volume");
    let server = c.get(&format!("{p}/backups/{}", servers[0])).await;
    let mappings: Vec<Value> = server["backup"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|child| json!({"backup_id": id(child), "volume_id": child["resource_id"]}))
        .collect();
    let restores = [
        (
            servers[0].clone(),
            json!({"restore": {"server_id": server["backup"]["resource_id"], "mappings": mappings, "power_on": true}}),
        ),
        (
            disks[0].clone(),
            json!({"restore": {"volume_id": "sim-error-disk"}}),
        ),
        (disks[1].clone(), {
            let disk = c.get(&format!("{p}/backups/{}", disks[1])).await;
            json!({"restore": {"volume_id": disk["backup"]["resource_id"]}})
        }),
    ];
    for (backup, body) in restores {
        c.call("POST", &format!("{p}/backups/{backup}/restore"), Some(body))
            .await;
    }
    c.call("DELETE", &format!("{p}/backups/{}", servers[1]), None)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Policies, each read; operation logs (backups', restores' running and
    // ended, the deletion's, the documents'), every page and each one read.
    let policies = c.get(&format!("{p}/policies")).await;
    for policy in policies["policies"].as_array().unwrap() {
        c.get(&format!("{p}/policies/{}", id(policy))).await;
    }
    c.get(&format!("{p}/policies?operation_type=replication"))
        .await;
    for round in 0..2 {
        let logs = c
            .pages(&format!("{p}/operation-logs"), "operation_logs", 25)
            .await;
        assert!(logs.len() > 10);
        for log in &logs {
            c.get(&format!("{p}/operation-logs/{}", id(log))).await;
        }
        if round == 0 {
            // Once more after the restores and the deletion have ended.
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
    c.get(&format!(
        "{p}/operation-logs?operation_type=restore&status=failed"
    ))
    .await;

    eprintln!(
        "simulator answers validated per route: {:?}\nquirks seen: {:?}",
        c.answers, c.quirks
    );
    assert!(
        c.unexplained.is_empty(),
        "{} differences:\n{}",
        c.unexplained.len(),
        c.unexplained.join("\n")
    );
    // Every CBR route the gateway calls was answered and checked.
    for route in wire::ALL.iter().filter(|r| defined(r).is_some()) {
        assert!(
            c.answers.contains_key(route.name),
            "{} was never crawled",
            route.name
        );
    }
    // A quirk the simulator no longer shows is stale.
    let stale: Vec<_> = QUIRKS
        .iter()
        .filter(|q| !c.quirks.contains_key(q.name))
        .map(|q| q.name)
        .collect();
    assert!(stale.is_empty(), "quirks never seen: {stale:?}");
}
