//! Upstream economy: identical reads in flight at the same moment, under the
//! same credentials, share one upstream request — counted at the simulator,
//! never across identities, never for a write, never from a finished request.

use crate::common;

use cbr_gateway::proto as pb;
use cbr_simulator::SimulatorSettings;
use common::*;

/// A simulator whose reads of backups take 300 ms (so concurrent calls
/// overlap) and that accepts two caller tokens as well as the gateway's key.
async fn slow_reads() -> TestStack {
    TestStack::builder()
        .simulator(SimulatorSettings {
            faults: vec!["route=get_backup,latency=300ms".parse().unwrap()],
            tokens: vec!["token-a".into(), "token-b".into()],
            credentials: vec![format!("{TEST_AK}:{TEST_SK}").parse().unwrap()],
            ..Default::default()
        })
        .project(PROJECT)
        .spawn()
        .await
}

fn get() -> pb::GetBackupRequest {
    pb::GetBackupRequest {
        project_id: PROJECT.into(),
        backup_id: BACKUP.into(),
        region: String::new(),
    }
}

/// Runs `n` calls of `request()` at once and checks every one succeeded.
async fn at_once<T: Send + 'static>(
    n: usize,
    stack: &TestStack,
    request: impl Fn() -> tonic::Request<T>,
    call: impl Fn(
        pb::backup_service_client::BackupServiceClient<tonic::transport::Channel>,
        tonic::Request<T>,
    ) -> tokio::task::JoinHandle<Result<(), tonic::Status>>,
) {
    let calls: Vec<_> = (0..n).map(|_| call(stack.backups(), request())).collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
}

fn get_backup(
    mut client: pb::backup_service_client::BackupServiceClient<tonic::transport::Channel>,
    req: tonic::Request<pb::GetBackupRequest>,
) -> tokio::task::JoinHandle<Result<(), tonic::Status>> {
    tokio::spawn(async move {
        let b = client.get_backup(req).await?.into_inner();
        assert_eq!(b.backup.unwrap().id, BACKUP);
        Ok(())
    })
}

fn reads(stack: &TestStack) -> u64 {
    stack.sim().state.stats.snapshot()["get_backup"]
}

#[tokio::test]
async fn a_hundred_identical_reads_cost_one_upstream_request() {
    let stack = slow_reads().await;
    at_once(100, &stack, || tonic::Request::new(get()), get_backup).await;
    assert!(reads(&stack) <= 2, "{} upstream reads", reads(&stack));

    // Finished requests answer no one: calls one after another each read.
    let before = reads(&stack);
    for _ in 0..3 {
        stack.backups().get_backup(get()).await.unwrap();
    }
    assert_eq!(reads(&stack), before + 3);
}

#[tokio::test]
async fn reads_are_never_shared_across_credentials_and_writes_never_at_all() {
    let stack = slow_reads().await;
    // Thirty at once: ten with each caller token, ten with the gateway's key.
    let calls: Vec<_> = (0..30)
        .map(|i| {
            let req = match i % 3 {
                0 => with_token(get(), "token-a"),
                1 => with_token(get(), "token-b"),
                _ => tonic::Request::new(get()),
            };
            get_backup(stack.backups(), req)
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let n = reads(&stack);
    assert!((3..=6).contains(&n), "three identities: {n} upstream reads");

    // Identical creates at once: each is sent (nothing dedupes a write but
    // its request_id).
    let creates: Vec<_> = (0..5)
        .map(|_| {
            let mut c = stack.checkpoints();
            tokio::spawn(async move {
                c.create_checkpoint(pb::CreateCheckpointRequest {
                    vault_id: VAULT.into(),
                    ..Default::default()
                })
                .await
            })
        })
        .collect();
    for c in creates {
        c.await.unwrap().unwrap();
    }
    assert_eq!(stack.sim().state.stats.snapshot()["create_checkpoint"], 5);
}
