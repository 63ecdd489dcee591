//! The built-in simulator at the HTTP level, as any CBR client sees it: the
//! documents' objects, upstream's error codes, request ids, the create
//! lifecycle, ListBackups filters and paging, vaults, policies and operation
//! logs, signature and token checks, and fault injection with counters.

use crate::common;

use std::time::{Duration, Instant};

use cbr_signer as signing;
use cbr_simulator::{self as simulator, SimulatorSettings, auth::KeyPair};
use common::*;
use serde_json::{Value, json};

struct Sim {
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn start(settings: SimulatorSettings) -> Sim {
        cbr_gateway::install_crypto_provider();
        let sim = simulator::spawn(&settings).await.unwrap();
        Sim {
            base: format!("http://{}", sim.addr),
            http: reqwest::Client::new(),
        }
    }

    async fn quick() -> Sim {
        Sim::start(SimulatorSettings {
            fleet_size: 300,
            backup_duration: Duration::from_millis(400),
            ..Default::default()
        })
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }
}

async fn decode(resp: reqwest::Response) -> (u16, Value, String) {
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, id)
}

/// Every field of `expected` is in `actual` with the same value (recursively).
fn assert_contains(actual: &Value, expected: &Value, at: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or_else(|| panic!("{at}.{k} missing"));
                assert_contains(av, ev, &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{at} length");
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_contains(av, ev, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{at}"),
    }
}

#[tokio::test]
async fn the_documents_objects_are_served_as_documented() {
    let sim = Sim::quick().await;
    let doc = |name: &str| serde_json::from_str::<Value>(&fixture(name)).unwrap();

    let (status, body, _) = sim
        .get(&format!("/v3/{PROJECT}/checkpoints/{CHECKPOINT}"))
        .await;
    assert_eq!(status, 200);
    assert_contains(&body, &doc("show_checkpoint.json"), "$");
    assert_eq!(
        body["checkpoint"]["vault"]["resources"][0]["resource_size"],
        json!(40)
    );

    let (status, body, _) = sim.get(&format!("/v3/{PROJECT}/backups/{BACKUP}")).await;
    assert_eq!(status, 200);
    assert_contains(&body, &doc("show_backup.json"), "$");
    assert_eq!(
        body["backup"]["enterprise_project_id"],
        json!(0),
        "numeric quirk"
    );

    let (status, body, _) = sim
        .get(&format!("/v1/{PROJECT}/checkpoint_items/{CHECKPOINT_ITEM}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, doc("show_checkpoint_item.json"));

    // A listed backup carries upstream's nulls and extra objects.
    let (_, body, _) = sim.get(&format!("/v3/{PROJECT}/backups?limit=1")).await;
    let b = &body["backups"][0];
    assert_eq!(b["description"], Value::Null);
    assert_eq!(b["expired_at"], Value::Null);
    assert_eq!(b["parent_id"], Value::Null);
    assert!(b["extend_info"]["app_consistency"].is_object());
    assert!(
        b["created_at"].as_str().unwrap().len() == 26,
        "naive microsecond timestamps: {}",
        b["created_at"]
    );
}

#[tokio::test]
async fn errors_carry_upstreams_codes_and_every_answer_a_unique_request_id() {
    let sim = Sim::quick().await;
    let cases: Vec<(u16, &str, (u16, Value, String))> = vec![
        (404, "BackupService.6217", sim.get(&format!("/v3/{PROJECT}/checkpoints/nope")).await),
        (404, "BackupService.6200", sim.get(&format!("/v3/{PROJECT}/backups/nope")).await),
        (404, "CSBS.3001", sim.get(&format!("/v1/{PROJECT}/checkpoint_items/nope")).await),
        // Objects of another project are not visible.
        (404, "BackupService.6200", sim.get(&format!("/v3/other/backups/{BACKUP}")).await),
        (400, "BackupService.9900", sim.get(&format!("/v3/{PROJECT}/backups?limit=0")).await),
        (400, "BackupService.9900", sim.get(&format!("/v3/{PROJECT}/backups?status=done")).await),
        (400, "BackupService.9900", sim.get(&format!("/v3/{PROJECT}/backups?sort=size")).await),
        (400, "BackupService.9900", sim.get(&format!("/v3/{PROJECT}/backups?marker=nope")).await),
        (
            404,
            "BackupService.6105",
            sim.post(&format!("/v3/{PROJECT}/checkpoints"), &json!({"checkpoint": {"vault_id": "nope"}}))
                .await,
        ),
        (
            400,
            "BackupService.9900",
            sim.post(&format!("/v3/{PROJECT}/checkpoints"), &json!({"checkpoint": {}})).await,
        ),
        (
            400,
            "BackupService.9900",
            sim.post(
                &format!("/v3/{PROJECT}/checkpoints"),
                &json!({"checkpoint": {"vault_id": VAULT, "parameters": {"name": "has space"}}}),
            )
            .await,
        ),
        (
            400,
            "BackupService.9900",
            sim.post(
                &format!("/v3/{PROJECT}/checkpoints"),
                &json!({"checkpoint": {"vault_id": VAULT, "parameters": {"description": "d".repeat(256)}}}),
            )
            .await,
        ),
        (
            400,
            "BackupService.9900",
            sim.post(
                &format!("/v3/{PROJECT}/checkpoints"),
                &json!({"checkpoint": {"vault_id": VAULT, "parameters": {
                    "resource_details": (0..257).map(|i| json!({"id": format!("r{i}"), "type": "OS::Nova::Server"})).collect::<Vec<_>>()
                }}}),
            )
            .await,
        ),
        (
            400,
            "BackupService.6135",
            sim.post(
                &format!("/v3/{PROJECT}/checkpoints"),
                &json!({"checkpoint": {"vault_id": VAULT, "parameters": {"resources": ["not-in-vault"]}}}),
            )
            .await,
        ),
        (404, "APIGW.0101", sim.get("/v3/no/such/route").await),
    ];
    let mut ids = std::collections::HashSet::new();
    for (want_status, want_code, (status, body, id)) in cases {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error_code"], want_code, "{body}");
        assert!(body["error_msg"].is_string());
        assert_eq!(id.len(), 32, "X-Request-Id present");
        assert!(ids.insert(id), "request ids are unique");
    }
}

#[tokio::test]
async fn created_checkpoints_run_to_available_with_rising_progress() {
    let sim = Sim::quick().await;
    let (status, body, _) = sim
        .post(
            &format!("/v3/{PROJECT}/checkpoints"),
            &json!({"checkpoint": {"vault_id": VAULT, "parameters": {
                "name": "nightly", "description": "from the test", "incremental": false,
                "resources": [SERVER]
            }}}),
        )
        .await;
    assert_eq!(status, 200, "create answers 200, as upstream does: {body}");
    let cp = &body["checkpoint"];
    assert_eq!(cp["status"], "protecting");
    assert_eq!(cp["vault"]["resources"][0]["protect_status"], "protecting");
    assert_eq!(cp["extra_info"]["name"], "nightly");
    assert_eq!(cp["extra_info"]["retention_duration"], -1);
    let id = cp["id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let mut progress_seen = vec![];
    let backup = loop {
        let (_, list, _) = sim
            .get(&format!("/v3/{PROJECT}/backups?checkpoint_id={id}"))
            .await;
        assert_eq!(list["count"], 1);
        let b = list["backups"][0].clone();
        if b["status"] == "available" {
            break b;
        }
        assert_eq!(b["status"], "protecting");
        progress_seen.push(b["extend_info"]["progress"].as_i64().unwrap());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never became available"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    };
    assert!(
        progress_seen.windows(2).all(|w| w[0] <= w[1]),
        "{progress_seen:?}"
    );
    assert_eq!(backup["name"], "nightly");
    assert_eq!(backup["incremental"], false);

    let (_, body, _) = sim.get(&format!("/v3/{PROJECT}/checkpoints/{id}")).await;
    assert_eq!(body["checkpoint"]["status"], "available");
    assert_eq!(
        body["checkpoint"]["vault"]["resources"][0]["protect_status"],
        "available"
    );

    // The server backup has one child per disk, and a CSBS item exists for it.
    let backup_id = backup["id"].as_str().unwrap();
    let (_, body, _) = sim.get(&format!("/v3/{PROJECT}/backups/{backup_id}")).await;
    assert_eq!(body["backup"]["children"].as_array().unwrap().len(), 1);
    assert_eq!(body["backup"]["children"][0]["parent_id"], backup_id);
    let (status, body, _) = sim
        .get(&format!("/v1/{PROJECT}/checkpoint_items/{backup_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["checkpoint_item"]["status"], "available");
    assert_eq!(body["checkpoint_item"]["checkpoint_id"], id.as_str());
    assert_eq!(
        body["checkpoint_item"]["extend_info"]["volume_backups"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_sim_error_name_makes_the_checkpoint_fail() {
    let sim = Sim::quick().await;
    let (_, body, _) = sim
        .post(
            &format!("/v3/{PROJECT}/checkpoints"),
            &json!({"checkpoint": {"vault_id": VAULT, "parameters": {"name": "sim-error-disk-full"}}}),
        )
        .await;
    let id = body["checkpoint"]["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let (_, body, _) = sim.get(&format!("/v3/{PROJECT}/checkpoints/{id}")).await;
        match body["checkpoint"]["status"].as_str().unwrap() {
            "protecting" => {}
            "error" => {
                assert_eq!(
                    body["checkpoint"]["vault"]["resources"][0]["protect_status"],
                    "error"
                );
                break;
            }
            other => panic!("unexpected status {other}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

#[tokio::test]
async fn list_backups_filters_sorts_and_pages() {
    let sim = Sim::quick().await;
    let base = format!("/v3/{PROJECT}/backups");
    let (_, all, _) = sim.get(&base).await;
    let total = all["count"].as_u64().unwrap();
    assert_eq!(total, 301, "300 generated + the document's backup");
    assert_eq!(all["backups"].as_array().unwrap().len(), 301);

    // Paging by offset covers everything exactly once; count stays the total.
    let mut seen = std::collections::HashSet::new();
    for offset in (0..total).step_by(100) {
        let (_, page, _) = sim.get(&format!("{base}?limit=100&offset={offset}")).await;
        assert_eq!(page["count"].as_u64().unwrap(), total);
        for b in page["backups"].as_array().unwrap() {
            assert!(seen.insert(b["id"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(seen.len() as u64, total);

    // Newest first by default.
    let created: Vec<&str> = all["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["created_at"].as_str().unwrap())
        .collect();
    assert!(
        created[..created.len() - 1]
            .windows(2)
            .all(|w| w[0] >= w[1])
    );

    // Repeated status keys: any of them.
    let (_, page, _) = sim
        .get(&format!("{base}?status=error&status=deleting"))
        .await;
    let statuses: Vec<&str> = page["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| *s == "error" || *s == "deleting"));
    assert_eq!(page["count"].as_u64().unwrap() as usize, statuses.len());

    // resource_type, vault_id, image_type, name, checkpoint_id, resource_id.
    let (_, page, _) = sim
        .get(&format!(
            "{base}?resource_type=OS%3A%3ASfs%3A%3ATurbo&limit=5"
        ))
        .await;
    assert!(page["count"].as_u64().unwrap() > 5);
    assert!(
        page["backups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["resource_type"] == "OS::Sfs::Turbo")
    );
    let (_, page, _) = sim.get(&format!("{base}?vault_id={VAULT}")).await;
    assert_eq!(page["count"], 1);
    assert_eq!(page["backups"][0]["id"], BACKUP);
    let (_, page, _) = sim.get(&format!("{base}?image_type=replication")).await;
    assert!(
        page["backups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["image_type"] == "replication")
    );
    let (_, page, _) = sim.get(&format!("{base}?name=backup_name")).await;
    assert_eq!(page["count"], 1);
    let (_, page, _) = sim.get(&format!("{base}?checkpoint_id={CHECKPOINT}")).await;
    assert_eq!(page["count"], 1);
    let (_, page, _) = sim.get(&format!("{base}?resource_id={SERVER}")).await;
    assert_eq!(page["count"], 1);

    // parent_id lists a backup's disk children.
    let (_, page, _) = sim.get(&format!("{base}?parent_id={BACKUP}")).await;
    assert_eq!(page["count"], 1);
    assert_eq!(
        page["backups"][0]["id"],
        "5d822633-2bbf-4af8-a16e-5ab1c7705235"
    );

    // Time window.
    let (_, page, _) = sim
        .get(&format!(
            "{base}?start_time=2019-05-10T00%3A00%3A00Z&end_time=2019-05-11T00%3A00%3A00Z"
        ))
        .await;
    assert_eq!(page["count"], 1);
    assert_eq!(page["backups"][0]["id"], BACKUP);

    // Sort by name ascending, then the marker continues after a given backup.
    let (_, page, _) = sim.get(&format!("{base}?sort=name%3Aasc&limit=50")).await;
    let names: Vec<&str> = page["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    let tenth = page["backups"][9]["id"].as_str().unwrap();
    let (_, after, _) = sim
        .get(&format!("{base}?sort=name%3Aasc&limit=5&marker={tenth}"))
        .await;
    assert_eq!(after["backups"][0]["id"], page["backups"][10]["id"]);

    // show_replication adds replication_records.
    let (_, page, _) = sim
        .get(&format!("{base}?limit=1&show_replication=true"))
        .await;
    assert!(page["backups"][0]["replication_records"].is_array());
    // Every documented parameter is accepted.
    let (status, _, _) = sim
        .get(&format!(
            "{base}?dec=false&enterprise_project_id=0&own_type=private&member_status=accepted\
             &used_percent=10&incremental=true&resource_az=cn-north-4a&resource_name=x"
        ))
        .await;
    assert_eq!(status, 200);
}

/// Signs a request the way Huawei's SDKs do.
fn sign(
    method: &str,
    url: &reqwest::Url,
    body: &[u8],
    ak: &str,
    sk: &str,
    date: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String)> {
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let sdk_date = date.format(signing::DATE_FORMAT).to_string();
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), host),
        ("x-project-id".to_owned(), PROJECT.to_owned()),
        ("x-sdk-date".to_owned(), sdk_date.clone()),
    ];
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let cr = signing::canonical_request(
        method,
        url.path(),
        url.query().unwrap_or(""),
        &headers,
        &signed,
        &signing::payload_hash(body),
    );
    let sig = signing::signature(sk.as_bytes(), &signing::string_to_sign(&sdk_date, &cr));
    let mut out = headers;
    out.retain(|(k, _)| k != "host");
    out.push((
        "authorization".into(),
        signing::authorization(ak, &signed, &sig),
    ));
    out
}

#[tokio::test]
async fn signatures_and_tokens_are_checked_like_the_api_gateway() {
    let sim = Sim::start(SimulatorSettings {
        fleet_size: 10,
        credentials: vec![KeyPair {
            access_key: "TESTAK".into(),
            secret_key: "TESTSK".into(),
            security_token: None,
        }],
        tokens: vec!["good-token".into()],
        ..Default::default()
    })
    .await;
    let url: reqwest::Url = format!(
        "{}/v3/{PROJECT}/backups?resource_type=OS%3A%3ANova%3A%3AServer&limit=2",
        sim.base
    )
    .parse()
    .unwrap();
    let send = |headers: Vec<(String, String)>, url: reqwest::Url| {
        let mut req = sim.http.get(url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { decode(req.send().await.unwrap()).await }
    };
    let now = chrono::Utc::now();

    let (status, body, id) = send(vec![], url.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error_code"], "APIGW.0301");
    assert_eq!(body["request_id"], id.as_str());
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("x-auth-token not found")
    );

    let (status, _, _) = send(
        vec![("x-auth-token".into(), "good-token".into())],
        url.clone(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body, _) = send(vec![("x-auth-token".into(), "bad".into())], url.clone()).await;
    assert_eq!(status, 401);
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("decrypt token fail")
    );

    let (status, body, _) =
        send(sign("GET", &url, b"", "TESTAK", "TESTSK", now), url.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = send(sign("GET", &url, b"", "TESTAK", "WRONG", now), url.clone()).await;
    assert_eq!(status, 401);
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("verify aksk signature fail")
    );
    let (status, body, _) = send(
        sign("GET", &url, b"", "OTHERAK", "TESTSK", now),
        url.clone(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("ak OTHERAK not exist")
    );
    let stale = now - chrono::Duration::minutes(16);
    let (status, _, _) = send(
        sign("GET", &url, b"", "TESTAK", "TESTSK", stale),
        url.clone(),
    )
    .await;
    assert_eq!(status, 401, "clock skew over 15 minutes");
    let skewed = now - chrono::Duration::minutes(14);
    let (status, _, _) = send(
        sign("GET", &url, b"", "TESTAK", "TESTSK", skewed),
        url.clone(),
    )
    .await;
    assert_eq!(status, 200, "clock skew under 15 minutes");
    // A signature for one query does not cover another.
    let mut tampered = url.clone();
    tampered.set_query(Some("resource_type=OS%3A%3ANova%3A%3AServer&limit=3"));
    let (status, _, _) = send(sign("GET", &url, b"", "TESTAK", "TESTSK", now), tampered).await;
    assert_eq!(status, 401);

    // The body is signed too.
    let create: reqwest::Url = format!("{}/v3/{PROJECT}/checkpoints", sim.base)
        .parse()
        .unwrap();
    let body = serde_json::to_vec(&json!({"checkpoint": {"vault_id": VAULT}})).unwrap();
    let post = |headers: Vec<(String, String)>, bytes: Vec<u8>| {
        let mut req = sim.http.post(create.clone()).body(bytes);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { decode(req.send().await.unwrap()).await }
    };
    let headers = sign("POST", &create, &body, "TESTAK", "TESTSK", now);
    let (status, answer, _) = post(headers.clone(), body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let mut other = body.clone();
    other.push(b' ');
    let (status, _, _) = post(headers, other).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn every_method_on_the_api_must_authenticate() {
    let sim = Sim::start(SimulatorSettings {
        fleet_size: 10,
        credentials: vec![KeyPair {
            access_key: "TESTAK".into(),
            secret_key: "TESTSK".into(),
            security_token: None,
        }],
        ..Default::default()
    })
    .await;
    let backup: reqwest::Url = format!("{}/v3/{PROJECT}/backups/{BACKUP}", sim.base)
        .parse()
        .unwrap();
    let send = |method: reqwest::Method, url: &reqwest::Url, headers: Vec<(String, String)>| {
        let mut req = sim.http.request(method, url.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap() }
    };

    // HEAD is served on every GET route: its answer has no body, the status
    // says it all.
    let head = send(reqwest::Method::HEAD, &backup, vec![]).await;
    assert_eq!(head.status().as_u16(), 401);

    // Other methods, on known and unknown API paths alike.
    let paths = [
        format!("/v3/{PROJECT}/backups/{BACKUP}"),
        format!("/v3/{PROJECT}/checkpoints/{CHECKPOINT}"),
        format!("/v1/{PROJECT}/checkpoint_items/{CHECKPOINT_ITEM}"),
        format!("/v3/{PROJECT}/vaults"),
    ];
    for path in &paths {
        let url: reqwest::Url = format!("{}{path}", sim.base).parse().unwrap();
        for method in ["DELETE", "PUT", "PATCH", "POST", "OPTIONS"] {
            let method: reqwest::Method = method.parse().unwrap();
            let (status, body, id) = decode(send(method.clone(), &url, vec![]).await).await;
            assert_eq!(status, 401, "{method} {path}: {body}");
            assert_eq!(body["error_code"], "APIGW.0301", "{method} {path}");
            assert_eq!(body["request_id"], id.as_str());
        }
    }

    // Signed, GET and HEAD are served; another method is an unknown API, in
    // the API gateway's shape.
    let now = chrono::Utc::now();
    let (status, body, _) = decode(
        send(
            reqwest::Method::GET,
            &backup,
            sign("GET", &backup, b"", "TESTAK", "TESTSK", now),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["backup"]["id"], BACKUP);
    let head = send(
        reqwest::Method::HEAD,
        &backup,
        sign("HEAD", &backup, b"", "TESTAK", "TESTSK", now),
    )
    .await;
    assert_eq!(head.status().as_u16(), 200);
    assert!(head.bytes().await.unwrap().is_empty(), "HEAD has no body");
    let (status, body, _) = decode(
        send(
            reqwest::Method::PATCH,
            &backup,
            sign("PATCH", &backup, b"", "TESTAK", "TESTSK", now),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error_code"], "APIGW.0101");

    // A HEAD counts as its GET route.
    let stats: Value = sim
        .http
        .get(format!("{}/_simulator/stats", sim.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"]["get_backup"], 3, "{stats}");

    // IAM's login takes no token: it is how a client gets one (no users
    // here, so an empty login is a Keystone 400, not the gateway's 401).
    let (status, body, _) = sim.post("/v3/auth/tokens", &json!({})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn faults_and_counters() {
    let sim = Sim::quick().await;
    let path = format!("/v3/{PROJECT}/backups/{BACKUP}");
    let set = |rules: Value| {
        let req = sim
            .http
            .put(format!("{}/_simulator/faults", sim.base))
            .json(&rules);
        async move { assert_eq!(req.send().await.unwrap().status().as_u16(), 204) }
    };
    let stats = || {
        let req = sim.http.get(format!("{}/_simulator/stats", sim.base));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    set(json!([{"route": "get_backup", "error_rate": 1.0, "status": 503}])).await;
    let (status, body, id) = sim.get(&path).await;
    assert_eq!(status, 503);
    assert_eq!(body["error_code"], "APIGW.0203");
    assert_eq!(id.len(), 32);
    // Other routes are untouched.
    let (status, _, _) = sim
        .get(&format!("/v3/{PROJECT}/checkpoints/{CHECKPOINT}"))
        .await;
    assert_eq!(status, 200);

    set(json!([{"route": "*", "drop_rate": 1.0}])).await;
    let err = sim
        .http
        .get(format!("{}{path}", sim.base))
        .send()
        .await
        .expect_err("connection dropped without an answer");
    assert!(!err.is_timeout(), "{err}");

    set(json!([{"route": "get_backup", "latency_ms": 300}])).await;
    let started = Instant::now();
    let (status, _, _) = sim.get(&path).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    set(json!([])).await;
    let (status, _, _) = sim.get(&path).await;
    assert_eq!(status, 200);
    let counts = stats().await;
    assert_eq!(counts["requests"]["get_backup"], 4);
    assert_eq!(counts["requests"]["get_checkpoint"], 1);
    assert_eq!(counts["requests"]["list_backups"], 0);

    // Malformed rules are refused.
    let resp = sim
        .http
        .put(format!("{}/_simulator/faults", sim.base))
        .json(&json!([{"route": "get_backup", "bogus": 1}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // So are unknown routes, and more rules than the simulator keeps, in
    // upstream's error shape; the rules in force stay.
    set(json!([{"route": "get_backup", "latency_ms": 1}])).await;
    let too_many: Vec<Value> = (0..=simulator::faults::MAX_RULES)
        .map(|_| json!({"route": "get_backup", "error_rate": 1.0}))
        .collect();
    for rules in [json!([{"route": "nope"}]), json!(too_many)] {
        let resp = sim
            .http
            .put(format!("{}/_simulator/faults", sim.base))
            .json(&rules)
            .send()
            .await
            .unwrap();
        let (status, body, _) = decode(resp).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_code"], "BackupService.9900");
    }
    let rules: Value = sim
        .http
        .get(format!("{}/_simulator/faults", sim.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
}

#[tokio::test]
async fn vaults_policies_and_operation_logs_are_served_as_documented() {
    let sim = Sim::quick().await;
    let doc = |text: &str| serde_json::from_str::<Value>(text).unwrap();

    // LIFECYCLE.md's examples, in the simulator's project (API-CONTRACT §7).
    let (status, body, _) = sim
        .get(&format!(
            "/v3/{PROJECT}/vaults/2b076f26-391f-40fa-bf71-a798940faccf"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        doc(&format!(
            r#"{{"vault":{{"auto_bind":true,"auto_expand":false,
  "billing":{{"allocated":0,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
    "frozen_scene":null,"object_type":"server","order_id":null,"product_id":null,"protect_type":"backup","size":40,
    "spec_code":"vault.backup.server.normal","status":"available","storage_unit":null,"used":0}},
  "bind_rules":{{}},"created_at":"2020-07-24T09:12:49.491874","description":null,"enterprise_project_id":"0",
  "id":"2b076f26-391f-40fa-bf71-a798940faccf","name":"sdk-vault1595581958","project_id":"{PROJECT}",
  "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66","resources":[],"tags":[{{"key":"fds","value":null}}],
  "user_id":"aa2999fa5ae640f28926f8fd79188934"}}}}"#
        ))
    );
    let (status, body, _) = sim
        .get(&format!(
            "/v3/{PROJECT}/policies/cbb3ce6f-3332-4e7c-b98e-77290d8471ff"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        doc(
            r#"{"policy":{"associated_vaults":[],"enabled":true,"id":"cbb3ce6f-3332-4e7c-b98e-77290d8471ff","name":"policy001",
  "operation_definition":{"day_backups":0,"month_backups":0,"retention_duration_days":1,"timezone":"UTC+08:00",
                          "week_backups":0,"year_backups":0},
  "operation_type":"backup",
  "trigger":{"id":"d67269a6-5369-42d7-8150-5254bd446328","name":"default",
    "properties":{"pattern":["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"],
                  "start_time":"2019-05-08 06:57:05"},"type":"time"}}}"#
        )
    );
    let (status, body, _) = sim
        .get(&format!(
            "/v3/{PROJECT}/operation-logs?start_time=2019-05-23T00%3A00%3A00Z&end_time=2019-05-24T00%3A00%3A00Z"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        doc(&format!(
            r#"{{"count":1,"limit":1000,"offset":0,"operation_logs":[{{"checkpoint_id":"b432511f-d889-428f-8b0e-5f47c524c6b6",
  "created_at":"2019-05-23T14:31:36.039365","ended_at":"2019-05-23T14:35:23.511155",
  "error_info":{{"code":"","message":""}},
  "extra_info":{{"backup":{{"backup_id":"0e5d0ef6-7f0a-4890-b98c-cb12490e31c1","backup_name":"manualbk_backup"}},
                "common":{{"progress":100,"request_id":"req-cdb98cc4-e87b-4f40-9b4a-57ec036620bc"}},
                "resource":{{"id":"1dab32fa-ebf2-415a-ab0b-eabe6353bc86","name":"ECS-0001","type":"OS::Nova::Server"}}}},
  "id":"4827f2da-b008-4507-ab7d-42d0df5ed912","operation_type":"backup","policy_id":null,
  "project_id":"{PROJECT}","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
  "started_at":"2019-05-23T14:31:36.007230","status":"success","updated_at":"2019-05-23T14:35:23.584418",
  "vault_id":null,"vault_name":null}}]}}"#
        ))
    );

    // A vault and its policies point at each other.
    let (_, policies, _) = sim
        .get(&format!("/v3/{PROJECT}/policies?vault_id={VAULT}"))
        .await;
    assert_eq!(policies["count"], 2, "{policies}");
    for p in policies["policies"].as_array().unwrap() {
        let (_, vaults, _) = sim
            .get(&format!(
                "/v3/{PROJECT}/vaults?policy_id={}",
                p["id"].as_str().unwrap()
            ))
            .await;
        assert!(
            vaults["vaults"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["id"] == VAULT),
            "{vaults}"
        );
    }

    // A new checkpoint is a backup operation in that vault, which ends in
    // success; the vault then holds its backup.
    let (_, created, _) = sim
        .post(
            &format!("/v3/{PROJECT}/checkpoints"),
            &json!({"checkpoint": {"vault_id": VAULT, "parameters": {"resources": [SERVER]}}}),
        )
        .await;
    let checkpoint = created["checkpoint"]["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let log = loop {
        let (status, page, _) = sim
            .get(&format!(
                "/v3/{PROJECT}/operation-logs?vault_id={VAULT}&operation_type=backup&limit=5"
            ))
            .await;
        assert_eq!(status, 200);
        let log = page["operation_logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["checkpoint_id"] == checkpoint.as_str())
            .unwrap_or_else(|| panic!("{page}"))
            .clone();
        if log["status"] == "success" {
            break log;
        }
        assert_eq!(log["status"], "running", "{log}");
        assert!(log["extra_info"]["common"]["progress"].as_i64().unwrap() < 100);
        assert_eq!(log["ended_at"], Value::Null);
        assert!(started.elapsed() < Duration::from_secs(10), "never ended");
        tokio::time::sleep(Duration::from_millis(40)).await;
    };
    assert_eq!(log["extra_info"]["common"]["progress"], 100);
    let (_, shown, _) = sim
        .get(&format!(
            "/v3/{PROJECT}/operation-logs/{}",
            log["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(shown["operation_log"], log);
    let (_, vault, _) = sim.get(&format!("/v3/{PROJECT}/vaults/{VAULT}")).await;
    assert_eq!(vault["vault"]["resources"][0]["backup_count"], 2);
    assert_eq!(vault["vault"]["billing"]["used"], 2 * 40 * 1024);

    // Upstream's error bodies.
    let cases: Vec<(u16, &str, &str, String)> = vec![
        (
            404,
            "BackupService.6105",
            "The vault does not exist.",
            format!("/v3/{PROJECT}/vaults/nope"),
        ),
        (
            404,
            "BackupService.6000",
            "The policy does not exist.",
            format!("/v3/{PROJECT}/policies/nope"),
        ),
        (
            404,
            "BackupService.6500",
            "Operation log does not exist.",
            format!("/v3/{PROJECT}/operation-logs/nope"),
        ),
        (
            404,
            "BackupService.6105",
            "The vault does not exist.",
            format!("/v3/other/vaults/{VAULT}"),
        ),
    ];
    for (want_status, code, message, path) in cases {
        let (status, body, id) = sim.get(&path).await;
        assert_eq!(
            (status, &body["error_code"]),
            (want_status, &json!(code)),
            "{path}: {body}"
        );
        assert_eq!(body["error_msg"], message);
        assert_eq!(id.len(), 32);
    }
    for path in [
        "vaults?limit=0",
        "vaults?offset=-1",
        "vaults?object_type=tape",
        "policies?operation_type=restore",
        "operation-logs?limit=1001",
        "operation-logs?status=done",
        "operation-logs?start_time=2019-05-23",
    ] {
        let (status, body, _) = sim.get(&format!("/v3/{PROJECT}/{path}")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error_code"], "BackupService.9900", "{path}");
    }
}

#[tokio::test]
async fn faults_and_counters_know_the_lifecycle_routes_by_name() {
    let sim = Sim::quick().await;
    let put = sim
        .http
        .put(format!("{}/_simulator/faults", sim.base))
        .json(&json!([{"route": "list_vaults", "error_rate": 1.0, "status": 503}]))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 204);
    let (status, body, _) = sim.get(&format!("/v3/{PROJECT}/vaults")).await;
    assert_eq!((status, &body["error_code"]), (503, &json!("APIGW.0203")));
    let (status, _, _) = sim.get(&format!("/v3/{PROJECT}/vaults/{VAULT}")).await;
    assert_eq!(status, 200, "only the named route");
    for path in [
        format!("/v3/{PROJECT}/policies"),
        format!("/v3/{PROJECT}/policies/nope"),
        format!("/v3/{PROJECT}/operation-logs?limit=1"),
        format!("/v3/{PROJECT}/operation-logs/nope"),
        format!("/v3/{PROJECT}/operation-logs/nope"),
    ] {
        sim.get(&path).await;
    }
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
    for (route, count) in [
        ("list_vaults", 1),
        ("get_vault", 1),
        ("list_policies", 1),
        ("get_policy", 1),
        ("list_operation_logs", 1),
        ("get_operation_log", 2),
        ("list_backups", 0),
    ] {
        assert_eq!(requests[route], count, "{route}: {stats}");
    }
}
