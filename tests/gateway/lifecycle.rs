//! VaultService, PolicyService and OperationLogService end to end: a generated
//! tonic client → the real gateway → a mock upstream answering with
//! LIFECYCLE.md's examples verbatim (and their documented quirks). Each
//! response is checked field for field, each upstream request for its exact
//! path and query (unset filters are not sent), and each error for its
//! status and upstream code.

use crate::common;

use cbr_gateway::proto::{self as pb};
use common::*;
use prost_types::Timestamp;
use tonic::Code;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

fn ok_json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(body.to_owned(), "application/json")
        .insert_header("X-Request-Id", "req-lifecycle")
}

fn error_json(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        serde_json::json!({"error_code": code, "error_msg": message}).to_string(),
        "application/json",
    )
}

fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos })
}

/// The query strings upstream received, in order (`None`: no `?` at all).
async fn queries(upstream: &MockServer) -> Vec<Option<String>> {
    upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.query().map(str::to_owned))
        .collect()
}

/// The upstream error code a status carries (`ErrorInfo.reason`).
fn upstream_code(status: &tonic::Status) -> String {
    details(status)
        .error_info()
        .expect("ErrorInfo")
        .reason
        .clone()
}

const VAULT_A: &str = "2b076f26-391f-40fa-bf71-a798940faccf";
const VAULT_PROJECT: &str = "0605767b5780d5762fc5c0118072a564";

// LIFECYCLE.md §2.2, Huawei API Explorer's example.
const SHOW_VAULT: &str = r#"{"vault":{"auto_bind":true,"auto_expand":false,
  "billing":{"allocated":0,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
    "frozen_scene":null,"object_type":"server","order_id":null,"product_id":null,"protect_type":"backup","size":40,
    "spec_code":"vault.backup.server.normal","status":"available","storage_unit":null,"used":0},
  "bind_rules":{},"created_at":"2020-07-24T09:12:49.491874","description":null,"enterprise_project_id":"0",
  "id":"2b076f26-391f-40fa-bf71-a798940faccf","name":"sdk-vault1595581958","project_id":"0605767b5780d5762fc5c0118072a564",
  "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66","resources":[],"tags":[{"key":"fds","value":null}],
  "user_id":"aa2999fa5ae640f28926f8fd79188934"}}"#;

// The same in OTC's documents: numeric enterprise_project_id, a zoned
// millisecond timestamp, a tag without value, no null billing fields; plus a
// bound server as the CreateVault response shows one.
const SHOW_VAULT_OTC: &str = r#"{"vault":{"auto_bind":false,"auto_expand":false,
  "billing":{"allocated":40,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
    "object_type":"server","protect_type":"backup","size":40,"spec_code":"vault.backup.server.normal","status":"lock","used":"1024"},
  "bind_rules":{"tags":[{"key":"env","value":"prod"}]},"created_at":"2020-07-24T09:12:49.492+00:00","enterprise_project_id":0,
  "id":"2b076f26-391f-40fa-bf71-a798940faccf","name":"sdk-vault1595581958","project_id":"0605767b5780d5762fc5c0118072a564",
  "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66",
  "resources":[{"id":"94eba8b2-acc9-4d82-badc-127144cc5526","name":"ecs-1f0f-0002","type":"OS::Nova::Server",
    "protect_status":"protecting","size":40,"backup_size":0,"backup_count":2,"auto_protect":true,
    "extra_info":{"exclude_volumes":["bdef09bb-293f-446a-88a4-86e9f14408c4"],"include_volumes":[{"id":"73ee8446-bce7-4371-9650-b440b5f4c1d0","os_version":"CentOS 7.6"}]}}],
  "tags":[{"key":"fds"}],"smn_notify":true,"threshold":80,"locked":true,"availability_zone":"az1.dc1",
  "sys_lock_source_service":"SMB","backup_name_prefix":"x","frozen":false}}"#;

