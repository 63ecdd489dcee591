//! Every input rule, through the real server: each violation is INVALID_ARGUMENT
//! with a BadRequest naming the field, and the mock upstream — which would
//! answer anything — records that nothing reached it.

use crate::common;

use cbr_gateway::proto as pb;
use common::*;
use prost_types::Timestamp;
use tonic::Code;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};

/// IDs that must never reach a URL: traversal, separators, encodings, odd bytes.
const HOSTILE_IDS: &[&str] = &[
    "..",
    ".",
    "../x",
    "..%2f..%2fv3",
    "a/b",
    "/etc/passwd",
    "//evil.example/x",
    "a?b=c",
    "a#frag",
    "%2e%2e",
    "%2F",
    "a b",
    "a\tb",
    "a\nb",
    "a\\b",
    "é",
    "a.b",
    "@evil.example",
    "x:y",
];

/// An upstream that answers everything, so only the gateway can stop a request.
async fn permissive_upstream() -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&upstream)
        .await;
    upstream
}

async fn assert_nothing_sent(upstream: &MockServer) {
    let seen = upstream.received_requests().await.unwrap();
    assert!(
        seen.is_empty(),
        "reached upstream: {:?}",
        seen.iter().map(|r| r.url.to_string()).collect::<Vec<_>>()
    );
}

fn assert_invalid(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.expect_err("must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = bad_fields(&status);
    assert!(
        fields.iter().any(|f| f == field),
        "BadRequest names {fields:?}, expected {field}"
    );
    assert!(
        status.message().starts_with(field) || fields.len() > 1,
        "{}",
        status.message()
    );
    let info = details(&status).error_info().cloned().expect("ErrorInfo");
    assert_eq!(info.domain, "cbr-gateway");
}

#[tokio::test]
async fn hostile_ids_never_reach_upstream() {
    let upstream = permissive_upstream().await;
    let gw = Gateway::against(&upstream).await;
    let (mut cps, mut bks, mut items) = (gw.checkpoints(), gw.backups(), gw.checkpoint_items());
    let long = "x".repeat(65);
    let ids = HOSTILE_IDS.iter().copied().chain([long.as_str()]);
    for id in ids {
        let r = cps
            .get_checkpoint(pb::GetCheckpointRequest {
                project_id: PROJECT.into(),
                checkpoint_id: id.into(),
                region: String::new(),
            })
            .await;
        assert_invalid(r, "checkpoint_id");
        let r = cps
            .get_checkpoint(pb::GetCheckpointRequest {
                project_id: id.into(),
                checkpoint_id: CHECKPOINT.into(),
                region: String::new(),
            })
            .await;
        assert_invalid(r, "project_id");
        let r = bks
            .get_backup(pb::GetBackupRequest {
                project_id: PROJECT.into(),
                backup_id: id.into(),
                region: String::new(),
            })
            .await;
        assert_invalid(r, "backup_id");
        let r = items
            .get_checkpoint_item(pb::GetCheckpointItemRequest {
                project_id: PROJECT.into(),
                checkpoint_item_id: id.into(),
                region: String::new(),
            })
            .await;
        assert_invalid(r, "checkpoint_item_id");
        let r = cps
            .create_checkpoint(pb::CreateCheckpointRequest {
                project_id: PROJECT.into(),
                vault_id: id.into(),
                ..Default::default()
            })
            .await;
        assert_invalid(r, "vault_id");
        for field in [
            "checkpoint_id",
            "marker",
            "resource_id",
            "vault_id",
            "parent_id",
            "enterprise_project_id",
        ] {
            let mut req = pb::ListBackupsRequest {
                project_id: PROJECT.into(),
                ..Default::default()
            };
            match field {
                "checkpoint_id" => req.checkpoint_id = id.into(),
                "marker" => req.marker = id.into(),
                "resource_id" => req.resource_id = id.into(),
                "vault_id" => req.vault_id = id.into(),
                "parent_id" => req.parent_id = id.into(),
                _ => req.enterprise_project_id = id.into(),
            }
            assert_invalid(bks.list_backups(req).await, field);
        }
    }
    assert_nothing_sent(&upstream).await;
}

#[tokio::test]
async fn required_ids_and_project() {
    let upstream = permissive_upstream().await;
    let gw = Gateway::against(&upstream).await;
    // No project in the request and none configured.
    let r = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await;
    assert_invalid(r, "project_id");
    let r = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: PROJECT.into(),
            backup_id: String::new(),
            region: String::new(),
        })
        .await;
    assert_invalid(r, "backup_id");
    let r = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            project_id: PROJECT.into(),
            ..Default::default()
        })
        .await;
    assert_invalid(r, "vault_id");
    assert_nothing_sent(&upstream).await;
}

