//! `vaults list`, `vault get`, `policies list`, `policy get`, `operations
//! list`, `operation get` and `checkpoint create --vault-name` as a user runs
//! them: the real binary → the real gateway → a mock upstream answering with
//! LIFECYCLE.md's examples (the documents' own JSON, as `lifecycle.rs` uses
//! it).
//!
//! A mock rather than the simulator so that these tests pin the client alone:
//! the exact upstream request each flag produces, the output in each form
//! (tab-separated rows when piped, aligned tables and `label: value` blocks on
//! a terminal, protobuf JSON with `-o json`) with the documents' values, and
//! each failure (exit 1 with upstream's code, exit 2 for usage, and then
//! nothing sent, above all no checkpoint created).

use crate::{
    client_cli::{RUN_LIMIT, Tmux, assert_plain, cli, code, json_lines, stderr, stdout},
    common,
};

use common::*;
use serde_json::Value;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, query_param},
};

fn ok_json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_owned(), "application/json")
}

fn error_json(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        serde_json::json!({"error_code": code, "error_msg": message}).to_string(),
        "application/json",
    )
}

/// What upstream received: method, path and query (`None`: no `?`).
async fn received(upstream: &MockServer) -> Vec<(String, String, Option<String>)> {
    upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_owned(),
                r.url.query().map(str::to_owned),
            )
        })
        .collect()
}

/// A gateway in front of `upstream`, and the CLI run against it in
/// `PROJECT` with stdout and stderr piped.
struct Cli {
    gw: Gateway,
}

impl Cli {
    async fn against(upstream: &MockServer) -> Cli {
        Cli {
            gw: Gateway::against(upstream).await,
        }
    }

    fn addr(&self) -> String {
        format!("http://{}", self.gw.addr)
    }

    async fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--project-id", PROJECT]);
        cli(&self.addr(), &all, &[]).await
    }

    /// Runs each command in turn in a real terminal (tmux, 250 columns) and
    /// returns the screen's whole history once the last one has exited.
    async fn on_a_terminal(&self, commands: &[&[&str]]) -> String {
        let tmux = Tmux::named("cbr-cli-lifecycle");
        let script: Vec<String> = commands
            .iter()
            .map(|args| {
                format!(
                    "{} {} --project-id {PROJECT}; echo EXIT=$?",
                    env!("CARGO_BIN_EXE_cbr-gateway"),
                    args.join(" ")
                )
            })
            .collect();
        // The last command signals the test (tmux wait-for), which waits for
        // that signal instead of polling the screen.
        let command = format!(
            "env CBR_GATEWAY_ADDR={} TERM=xterm-256color sh -c '{}'; tmux -L {} wait-for -S done",
            self.addr(),
            script.join("; "),
            tmux.socket
        );
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "cli",
            "-x",
            "250",
            "-y",
            "50",
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
        .expect("the commands ended")
        .expect("run tmux wait-for");
        assert!(waited.success());
        let screen = tmux.run(&["capture-pane", "-p", "-S", "-", "-t", "cli"]);
        // tmux's own "Pane is dead" line comes once the shell has exited,
        // which may be before or after this capture.
        screen
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.starts_with("Pane is dead"))
            .collect::<Vec<_>>()
            .join("\n")
            .trim_end()
            .to_owned()
    }
}

const VAULT_A: &str = "2b076f26-391f-40fa-bf71-a798940faccf";
const VAULT_8538: &str = "a335f9e1-1628-4c64-a7be-38656e5ec19c";
const POLICY: &str = "cbb3ce6f-3332-4e7c-b98e-77290d8471ff";
const REPLICATION_POLICY: &str = "b1d4e2c0-0a8e-4cfa-bb6f-3cb9d0b1a001";
const LOG: &str = "4827f2da-b008-4507-ab7d-42d0df5ed912";
const DELETE_LOG: &str = "9f1c0000-0000-4000-8000-000000000002";