#[tokio::test]
async fn get_vault_maps_both_documented_shapes_field_for_field() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/vaults/{VAULT_A}")))
        .respond_with(ok_json(SHOW_VAULT))
        .up_to_n_times(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/vaults/{VAULT_A}")))
        .respond_with(ok_json(SHOW_VAULT_OTC))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.vaults();
    let get = || pb::GetVaultRequest {
        project_id: PROJECT.into(),
        vault_id: VAULT_A.into(),
        region: String::new(),
    };

    let response = client.get_vault(get()).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "req-lifecycle"
    );
    let vault = response.into_inner().vault.unwrap();
    assert_eq!(
        vault,
        pb::Vault {
            id: VAULT_A.into(),
            name: "sdk-vault1595581958".into(),
            project_id: VAULT_PROJECT.into(),
            provider_id: "0daac4c5-6707-4851-97ba-169e36266b66".into(),
            billing: Some(pb::Billing {
                allocated: 0,
                charging_mode: pb::ChargingMode::PostPaid as i32,
                cloud_type: pb::CloudType::Public as i32,
                consistent_level: pb::ConsistentLevel::CrashConsistent as i32,
                object_type: pb::ObjectType::Server as i32,
                order_id: String::new(),
                product_id: String::new(),
                protect_type: pb::ProtectType::Backup as i32,
                size: 40,
                spec_code: "vault.backup.server.normal".into(),
                status: pb::VaultStatus::Available as i32,
                storage_unit: String::new(),
                used: 0,
                frozen_scene: String::new(),
                is_multi_az: false,
            }),
            resources: vec![],
            description: String::new(),
            tags: vec![pb::Tag {
                key: "fds".into(),
                value: String::new(),
            }],
            enterprise_project_id: "0".into(),
            auto_bind: true,
            bind_rules: Some(pb::VaultBindRules { tags: vec![] }),
            user_id: "aa2999fa5ae640f28926f8fd79188934".into(),
            created_at: ts(1_595_581_969, 491_874_000),
            auto_expand: false,
            smn_notify: None,
            threshold: None,
            sys_lock_source_service: String::new(),
            locked: false,
            availability_zone: String::new(),
        }
    );

    let otc = client
        .get_vault(get())
        .await
        .unwrap()
        .into_inner()
        .vault
        .unwrap();
    assert_eq!(otc.enterprise_project_id, "0", "numeric 0 reads as \"0\"");
    assert_eq!(otc.created_at, ts(1_595_581_969, 492_000_000));
    assert_eq!(otc.tags[0].value, "");
    let billing = otc.billing.unwrap();
    assert_eq!(billing.status(), pb::VaultStatus::Lock);
    assert_eq!(
        (billing.allocated, billing.used),
        (40, 1024),
        "used as text"
    );
    assert_eq!(otc.bind_rules.unwrap().tags[0].value, "prod");
    assert_eq!(
        (otc.smn_notify, otc.threshold, otc.locked),
        (Some(true), Some(80), true)
    );
    assert_eq!(otc.sys_lock_source_service, "SMB");
    assert_eq!(otc.availability_zone, "az1.dc1");
    assert_eq!(
        otc.resources,
        vec![pb::VaultResource {
            id: SERVER.into(),
            name: "ecs-1f0f-0002".into(),
            r#type: "OS::Nova::Server".into(),
            protect_status: pb::ProtectStatus::Protecting as i32,
            size: 40,
            backup_size: 0,
            backup_count: 2,
            auto_protect: Some(true),
            extra_info: Some(pb::ResourceExtraInfo {
                exclude_volumes: vec!["bdef09bb-293f-446a-88a4-86e9f14408c4".into()],
                include_volumes: vec![pb::IncludeVolume {
                    id: "73ee8446-bce7-4371-9650-b440b5f4c1d0".into(),
                    os_version: Some("CentOS 7.6".into()),
                }],
            }),
        }]
    );
}