fn create(parameters: pb::CheckpointParameters) -> pb::CreateCheckpointRequest {
    pb::CreateCheckpointRequest {
        project_id: PROJECT.into(),
        vault_id: VAULT.into(),
        parameters: Some(parameters),
        request_id: String::new(),
        region: String::new(),
    }
}

fn resource(id: &str, kind: &str) -> pb::Resource {
    pb::Resource {
        id: id.into(),
        r#type: kind.into(),
        name: None,
        extra_info: None,
    }
}

#[tokio::test]
async fn create_checkpoint_rules() {
    let upstream = permissive_upstream().await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.checkpoints();
    let cases: Vec<(pb::CreateCheckpointRequest, &str)> = vec![
        (
            create(pb::CheckpointParameters {
                name: Some(String::new()),
                ..Default::default()
            }),
            "parameters.name",
        ),
        (
            create(pb::CheckpointParameters {
                name: Some("x".repeat(65)),
                ..Default::default()
            }),
            "parameters.name",
        ),
        (
            create(pb::CheckpointParameters {
                name: Some("backup name".into()),
                ..Default::default()
            }),
            "parameters.name",
        ),
        (
            create(pb::CheckpointParameters {
                name: Some("名字".into()),
                ..Default::default()
            }),
            "parameters.name",
        ),
        (
            create(pb::CheckpointParameters {
                description: Some("d".repeat(256)),
                ..Default::default()
            }),
            "parameters.description",
        ),
        (
            create(pb::CheckpointParameters {
                description: Some("line\u{0}break".into()),
                ..Default::default()
            }),
            "parameters.description",
        ),
        (
            create(pb::CheckpointParameters {
                resources: vec![BACKUP.into(), "../x".into()],
                ..Default::default()
            }),
            "parameters.resources[1]",
        ),
        (
            create(pb::CheckpointParameters {
                resource_details: (0..257)
                    .map(|i| resource(&format!("r{i}"), "OS::Nova::Server"))
                    .collect(),
                ..Default::default()
            }),
            "parameters.resource_details",
        ),
        (
            create(pb::CheckpointParameters {
                resource_details: vec![resource("", "OS::Nova::Server")],
                ..Default::default()
            }),
            "parameters.resource_details[0].id",
        ),
        (
            create(pb::CheckpointParameters {
                resource_details: vec![resource("r1", "")],
                ..Default::default()
            }),
            "parameters.resource_details[0].type",
        ),
        (
            create(pb::CheckpointParameters {
                resource_details: vec![
                    resource("r1", "OS::Nova::Server"),
                    resource("r2", "AWS::EC2::Instance"),
                ],
                ..Default::default()
            }),
            "parameters.resource_details[1].type",
        ),
        (
            create(pb::CheckpointParameters {
                resource_details: vec![pb::Resource {
                    name: Some("n".repeat(256)),
                    ..resource("r1", "OS::Nova::Server")
                }],
                ..Default::default()
            }),
            "parameters.resource_details[0].name",
        ),
        (
            create(pb::CheckpointParameters {
                resource_details: vec![pb::Resource {
                    extra_info: Some(pb::ResourceExtraInfo {
                        exclude_volumes: vec!["a/b".into()],
                        include_volumes: vec![],
                    }),
                    ..resource("r1", "OS::Nova::Server")
                }],
                ..Default::default()
            }),
            "parameters.resource_details[0].extra_info.exclude_volumes[0]",
        ),
        (
            create(pb::CheckpointParameters {
                resource_details: vec![pb::Resource {
                    extra_info: Some(pb::ResourceExtraInfo {
                        exclude_volumes: vec![],
                        include_volumes: vec![pb::IncludeVolume {
                            id: "..".into(),
                            os_version: None,
                        }],
                    }),
                    ..resource("r1", "OS::Nova::Server")
                }],
                ..Default::default()
            }),
            "parameters.resource_details[0].extra_info.include_volumes[0].id",
        ),
        (
            create(pb::CheckpointParameters {
                policy_id: Some("p/1".into()),
                ..Default::default()
            }),
            "parameters.policy_id",
        ),
        (
            create(pb::CheckpointParameters {
                retention_duration_days: Some(0),
                ..Default::default()
            }),
            "parameters.retention_duration_days",
        ),
        (
            create(pb::CheckpointParameters {
                retention_duration_days: Some(36_501),
                ..Default::default()
            }),
            "parameters.retention_duration_days",
        ),
        (
            create(pb::CheckpointParameters {
                retention_duration_days: Some(-2),
                ..Default::default()
            }),
            "parameters.retention_duration_days",
        ),
        (
            create(pb::CheckpointParameters {
                auto_trigger: Some(true),
                retention_duration_days: Some(7),
                ..Default::default()
            }),
            "parameters.retention_duration_days",
        ),
        (
            pb::CreateCheckpointRequest {
                request_id: "not-a-uuid".into(),
                ..create(Default::default())
            },
            "request_id",
        ),
    ];
    for (req, field) in cases {
        assert_invalid(client.create_checkpoint(req).await, field);
    }
    assert_nothing_sent(&upstream).await;
}

