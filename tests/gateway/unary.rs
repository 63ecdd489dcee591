//! Every unary RPC end to end: a generated tonic client → the real gateway → a
//! mock upstream answering with the seed documents' example payloads verbatim.
//! Each response is checked field for field, and each upstream request for its
//! exact method, path, query, headers and body.

use crate::common;

use cbr_gateway::proto::{self as pb};
use common::*;
use prost_types::Timestamp;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path},
};

fn ok_json(body: String, request_id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(body, "application/json")
        .insert_header("X-Request-Id", request_id)
}

fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos })
}

fn request_id_of<T>(resp: &tonic::Response<T>) -> String {
    resp.metadata()
        .get("x-request-id")
        .expect("x-request-id metadata")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn get_checkpoint_maps_the_seed_document() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/checkpoints/{CHECKPOINT}")))
        .and(header("x-auth-token", "user-token"))
        .respond_with(ok_json(fixture("show_checkpoint.json"), "req-show-cp"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;

    let resp = gw
        .checkpoints()
        .get_checkpoint(with_token(
            pb::GetCheckpointRequest {
                project_id: PROJECT.into(),
                checkpoint_id: CHECKPOINT.into(),
                region: String::new(),
            },
            "user-token",
        ))
        .await
        .unwrap();
    assert_eq!(request_id_of(&resp), "req-show-cp");
    let cp = resp.into_inner().checkpoint.unwrap();
    assert_eq!(
        cp,
        pb::Checkpoint {
            id: CHECKPOINT.into(),
            project_id: PROJECT.into(),
            status: pb::CheckpointStatus::Available as i32,
            // "2019-05-10T07:59:12.037+00:00"
            created_at: ts(1_557_475_152, 37_000_000),
            vault: Some(pb::CheckpointVault {
                id: VAULT.into(),
                name: "vault-be94".into(),
                resources: vec![pb::CheckpointResource {
                    id: "94eba8b2-acc9-4d82-badc-127144cc5526".into(),
                    name: "ecs-1f0f-0002".into(),
                    r#type: "OS::Nova::Server".into(),
                    protect_status: pb::ProtectStatus::Available as i32,
                    // documented as a string, sent as the number 40
                    resource_size: "40".into(),
                    extra_info: String::new(),
                    backup_size: String::new(),
                    backup_count: String::new(),
                }],
                skipped_resources: vec![],
            }),
            // omitted upstream
            extra_info: None,
        }
    );
}

#[tokio::test]
async fn create_checkpoint_sends_the_seed_body_and_maps_the_answer() {
    let upstream = MockServer::start().await;
    let seed_request: serde_json::Value =
        serde_json::from_str(&fixture("create_checkpoint_request.json")).unwrap();
    Mock::given(method("POST"))
        .and(path(format!("/v3/{PROJECT}/checkpoints")))
        .and(header("content-type", "application/json;charset=UTF-8"))
        .and(body_json(&seed_request))
        .respond_with(ok_json(fixture("create_checkpoint.json"), "req-create"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;

    // The seed request, field for field.
    let resp = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            project_id: PROJECT.into(),
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                auto_trigger: Some(true),
                description: Some("backup_description".into()),
                incremental: Some(true),
                name: Some("backup_name".into()),
                resources: vec!["94eba8b2-acc9-4d82-badc-127144cc5526".into()],
                ..Default::default()
            }),
            request_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(request_id_of(&resp), "req-create");
    let cp = resp.into_inner().checkpoint.unwrap();
    assert_eq!(
        cp,
        pb::Checkpoint {
            id: CHECKPOINT.into(),
            project_id: PROJECT.into(),
            status: pb::CheckpointStatus::Protecting as i32,
            // "2019-05-10T07:59:12.733+00:00"
            created_at: ts(1_557_475_152, 733_000_000),
            vault: Some(pb::CheckpointVault {
                id: VAULT.into(),
                name: "vault-be94".into(),
                resources: vec![pb::CheckpointResource {
                    id: "94eba8b2-acc9-4d82-badc-127144cc5526".into(),
                    name: "ecs-1f0f-0002".into(),
                    r#type: "OS::Nova::Server".into(),
                    protect_status: pb::ProtectStatus::Available as i32,
                    resource_size: "40".into(),
                    ..Default::default()
                }],
                skipped_resources: vec![],
            }),
            extra_info: Some(pb::CheckpointExtraInfo {
                name: "backup_name".into(),
                description: "backup_description".into(),
                retention_duration: Some(-1),
            }),
        }
    );
}

#[tokio::test]
async fn create_checkpoint_sends_every_parameter_it_was_given() {
    let upstream = MockServer::start().await;
    let expected = serde_json::json!({"checkpoint": {
        "vault_id": VAULT,
        "parameters": {
            "auto_trigger": false,
            "description": "",
            "incremental": false,
            "name": "n-1",
            "resources": ["r1"],
            "resource_details": [{
                "id": "94eba8b2-acc9-4d82-badc-127144cc5526",
                "type": "OS::Nova::Server",
                "name": "ecs 1",
                "extra_info": {
                    "exclude_volumes": ["v1"],
                    "include_volumes": [{"id": "v2", "os_version": "CentOS 7"}]
                }
            }],
            "policy_id": "pol_1",
            "retention_duration_days": 30
        }
    }});
    Mock::given(method("POST"))
        .and(path(format!("/v3/{PROJECT}/checkpoints")))
        .and(body_json(&expected))
        .respond_with(ok_json(fixture("create_checkpoint.json"), "r"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    gw.checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            project_id: PROJECT.into(),
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                auto_trigger: Some(false),
                description: Some(String::new()),
                incremental: Some(false),
                name: Some("n-1".into()),
                resources: vec!["r1".into()],
                resource_details: vec![pb::Resource {
                    id: "94eba8b2-acc9-4d82-badc-127144cc5526".into(),
                    r#type: "OS::Nova::Server".into(),
                    name: Some("ecs 1".into()),
                    extra_info: Some(pb::ResourceExtraInfo {
                        exclude_volumes: vec!["v1".into()],
                        include_volumes: vec![pb::IncludeVolume {
                            id: "v2".into(),
                            os_version: Some("CentOS 7".into()),
                        }],
                    }),
                }],
                policy_id: Some("pol_1".into()),
                retention_duration_days: Some(30),
            }),
            request_id: String::new(),
            region: String::new(),
        })
        .await
        .unwrap();

    // Without parameters, only the vault is sent.
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_json(
            serde_json::json!({"checkpoint": {"vault_id": VAULT}}),
        ))
        .respond_with(ok_json(fixture("create_checkpoint.json"), "r"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    gw.checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            project_id: PROJECT.into(),
            vault_id: VAULT.into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn get_backup_maps_the_seed_document_with_its_child() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/backups/{BACKUP}")))
        .respond_with(ok_json(fixture("show_backup.json"), "req-show-backup"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;

    let resp = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: PROJECT.into(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(request_id_of(&resp), "req-show-backup");
    let backup = resp.into_inner().backup.unwrap();
    let child = pb::Backup {
        provider_id: "0daac4c5-6707-4851-97ba-169e36266b66".into(),
        checkpoint_id: CHECKPOINT.into(),
        vault_id: VAULT.into(),
        id: "5d822633-2bbf-4af8-a16e-5ab1c7705235".into(),
        image_type: pb::ImageType::Backup as i32,
        resource_id: "eccbcfdd-f843-4bbb-b2c0-a5ce861f9376".into(),
        resource_size: 40,
        children: vec![],
        parent_id: BACKUP.into(),
        extend_info: Some(pb::BackupExtendInfo {
            auto_trigger: Some(true),
            snapshot_id: "5230a977-1a94-4092-8edd-519303a44cda".into(),
            bootable: Some(true),
            encrypted: Some(true),
            ..Default::default()
        }),
        project_id: PROJECT.into(),
        status: pb::BackupStatus::Available as i32,
        resource_name: "ecs-1f0f-0002".into(),
        name: "autobk_a843_ecs-1f0f-0002".into(),
        // "2019-05-10T07:59:59.451+00:00"
        created_at: ts(1_557_475_199, 451_000_000),
        resource_type: "OS::Cinder::Volume".into(),
        ..Default::default()
    };
    assert_eq!(
        backup,
        pb::Backup {
            provider_id: "0daac4c5-6707-4851-97ba-169e36266b66".into(),
            checkpoint_id: CHECKPOINT.into(),
            // sent as the number 0
            enterprise_project_id: "0".into(),
            vault_id: VAULT.into(),
            id: BACKUP.into(),
            resource_az: "az1.dc1".into(),
            image_type: pb::ImageType::Backup as i32,
            resource_id: "94eba8b2-acc9-4d82-badc-127144cc5526".into(),
            resource_size: 40,
            children: vec![child],
            extend_info: Some(pb::BackupExtendInfo {
                auto_trigger: Some(true),
                supported_restore_mode: pb::RestoreMode::Backup as i32,
                contain_system_disk: Some(true),
                support_lld: Some(true),
                ..Default::default()
            }),
            project_id: PROJECT.into(),
            status: pb::BackupStatus::Available as i32,
            resource_name: "ecs-1f0f-0002".into(),
            description: "backup_description".into(),
            name: "backup_name".into(),
            // "2019-05-10T07:59:12.085+00:00"
            created_at: ts(1_557_475_152, 85_000_000),
            resource_type: "OS::Nova::Server".into(),
            ..Default::default()
        }
    );
}

/// The element both list examples of seed 003 share the shape of.
fn listed_backup(
    id: &str,
    checkpoint_id: &str,
    name: &str,
    created: Option<Timestamp>,
    protected: Option<Timestamp>,
    updated: Option<Timestamp>,
) -> pb::Backup {
    pb::Backup {
        children: vec![],
        checkpoint_id: checkpoint_id.into(),
        created_at: created,
        // null
        description: String::new(),
        // null
        expired_at: None,
        extend_info: Some(pb::BackupExtendInfo {
            app_consistency: Some(pb::AppConsistency {
                app_consistency: "0".into(),
                app_consistency_status: "0".into(),
                app_consistency_error_code: "0".into(),
                app_consistency_error_message: String::new(),
            }),
            auto_trigger: Some(true),
            // null
            bootable: None,
            // null
            os_images_data: vec![],
            // null
            progress: None,
            // null
            snapshot_id: String::new(),
            support_lld: Some(false),
            supported_restore_mode: pb::RestoreMode::Backup as i32,
            system_disk: Some(false),
            contain_system_disk: Some(true),
            architecture: "x86_64".into(),
            ..Default::default()
        }),
        id: id.into(),
        image_type: pb::ImageType::Backup as i32,
        name: name.into(),
        // null
        parent_id: String::new(),
        project_id: "0605767b5780d5762fc5c0118072a564".into(),
        protected_at: protected,
        provider_id: "0daac4c5-6707-4851-97ba-169e36266b66".into(),
        resource_az: "br-iaas-odin1a".into(),
        resource_id: "d6bf7592-ca52-43a2-9979-e418d64b29bb".into(),
        resource_name: "xzl_ecs-0003-0001".into(),
        resource_size: 40,
        resource_type: "OS::Nova::Server".into(),
        status: pb::BackupStatus::Available as i32,
        updated_at: updated,
        vault_id: "1572bd27-e221-4f28-94ca-9777d232fcd7".into(),
        replication_records: vec![],
        ..Default::default()
    }
}

#[tokio::test]
async fn list_backups_maps_the_seed_pages_and_sends_exact_queries() {
    let upstream = MockServer::start().await;
    let project = "0605767b5780d5762fc5c0118072a564";
    Mock::given(method("GET"))
        .and(path(format!("/v3/{project}/backups")))
        .and(wiremock::matchers::query_param_is_missing("resource_type"))
        .respond_with(ok_json(fixture("list_backups_page.json"), "req-list-1"))
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{project}/backups")))
        .and(wiremock::matchers::query_param(
            "resource_type",
            "OS::Nova::Server",
        ))
        .respond_with(ok_json(fixture("list_backups_by_type.json"), "req-list-2"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;

    // Step 1 of seed 003: limit=100&offset=0.
    let resp = gw
        .backups()
        .list_backups(pb::ListBackupsRequest {
            project_id: project.into(),
            limit: Some(100),
            offset: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(request_id_of(&resp), "req-list-1");
    let page = resp.into_inner();
    assert_eq!(
        page.count, 1663,
        "count is upstream's total, not the page length"
    );
    assert_eq!((page.offset, page.limit), (0, 100));
    assert_eq!(
        page.backups,
        vec![listed_backup(
            "62617971-839d-4d23-8dfd-4ca65c039bdf",
            "e6aec7a9-7b03-4c1d-8a07-5983b53c53f3",
            "autobk_cf91_0003",
            // "2020-08-18T06:00:45.375070" (no zone: UTC)
            ts(1_597_730_445, 375_070_000),
            ts(1_597_730_470, 432_117_000),
            ts(1_597_730_804, 928_325_000),
        )]
    );

    // Step 2 of seed 003: resource_type=OS::Nova::Server&limit=5&offset=0.
    let page = gw
        .backups()
        .list_backups(pb::ListBackupsRequest {
            project_id: project.into(),
            resource_type: "OS::Nova::Server".into(),
            limit: Some(5),
            offset: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.count, 150);
    assert_eq!(page.backups.len(), 1);
    assert_eq!(page.backups[0].id, "c892ed58-3a18-47c2-9e31-a1d543dc490a");
    assert_eq!(page.backups[0].name, "autobk_7234_0003");

    let queries: Vec<String> = upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.query().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        queries,
        vec![
            "limit=100&offset=0".to_owned(),
            "limit=5&offset=0&resource_type=OS%3A%3ANova%3A%3AServer".to_owned(),
        ]
    );
}

#[tokio::test]
async fn list_backups_sends_exactly_the_filters_set() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/backups")))
        .respond_with(ok_json(r#"{"backups":[],"count":0}"#.into(), "r"))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.backups();

    let everything = pb::ListBackupsRequest {
        project_id: PROJECT.into(),
        checkpoint_id: CHECKPOINT.into(),
        dec: Some(false),
        end_time: Some(Timestamp {
            seconds: 1_517_486_400,
            nanos: 0,
        }),
        image_type: pb::ImageType::Replication as i32,
        limit: Some(1000),
        marker: BACKUP.into(),
        name: "a b/c&d=e".into(),
        offset: Some(0),
        resource_az: "az1.dc1".into(),
        resource_id: "94eba8b2-acc9-4d82-badc-127144cc5526".into(),
        resource_name: "ecs-1f0f-0002".into(),
        resource_type: "OS::Cinder::Volume".into(),
        sort: "created_at:asc,name".into(),
        start_time: Some(Timestamp {
            seconds: 1_514_764_800,
            nanos: 0,
        }),
        status: vec![
            pb::BackupStatus::Available as i32,
            pb::BackupStatus::Error as i32,
            pb::BackupStatus::WaitingProtect as i32,
        ],
        vault_id: VAULT.into(),
        enterprise_project_id: "all_granted_eps".into(),
        own_type: pb::OwnType::AllGranted as i32,
        member_status: pb::MemberStatus::Accepted as i32,
        parent_id: "5d822633-2bbf-4af8-a16e-5ab1c7705235".into(),
        used_percent: Some(80),
        show_replication: Some(true),
        incremental: Some(true),
        existed_quantity_based_retention_backups: Some(false),
        region: String::new(),
    };
    let page = client.list_backups(everything).await.unwrap().into_inner();
    // Upstream echoed neither offset nor limit: the request's values come back.
    assert_eq!((page.count, page.offset, page.limit), (0, 0, 1000));

    // Nothing set: nothing sent, and upstream's defaults are reported.
    let page = client
        .list_backups(pb::ListBackupsRequest {
            project_id: PROJECT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((page.offset, page.limit), (0, 1000));

    // A single boolean set to false is still sent.
    client
        .list_backups(pb::ListBackupsRequest {
            project_id: PROJECT.into(),
            incremental: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();

    let queries: Vec<Option<String>> = upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.query().map(str::to_owned))
        .collect();
    assert_eq!(
        queries,
        vec![
            Some(
                [
                    "checkpoint_id=8b0851a8-adf3-4f4c-a914-dead08bf9664",
                    "dec=false",
                    "end_time=2018-02-01T12%3A00%3A00Z",
                    "enterprise_project_id=all_granted_eps",
                    "existed_quantity_based_retention_backups=false",
                    "image_type=replication",
                    "incremental=true",
                    "limit=1000",
                    "marker=6df2b54c-dd62-4059-a07c-1b8f24f2725d",
                    "member_status=accepted",
                    "name=a%20b%2Fc%26d%3De",
                    "offset=0",
                    "own_type=all_granted",
                    "parent_id=5d822633-2bbf-4af8-a16e-5ab1c7705235",
                    "resource_az=az1.dc1",
                    "resource_id=94eba8b2-acc9-4d82-badc-127144cc5526",
                    "resource_name=ecs-1f0f-0002",
                    "resource_type=OS%3A%3ACinder%3A%3AVolume",
                    "show_replication=true",
                    "sort=created_at%3Aasc%2Cname",
                    "start_time=2018-01-01T00%3A00%3A00Z",
                    "status=available",
                    "status=error",
                    "status=waiting_protect",
                    "used_percent=80",
                    "vault_id=3b5816b5-f29c-4172-9d9a-76c719a659ce",
                ]
                .join("&")
            ),
            None,
            Some("incremental=false".into()),
        ]
    );
}

#[tokio::test]
async fn get_checkpoint_item_maps_the_csbs_seed_on_its_own_endpoint() {
    let cbr = MockServer::start().await;
    let csbs = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1/{PROJECT}/checkpoint_items/{CHECKPOINT_ITEM}"
        )))
        .respond_with(ok_json(fixture("show_checkpoint_item.json"), "req-csbs"))
        .expect(1)
        .mount(&csbs)
        .await;
    let csbs_url = endpoint(&csbs.uri());
    let gw = TestStack::builder()
        .upstream(&cbr.uri())
        .settings(|s| s.upstream.csbs_endpoint = Some(csbs_url))
        .spawn()
        .await;

    let resp = gw
        .checkpoint_items()
        .get_checkpoint_item(pb::GetCheckpointItemRequest {
            project_id: PROJECT.into(),
            checkpoint_item_id: CHECKPOINT_ITEM.into(),
            region: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(request_id_of(&resp), "req-csbs");
    assert!(cbr.received_requests().await.unwrap().is_empty());
    let item = resp.into_inner().checkpoint_item.unwrap();
    let volume = |id: &str, source: &str, name: &str| pb::VolumeBackup {
        status: "available".into(),
        space_saving_ratio: Some(0),
        name: "manualbk_47222".into(),
        bootable: Some(true),
        average_speed: Some(0),
        source_volume_size: Some(20),
        source_volume_id: source.into(),
        incremental: Some(false),
        image_type: "backup".into(),
        source_volume_name: name.into(),
        id: id.into(),
        size: Some(0),
        snapshot_id: "36f520e1-d2ea-4907-956a-3d9cd53e2d38".into(),
    };
    assert_eq!(
        item,
        pb::CheckpointItem {
            status: pb::CheckpointItemStatus::Available as i32,
            backup_data: Some(pb::BackupData {
                eip: String::new(),
                cloudservicetype: String::new(),
                ram: Some(4096),
                vcpus: Some(4),
                openstack_region_name: String::new(),
                private_ip: String::new(),
                disk: Some(0),
                imagetype: String::new(),
            }),
            name: "backup_d32c".into(),
            resource_id: "f45c477a-57e5-465f-999f-d845083962db".into(),
            // "2017-04-15T04:20:37.277880"
            created_at: ts(1_492_230_037, 277_880_000),
            checkpoint_id: "f672a1bb-6912-446a-816c-72792c5263e0".into(),
            updated_at: ts(1_492_230_338, 680_638_000),
            resource_type: "OS::Nova::Server".into(),
            extend_info: Some(pb::CheckpointItemExtendInfo {
                auto_trigger: Some(false),
                space_saving_ratio: Some(0),
                copy_status: pb::CopyStatus::Na as i32,
                fail_reason: String::new(),
                resource_az: "az1.dc1".into(),
                image_type: "backup".into(),
                finished_at: ts(1_492_230_338, 675_478_000),
                average_speed: Some(0),
                copy_from: String::new(),
                supported_restore_mode: pb::RestoreMode::Backup as i32,
                support_lld: Some(false),
                os_images_data: vec![pb::ImageData {
                    image_id: "fe84dd80-0229-4918-8d3d-cbb33154b565".into()
                }],
                volume_backups: vec![
                    volume(
                        "70675cbc-d3a8-43a7-9f81-c8b6bc3f5d6d",
                        "ee27f809-6fb5-40ae-ac46-c932bb4ee8fe",
                        "karbor_02"
                    ),
                    volume(
                        "8eb98e91-8924-4d4b-b6d6-28fb7b751e9c",
                        "e7f48980-927c-48de-afd4-f0245d2e5100",
                        "karbor_01"
                    ),
                ],
                // {} means no failure
                fail_code: None,
                incremental: Some(false),
                taskid: "e0a21692-2192-11e7-bf23-0242ac110007".into(),
                hypervisor_type: "QEMU".into(),
                progress: Some(100),
                // ""
                fail_op: pb::FailOp::Unspecified as i32,
                resource_name: "karbor_02".into(),
                size: Some(0),
                app_consistency: None,
                // not in this example
                resource_type: String::new(),
            }),
            id: CHECKPOINT_ITEM.into(),
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn get_checkpoint_item_reads_the_otc_example_with_nulls() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1/{PROJECT}/checkpoint_items/7b99acfd-18c3-4f26-9d39-b4ebd2ea3e12"
        )))
        .respond_with(ok_json(fixture("show_checkpoint_item_otc.json"), "r"))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let item = gw
        .checkpoint_items()
        .get_checkpoint_item(pb::GetCheckpointItemRequest {
            project_id: PROJECT.into(),
            checkpoint_item_id: "7b99acfd-18c3-4f26-9d39-b4ebd2ea3e12".into(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint_item
        .unwrap();
    assert_eq!(item.description, "backup des");
    assert!(item.tags.is_empty());
    let backup_data = item.backup_data.unwrap();
    assert_eq!(backup_data.eip, "80.158.17.102");
    assert_eq!(backup_data.cloudservicetype, "QEMU");
    assert_eq!((backup_data.ram, backup_data.vcpus), (Some(8192), Some(4)));
    let ext = item.extend_info.unwrap();
    assert_eq!(ext.copy_from, "", "null copy_from");
    assert_eq!(ext.fail_code, None, "{{}} fail_code");
    assert_eq!(ext.size, Some(146_184));
    assert_eq!(ext.average_speed, Some(19));
    assert_eq!(ext.space_saving_ratio, Some(2));
    assert_eq!(ext.volume_backups.len(), 1);
    assert_eq!(ext.volume_backups[0].size, Some(47_960));
    assert_eq!(ext.volume_backups[0].average_speed, Some(16));
}

#[tokio::test]
async fn project_and_token_handling() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/default-project/backups/{BACKUP}")))
        .respond_with(ok_json(fixture("show_backup.json"), "r"))
        .expect(2)
        .mount(&upstream)
        .await;
    let gw = TestStack::builder()
        .upstream(&upstream.uri())
        .project("default-project")
        .spawn()
        .await;
    let req = || pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    };
    // Without a token: the gateway's own AK/SK signs; no X-Auth-Token at all.
    gw.backups().get_backup(req()).await.unwrap();
    // With a token: forwarded verbatim.
    gw.backups()
        .get_backup(with_token(req(), "MIIEXAMPLE-token_value"))
        .await
        .unwrap();
    let seen = upstream.received_requests().await.unwrap();
    assert!(seen[0].headers.get("x-auth-token").is_none());
    let auth = seen[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        auth.starts_with(&format!(
            "SDK-HMAC-SHA256 Access={TEST_AK}, SignedHeaders=host;x-project-id;x-sdk-date, Signature="
        )),
        "{auth}"
    );
    assert_eq!(
        seen[0].headers.get("x-project-id").unwrap(),
        "default-project"
    );
    assert!(seen[0].headers.get("x-sdk-date").is_some());
    // A caller's token takes precedence: the request is not signed.
    assert!(seen[1].headers.get("authorization").is_none());
    assert_eq!(
        seen[1].headers.get("x-auth-token").unwrap(),
        "MIIEXAMPLE-token_value"
    );
}