// LIFECYCLE.md §2.1's listed vault, then §2.2's vault in OTC's shape (locked,
// `used` as text, one bound server).
const VAULTS: &str = r#"{"count":2,"vaults":[{"auto_bind":false,"auto_expand":false,
  "billing":{"allocated":0,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
    "frozen_scene":null,"object_type":"server","order_id":null,"product_id":null,"protect_type":"backup","size":100,
    "spec_code":"vault.backup.server.normal","status":"available","storage_unit":null,"used":0},
  "bind_rules":{},"created_at":"2020-09-04T06:57:37.343535","description":null,"enterprise_project_id":"0",
  "id":"a335f9e1-1628-4c64-a7be-38656e5ec19c","name":"vault-8538","project_id":"0605767b5780d5762fc5c0118072a564",
  "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66","resources":[],"tags":[],
  "user_id":"aa2999fa5ae640f28926f8fd79188934"},
 {"auto_bind":false,"auto_expand":false,
  "billing":{"allocated":40,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
    "object_type":"server","protect_type":"backup","size":40,"spec_code":"vault.backup.server.normal","status":"lock","used":"1024"},
  "bind_rules":{"tags":[{"key":"env","value":"prod"}]},"created_at":"2020-07-24T09:12:49.492+00:00","enterprise_project_id":0,
  "id":"2b076f26-391f-40fa-bf71-a798940faccf","name":"sdk-vault1595581958","project_id":"0605767b5780d5762fc5c0118072a564",
  "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
  "resources":[{"id":"94eba8b2-acc9-4d82-badc-127144cc5526","name":"ecs-1f0f-0002","type":"OS::Nova::Server",
    "protect_status":"protecting","size":40,"backup_size":0,"backup_count":2,"auto_protect":true}],
  "tags":[{"key":"fds"}],"smn_notify":true,"threshold":80,"locked":true,"availability_zone":"az1.dc1"}]}"#;

// LIFECYCLE.md §6.4, Huawei's example policy.
const POLICY_JSON: &str = r#"{"associated_vaults":[],"enabled":true,"id":"cbb3ce6f-3332-4e7c-b98e-77290d8471ff","name":"policy001",
  "operation_definition":{"day_backups":0,"month_backups":0,"retention_duration_days":1,"timezone":"UTC+08:00",
                          "week_backups":0,"year_backups":0},
  "operation_type":"backup",
  "trigger":{"id":"d67269a6-5369-42d7-8150-5254bd446328","name":"default",
    "properties":{"pattern":["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"],
                  "start_time":"2019-05-08 06:57:05"},"type":"time"}}"#;

// A replication policy bound to a vault (LIFECYCLE.md §6's fields).
const REPLICATION_POLICY_JSON: &str = r#"{"id":"b1d4e2c0-0a8e-4cfa-bb6f-3cb9d0b1a001","name":"replicate-daily","enabled":false,
  "operation_type":"replication","policy_type":"custom_policy",
  "operation_definition":{"destination_region":"region2","destination_project_id":"68589cac08274b82b4e254268a3862d8",
    "max_backups":-1,"retention_duration_days":-1},
  "trigger":{"id":"t2","name":"default","type":"time",
    "properties":{"pattern":["FREQ=DAILY;INTERVAL=1;BYHOUR=6;BYMINUTE=00","FREQ=DAILY;INTERVAL=1;BYHOUR=18;BYMINUTE=00"],
                  "start_time":"2019-05-08T06:57:05.000+00:00"}},
  "associated_vaults":[{"vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce","destination_vault_id":"0ca3eb86-8800-46da-9c37-9d657a825274"}]}"#;