#[tokio::test]
async fn create_checkpoint_boundaries_pass() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("create_checkpoint.json"), "application/json"),
        )
        .expect(5)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.checkpoints();
    for params in [
        pb::CheckpointParameters {
            name: Some("x".repeat(64)),
            description: Some("d".repeat(255)),
            ..Default::default()
        },
        pb::CheckpointParameters {
            resource_details: (0..256)
                .map(|i| resource(&format!("r{i}"), "OS::Cinder::Volume"))
                .collect(),
            ..Default::default()
        },
        pb::CheckpointParameters {
            retention_duration_days: Some(-1),
            ..Default::default()
        },
        pb::CheckpointParameters {
            retention_duration_days: Some(36_500),
            auto_trigger: Some(false),
            ..Default::default()
        },
    ] {
        client.create_checkpoint(create(params)).await.unwrap();
    }
    client
        .create_checkpoint(pb::CreateCheckpointRequest {
            request_id: "0b8e5c84-1f0a-4d6b-9a53-7b2d3f1e9c10".into(),
            ..create(Default::default())
        })
        .await
        .unwrap();
}

fn list() -> pb::ListBackupsRequest {
    pb::ListBackupsRequest {
        project_id: PROJECT.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn list_backups_rules() {
    let upstream = permissive_upstream().await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.backups();
    let ts = |seconds: i64, nanos: i32| Some(Timestamp { seconds, nanos });
    let cases: Vec<(pb::ListBackupsRequest, &str)> = vec![
        (
            pb::ListBackupsRequest {
                limit: Some(0),
                ..list()
            },
            "limit",
        ),
        (
            pb::ListBackupsRequest {
                limit: Some(1001),
                ..list()
            },
            "limit",
        ),
        (
            pb::ListBackupsRequest {
                limit: Some(-5),
                ..list()
            },
            "limit",
        ),
        (
            pb::ListBackupsRequest {
                offset: Some(-1),
                ..list()
            },
            "offset",
        ),
        (
            pb::ListBackupsRequest {
                sort: "size".into(),
                ..list()
            },
            "sort",
        ),
        (
            pb::ListBackupsRequest {
                sort: "name:up".into(),
                ..list()
            },
            "sort",
        ),
        (
            pb::ListBackupsRequest {
                sort: "name,".into(),
                ..list()
            },
            "sort",
        ),
        (
            pb::ListBackupsRequest {
                sort: "name;drop".into(),
                ..list()
            },
            "sort",
        ),
        (
            pb::ListBackupsRequest {
                sort: vec!["created_at:asc"; 20].join(","),
                ..list()
            },
            "sort",
        ),
        (
            pb::ListBackupsRequest {
                status: vec![0],
                ..list()
            },
            "status[0]",
        ),
        (
            pb::ListBackupsRequest {
                status: vec![pb::BackupStatus::Available as i32, 99],
                ..list()
            },
            "status[1]",
        ),
        (
            pb::ListBackupsRequest {
                image_type: 7,
                ..list()
            },
            "image_type",
        ),
        (
            pb::ListBackupsRequest {
                own_type: 9,
                ..list()
            },
            "own_type",
        ),
        (
            pb::ListBackupsRequest {
                member_status: -1,
                ..list()
            },
            "member_status",
        ),
        (
            pb::ListBackupsRequest {
                used_percent: Some(0),
                ..list()
            },
            "used_percent",
        ),
        (
            pb::ListBackupsRequest {
                used_percent: Some(101),
                ..list()
            },
            "used_percent",
        ),
        (
            pb::ListBackupsRequest {
                resource_type: "OS::Nova::Nothing".into(),
                ..list()
            },
            "resource_type",
        ),
        (
            pb::ListBackupsRequest {
                name: "n".repeat(256),
                ..list()
            },
            "name",
        ),
        (
            pb::ListBackupsRequest {
                name: "a\r\nb".into(),
                ..list()
            },
            "name",
        ),
        (
            pb::ListBackupsRequest {
                resource_name: "r".repeat(256),
                ..list()
            },
            "resource_name",
        ),
        (
            pb::ListBackupsRequest {
                resource_az: "az\u{7f}".into(),
                ..list()
            },
            "resource_az",
        ),
        (
            pb::ListBackupsRequest {
                start_time: ts(1_517_486_400, 500),
                ..list()
            },
            "start_time",
        ),
        (
            pb::ListBackupsRequest {
                end_time: ts(-70_000_000_000, 0),
                ..list()
            },
            "end_time",
        ),
        (
            pb::ListBackupsRequest {
                start_time: ts(1_517_486_400, 0),
                end_time: ts(1_517_486_399, 0),
                ..list()
            },
            "end_time",
        ),
    ];
    for (req, field) in cases {
        assert_invalid(client.list_backups(req).await, field);
    }
    assert_nothing_sent(&upstream).await;
}

#[tokio::test]
async fn every_violation_is_reported_at_once() {
    let upstream = permissive_upstream().await;
    let gw = Gateway::against(&upstream).await;
    let status = gw
        .backups()
        .list_backups(pb::ListBackupsRequest {
            project_id: "..".into(),
            limit: Some(0),
            offset: Some(-1),
            vault_id: "a/b".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(fields, ["limit", "offset", "project_id", "vault_id"]);
    assert!(
        status.message().ends_with("(and 3 more)"),
        "{}",
        status.message()
    );
    assert_nothing_sent(&upstream).await;
}

#[tokio::test]
async fn list_backups_boundaries_pass() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"backups":[],"count":0}"#, "application/json"),
        )
        .expect(4)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    let mut client = gw.backups();
    for req in [
        pb::ListBackupsRequest {
            limit: Some(1),
            offset: Some(0),
            ..list()
        },
        pb::ListBackupsRequest {
            limit: Some(1000),
            used_percent: Some(100),
            ..list()
        },
        pb::ListBackupsRequest {
            used_percent: Some(1),
            name: "n".repeat(255),
            sort: "id:desc,created_at,updated_at:asc,name,status,protected_at".into(),
            ..list()
        },
        pb::ListBackupsRequest {
            start_time: Some(Timestamp {
                seconds: 1_517_486_400,
                nanos: 0,
            }),
            end_time: Some(Timestamp {
                seconds: 1_517_486_400,
                nanos: 0,
            }),
            ..list()
        },
    ] {
        client.list_backups(req).await.unwrap();
    }
}

#[tokio::test]
async fn malformed_tokens_are_refused_and_never_forwarded() {
    let upstream = permissive_upstream().await;
    let gw = Gateway::against(&upstream).await;
    let mut req = tonic::Request::new(pb::GetBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        region: String::new(),
    });
    req.metadata_mut()
        .insert("x-auth-token", "has space".parse().unwrap());
    let status = gw.backups().get_backup(req).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(!status.message().contains("has space"));
    assert_nothing_sent(&upstream).await;
}
