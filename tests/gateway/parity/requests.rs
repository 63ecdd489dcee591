//! The bodies the gateway sends, checked against the definitions' request
//! schemas: CreateCheckpoint and RestoreBackup are called through gRPC with
//! every parameter their messages have (and with the fewest), a mock upstream
//! records the bodies as they arrive, and each must match its operation's
//! body schema strictly — types, required properties, enums, and no property
//! the definition lacks, but for [`REQUEST_EXTRAS`].

use cbr_gateway::proto as pb;
use cbr_wire as wire;
use serde_json::Value;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path_regex},
};

use super::{
    defined,
    definitions::{Extra, Violation, validate},
    exceptions::REQUEST_EXTRAS,
};
use crate::common::*;

fn every_checkpoint_parameter() -> pb::CheckpointParameters {
    pb::CheckpointParameters {
        auto_trigger: Some(false),
        description: Some("nightly".into()),
        incremental: Some(true),
        name: Some("parity-1".into()),
        resources: vec![SERVER.into()],
        resource_details: vec![pb::Resource {
            id: SERVER.into(),
            r#type: "OS::Nova::Server".into(),
            name: Some("ecs-1".into()),
            extra_info: Some(pb::ResourceExtraInfo {
                exclude_volumes: vec!["eccbcfdd-f843-4bbb-b2c0-a5ce861f9376".into()],
                include_volumes: vec![pb::IncludeVolume {
                    id: "5230a977-1a94-4092-8edd-519303a44cda".into(),
                    os_version: Some("CentOS 7".into()),
                }],
            }),
        }],
        policy_id: Some("5c8b1c52-7a3e-4d3f-9a57-2f0e6a2b7c11".into()),
        retention_duration_days: Some(30),
    }
}

fn restores() -> Vec<pb::BackupRestore> {
    let disk = "eccbcfdd-f843-4bbb-b2c0-a5ce861f9376";
    vec![
        pb::BackupRestore {
            server_id: SERVER.into(),
            mappings: vec![pb::BackupRestoreServerMapping {
                backup_id: "5d822633-2bbf-4af8-a16e-5ab1c7705235".into(),
                volume_id: disk.into(),
            }],
            power_on: Some(false),
            ..Default::default()
        },
        pb::BackupRestore {
            volume_id: disk.into(),
            ..Default::default()
        },
        pb::BackupRestore {
            resource_id: "a1b2c3d4-0000-4000-8000-000000000001".into(),
            power_on: Some(true),
            ..Default::default()
        },
        pb::BackupRestore {
            resource_id: "a1b2c3d4-0000-4000-8000-000000000002".into(),
            details: Some(pb::RestoreDetails {
                destination_path: "/restore/here".into(),
            }),
            ..Default::default()
        },
    ]
}

#[tokio::test]
async fn the_bodies_the_gateway_sends_match_the_definitions() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"/checkpoints$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("create_checkpoint.json"), "application/json"),
        )
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/restore$"))
        .respond_with(ResponseTemplate::new(202).set_body_raw(
            r#"{"job_id":"4827f2da-b008-4507-ab7d-42d0df5ed912"}"#,
            "application/json",
        ))
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;

    for parameters in [Some(every_checkpoint_parameter()), None] {
        gw.checkpoints()
            .create_checkpoint(pb::CreateCheckpointRequest {
                project_id: PROJECT.into(),
                vault_id: VAULT.into(),
                parameters,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let restores = restores();
    for restore in &restores {
        gw.backups()
            .restore_backup(pb::RestoreBackupRequest {
                project_id: PROJECT.into(),
                backup_id: BACKUP.into(),
                restore: Some(restore.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    let mut extras_seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for request in upstream.received_requests().await.unwrap() {
        if request.method.as_str() != "POST" {
            continue;
        }
        let route = wire::route_of("POST", request.url.path()).expect("an upstream operation");
        let op = defined(route).expect("defined");
        let schema = op
            .body()
            .unwrap_or_else(|| panic!("{} takes no body", op.name));
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
        for f in validate(schema, &body, Extra::Refused) {
            match REQUEST_EXTRAS.iter().find(|(key, _)| *key == f.key) {
                Some((key, _)) if f.violation == Violation::Unknown => {
                    extras_seen.insert(*key);
                }
                _ => problems.push(format!(
                    "{}: {} ({}): {:?} in {body}",
                    op.name, f.at, f.key, f.violation
                )),
            }
        }
        *checked.entry(op.name).or_default() += 1;
    }
    eprintln!("request bodies validated: {checked:?}; extras sent: {extras_seen:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(checked.get("CreateCheckpoint"), Some(&2));
    assert_eq!(checked.get("RestoreBackup"), Some(&restores.len()));
    // Every extra listed is one the gateway sends (else it is stale).
    let listed: std::collections::BTreeSet<&str> = REQUEST_EXTRAS.iter().map(|(k, _)| *k).collect();
    assert_eq!(extras_seen, listed);
}
