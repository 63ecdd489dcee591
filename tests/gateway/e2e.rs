//! The gateway through the built-in simulator, end to end over real HTTP: a
//! generated tonic client → the gateway → the simulator's REST API.

use crate::common;

use std::time::{Duration, Instant};

use cbr_gateway::proto as pb;
use cbr_simulator::SimulatorSettings;
use common::*;
use serde_json::json;
use tonic::Code;

async fn stack(settings: SimulatorSettings) -> TestStack {
    TestStack::builder()
        .simulator(settings)
        .project(PROJECT)
        .spawn()
        .await
}

fn quick() -> SimulatorSettings {
    SimulatorSettings {
        fleet_size: 500,
        backup_duration: Duration::from_millis(500),
        ..Default::default()
    }
}

async fn wait_for_terminal(gw: &Gateway, id: &str) -> pb::Checkpoint {
    let started = Instant::now();
    loop {
        let cp = gw
            .checkpoints()
            .get_checkpoint(pb::GetCheckpointRequest {
                project_id: String::new(),
                checkpoint_id: id.into(),
                region: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap();
        if cp.status() != pb::CheckpointStatus::Protecting {
            return cp;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still protecting"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn create_follow_list_and_read_through_the_gateway() {
    let s = stack(quick()).await;
    let created = s
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                name: Some("e2e".into()),
                description: Some("through the gateway".into()),
                resources: vec![SERVER.into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(created.metadata().get("x-request-id").is_some());
    let cp = created.into_inner().checkpoint.unwrap();
    assert_eq!(cp.status(), pb::CheckpointStatus::Protecting);
    assert_eq!(
        cp.vault.as_ref().unwrap().resources[0].protect_status(),
        pb::ProtectStatus::Protecting
    );
    assert_eq!(cp.extra_info.as_ref().unwrap().retention_duration, Some(-1));

    // Progress is visible while it runs.
    let page = s
        .backups()
        .list_backups(pb::ListBackupsRequest {
            checkpoint_id: cp.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.count, 1);
    let running = &page.backups[0];
    if running.status() == pb::BackupStatus::Protecting {
        assert!(running.extend_info.as_ref().unwrap().progress.is_some());
    }

    let done = wait_for_terminal(&s, &cp.id).await;
    assert_eq!(done.status(), pb::CheckpointStatus::Available);
    assert_eq!(
        done.vault.unwrap().resources[0].protect_status(),
        pb::ProtectStatus::Available
    );

    let page = s
        .backups()
        .list_backups(pb::ListBackupsRequest {
            checkpoint_id: cp.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let backup = &page.backups[0];
    assert_eq!(backup.status(), pb::BackupStatus::Available);
    assert_eq!(backup.name, "e2e");
    assert_eq!(backup.description, "through the gateway");
    assert!(backup.created_at.is_some());

    let full = s
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: backup.id.clone(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap();
    assert_eq!(full.children.len(), 1);
    assert_eq!(full.children[0].parent_id, backup.id);
    assert_eq!(full.children[0].resource_type, "OS::Cinder::Volume");

    let item = s
        .checkpoint_items()
        .get_checkpoint_item(pb::GetCheckpointItemRequest {
            project_id: String::new(),
            checkpoint_item_id: backup.id.clone(),
            region: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint_item
        .unwrap();
    assert_eq!(item.status(), pb::CheckpointItemStatus::Available);
    assert_eq!(item.checkpoint_id, cp.id);
    assert_eq!(item.extend_info.unwrap().volume_backups.len(), 1);
}

#[tokio::test]
async fn a_failing_backup_ends_in_error() {
    let s = stack(quick()).await;
    let cp = s
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                name: Some("sim-error-e2e".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let done = wait_for_terminal(&s, &cp.id).await;
    assert_eq!(done.status(), pb::CheckpointStatus::Error);
    assert_eq!(
        done.vault.unwrap().resources[0].protect_status(),
        pb::ProtectStatus::Error
    );
}

/// Fields Huawei added after the pages the gateway was built from (issue 21):
/// each automatic backup names its policy in `scheduled_operation_id` (disk
/// children too), and `existed_quantity_based_retention_backups` splits the
/// automatic backups by how their policy keeps them, in ListBackups and
/// StreamBackups alike.
#[tokio::test]
async fn automatic_backups_name_their_policy_and_filter_by_its_retention() {
    use futures_util::StreamExt as _;
    const DAILY_POLICY: &str = "5c8b1c52-7a3e-4d3f-9a57-2f0e6a2b7c11";
    const COUNT_POLICY: &str = "e2a9c7d4-51b6-4f08-a3c2-8d7e6f5a4b10";
    let s = stack(quick()).await;
    let mut backups = s.backups();
    let seed = backups
        .get_backup(pb::GetBackupRequest {
            backup_id: BACKUP.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap();
    assert_eq!(seed.scheduled_operation_id, DAILY_POLICY);
    assert_eq!(seed.children[0].scheduled_operation_id, DAILY_POLICY);

    let list = |kept_by_count: Option<bool>| {
        let mut backups = backups.clone();
        async move {
            backups
                .list_backups(pb::ListBackupsRequest {
                    existed_quantity_based_retention_backups: kept_by_count,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let all = list(None).await;
    let by_count = list(Some(true)).await;
    let by_days = list(Some(false)).await;
    let automatic = |b: &&pb::Backup| b.extend_info.as_ref().unwrap().auto_trigger == Some(true);
    assert!(
        all.backups
            .iter()
            .filter(|b| !automatic(b))
            .all(|b| b.scheduled_operation_id.is_empty())
    );
    let policies = |page: &pb::ListBackupsResponse| -> std::collections::BTreeSet<String> {
        page.backups
            .iter()
            .map(|b| b.scheduled_operation_id.clone())
            .collect()
    };
    assert_eq!(policies(&by_count), [COUNT_POLICY.to_owned()].into());
    assert_eq!(policies(&by_days), [DAILY_POLICY.to_owned()].into());
    assert!(
        by_count
            .backups
            .iter()
            .chain(&by_days.backups)
            .all(|b| automatic(&b))
    );
    assert_eq!(
        by_count.count + by_days.count,
        i32::try_from(all.backups.iter().filter(automatic).count()).unwrap()
    );

    // The stream sends the same filter on every page.
    let streamed: Vec<pb::Backup> = backups
        .stream_backups(pb::StreamBackupsRequest {
            existed_quantity_based_retention_backups: Some(true),
            page_size: Some(7),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .map(|m| m.unwrap().backup.unwrap())
        .collect()
        .await;
    assert_eq!(streamed, by_count.backups);
}

#[tokio::test]
async fn seeds_paging_and_upstream_errors() {
    let s = stack(quick()).await;
    let mut backups = s.backups();
    let seed = backups
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
    assert_eq!(seed.enterprise_project_id, "0");
    assert_eq!(seed.resource_size, 40);
    assert_eq!(
        seed.children[0].extend_info.as_ref().unwrap().snapshot_id,
        "5230a977-1a94-4092-8edd-519303a44cda"
    );

    // Paging over the fleet: count is the total, pages cover it exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut total = None;
    let mut offset = 0;
    loop {
        let page = backups
            .list_backups(pb::ListBackupsRequest {
                limit: Some(120),
                offset: Some(offset),
                status: vec![pb::BackupStatus::Available as i32],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        total.get_or_insert(page.count);
        assert_eq!(Some(page.count), total);
        if page.backups.is_empty() {
            break;
        }
        for b in &page.backups {
            assert_eq!(b.status(), pb::BackupStatus::Available);
            assert!(seen.insert(b.id.clone()));
        }
        offset += 120;
    }
    assert_eq!(Some(seen.len() as i32), total);

    let cases: Vec<(tonic::Status, Code, &str)> = vec![
        (
            backups
                .get_backup(pb::GetBackupRequest {
                    project_id: String::new(),
                    backup_id: "missing".into(),
                    region: String::new(),
                })
                .await
                .unwrap_err(),
            Code::NotFound,
            "BackupService.6200",
        ),
        (
            s.checkpoints()
                .get_checkpoint(pb::GetCheckpointRequest {
                    project_id: String::new(),
                    checkpoint_id: "missing".into(),
                    region: String::new(),
                })
                .await
                .unwrap_err(),
            Code::NotFound,
            "BackupService.6217",
        ),
        (
            s.checkpoint_items()
                .get_checkpoint_item(pb::GetCheckpointItemRequest {
                    project_id: String::new(),
                    checkpoint_item_id: "missing".into(),
                    region: String::new(),
                })
                .await
                .unwrap_err(),
            Code::NotFound,
            "CSBS.3001",
        ),
        (
            s.checkpoints()
                .create_checkpoint(pb::CreateCheckpointRequest {
                    vault_id: "missing".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err(),
            Code::NotFound,
            "BackupService.6105",
        ),
        (
            backups
                .list_backups(pb::ListBackupsRequest {
                    marker: "missing".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err(),
            Code::InvalidArgument,
            "BackupService.9900",
        ),
    ];
    for (status, code, reason) in cases {
        assert_eq!(status.code(), code, "{status:?}");
        let d = details(&status);
        assert_eq!(d.error_info().unwrap().reason, reason);
        assert_eq!(
            d.request_info().unwrap().request_id.len(),
            32,
            "simulator request id"
        );
    }
}

#[tokio::test]
async fn tokens_and_faults_through_the_gateway() {
    let s = stack(SimulatorSettings {
        tokens: vec!["e2e-token".into()],
        ..quick()
    })
    .await;
    let req = || pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    };
    let mut backups = s.backups();
    backups
        .get_backup(with_token(req(), "e2e-token"))
        .await
        .unwrap();
    for status in [
        backups
            .get_backup(with_token(req(), "wrong"))
            .await
            .unwrap_err(),
        backups.get_backup(req()).await.unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(details(&status).error_info().unwrap().reason, "APIGW.0301");
    }

    let http = reqwest::Client::new();
    let set = |rules: serde_json::Value| {
        let req = http
            .put(format!("{}/_simulator/faults", s.sim_url()))
            .json(&rules);
        async move { assert_eq!(req.send().await.unwrap().status().as_u16(), 204) }
    };
    set(json!([{"route": "get_backup", "error_rate": 1.0, "status": 503}])).await;
    let status = backups
        .get_backup(with_token(req(), "e2e-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(details(&status).error_info().unwrap().reason, "APIGW.0203");
    set(json!([{"route": "get_backup", "drop_rate": 1.0}])).await;
    let status = backups
        .get_backup(with_token(req(), "e2e-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "UPSTREAM_UNAVAILABLE"
    );
    set(json!([{"route": "get_backup", "error_rate": 1.0, "status": 429}])).await;
    let status = backups
        .get_backup(with_token(req(), "e2e-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}