// LIFECYCLE.md §5.5: the documented backup log, then a running restore and a
// failed delete.
const OPERATION_LOGS: &str = r#"{"count":3,"operation_logs":[{"checkpoint_id":"b432511f-d889-428f-8b0e-5f47c524c6b6",
  "created_at":"2019-05-23T14:31:36.039365","ended_at":"2019-05-23T14:35:23.511155",
  "error_info":{"code":"","message":""},
  "extra_info":{"backup":{"backup_id":"0e5d0ef6-7f0a-4890-b98c-cb12490e31c1","backup_name":"manualbk_backup"},
                "common":{"progress":100,"request_id":"req-cdb98cc4-e87b-4f40-9b4a-57ec036620bc"},
                "resource":{"id":"1dab32fa-ebf2-415a-ab0b-eabe6353bc86","name":"ECS-0001","type":"OS::Nova::Server"}},
  "id":"4827f2da-b008-4507-ab7d-42d0df5ed912","operation_type":"backup","policy_id":null,
  "project_id":"04f1829c788037ac2fb8c01eb2b04b95","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
  "started_at":"2019-05-23T14:31:36.007230","status":"success","updated_at":"2019-05-23T14:35:23.584418",
  "vault_id":null,"vault_name":null},
 {"id":"9f1c0000-0000-4000-8000-000000000001","project_id":"04f1829c788037ac2fb8c01eb2b04b95","operation_type":"restore","status":"running",
  "checkpoint_id":"8b0851a8-adf3-4f4c-a914-dead08bf9664","provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
  "created_at":"2026-12-04T10:00:00.123456","started_at":"2026-12-04T10:00:00.100000","updated_at":"2026-12-04T10:01:30.000000",
  "error_info":{"code":"","message":""},"vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce","vault_name":"vault-be94",
  "extra_info":{"common":{"progress":35,"request_id":"req-r"},
    "resource":{"id":"94eba8b2-acc9-4d82-badc-127144cc5526","name":"ecs-1f0f-0002","type":"OS::Nova::Server"},
    "restore":{"backup_id":"6df2b54c-dd62-4059-a07c-1b8f24f2725d","backup_name":"backup_name",
               "target_resource_id":"94eba8b2-acc9-4d82-badc-127144cc5526","target_resource_name":"ecs-1f0f-0002"}}},
 {"id":"9f1c0000-0000-4000-8000-000000000002","operation_type":"delete","status":"failed",
  "started_at":"2026-12-04T10:04:59.000000","ended_at":"2026-12-04T10:05:00.000000",
  "vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce",
  "error_info":{"code":"BackupService.6204","message":"used to create an image"},
  "extra_info":{"common":{"progress":0,"request_id":"req-d"},"resource":{"id":"r","type":"OS::Nova::Server"},
               "delete":{"backup_id":"6df2b54c-dd62-4059-a07c-1b8f24f2725d","backup_name":"backup_name"}}}],
 "limit":1000,"offset":0}"#;

/// The n-th operation log of [`OPERATION_LOGS`] as ShowOpLog answers it.
fn operation_log(n: usize) -> String {
    let list: Value = serde_json::from_str(OPERATION_LOGS).unwrap();
    serde_json::json!({"operation_log": list["operation_logs"][n]}).to_string()
}

async fn mount_get(upstream: &MockServer, route: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/{route}")))
        .respond_with(response)
        .mount(upstream)
        .await;
}

/// Rows as the CLI prints them when piped: tab-separated cells.
fn tsv(rows: &[&[&str]]) -> String {
    rows.iter().map(|r| r.join("\t") + "\n").collect()
}

