//! Regions (contract §10) as the binary resolves them: `cbr-gateway regions`
//! with Huawei's SDKs' table, the per-region override variables, a regions
//! file in the SDKs' YAML shape and CBR_ENDPOINT; and a gateway that a
//! region alone points at that region's endpoints.

use crate::common;

use std::process::Stdio;

use cbr_gateway::proto as pb;
use common::*;
use serde_json::Value;
use tokio::process::Command;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

/// `cbr-gateway regions -o json` with `env` (and nothing inherited about
/// regions or endpoints): its exit code, regions and stderr.
async fn regions(args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cbr-gateway"));
    cmd.arg("regions").args(args).arg("-o").arg("json");
    for (k, _) in std::env::vars() {
        if k.starts_with("HUAWEICLOUD_SDK_REGION") || k.ends_with("_ENDPOINT") {
            cmd.env_remove(k);
        }
    }
    // No ~/.huaweicloud/regions.yaml of the machine's.
    cmd.env("HOME", std::env::temp_dir().join("cbr-regions-no-home"));
    let out = cmd
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        rows,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn region<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["region"] == id)
        .unwrap_or_else(|| panic!("{id} in {rows:?}"))
}

#[tokio::test]
async fn the_regions_command_resolves_as_huaweis_sdks_do() {
    // The SDKs' table alone.
    let (code, rows, err) = regions(&["--region", "ap-southeast-1"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows.len(), 34);
    let r = region(&rows, "ap-southeast-1");
    assert_eq!(r["default"], true);
    assert_eq!(r["cbr"], "https://cbr.ap-southeast-1.myhuaweicloud.com/");
    assert_eq!(r["csbs"], "https://csbs.ap-southeast-1.myhuaweicloud.com/");
    assert_eq!(r["iam"], "https://iam.ap-southeast-1.myhuaweicloud.com/");
    assert_eq!(
        region(&rows, "eu-west-101")["iam"],
        "https://iam.eu-west-101.myhuaweicloud.eu/"
    );

    // Variables beat the file, which beats the table; a region only the
    // file names is known too.
    let file = std::env::temp_dir().join(format!("cbr-regions-{}.yaml", std::process::id()));
    std::fs::write(
        &file,
        "CBR:\n  - id: cn-north-4\n    endpoint: https://cbr.file.example\n  - id: my-dedicated-1\n    endpoint: https://cbr.dedicated.example\nIAM:\n  - id: cn-north-4\n    endpoint: https://iam.file.example\n",
    )
    .unwrap();
    let (code, rows, err) = regions(
        &[],
        &[
            ("HUAWEICLOUD_SDK_REGIONS_FILE", file.to_str().unwrap()),
            ("HUAWEICLOUD_SDK_REGION", "my-dedicated-1"),
            (
                "HUAWEICLOUD_SDK_REGION_CBR_CN_NORTH_4",
                "https://cbr.env.example",
            ),
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let r = region(&rows, "cn-north-4");
    assert_eq!(r["cbr"], "https://cbr.env.example/");
    assert_eq!(r["sources"]["cbr"], "environment");
    assert_eq!(r["iam"], "https://iam.file.example/");
    assert_eq!(r["sources"]["iam"], "regions-file");
    let d = region(&rows, "my-dedicated-1");
    assert_eq!(d["default"], true);
    assert_eq!(d["csbs"], "https://csbs.dedicated.example/");

    // CBR_ENDPOINT is the default region's, and names it.
    let (code, rows, _) = regions(
        &[],
        &[("CBR_ENDPOINT", "https://cbr.la-south-2.myhuaweicloud.com")],
    )
    .await;
    assert_eq!(code, 0);
    let r = region(&rows, "la-south-2");
    assert_eq!(
        (&r["default"], &r["sources"]["cbr"]),
        (&Value::Bool(true), &Value::from("setting"))
    );

    // Mistakes are configuration errors naming what is wrong.
    std::fs::write(&file, "CBR: [oops").unwrap();
    let (code, _, err) = regions(
        &[],
        &[("HUAWEICLOUD_SDK_REGIONS_FILE", file.to_str().unwrap())],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("regions file") && err.contains(file.to_str().unwrap()),
        "{err}"
    );
    let (code, _, err) = regions(&[], &[("HUAWEICLOUD_SDK_REGION", "xx-nowhere-1")]).await;
    assert_eq!(code, 2);
    assert!(err.contains("xx-nowhere-1 is not a known region"), "{err}");
    let (code, _, err) = regions(
        &[],
        &[("HUAWEICLOUD_SDK_REGION_CBR_CN_NORTH_4", "not a url")],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("HUAWEICLOUD_SDK_REGION_CBR_CN_NORTH_4"),
        "{err}"
    );
    let _ = std::fs::remove_file(&file);
}

/// A region alone (no CBR_ENDPOINT) points the gateway at that region's CBR
/// endpoint as the SDKs resolve it: here overridden to a local upstream.
#[tokio::test]
async fn a_region_alone_points_the_gateway_at_its_endpoints() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/backups/{BACKUP}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!(r#"{{"backup":{{"id":"{BACKUP}","status":"available"}}}}"#),
            "application/json",
        ))
        .expect(1)
        .mount(&upstream)
        .await;
    let bin = Binary::start_with_env(
        &[
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--ak",
            TEST_AK,
            "--sk",
            TEST_SK,
            "--project-id",
            PROJECT,
        ],
        &[
            ("HUAWEICLOUD_SDK_REGION", "ap-southeast-3"),
            ("HUAWEICLOUD_SDK_REGION_CBR_AP_SOUTHEAST_3", &upstream.uri()),
            (
                "HOME",
                std::env::temp_dir()
                    .join("cbr-regions-no-home")
                    .to_str()
                    .unwrap(),
            ),
        ],
    )
    .await;
    let first = &bin.log_lines()[0];
    assert_eq!(first["region"], "ap-southeast-3", "{first}");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", bin.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let backup = pb::backup_service_client::BackupServiceClient::new(channel)
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap();
    assert_eq!(backup.id, BACKUP);
}

// ---------------------------------------------------------------- one gateway, two regions

use cbr_gateway::upstream::regions::{RegionInputs, RegionTable};
use cbr_simulator::SimulatorSettings;

const HOME: &str = "ap-southeast-1";
const AWAY: &str = "ap-southeast-3";

/// A gateway whose default region (`HOME`) is its in-process simulator and
/// whose `AWAY` region is `away` (another simulator, with other data), as
/// `HUAWEICLOUD_SDK_REGION_{CBR,IAM}_AP_SOUTHEAST_3` would set them (its IAM
/// for the project lookup).
async fn two_regions(
    home: SimulatorSettings,
    away: &cbr_simulator::Embedded,
    max_inflight: usize,
) -> TestStack {
    two_regions_with(home, away, max_inflight, |_| {}).await
}

/// [`two_regions`], with `edit` applied to the gateway's settings last.
async fn two_regions_with(
    home: SimulatorSettings,
    away: &cbr_simulator::Embedded,
    max_inflight: usize,
    edit: impl FnOnce(&mut cbr_gateway::settings::Settings) + Send + 'static,
) -> TestStack {
    let away_url = format!("http://{}", away.addr);
    TestStack::builder()
        .simulator(home)
        .project(PROJECT)
        .settings(move |s| {
            let home_url = s.upstream.cbr_endpoint.clone().unwrap();
            let table = RegionTable::resolve(&RegionInputs {
                default_region: Some(HOME),
                cbr_endpoint: Some(&home_url),
                environment: vec![
                    (
                        "HUAWEICLOUD_SDK_REGION_CBR_AP_SOUTHEAST_3".into(),
                        away_url.clone(),
                    ),
                    ("HUAWEICLOUD_SDK_REGION_IAM_AP_SOUTHEAST_3".into(), away_url),
                ],
                ..Default::default()
            })
            .unwrap();
            s.regions.default = HOME.into();
            s.regions.table = Some(table);
            s.upstream.max_inflight = max_inflight;
            s.watch.poll_interval = std::time::Duration::from_millis(50);
            s.watch.max_poll_interval = std::time::Duration::from_millis(100);
        })
        .settings(edit)
        .spawn()
        .await
}

fn sim(fleet_size: usize) -> SimulatorSettings {
    SimulatorSettings {
        fleet_size,
        ..Default::default()
    }
}

/// GetBackup of the seeded backup in `region`, naming no project: it is found.
async fn get_without_project(
    backups: &mut pb::backup_service_client::BackupServiceClient<tonic::transport::Channel>,
    region: &str,
) {
    let b = backups
        .get_backup(pb::GetBackupRequest {
            backup_id: BACKUP.into(),
            region: region.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.backup.unwrap().id, BACKUP);
}

fn count_in(region: &str, via_metadata: bool) -> tonic::Request<pb::ListBackupsRequest> {
    let mut req = pb::ListBackupsRequest {
        project_id: PROJECT.into(),
        limit: Some(1),
        ..Default::default()
    };
    if via_metadata {
        let mut r = tonic::Request::new(req);
        r.metadata_mut()
            .insert("x-cbr-region", region.parse().unwrap());
        return r;
    }
    req.region = region.into();
    tonic::Request::new(req)
}

#[tokio::test]
async fn calls_name_their_region_and_each_region_has_its_own_data() {
    let away = cbr_simulator::spawn(&sim(40)).await.unwrap();
    let stack = two_regions(sim(10), &away, 64).await;
    let mut backups = stack.backups();
    let count = |r: tonic::Response<pb::ListBackupsResponse>| r.into_inner().count;
    let home = count(backups.list_backups(count_in("", false)).await.unwrap());
    let named_home = count(backups.list_backups(count_in(HOME, false)).await.unwrap());
    let field = count(backups.list_backups(count_in(AWAY, false)).await.unwrap());
    let metadata = count(backups.list_backups(count_in(AWAY, true)).await.unwrap());
    assert_eq!(home, named_home);
    assert_eq!(field, metadata);
    assert_ne!(home, field, "each region has its own data");
    assert_eq!(
        away.state.stats.snapshot()["list_backups"],
        2,
        "only the calls naming {AWAY} reached its upstream"
    );

    // Both set and different; unknown; both name the known ones.
    let mut both = count_in(AWAY, false);
    both.metadata_mut()
        .insert("x-cbr-region", HOME.parse().unwrap());
    let err = backups.list_backups(both).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(bad_fields(&err), ["region"]);
    assert!(err.message().contains("x-cbr-region"), "{}", err.message());
    let err = backups
        .list_backups(count_in("xx-nowhere-1", false))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["region"]);
    assert!(
        err.message().contains(AWAY) && err.message().contains(HOME),
        "{}",
        err.message()
    );

    // Projects belong to one region: the configured one is the default
    // region's; a call elsewhere naming none acts in the region's own
    // project, found with IAM (`GET /v3/projects?name=`) once and kept.
    for _ in 0..2 {
        get_without_project(&mut backups, AWAY).await;
    }
    assert_eq!(away.state.stats.snapshot()["iam_projects"], 1, "asked once");
    assert_eq!(
        stack.sim().state.stats.snapshot()["iam_projects"],
        0,
        "HOME has its project"
    );
    // A caller's token is bound to its own project: it must name it.
    let err = backups
        .get_backup(with_token(
            pb::GetBackupRequest {
                backup_id: BACKUP.into(),
                region: AWAY.into(),
                ..Default::default()
            },
            "caller-token",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["project_id"]);
}

#[tokio::test]
async fn an_outage_in_one_region_leaves_the_other_untouched() {
    // AWAY answers every call with 503 after 2 s; its 4 upstream slots fill.
    let away = cbr_simulator::spawn(&SimulatorSettings {
        faults: vec![
            "route=*,error_rate=1,status=503,latency=2s"
                .parse()
                .unwrap(),
        ],
        ..sim(10)
    })
    .await
    .unwrap();
    let stack = two_regions(sim(10), &away, 4).await;
    let get = |region: &str| pb::GetBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        region: region.into(),
    };
    let stuck: Vec<_> = (0..8)
        .map(|_| {
            let mut client = stack.backups();
            let req = get(AWAY);
            tokio::spawn(async move { client.get_backup(req).await })
        })
        .collect();
    // Wait until AWAY's upstream holds requests in flight: the outage is on.
    while away.state.stats.in_flight()["get_backup"] == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // HOME meanwhile: every call succeeds, and all of them while AWAY's are
    // still held (its slots are AWAY's own, its budget too).
    let mut home = stack.backups();
    for _ in 0..20 {
        let b = home.get_backup(get(HOME)).await.unwrap().into_inner();
        assert_eq!(b.backup.unwrap().id, BACKUP);
    }
    assert!(
        away.state.stats.in_flight()["get_backup"] > 0,
        "HOME answered 20 calls before AWAY's first failure came back"
    );
    assert_eq!(
        stack.sim().state.stats.snapshot()["get_backup"],
        20,
        "no retries at HOME"
    );
    for call in stuck {
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    }
}

#[tokio::test]
async fn watchers_in_two_regions_never_share_a_poller() {
    // Deletions that run long: the watchers below stay on running pollers.
    let slow = || SimulatorSettings {
        delete_duration: std::time::Duration::from_secs(60),
        ..sim(10)
    };
    let away = cbr_simulator::spawn(&slow()).await.unwrap();
    let stack = two_regions(slow(), &away, 64).await;
    // The seeded backup exists in both regions under one ID: only the region
    // (in AWAY's name, and in the pollers' keys) tells the deletions apart.
    let mut streams = Vec::new();
    for region in [HOME, AWAY] {
        let op = stack
            .backups()
            .delete_backup(pb::DeleteBackupRequest {
                project_id: PROJECT.into(),
                backup_id: BACKUP.into(),
                request_id: String::new(),
                region: region.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut s = stack
            .operation_logs()
            .watch_operation(pb::WatchOperationRequest {
                name: op.name.clone(),
                region: region.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let first = s.message().await.unwrap().unwrap();
        assert_eq!(first.kind(), pb::WatchEventKind::Initial);
        let followed = first.operation.unwrap();
        assert!(!followed.done);
        assert_eq!(followed.name, op.name);
        streams.push(s);
    }
    // Both watchers are live at once, and each region's backup was read by
    // a poller of its own (a shared one would have read one region only).
    assert!(stack.sim().state.stats.snapshot()["get_backup"] >= 1);
    assert!(away.state.stats.snapshot()["get_backup"] >= 1);
}

#[tokio::test]
async fn an_operation_name_carries_its_region_so_the_name_alone_finds_it() {
    use cbr_gateway::proto::google::longrunning as lro;
    let deleting = |millis| SimulatorSettings {
        delete_duration: std::time::Duration::from_millis(millis),
        ..sim(10)
    };
    let away = cbr_simulator::spawn(&deleting(400)).await.unwrap();
    let stack = two_regions(deleting(60_000), &away, 64).await;
    let delete_in = |region: &str| pb::DeleteBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        request_id: String::new(),
        region: region.into(),
    };
    // The default region's names read as before regions existed; another
    // region's end in `@{region}`.
    let home = stack.backups().delete_backup(delete_in("")).await.unwrap();
    let home = home.into_inner().name;
    assert_eq!(
        home,
        format!("projects/{PROJECT}/operations/delete.{BACKUP}")
    );
    let away_op = stack
        .backups()
        .delete_backup(delete_in(AWAY))
        .await
        .unwrap();
    let name = away_op.into_inner().name;
    assert_eq!(name, format!("{home}@{AWAY}"));

    // Google's Operations requests have no region field: the name alone
    // routes them, to AWAY's upstream only.
    let reads = |sim: &cbr_simulator::Embedded| sim.state.stats.snapshot()["get_backup"];
    let (home_reads, away_reads) = (reads(stack.sim()), reads(&away));
    let got = stack
        .operations()
        .get_operation(lro::GetOperationRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.name, name);
    assert_eq!(reads(&away), away_reads + 1);
    assert_eq!(reads(stack.sim()), home_reads, "HOME was not asked");
    let waited = stack
        .operations()
        .wait_operation(lro::WaitOperationRequest {
            name: name.clone(),
            timeout: Some(prost_types::Duration {
                seconds: 20,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(waited.done, "AWAY's deletion ends; HOME's still runs");
    assert_eq!(waited.name, name);
    let home_now = stack
        .operations()
        .get_operation(lro::GetOperationRequest { name: home.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(!home_now.done);

    // The name and the metadata disagree; the name and the call's region
    // field disagree: both refused, naming what disagrees.
    let mut other = tonic::Request::new(lro::GetOperationRequest { name: name.clone() });
    other
        .metadata_mut()
        .insert("x-cbr-region", HOME.parse().unwrap());
    let err = stack.operations().get_operation(other).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["region"]);
    assert!(
        err.message().contains("operation's name"),
        "{}",
        err.message()
    );
    let err = stack
        .operation_logs()
        .watch_operation(pb::WatchOperationRequest {
            name: name.clone(),
            region: HOME.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["name"]);
    assert!(err.message().contains(AWAY), "{}", err.message());

    // WatchOperation by name alone follows AWAY's (finished) deletion.
    let mut watch = stack
        .operation_logs()
        .watch_operation(pb::WatchOperationRequest {
            name: name.clone(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert!(first.operation.unwrap().done);

    // ListOperations in AWAY (its collection names no region: metadata
    // does) gives names that carry it, the deletion's among them.
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let mut list = tonic::Request::new(lro::ListOperationsRequest {
            name: format!("projects/{PROJECT}/operations"),
            page_token,
            ..Default::default()
        });
        list.metadata_mut()
            .insert("x-cbr-region", AWAY.parse().unwrap());
        let page = stack
            .operations()
            .list_operations(list)
            .await
            .unwrap()
            .into_inner();
        names.extend(page.operations.into_iter().map(|o| o.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert!(names.contains(&name), "{names:?}");
    assert!(
        names.iter().all(|n| n.ends_with(&format!("@{AWAY}"))),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_request_id_is_remembered_per_region() {
    let slow = || SimulatorSettings {
        delete_duration: std::time::Duration::from_secs(60),
        ..sim(10)
    };
    let away = cbr_simulator::spawn(&slow()).await.unwrap();
    let stack = two_regions(slow(), &away, 64).await;
    let delete_in = |region: &str| pb::DeleteBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        request_id: "0b5e2a4c-6f1d-4e0a-9c3b-7d8e9f0a1b2c".into(),
        region: region.into(),
    };
    // One request_id in two regions: two deletions, each sent once; the
    // repeat in each region is answered from what that region remembered.
    let mut names = Vec::new();
    for region in [HOME, AWAY, HOME, AWAY] {
        let op = stack
            .backups()
            .delete_backup(delete_in(region))
            .await
            .unwrap();
        names.push(op.into_inner().name);
    }
    assert_eq!(names[0], names[2]);
    assert_eq!(names[1], names[3]);
    assert_ne!(names[0], names[1]);
    assert_eq!(stack.sim().state.stats.snapshot()["delete_backup"], 1);
    assert_eq!(away.state.stats.snapshot()["delete_backup"], 1);
}

#[tokio::test]
async fn the_simulator_tells_its_regions_apart_by_address_or_by_host() {
    let sim = cbr_simulator::spawn(&SimulatorSettings {
        regions: vec![HOME.into(), AWAY.into()],
        ..sim(30)
    })
    .await
    .unwrap();
    assert_eq!(sim.regions.len(), 2, "{:?}", sim.regions);
    let away_addr = sim.regions[1].addr;
    cbr_gateway::install_crypto_provider();
    let http = reqwest::Client::new();
    let count = |addr: std::net::SocketAddr, host: Option<&'static str>| {
        let mut req = http.get(format!("http://{addr}/v3/{PROJECT}/backups?limit=1"));
        if let Some(host) = host {
            req = req.header("host", host);
        }
        async move {
            let body: Value = req.send().await.unwrap().json().await.unwrap();
            body["count"].as_i64().unwrap()
        }
    };
    let home = count(sim.addr, None).await;
    let away = count(away_addr, None).await;
    assert_ne!(home, away, "each region has its own data");
    // The endpoint Huawei's SDKs build for AWAY, or `{region}.localhost`,
    // reaches AWAY's data at HOME's address; a host naming no region served
    // is the address's own region.
    assert_eq!(
        count(sim.addr, Some("cbr.ap-southeast-3.myhuaweicloud.com")).await,
        away
    );
    assert_eq!(
        count(sim.addr, Some("ap-southeast-3.localhost:8443")).await,
        away
    );
    assert_eq!(
        count(away_addr, Some("cbr.ap-southeast-1.myhuaweicloud.com")).await,
        home
    );
    assert_eq!(
        count(sim.addr, Some("cbr.cn-north-4.myhuaweicloud.com")).await,
        home
    );
    assert_eq!(sim.regions[1].state.stats.snapshot()["list_backups"], 3);
}

#[tokio::test]
async fn the_cli_names_a_region_with_flag_or_environment() {
    use crate::client_cli::{cli, code, json_lines, stderr};
    let away = cbr_simulator::spawn(&sim(40)).await.unwrap();
    let stack = two_regions(sim(10), &away, 64).await;
    let addr = format!("http://{}", stack.addr);
    let count = |out: &std::process::Output| json_lines(out)[0]["count"].as_i64().unwrap();
    let args = [
        "backups",
        "list",
        "--limit",
        "1",
        "-o",
        "json",
        "--project-id",
        PROJECT,
    ];
    let home = cli(&addr, &args, &[]).await;
    let mut flagged = args.to_vec();
    flagged.extend(["--region", AWAY]);
    let by_flag = cli(&addr, &flagged, &[]).await;
    let by_env = cli(&addr, &args, &[("CBR_REGION", AWAY)]).await;
    for out in [&home, &by_flag, &by_env] {
        assert_eq!(code(out), 0, "{}", stderr(out));
    }
    assert_eq!(count(&by_flag), count(&by_env));
    assert_ne!(count(&home), count(&by_flag));
    // An unknown region: exit 1, the field and the known regions named.
    let mut unknown = args.to_vec();
    unknown.extend(["--region", "xx-nowhere-1"]);
    let out = cli(&addr, &unknown, &[]).await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("region") && stderr(&out).contains(AWAY),
        "{}",
        stderr(&out)
    );
}

/// With no cloud configured the binary serves two simulated regions, the
/// second on the first's port at 127.0.0.2, each with its own data.
#[tokio::test]
async fn the_built_in_simulator_serves_two_regions() {
    let bin = Binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--sim-fleet-size",
        "40",
    ])
    .await;
    let first = &bin.log_lines()[0];
    let regions = first["regions"].as_str().unwrap_or_default();
    assert!(
        regions.starts_with("ap-southeast-1=127.0.0.1:")
            && regions.contains(",ap-southeast-3=127.0.0.2:"),
        "{first}"
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", bin.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut backups = pb::backup_service_client::BackupServiceClient::new(channel);
    let count = |region: &str| pb::ListBackupsRequest {
        project_id: PROJECT.into(),
        limit: Some(1),
        region: region.into(),
        ..Default::default()
    };
    let home = backups
        .list_backups(count(""))
        .await
        .unwrap()
        .into_inner()
        .count;
    let away = backups
        .list_backups(count(AWAY))
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_ne!(home, away, "each simulated region has its own data");
    // Only the simulator's regions: the built-in key opens no cloud.
    let err = backups.list_backups(count("cn-north-4")).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["region"]);
}

/// The gateway's IAM user logs in to each region at that region's IAM (here
/// two simulators, each accepting only the tokens its own IAM issued).
#[tokio::test]
async fn the_gateways_iam_user_logs_in_per_region() {
    let with_iam = |fleet_size| SimulatorSettings {
        iam_users: vec![cbr_simulator::iam::IamUser {
            domain: "acme".into(),
            user: "alice".into(),
            password: "alice-password".into(),
        }],
        ..sim(fleet_size)
    };
    let away = cbr_simulator::spawn(&with_iam(40)).await.unwrap();
    let stack = two_regions_with(with_iam(10), &away, 64, |s| {
        let home = s.upstream.cbr_endpoint.clone().unwrap();
        s.credentials = cbr_gateway::upstream::Held {
            aksk: None,
            iam: Some(iam_user(&home, "acme", "alice", inline("alice-password"))),
        };
    })
    .await;
    let mut backups = stack.backups();
    // A call in AWAY naming no project: the IAM user's login scoped to the
    // project named after the region finds its ID, and its token serves.
    for _ in 0..2 {
        get_without_project(&mut backups, AWAY).await;
    }
    assert_eq!(
        away.state.stats.snapshot()["iam_tokens"],
        1,
        "one login found it"
    );
    assert_eq!(away.state.stats.snapshot()["iam_projects"], 0);
    let home = backups
        .list_backups(count_in("", false))
        .await
        .unwrap()
        .into_inner()
        .count;
    let other = backups
        .list_backups(count_in(AWAY, false))
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_ne!(home, other);
    // One login at each region's IAM (AWAY's the one that found its
    // project); the later calls in each reuse it.
    backups.list_backups(count_in(AWAY, false)).await.unwrap();
    assert_eq!(stack.sim().state.stats.snapshot()["iam_tokens"], 1);
    assert_eq!(away.state.stats.snapshot()["iam_tokens"], 1);
}