#[tokio::test]
async fn list_vaults_sends_exactly_the_filters_set_and_reports_the_total() {
    let upstream = MockServer::start().await;
    // LIFECYCLE.md §2.1: count 50 with one vault on the page.
    let list = r#"{"count":50,"vaults":[{"auto_bind":false,"auto_expand":false,
  "billing":{"allocated":0,"charging_mode":"post_paid","cloud_type":"public","consistent_level":"crash_consistent",
    "frozen_scene":null,"object_type":"server","order_id":null,"product_id":null,"protect_type":"backup","size":100,
    "spec_code":"vault.backup.server.normal","status":"available","storage_unit":null,"used":0},
  "bind_rules":{},"created_at":"2020-09-04T06:57:37.343535","description":null,"enterprise_project_id":"0",
  "id":"a335f9e1-1628-4c64-a7be-38656e5ec19c","name":"vault-8538","project_id":"0605767b5780d5762fc5c0118072a564",
  "provider_id":"0daac4c5-6707-4851-97ba-169e36266b66","resources":[],"tags":[],
  "user_id":"aa2999fa5ae640f28926f8fd79188934"}]}"#;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/vaults")))
        .respond_with(ok_json(list))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.vaults();

    let page = client
        .list_vaults(pb::ListVaultsRequest {
            project_id: PROJECT.into(),
            limit: Some(100),
            name: "vault-8538".into(),
            offset: Some(0),
            cloud_type: pb::CloudType::Public as i32,
            protect_type: pb::ProtectType::Backup as i32,
            object_type: pb::ObjectType::Server as i32,
            enterprise_project_id: "all_granted_eps".into(),
            id: vec![VAULT.into(), VAULT_A.into()],
            policy_id: "cbb3ce6f-3332-4e7c-b98e-77290d8471ff".into(),
            status: pb::VaultStatus::Available as i32,
            resource_ids: vec![SERVER.into(), "b1".into()],
            availability_zone: "az1.dc1".into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((page.count, page.limit, page.offset), (50, 1000, 0));
    assert_eq!(page.vaults.len(), 1);
    assert_eq!(page.vaults[0].name, "vault-8538");
    assert_eq!(page.vaults[0].created_at, ts(1_599_202_657, 343_535_000));

    client
        .list_vaults(pb::ListVaultsRequest {
            project_id: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // A name in CJK characters (upstream's pattern allows them), sent encoded.
    client
        .list_vaults(pb::ListVaultsRequest {
            project_id: PROJECT.into(),
            name: "备份库".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    assert_eq!(
        queries(&upstream).await,
        vec![
            Some(
                [
                    "availability_zone=az1.dc1",
                    "cloud_type=public",
                    "enterprise_project_id=all_granted_eps",
                    "id=3b5816b5-f29c-4172-9d9a-76c719a659ce%2C2b076f26-391f-40fa-bf71-a798940faccf",
                    "limit=100",
                    "name=vault-8538",
                    "object_type=server",
                    "offset=0",
                    "policy_id=cbb3ce6f-3332-4e7c-b98e-77290d8471ff",
                    "protect_type=backup",
                    "resource_ids=94eba8b2-acc9-4d82-badc-127144cc5526%2Cb1",
                    "status=available",
                ]
                .join("&")
            ),
            None,
            Some("name=%E5%A4%87%E4%BB%BD%E5%BA%93".into()),
        ]
    );
}

// LIFECYCLE.md §6.4, Huawei's example.
const SHOW_POLICY: &str = r#"{"policy":{"associated_vaults":[],"enabled":true,"id":"cbb3ce6f-3332-4e7c-b98e-77290d8471ff","name":"policy001",
  "operation_definition":{"day_backups":0,"month_backups":0,"retention_duration_days":1,"timezone":"UTC+08:00",
                          "week_backups":0,"year_backups":0},
  "operation_type":"backup",
  "trigger":{"id":"d67269a6-5369-42d7-8150-5254bd446328","name":"default",
    "properties":{"pattern":["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"],
                  "start_time":"2019-05-08 06:57:05"},"type":"time"}}}"#;

#[tokio::test]
async fn policies_map_field_for_field_and_send_their_filters() {
    let upstream = MockServer::start().await;
    let policy_id = "cbb3ce6f-3332-4e7c-b98e-77290d8471ff";
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/policies/{policy_id}")))
        .respond_with(ok_json(SHOW_POLICY))
        .mount(&upstream)
        .await;
    // ListPolicies: the same policy (count 10 with one element, as
    // documented) and a replication policy bound to a vault, with the
    // advanced retention rules and the OTC start time.
    let list = format!(
        r#"{{"count":10,"policies":[{},
  {{"id":"b1d4e2c0-0a8e-4cfa-bb6f-3cb9d0b1a001","name":"replicate-daily","enabled":false,"operation_type":"replication",
    "policy_type":"custom_policy",
    "operation_definition":{{"destination_region":"region2","destination_project_id":"68589cac08274b82b4e254268a3862d8",
      "max_backups":-1,"retention_duration_days":-1,"enable_acceleration":true,"full_backup_interval":-1,
      "advanced_retention_rules":{{"weekly_retention_rules":{{"days_of_week":["MO","FR"],"retention_duration_periods":4}},
        "monthly_retention_rules":{{"retention_type":"MONTHLY","days_of_month":[1,-1],"retention_duration_periods":12}},
        "yearly_retention_rules":{{"retention_type":"WEEKLY","retention_months":["JANUARY"],"retention_weeks":["FIRST"],"days_of_week":["MO"],"retention_duration_periods":-1}}}}}},
    "trigger":{{"id":"t2","name":"default","type":"time",
      "properties":{{"pattern":["FREQ=DAILY;INTERVAL=1;BYHOUR=6;BYMINUTE=00"],"start_time":"2019-05-08T06:57:05.000+00:00","start_window_minutes":60}}}},
    "associated_vaults":[{{"vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce","destination_vault_id":"0ca3eb86-8800-46da-9c37-9d657a825274"}}]}}]}}"#,
        &SHOW_POLICY[r#"{"policy":"#.len()..SHOW_POLICY.len() - 1]
    );
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/policies")))
        .respond_with(ok_json(&list))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.policies();

    let policy = client
        .get_policy(pb::GetPolicyRequest {
            project_id: PROJECT.into(),
            policy_id: policy_id.into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    let documented = pb::Policy {
        id: policy_id.into(),
        name: "policy001".into(),
        enabled: true,
        operation_type: pb::PolicyOperationType::Backup as i32,
        operation_definition: Some(pb::PolicyOperationDefinition {
            day_backups: Some(0),
            month_backups: Some(0),
            retention_duration_days: Some(1),
            timezone: "UTC+08:00".into(),
            week_backups: Some(0),
            year_backups: Some(0),
            ..Default::default()
        }),
        trigger: Some(pb::PolicyTrigger {
            id: "d67269a6-5369-42d7-8150-5254bd446328".into(),
            name: "default".into(),
            r#type: pb::TriggerType::Time as i32,
            properties: Some(pb::PolicyTriggerProperties {
                pattern: vec![
                    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00".into(),
                ],
                start_time: ts(1_557_298_625, 0),
                start_window_minutes: None,
            }),
        }),
        associated_vaults: vec![],
        policy_type: pb::PolicyType::Unspecified as i32,
    };
    assert_eq!(policy, documented);

    let listed = client
        .list_policies(pb::ListPoliciesRequest {
            project_id: PROJECT.into(),
            operation_type: pb::PolicyOperationType::Replication as i32,
            vault_id: VAULT.into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.count, 10, "upstream's count, not the list's length");
    assert_eq!(listed.policies[0], documented);
    let replication = &listed.policies[1];
    assert_eq!(
        replication.operation_type(),
        pb::PolicyOperationType::Replication
    );
    assert_eq!(replication.policy_type(), pb::PolicyType::CustomPolicy);
    assert!(!replication.enabled);
    let definition = replication.operation_definition.clone().unwrap();
    assert_eq!(
        (
            definition.max_backups,
            definition.retention_duration_days,
            definition.enable_acceleration,
            definition.full_backup_interval,
        ),
        (Some(-1), Some(-1), Some(true), Some(-1))
    );
    assert_eq!(definition.destination_region, "region2");
    let rules = definition.advanced_retention_rules.unwrap();
    assert_eq!(
        rules.weekly_retention_rules,
        Some(pb::WeeklyRetentionRule {
            days_of_week: vec!["MO".into(), "FR".into()],
            retention_duration_periods: Some(4),
        })
    );
    let monthly = rules.monthly_retention_rules.unwrap();
    assert_eq!(monthly.retention_type(), pb::RetentionType::Monthly);
    assert_eq!(monthly.days_of_month, vec![1, -1]);
    let yearly = rules.yearly_retention_rules.unwrap();
    assert_eq!(yearly.retention_type(), pb::RetentionType::Weekly);
    // Spelled as the definitions spell them, passed through as they come.
    assert_eq!(
        (yearly.retention_months, yearly.retention_weeks),
        (vec!["JANUARY".to_owned()], vec!["FIRST".to_owned()])
    );
    assert_eq!(yearly.retention_duration_periods, Some(-1));
    let trigger = replication.trigger.clone().unwrap().properties.unwrap();
    assert_eq!(trigger.start_time, ts(1_557_298_625, 0));
    assert_eq!(trigger.start_window_minutes, Some(60));
    assert_eq!(
        replication.associated_vaults,
        vec![pb::PolicyAssociatedVault {
            vault_id: VAULT.into(),
            destination_vault_id: "0ca3eb86-8800-46da-9c37-9d657a825274".into(),
        }]
    );

    client
        .list_policies(pb::ListPoliciesRequest {
            project_id: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let sent = queries(&upstream).await;
    assert_eq!(
        sent[1..],
        [
            Some("operation_type=replication&vault_id=3b5816b5-f29c-4172-9d9a-76c719a659ce".into()),
            None,
        ]
    );
}

// LIFECYCLE.md §5.5: the documented backup log, then the constructed restore,
// delete, vault deletion and replication logs (every extra_info variant).
const OPERATION_LOGS: &str = r#"{"count":5,"operation_logs":[{"checkpoint_id":"b432511f-d889-428f-8b0e-5f47c524c6b6",
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
 {"id":"9f1c0000-0000-4000-8000-000000000002","operation_type":"delete","status":"failed","ended_at":"2026-12-04T10:05:00.000000",
  "error_info":{"code":"BackupService.6204","message":"used to create an image"},
  "extra_info":{"common":{"progress":0,"request_id":"req-d"},"resource":{"id":"r","type":"OS::Nova::Server"},
               "delete":{"backup_id":"6df2b54c-dd62-4059-a07c-1b8f24f2725d","backup_name":"backup_name"}}},
 {"id":"9f1c0000-0000-4000-8000-000000000003","operation_type":"vault_delete","status":"success",
  "extra_info":{"common":{"progress":100,"request_id":"req-v"},"resource":{"id":"r","type":"OS::Nova::Server"},
               "vault_delete":{"fail_count":0,"total_count":12}}},
 {"id":"9f1c0000-0000-4000-8000-000000000004","operation_type":"replication","status":"success",
  "extra_info":{"common":{"progress":100,"request_id":"req-p"},"resource":{"id":"r","type":"OS::Nova::Server"},
   "replication":{"source_backup_id":"6df2b54c-dd62-4059-a07c-1b8f24f2725d","source_checkpoint_id":"8b0851a8-adf3-4f4c-a914-dead08bf9664","source_project_id":"4229d7a45436489f8c3dc2b1d35d4987",
     "source_region":"region1","destination_backup_id":"d1","destination_checkpoint_id":"d2",
     "destination_project_id":"68589cac08274b82b4e254268a3862d8","destination_region":"region2"}}}],
 "limit":5,"offset":10}"#;

#[tokio::test]
async fn operation_logs_map_every_variant_and_send_every_filter() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .respond_with(ok_json(OPERATION_LOGS))
        .mount(&upstream)
        .await;
    let log_id = "4827f2da-b008-4507-ab7d-42d0df5ed912";
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs/{log_id}")))
        .respond_with(ok_json(
            r#"{"operation_log":{"id":"4827f2da-b008-4507-ab7d-42d0df5ed912","operation_type":"backup","status":"success",
  "extra_info":{"backup":{"backup_id":"0e5d0ef6-7f0a-4890-b98c-cb12490e31c1","backup_name":"manualbk_1234","incremental":"true","app_consistency_status":"1"},
  "common":{"progress":100,"request_id":"req-x","task_id":"t-1"},"resource":{"id":"1dab32fa-ebf2-415a-ab0b-eabe6353bc86","type":"OS::Nova::Server"}}}}"#,
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.operation_logs();

    let page = client
        .list_operation_logs(pb::ListOperationLogsRequest {
            project_id: PROJECT.into(),
            operation_type: pb::OperationType::Restore as i32,
            status: pb::OperationLogStatus::Running as i32,
            provider_id: "0daac4c5-6707-4851-97ba-169e36266b66".into(),
            resource_id: SERVER.into(),
            resource_name: "ecs 1f0f/0002".into(),
            vault_id: VAULT.into(),
            vault_name: "vault-be94".into(),
            start_time: ts(1_514_764_800, 0),
            end_time: ts(1_517_486_400, 0),
            enterprise_project_id: "0".into(),
            limit: Some(5),
            offset: Some(10),
            destination_region: "region2".into(),
            destination_project_id: "68589cac08274b82b4e254268a3862d8".into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((page.count, page.limit, page.offset), (5, 5, 10));
    let logs = page.operation_logs;
    assert_eq!(logs.len(), 5);

    let backup = &logs[0];
    assert_eq!(backup.id, log_id);
    assert_eq!(backup.status(), pb::OperationLogStatus::Success);
    assert_eq!(backup.operation_type(), pb::OperationType::Backup);
    assert_eq!(backup.checkpoint_id, "b432511f-d889-428f-8b0e-5f47c524c6b6");
    assert_eq!(backup.project_id, "04f1829c788037ac2fb8c01eb2b04b95");
    assert_eq!(backup.provider_id, "0daac4c5-6707-4851-97ba-169e36266b66");
    assert_eq!(
        (
            backup.policy_id.as_str(),
            backup.vault_id.as_str(),
            backup.vault_name.as_str()
        ),
        ("", "", ""),
        "nulls read as empty"
    );
    assert_eq!(backup.created_at, ts(1_558_621_896, 39_365_000));
    assert_eq!(backup.started_at, ts(1_558_621_896, 7_230_000));
    assert_eq!(backup.updated_at, ts(1_558_622_123, 584_418_000));
    assert_eq!(backup.ended_at, ts(1_558_622_123, 511_155_000));
    assert_eq!(
        backup.error_info,
        Some(pb::OperationErrorInfo {
            code: String::new(),
            message: String::new()
        })
    );
    let extra = backup.extra_info.clone().unwrap();
    assert_eq!(
        extra.common,
        Some(pb::OperationCommonInfo {
            progress: 100,
            request_id: "req-cdb98cc4-e87b-4f40-9b4a-57ec036620bc".into(),
            task_id: String::new(),
        })
    );
    assert_eq!(
        extra.resource,
        Some(pb::Resource {
            id: "1dab32fa-ebf2-415a-ab0b-eabe6353bc86".into(),
            r#type: "OS::Nova::Server".into(),
            name: Some("ECS-0001".into()),
            extra_info: None,
        })
    );
    assert_eq!(
        extra.backup,
        Some(pb::OperationBackupInfo {
            backup_id: "0e5d0ef6-7f0a-4890-b98c-cb12490e31c1".into(),
            backup_name: "manualbk_backup".into(),
            ..Default::default()
        })
    );

    let restore = &logs[1];
    assert_eq!(restore.status(), pb::OperationLogStatus::Running);
    assert_eq!(restore.ended_at, None, "running: no end");
    let extra = restore.extra_info.clone().unwrap();
    assert_eq!(extra.common.unwrap().progress, 35);
    assert_eq!(
        extra.restore,
        Some(pb::OperationRestoreInfo {
            backup_id: BACKUP.into(),
            backup_name: "backup_name".into(),
            target_resource_id: SERVER.into(),
            target_resource_name: "ecs-1f0f-0002".into(),
        })
    );
    assert_eq!(restore.vault_name, "vault-be94");

    let delete = &logs[2];
    assert_eq!(delete.status(), pb::OperationLogStatus::Failed);
    assert_eq!(
        delete.error_info.clone().unwrap().code,
        "BackupService.6204"
    );
    assert_eq!(
        delete.extra_info.clone().unwrap().delete,
        Some(pb::OperationDeleteInfo {
            backup_id: BACKUP.into(),
            backup_name: "backup_name".into(),
        })
    );
    assert_eq!(
        logs[3].extra_info.clone().unwrap().vault_delete,
        Some(pb::OperationVaultDeleteInfo {
            fail_count: Some(0),
            total_count: Some(12),
        })
    );
    let replication = logs[4].extra_info.clone().unwrap().replication.unwrap();
    assert_eq!(replication.source_region, "region1");
    assert_eq!(replication.destination_region, "region2");
    assert_eq!(replication.destination_backup_id, "d1");
    assert_eq!(replication.source_checkpoint_id, CHECKPOINT);

    // ShowOpLog: the text booleans of the backup variant become booleans.
    let one = client
        .get_operation_log(pb::GetOperationLogRequest {
            project_id: PROJECT.into(),
            operation_log_id: log_id.into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .operation_log
        .unwrap();
    let extra = one.extra_info.unwrap();
    let backup = extra.backup.unwrap();
    assert_eq!(
        (backup.incremental, backup.app_consistency_status),
        (Some(true), Some(true))
    );
    assert_eq!(backup.backup_name, "manualbk_1234");
    assert_eq!(extra.common.unwrap().task_id, "t-1");

    client
        .list_operation_logs(pb::ListOperationLogsRequest {
            project_id: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let sent = queries(&upstream).await;
    assert_eq!(
        sent[0].as_deref(),
        Some(
            [
                "destination_project_id=68589cac08274b82b4e254268a3862d8",
                "destination_region=region2",
                "end_time=2018-02-01T12%3A00%3A00Z",
                "enterprise_project_id=0",
                "limit=5",
                "offset=10",
                "operation_type=restore",
                "provider_id=0daac4c5-6707-4851-97ba-169e36266b66",
                "resource_id=94eba8b2-acc9-4d82-badc-127144cc5526",
                "resource_name=ecs%201f0f%2F0002",
                "start_time=2018-01-01T00%3A00%3A00Z",
                "status=running",
                "vault_id=3b5816b5-f29c-4172-9d9a-76c719a659ce",
                "vault_name=vault-be94",
            ]
            .join("&")
            .as_str()
        )
    );
    assert_eq!(sent[1..], [None, None], "nothing set: nothing sent");
}

#[tokio::test]
async fn missing_vaults_policies_and_logs_are_not_found_with_upstreams_code() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/vaults/{VAULT}")))
        .respond_with(error_json(
            404,
            "BackupService.6105",
            "The vault does not exist.",
        ))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/vaults/{VAULT_A}")))
        // Huawei's pages: the same code with 400.
        .respond_with(error_json(400, "BackupService.6105", "Vault Not Found"))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/policies/p1")))
        .respond_with(error_json(
            404,
            "BackupService.6000",
            "The policy does not exist.",
        ))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs/o1")))
        .respond_with(error_json(
            404,
            "BackupService.6500",
            "Operation log does not exist.",
        ))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/operation-logs")))
        .respond_with(error_json(
            400,
            "BackupService.9900",
            "Parameter verification failed.",
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;

    for vault in [VAULT, VAULT_A] {
        let status = gw
            .vaults()
            .get_vault(pb::GetVaultRequest {
                project_id: PROJECT.into(),
                vault_id: vault.into(),
                region: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert_eq!(upstream_code(&status), "BackupService.6105");
    }
    let status = gw
        .policies()
        .get_policy(pb::GetPolicyRequest {
            project_id: PROJECT.into(),
            policy_id: "p1".into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(upstream_code(&status), "BackupService.6000");
    assert_eq!(status.message(), "The policy does not exist.");
    let status = gw
        .operation_logs()
        .get_operation_log(pb::GetOperationLogRequest {
            project_id: PROJECT.into(),
            operation_log_id: "o1".into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(upstream_code(&status), "BackupService.6500");
    let status = gw
        .operation_logs()
        .list_operation_logs(pb::ListOperationLogsRequest {
            project_id: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(upstream_code(&status), "BackupService.9900");
}

#[tokio::test]
async fn bad_input_names_each_field_and_sends_nothing() {
    let upstream = MockServer::start().await;
    let gw = Gateway::against(&upstream).await;

    let status = gw
        .vaults()
        .list_vaults(pb::ListVaultsRequest {
            project_id: PROJECT.into(),
            limit: Some(0),
            offset: Some(-1),
            name: "my vault".into(),
            id: vec!["ok".into(), "../etc".into()],
            resource_ids: vec!["a,b".into()],
            protect_type: pb::ProtectType::Hybrid as i32,
            status: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        [
            "name",
            "protect_type",
            "id[1]",
            "resource_ids[0]",
            "limit",
            "offset",
            "status"
        ]
    );

    let status = gw
        .vaults()
        .get_vault(pb::GetVaultRequest {
            project_id: PROJECT.into(),
            vault_id: "a/b".into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["vault_id"]);

    let status = gw
        .policies()
        .list_policies(pb::ListPoliciesRequest {
            project_id: PROJECT.into(),
            operation_type: 7,
            vault_id: "x y".into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["operation_type", "vault_id"]);

    let status = gw
        .operation_logs()
        .list_operation_logs(pb::ListOperationLogsRequest {
            project_id: PROJECT.into(),
            start_time: ts(1_517_486_400, 0),
            end_time: ts(1_514_764_800, 5),
            resource_name: "x".repeat(256),
            destination_region: "region 2".into(),
            limit: Some(1001),
            operation_type: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        [
            "end_time",
            "destination_region",
            "operation_type",
            "resource_name",
            "limit"
        ]
    );
    let status = gw
        .operation_logs()
        .get_operation_log(pb::GetOperationLogRequest {
            project_id: String::new(),
            operation_log_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["project_id", "operation_log_id"]);

    assert!(
        upstream.received_requests().await.unwrap().is_empty(),
        "bad input never reaches upstream"
    );
}

/// Reads `checkpoint_id`'s backup operation logs through the gateway until
/// they are all terminal (polling, as a client without WatchCheckpoint does).
async fn backup_logs_until_done(gw: &Gateway, checkpoint_id: &str) -> Vec<pb::OperationLog> {
    let started = std::time::Instant::now();
    loop {
        let page = gw
            .operation_logs()
            .list_operation_logs(pb::ListOperationLogsRequest {
                operation_type: pb::OperationType::Backup as i32,
                vault_id: VAULT.into(),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mine: Vec<_> = page
            .operation_logs
            .into_iter()
            .filter(|l| l.checkpoint_id == checkpoint_id)
            .collect();
        assert!(!mine.is_empty(), "the checkpoint has its operation logs");
        let running = |l: &pb::OperationLog| {
            matches!(
                l.status(),
                pb::OperationLogStatus::Running | pb::OperationLogStatus::Waiting
            )
        };
        if !mine.iter().any(running) {
            return mine;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still running: {mine:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_checkpoint_created_through_the_gateway_is_a_backup_operation_that_succeeds() {
    let gw = TestStack::builder()
        .simulator(cbr_simulator::SimulatorSettings {
            backup_duration: std::time::Duration::from_millis(600),
            ..Default::default()
        })
        .project(PROJECT)
        .spawn()
        .await;
    let create = |name: &str| pb::CreateCheckpointRequest {
        vault_id: VAULT.into(),
        parameters: Some(pb::CheckpointParameters {
            name: Some(name.into()),
            resources: vec![SERVER.into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let ok = gw
        .checkpoints()
        .create_checkpoint(create("lifecycle-ok"))
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let failing = gw
        .checkpoints()
        .create_checkpoint(create("sim-error-lifecycle"))
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();

    // Both are running at first, with their progress.
    let now = gw
        .operation_logs()
        .list_operation_logs(pb::ListOperationLogsRequest {
            status: pb::OperationLogStatus::Running as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for id in [&ok.id, &failing.id] {
        let log = now
            .operation_logs
            .iter()
            .find(|l| &l.checkpoint_id == id)
            .unwrap_or_else(|| panic!("{id} is running: {now:?}"));
        assert!(log.ended_at.is_none());
        assert!(log.extra_info.clone().unwrap().common.unwrap().progress < 100);
    }

    let logs = backup_logs_until_done(&gw, &ok.id).await;
    assert_eq!(logs.len(), 1, "one resource, one log");
    let log = &logs[0];
    assert_eq!(log.status(), pb::OperationLogStatus::Success);
    assert_eq!(log.operation_type(), pb::OperationType::Backup);
    assert_eq!(log.vault_id, VAULT);
    assert!(log.ended_at.is_some(), "a finished operation has its end");
    let extra = log.extra_info.clone().unwrap();
    assert_eq!(extra.common.unwrap().progress, 100);
    assert_eq!(extra.resource.unwrap().id, SERVER);
    let backup_id = extra.backup.unwrap().backup_id;
    // The log names the backup the checkpoint made.
    let backup = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: backup_id.clone(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap();
    assert_eq!(backup.checkpoint_id, ok.id);
    // GetOperationLog answers the same.
    let one = gw
        .operation_logs()
        .get_operation_log(pb::GetOperationLogRequest {
            project_id: String::new(),
            operation_log_id: log.id.clone(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .operation_log
        .unwrap();
    assert_eq!(&one, log);

    let logs = backup_logs_until_done(&gw, &failing.id).await;
    let log = &logs[0];
    assert_eq!(log.status(), pb::OperationLogStatus::Failed);
    let error = log.error_info.clone().unwrap();
    assert!(
        error.code.starts_with("BackupService."),
        "upstream's code: {error:?}"
    );
    assert!(!error.message.is_empty());

    // Status filter, upstream side.
    let failed = gw
        .operation_logs()
        .list_operation_logs(pb::ListOperationLogsRequest {
            status: pb::OperationLogStatus::Failed as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        failed
            .operation_logs
            .iter()
            .all(|l| l.status() == pb::OperationLogStatus::Failed)
    );
    assert!(
        failed
            .operation_logs
            .iter()
            .any(|l| l.checkpoint_id == failing.id)
    );
}

#[tokio::test]
async fn stream_vaults_and_operation_logs_walk_every_page_of_their_lists() {
    let gw = TestStack::builder()
        .simulator(cbr_simulator::SimulatorSettings {
            fleet_size: 40,
            ..Default::default()
        })
        .project(PROJECT)
        .spawn()
        .await;

    // Every vault, two per upstream page: the same vaults ListVaults gives.
    let listed = gw
        .vaults()
        .list_vaults(pb::ListVaultsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.vaults.len() >= 5);
    let mut stream = gw
        .vaults()
        .stream_vaults(pb::StreamVaultsRequest {
            page_size: Some(2),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        streamed.push(message.vault.unwrap());
    }
    assert_eq!(streamed, listed.vaults);

    // Every backup operation, three per page, from the second one on:
    // ListOperationLogs' order and items.
    let filter = |limit| pb::ListOperationLogsRequest {
        operation_type: pb::OperationType::Backup as i32,
        limit,
        offset: Some(1),
        ..Default::default()
    };
    let listed = gw
        .operation_logs()
        .list_operation_logs(filter(Some(1000)))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.operation_logs.len() > 3, "{}", listed.count);
    let mut stream = gw
        .operation_logs()
        .stream_operation_logs(pb::StreamOperationLogsRequest {
            operation_type: pb::OperationType::Backup as i32,
            page_size: Some(3),
            offset: Some(1),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        streamed.push(message.operation_log.unwrap());
    }
    assert_eq!(streamed, listed.operation_logs);

    // The list's rules, `page_size` named as such; nothing streams.
    let status = gw
        .operation_logs()
        .stream_operation_logs(pb::StreamOperationLogsRequest {
            page_size: Some(0),
            status: 77,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["status", "page_size"]);
    let status = gw
        .vaults()
        .stream_vaults(pb::StreamVaultsRequest {
            page_size: Some(1001),
            id: vec!["a/b".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["id[0]", "page_size"]);
}