#[tokio::test]
async fn vaults_list_and_vault_get_print_rows_blocks_and_json() {
    let upstream = MockServer::start().await;
    mount_get(&upstream, "vaults", ok_json(VAULTS)).await;
    let listed: Value = serde_json::from_str(VAULTS).unwrap();
    let otc_vault = serde_json::json!({"vault": listed["vaults"][1]}).to_string();
    mount_get(&upstream, &format!("vaults/{VAULT_A}"), ok_json(&otc_vault)).await;
    let c = Cli::against(&upstream).await;

    // Piped: one tab-separated row per vault: ID, name, status, object
    // type, used (MB), size (GB), resources.
    let out = c.run(&["vaults", "list"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    assert_eq!(
        stdout(&out),
        tsv(&[
            &[
                VAULT_8538,
                "vault-8538",
                "available",
                "server",
                "0 MB",
                "100 GB",
                "0"
            ],
            &[
                VAULT_A,
                "sdk-vault1595581958",
                "lock",
                "server",
                "1024 MB",
                "40 GB",
                "1"
            ],
        ])
    );
    assert_eq!(stderr(&out), "", "no hint when stderr is no terminal");

    // -o json: the ListVaultsResponse as protobuf JSON, on one line.
    let out = c.run(&["vaults", "list", "-o", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let page = &lines[0];
    assert_eq!(page["count"], 2);
    assert_eq!(page["vaults"][0]["id"], VAULT_8538);
    assert_eq!(page["vaults"][0]["billing"]["size"], 100);
    assert_eq!(
        page["vaults"][0]["createdAt"],
        "2020-09-04T06:57:37.343535Z"
    );
    let otc = &page["vaults"][1];
    assert_eq!(otc["billing"]["status"], "VAULT_STATUS_LOCK");
    assert_eq!(
        otc["billing"]["used"], 1024,
        "upstream's \"1024\" as a number"
    );
    assert_eq!(
        otc["resources"][0]["protectStatus"],
        "PROTECT_STATUS_PROTECTING"
    );
    assert_eq!(otc["availabilityZone"], "az1.dc1");

    // vault get: a label/value block, its resources as a sub-table.
    let out = c.run(&["vault", "get", VAULT_A]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "\
vault:              {VAULT_A}
name:               sdk-vault1595581958
status:             lock
object type:        server
protect type:       backup
capacity:           40 GB
allocated:          40 GB
used:               1024 MB
billing:            post_paid
spec:               vault.backup.server.normal
project:            0605767b5780d5762fc5c0118072a564
availability zone:  az1.dc1
created:            2020-07-24T09:12:49Z
tags:               fds=
resources:
  {SERVER}\tecs-1f0f-0002\tOS::Nova::Server\tprotecting\t2
"
        )
    );
    let out = c.run(&["vault", "get", VAULT_A, "-o", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let vault = &json_lines(&out)[0]["vault"];
    assert_eq!(vault["id"], VAULT_A);
    assert_eq!(vault["resources"][0]["backupCount"], 2);
    assert_eq!(vault["bindRules"]["tags"][0]["value"], "prod");

    // No flag set: no query at all; the ID is the path's last segment.
    let vaults = format!("/v3/{PROJECT}/vaults");
    let one = format!("{vaults}/{VAULT_A}");
    assert_eq!(
        received(&upstream).await,
        [
            ("GET".into(), vaults.clone(), None),
            ("GET".into(), vaults, None),
            ("GET".into(), one.clone(), None),
            ("GET".into(), one, None),
        ]
    );
}

#[tokio::test]
async fn policies_list_and_policy_get_print_rows_blocks_and_json() {
    let upstream = MockServer::start().await;
    let list = format!(r#"{{"count":2,"policies":[{POLICY_JSON},{REPLICATION_POLICY_JSON}]}}"#);
    mount_get(&upstream, "policies", ok_json(&list)).await;
    mount_get(
        &upstream,
        &format!("policies/{REPLICATION_POLICY}"),
        ok_json(&format!(r#"{{"policy":{REPLICATION_POLICY_JSON}}}"#)),
    )
    .await;
    let c = Cli::against(&upstream).await;

    // Piped: ID, name, type, enabled, schedule (every pattern), bound vaults.
    let out = c.run(&["policies", "list"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    assert_eq!(
        stdout(&out),
        tsv(&[
            &[
                POLICY,
                "policy001",
                "backup",
                "yes",
                "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00",
                "",
            ],
            &[
                REPLICATION_POLICY,
                "replicate-daily",
                "replication",
                "no",
                "FREQ=DAILY;INTERVAL=1;BYHOUR=6;BYMINUTE=00 | FREQ=DAILY;INTERVAL=1;BYHOUR=18;BYMINUTE=00",
                VAULT,
            ],
        ])
    );

    // Both filters as flags, in upstream's words; -o json.
    let out = c
        .run(&[
            "policies",
            "list",
            "--operation-type",
            "replication",
            "--vault-id",
            VAULT,
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = &json_lines(&out)[0];
    assert_eq!(page["count"], 2);
    assert_eq!(
        page["policies"][0]["trigger"]["properties"]["startTime"],
        "2019-05-08T06:57:05Z"
    );
    assert_eq!(
        page["policies"][1]["operationType"],
        "POLICY_OPERATION_TYPE_REPLICATION"
    );
    assert_eq!(
        page["policies"][1]["associatedVaults"][0]["destinationVaultId"],
        "0ca3eb86-8800-46da-9c37-9d657a825274"
    );

    let out = c.run(&["policy", "get", REPLICATION_POLICY]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "\
policy:               {REPLICATION_POLICY}
name:                 replicate-daily
type:                 replication
enabled:              no
schedule:             FREQ=DAILY;INTERVAL=1;BYHOUR=6;BYMINUTE=00 | FREQ=DAILY;INTERVAL=1;BYHOUR=18;BYMINUTE=00
max backups:          -1
retention days:       -1
destination region:   region2
destination project:  68589cac08274b82b4e254268a3862d8
vaults:
  {VAULT}\t0ca3eb86-8800-46da-9c37-9d657a825274
"
        )
    );
    let out = c
        .run(&["policy", "get", REPLICATION_POLICY, "-o", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let policy = &json_lines(&out)[0]["policy"];
    assert_eq!(policy["policyType"], "POLICY_TYPE_CUSTOM_POLICY");
    assert_eq!(policy["operationDefinition"]["maxBackups"], -1);

    let policies = format!("/v3/{PROJECT}/policies");
    let one = format!("{policies}/{REPLICATION_POLICY}");
    assert_eq!(
        received(&upstream).await,
        [
            ("GET".into(), policies.clone(), None),
            (
                "GET".into(),
                policies,
                Some(format!("operation_type=replication&vault_id={VAULT}"))
            ),
            ("GET".into(), one.clone(), None),
            ("GET".into(), one, None),
        ]
    );
}

#[tokio::test]
async fn operations_list_and_operation_get_print_rows_blocks_and_json() {
    let upstream = MockServer::start().await;
    mount_get(&upstream, "operation-logs", ok_json(OPERATION_LOGS)).await;
    mount_get(
        &upstream,
        &format!("operation-logs/{DELETE_LOG}"),
        ok_json(&operation_log(2)),
    )
    .await;
    let c = Cli::against(&upstream).await;

    // Piped: ID, type, status, progress, resource (its name, else its ID),
    // vault (its name, else its ID), started, ended.
    let out = c.run(&["operations", "list"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    assert_eq!(
        stdout(&out),
        tsv(&[
            &[
                LOG,
                "backup",
                "success",
                "100%",
                "ECS-0001",
                "",
                "2019-05-23T14:31:36Z",
                "2019-05-23T14:35:23Z",
            ],
            &[
                "9f1c0000-0000-4000-8000-000000000001",
                "restore",
                "running",
                "35%",
                "ecs-1f0f-0002",
                "vault-be94",
                "2026-12-04T10:00:00Z",
                "",
            ],
            &[
                DELETE_LOG,
                "delete",
                "failed",
                "0%",
                "r",
                VAULT,
                "2026-12-04T10:04:59Z",
                "2026-12-04T10:05:00Z",
            ],
        ])
    );

    // Enum flags in upstream's words, times as RFC 3339; -o json.
    let out = c
        .run(&[
            "operations",
            "list",
            "--operation-type",
            "delete",
            "--status",
            "failed",
            "--start-time",
            "2026-12-04T11:00:00+01:00",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = &json_lines(&out)[0];
    assert_eq!(page["count"], 3);
    let logs = page["operationLogs"].as_array().unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(
        logs[1]["extraInfo"]["restore"]["targetResourceName"],
        "ecs-1f0f-0002"
    );
    assert_eq!(logs[2]["status"], "OPERATION_LOG_STATUS_FAILED");
    assert_eq!(logs[2]["errorInfo"]["code"], "BackupService.6204");

    // operation get: what it was, how it ended and why.
    let out = c.run(&["operation", "get", DELETE_LOG]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_plain(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "\
operation:      {DELETE_LOG}
type:           delete
status:         failed
progress:       0%
error:          BackupService.6204: used to create an image
resource:       r
resource type:  OS::Nova::Server
backup:         backup_name ({BACKUP})
vault:          {VAULT}
started:        2026-12-04T10:04:59Z
ended:          2026-12-04T10:05:00Z
"
        )
    );
    let out = c.run(&["operation", "get", DELETE_LOG, "-o", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = &json_lines(&out)[0]["operationLog"];
    assert_eq!(log["operationType"], "OPERATION_TYPE_DELETE");
    assert_eq!(log["extraInfo"]["delete"]["backupId"], BACKUP);

    let logs = format!("/v3/{PROJECT}/operation-logs");
    let one = format!("{logs}/{DELETE_LOG}");
    assert_eq!(
        received(&upstream).await,
        [
            ("GET".into(), logs.clone(), None),
            (
                "GET".into(),
                logs,
                Some(
                    "operation_type=delete&start_time=2026-12-04T10%3A00%3A00Z&status=failed"
                        .into()
                )
            ),
            ("GET".into(), one.clone(), None),
            ("GET".into(), one, None),
        ]
    );
}

#[tokio::test]
async fn lists_on_a_terminal_are_aligned_tables_under_a_header() {
    let upstream = MockServer::start().await;
    mount_get(&upstream, "vaults", ok_json(VAULTS)).await;
    let policies = format!(r#"{{"count":2,"policies":[{POLICY_JSON},{REPLICATION_POLICY_JSON}]}}"#);
    mount_get(&upstream, "policies", ok_json(&policies)).await;
    mount_get(&upstream, "operation-logs", ok_json(OPERATION_LOGS)).await;
    let c = Cli::against(&upstream).await;

    let screen = c
        .on_a_terminal(&[
            &["vaults", "list"],
            &["policies", "list"],
            &["operations", "list"],
        ])
        .await;
    // Each table, then the count (a hint on stderr), then the exit code.
    let expected = [
        "ID                                    NAME                 STATUS     OBJECT  USED     SIZE    RESOURCES",
        "a335f9e1-1628-4c64-a7be-38656e5ec19c  vault-8538           available  server  0 MB     100 GB  0",
        "2b076f26-391f-40fa-bf71-a798940faccf  sdk-vault1595581958  lock       server  1024 MB  40 GB   1",
        "2 vault(s)",
        "EXIT=0",
        "ID                                    NAME             TYPE         ENABLED  SCHEDULE                                                                                  VAULTS",
        "cbb3ce6f-3332-4e7c-b98e-77290d8471ff  policy001        backup       yes      FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00",
        "b1d4e2c0-0a8e-4cfa-bb6f-3cb9d0b1a001  replicate-daily  replication  no       FREQ=DAILY;INTERVAL=1;BYHOUR=6;BYMINUTE=00 | FREQ=DAILY;INTERVAL=1;BYHOUR=18;BYMINUTE=00  3b5816b5-f29c-4172-9d9a-76c719a659ce",
        "2 policy(ies)",
        "EXIT=0",
        "ID                                    TYPE     STATUS   PROGRESS  RESOURCE       VAULT                                 STARTED               ENDED",
        "4827f2da-b008-4507-ab7d-42d0df5ed912  backup   success  100%      ECS-0001                                             2019-05-23T14:31:36Z  2019-05-23T14:35:23Z",
        "9f1c0000-0000-4000-8000-000000000001  restore  running  35%       ecs-1f0f-0002  vault-be94                            2026-12-04T10:00:00Z",
        "9f1c0000-0000-4000-8000-000000000002  delete   failed   0%        r              3b5816b5-f29c-4172-9d9a-76c719a659ce  2026-12-04T10:04:59Z  2026-12-04T10:05:00Z",
        "3 operation(s)",
        "EXIT=0",
    ]
    .join("\n");
    assert_eq!(screen, expected, "\n{screen}");
}

#[tokio::test]
async fn a_missing_id_exits_1_with_upstreams_code_and_message() {
    let upstream = MockServer::start().await;
    let missing = "0ca3eb86-8800-46da-9c37-9d657a825274";
    mount_get(
        &upstream,
        &format!("vaults/{missing}"),
        error_json(404, "BackupService.6105", "The vault does not exist."),
    )
    .await;
    mount_get(
        &upstream,
        &format!("policies/{missing}"),
        error_json(404, "BackupService.6000", "The policy does not exist."),
    )
    .await;
    mount_get(
        &upstream,
        &format!("operation-logs/{missing}"),
        error_json(404, "BackupService.6500", "Operation log does not exist."),
    )
    .await;
    mount_get(
        &upstream,
        "operation-logs",
        error_json(400, "BackupService.9900", "Parameter verification failed."),
    )
    .await;
    let c = Cli::against(&upstream).await;

    for (args, report) in [
        (
            &["vault", "get", missing][..],
            "error: NotFound: The vault does not exist.\n  upstream BackupService.6105 (HTTP 404)\n",
        ),
        (
            &["policy", "get", missing],
            "error: NotFound: The policy does not exist.\n  upstream BackupService.6000 (HTTP 404)\n",
        ),
        (
            &["operation", "get", missing],
            "error: NotFound: Operation log does not exist.\n  upstream BackupService.6500 (HTTP 404)\n",
        ),
        (
            &["operations", "list", "--vault-name", "x"],
            "error: InvalidArgument: Parameter verification failed.\n  upstream BackupService.9900 (HTTP 400)\n",
        ),
    ] {
        for json in [false, true] {
            let mut args = args.to_vec();
            if json {
                args.extend(["-o", "json"]);
            }
            let out = c.run(&args).await;
            assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
            assert_plain(&out);
            assert_eq!(stdout(&out), "", "{args:?}");
            assert_eq!(stderr(&out), report, "{args:?}");
        }
    }
}

#[tokio::test]
async fn bad_flags_are_usage_errors_and_nothing_is_called() {
    let upstream = MockServer::start().await;
    let c = Cli::against(&upstream).await;

    for (args, says) in [
        (
            &["vaults", "list", "--status", "bogus"][..],
            "invalid value 'bogus' for '--status <STATUS>'",
        ),
        (
            &["vaults", "list", "--object-type", "SERVER"],
            "invalid value 'SERVER' for '--object-type <OBJECT_TYPE>'",
        ),
        (
            &["vaults", "list", "--cloud-type", "private"],
            "[possible values: public, hybrid]",
        ),
        (
            &["vaults", "list", "--limit", "ten"],
            "invalid value 'ten' for '--limit <LIMIT>'",
        ),
        (
            &["vaults", "list", "--all", "--limit", "5"],
            "'--all' cannot be used with '--limit <LIMIT>'",
        ),
        (
            &["vaults", "list", "--vault-id", VAULT],
            "unexpected argument '--vault-id'",
        ),
        (&["vaults", "get", VAULT], "unrecognized subcommand 'get'"),
        (
            &["vault", "get"],
            "the following required arguments were not provided:\n  <VAULT_ID>",
        ),
        (&["vault", "list"], "unrecognized subcommand 'list'"),
        (
            &["policies", "list", "--operation-type", "restore"],
            "[possible values: backup, replication]",
        ),
        (
            &["policy", "get", POLICY, "extra"],
            "unexpected argument 'extra'",
        ),
        // Upstream's words are snake_case: clap's kebab-case is not one.
        (
            &["operations", "list", "--operation-type", "vault-delete"],
            "invalid value 'vault-delete' for '--operation-type <OPERATION_TYPE>'",
        ),
        (
            &["operations", "list", "--status", "done"],
            "[possible values: success, skipped, failed, running, timeout, waiting]",
        ),
        (
            &["operations", "list", "--start-time", "yesterday"],
            "expected RFC 3339, e.g. 2026-11-01T00:00:00Z",
        ),
        (
            &["operations", "list", "--offset", "-"],
            "invalid value '-' for '--offset <OFFSET>'",
        ),
        (&["operation", "get"], "<OPERATION_LOG_ID>"),
    ] {
        let out = c.run(args).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {says:?} in:\n{err}");
    }
    // Values clap takes but the gateway refuses: exit 1, the field named.
    for (args, field) in [
        (&["vaults", "list", "--limit", "0"][..], "limit"),
        (&["operations", "list", "--offset=-1"], "offset"),
    ] {
        let out = c.run(args).await;
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: InvalidArgument: "),
            "{args:?}: {err}"
        );
        assert!(err.contains(field), "{args:?}: {err}");
    }
    assert_eq!(received(&upstream).await, [], "nothing reached upstream");
}

/// A vault of ListVaults' answer with this ID and name.
fn vault(id: &str, name: &str) -> Value {
    let mut v: Value = serde_json::from_str::<Value>(VAULTS).unwrap()["vaults"][0].clone();
    v["id"] = id.into();
    v["name"] = name.into();
    v
}

/// ListVaults answering a `name` filter with `vaults` (and `count`).
async fn mount_vaults_named(upstream: &MockServer, name: &str, count: usize, vaults: &[Value]) {
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/vaults")))
        .and(query_param("name", name))
        .respond_with(ok_json(
            &serde_json::json!({"count": count, "vaults": vaults}).to_string(),
        ))
        .mount(upstream)
        .await;
}

#[tokio::test]
async fn create_with_a_vault_name_creates_in_the_one_vault_of_that_name() {
    let upstream = MockServer::start().await;
    // A loose match comes too (whether upstream's filter is exact is
    // undocumented): only the exact name counts.
    mount_vaults_named(
        &upstream,
        "vault-be94",
        2,
        &[vault(VAULT_A, "vault-be94-old"), vault(VAULT, "vault-be94")],
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/v3/{PROJECT}/checkpoints")))
        .respond_with(ok_json(&fixture("create_checkpoint.json")))
        .expect(1)
        .mount(&upstream)
        .await;
    let c = Cli::against(&upstream).await;

    let out = c
        .run(&[
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
    assert_eq!(created["id"], CHECKPOINT);
    assert_eq!(created["vault"]["id"], VAULT);

    let requests = upstream.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method.as_str(), "GET");
    assert_eq!(requests[0].url.query(), Some("name=vault-be94"));
    assert_eq!(requests[1].method.as_str(), "POST");
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        body["checkpoint"]["vault_id"], VAULT,
        "the resolved ID: {body}"
    );
    assert_eq!(
        body["checkpoint"]["parameters"]["resource_details"][0]["id"], SERVER,
        "{body}"
    );
}

#[tokio::test]
async fn a_vault_name_of_no_vault_or_of_several_creates_nothing() {
    let upstream = MockServer::start().await;
    mount_vaults_named(&upstream, "nowhere", 0, &[]).await;
    mount_vaults_named(
        &upstream,
        "vault",
        2,
        &[vault(VAULT, "vault-be94"), vault(VAULT_A, "vault-8538")],
    )
    .await;
    mount_vaults_named(
        &upstream,
        "twin",
        2,
        &[vault(VAULT, "twin"), vault(VAULT_A, "twin")],
    )
    .await;
    mount_vaults_named(&upstream, "crowded", 1001, &[vault(VAULT, "crowded")]).await;
    Mock::given(method("POST"))
        .respond_with(ok_json(&fixture("create_checkpoint.json")))
        .expect(0)
        .mount(&upstream)
        .await;
    let c = Cli::against(&upstream).await;

    for (name, report) in [
        (
            "nowhere",
            "error: no vault is named \"nowhere\" (cbr-gateway vaults list shows them)\n".to_owned(),
        ),
        (
            "vault",
            "error: no vault is named \"vault\" (cbr-gateway vaults list shows them)\n".to_owned(),
        ),
        (
            "twin",
            format!(
                "error: 2 vaults are named \"twin\" ({VAULT}, {VAULT_A}): give --vault with one's ID\n"
            ),
        ),
        (
            "crowded",
            "error: 1001 vaults match the name \"crowded\", more than one page: give --vault with the ID\n"
                .to_owned(),
        ),
    ] {
        let out = c
            .run(&["checkpoint", "create", "--vault-name", name])
            .await;
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{name}");
        assert_eq!(stderr(&out), report, "{name}");
    }
    // Exactly one of --vault and --vault-name.
    for args in [
        &["checkpoint", "create"][..],
        &[
            "checkpoint",
            "create",
            "--vault",
            VAULT,
            "--vault-name",
            "twin",
        ],
    ] {
        let out = c.run(args).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--vault <VAULT_ID>")
                && stderr(&out).contains("--vault-name <NAME>"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Only the look-ups reached upstream, never a create.
    let vaults = format!("/v3/{PROJECT}/vaults");
    assert_eq!(
        received(&upstream).await,
        ["nowhere", "vault", "twin", "crowded"].map(|n| (
            "GET".to_owned(),
            vaults.clone(),
            Some(format!("name={n}"))
        ))
    );
}

#[tokio::test]
async fn help_lists_the_lifecycle_commands_their_flags_and_upstreams_words() {
    let help = |args: &'static [&'static str]| async move {
        let out = cli("http://127.0.0.1:1", args, &[]).await;
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let top = help(&["--help"]).await;
    for command in [
        "vaults",
        "vault",
        "policies",
        "policy",
        "operations",
        "operation",
    ] {
        assert!(
            top.contains(&format!("\n  {command} ")),
            "{command}:\n{top}"
        );
    }
    for (args, needles) in [
        (
            &["vaults", "list", "--help"][..],
            &[
                "--limit",
                "--offset",
                "--name",
                "--cloud-type",
                "--protect-type",
                "--object-type",
                "--enterprise-project-id",
                "--id",
                "--policy-id",
                "--status",
                "--resource-id",
                "--availability-zone",
                "--all",
                "--page-size",
                "--project-id",
                "[possible values: available, lock, frozen, deleting, error]",
                "[possible values: server, disk, turbo, workspace, vmware, rds, file]",
            ][..],
        ),
        (
            &["policies", "list", "--help"],
            &[
                "--operation-type",
                "--vault-id",
                "--project-id",
                "[possible values: backup, replication]",
            ],
        ),
        (
            &["operations", "list", "--help"],
            &[
                "--operation-type",
                "--status",
                "--provider-id",
                "--resource-id",
                "--resource-name",
                "--vault-id",
                "--vault-name",
                "--start-time",
                "--end-time",
                "--enterprise-project-id",
                "--limit",
                "--offset",
                "--destination-region",
                "--destination-project-id",
                "--project-id",
                "[possible values: backup, copy, replication, delete, restore, vault_delete, \
                 remove_resource, sync, migrate_resources]",
            ],
        ),
        (&["vault", "get", "--help"], &["<VAULT_ID>", "--output"]),
        (&["policy", "get", "--help"], &["<POLICY_ID>", "--output"]),
        (
            &["operation", "get", "--help"],
            &["<OPERATION_LOG_ID>", "--output"],
        ),
        (
            &["checkpoint", "create", "--help"],
            &["<--vault <VAULT_ID>|--vault-name <NAME>>"],
        ),
    ] {
        let text = help(args).await;
        for needle in needles {
            assert!(text.contains(needle), "{args:?}: {needle} missing:\n{text}");
        }
    }
}
