//! The built-in simulator at the HTTP level, as any CBR client sees it: the
//! documents' objects, upstream's error codes, request ids, the create
//! lifecycle, ListBackups filters and paging, signature and token checks, and
//! fault injection with counters.

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
            reqwest::Method::DELETE,
            &backup,
            sign("DELETE", &backup, b"", "TESTAK", "TESTSK", now),
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
