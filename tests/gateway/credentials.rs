//! Who the gateway calls as (contract §3, issue 4): its own AK/SK against the
//! simulator with signature checking on, secrets from files re-read on change,
//! the project allow-list, and the refusal when nobody's credentials are there.

use crate::common;

use std::time::Duration;

use cbr_gateway::proto as pb;
use cbr_gateway::upstream::{AkSk, SecretFile};
use cbr_simulator::{self as simulator, SimulatorSettings, auth::KeyPair};
use common::*;
use tonic::Code;

const AK: &str = "SIGNINGAK";
const SK: &str = "signing-secret-key";

async fn signing_simulator() -> String {
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 50,
        backup_duration: Duration::from_millis(300),
        credentials: vec![KeyPair {
            access_key: AK.into(),
            secret_key: SK.into(),
            security_token: None,
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    format!("http://{}", sim.addr)
}

/// A gateway calling `sim` with `held` credentials.
async fn gateway(sim: &str, held: Held) -> Gateway {
    TestStack::builder()
        .upstream(sim)
        .project(PROJECT)
        .settings(|s| s.credentials = held)
        .spawn()
        .await
        .gateway
}

/// The gateway's IAM user `acme:backup-bot` logging in at `url`, holding no
/// AK/SK.
fn iam_held(url: &str, password: SecretSource) -> Held {
    Held {
        aksk: None,
        iam: Some(iam_user(&endpoint(url), "acme", "backup-bot", password)),
    }
}

#[tokio::test]
async fn every_call_is_signed_and_accepted() {
    let sim = signing_simulator().await;
    let gw = gateway(&sim, aksk(AK, SK)).await;
    let cp = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            vault_id: VAULT.into(),
            parameters: Some(pb::CheckpointParameters {
                name: Some("signed".into()),
                description: Some("body bytes are signed too: é ✓".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    gw.checkpoints()
        .get_checkpoint(pb::GetCheckpointRequest {
            project_id: String::new(),
            checkpoint_id: cp.id.clone(),
            region: String::new(),
        })
        .await
        .unwrap();
    let page = gw
        .backups()
        .list_backups(pb::ListBackupsRequest {
            checkpoint_id: cp.id.clone(),
            name: "signed".into(),
            resource_type: "OS::Nova::Server".into(),
            status: vec![
                pb::BackupStatus::Protecting as i32,
                pb::BackupStatus::Available as i32,
            ],
            sort: "created_at:asc,name".into(),
            limit: Some(10),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.count, 1);
    gw.backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: page.backups[0].id.clone(),
            region: String::new(),
        })
        .await
        .unwrap();
    gw.checkpoint_items()
        .get_checkpoint_item(pb::GetCheckpointItemRequest {
            project_id: String::new(),
            checkpoint_item_id: page.backups[0].id.clone(),
            region: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wrong_sk_is_unauthenticated_with_apigw_reason() {
    let sim = signing_simulator().await;
    let gw = gateway(&sim, aksk(AK, "not-the-secret")).await;
    let status = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let info = details(&status).error_info().cloned().unwrap();
    assert_eq!(info.reason, "APIGW.0301");
    assert!(status.message().contains("verify aksk signature fail"));
    assert!(!status.message().contains("not-the-secret"));
}

#[tokio::test]
async fn the_secret_key_file_is_reread_when_it_changes() {
    let sim = signing_simulator().await;
    let dir = std::env::temp_dir().join(format!("cbr-sk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sk");
    std::fs::write(&file, format!("{SK}\n")).unwrap();
    let held = Held {
        aksk: Some(AkSk {
            access_key: AK.into(),
            secret_key: SecretSource::File(SecretFile::open(&file).unwrap()),
            security_token: None,
        }),
        iam: None,
    };
    let gw = gateway(&sim, held).await;
    let get = || pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    };
    gw.backups().get_backup(get()).await.unwrap();
    // Rotated to a key the simulator does not know: refused.
    std::fs::write(&file, "rotated-but-wrong-secret\n").unwrap();
    let status = gw.backups().get_backup(get()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Rotated back: accepted again, without a restart.
    std::fs::write(&file, format!("{SK}\n")).unwrap();
    gw.backups().get_backup(get()).await.unwrap();
    // The file vanishes: a clear, retryable error, no secret in it.
    std::fs::remove_file(&file).unwrap();
    let status = gw.backups().get_backup(get()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "CREDENTIALS_UNAVAILABLE"
    );
}

#[tokio::test]
async fn projects_outside_the_allow_list_are_refused_before_upstream() {
    let upstream = wiremock::MockServer::start().await;
    let gw = TestStack::builder()
        .upstream(&upstream.uri())
        .settings(|s| s.access.allowed_projects = vec![PROJECT.into(), "other_project".into()])
        .spawn()
        .await;
    let status = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: "someone_elses_project".into(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "PROJECT_NOT_ALLOWED"
    );
    let status = gw
        .backups()
        .list_backups(pb::ListBackupsRequest {
            project_id: "someone_elses_project".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = gw
        .checkpoints()
        .create_checkpoint(pb::CreateCheckpointRequest {
            project_id: "someone_elses_project".into(),
            vault_id: VAULT.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Even with the caller's own token: the gateway does not act there.
    let status = gw
        .checkpoint_items()
        .get_checkpoint_item(with_token(
            pb::GetCheckpointItemRequest {
                project_id: "someone_elses_project".into(),
                checkpoint_item_id: "x".into(),
                region: String::new(),
            },
            "a-token",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn no_credentials_anywhere_is_unauthenticated() {
    let upstream = wiremock::MockServer::start().await;
    let gw = TestStack::builder()
        .upstream(&upstream.uri())
        .without_credentials()
        .spawn()
        .await;
    let status = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: PROJECT.into(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        details(&status).error_info().unwrap().reason,
        "NO_CREDENTIALS"
    );
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn iam_user_tokens_are_cached_refreshed_and_retried_once_on_401() {
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        iam_users: vec!["acme:backup-bot:iam-password-xyz".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", sim.addr);
    let gw = gateway(&url, iam_held(&url, inline("iam-password-xyz"))).await;
    let iam_requests = || sim.state.stats.snapshot()["iam_tokens"];
    let get = || pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    };

    // Many concurrent calls on a cold cache: one login.
    let calls = (0..20).map(|_| {
        let mut c = gw.backups();
        async move { c.get_backup(get()).await }
    });
    for r in futures_join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(iam_requests(), 1);
    gw.backups().get_backup(get()).await.unwrap();
    assert_eq!(iam_requests(), 1, "cached");

    // IAM revokes the token: the next call gets a 401, refreshes once, retries once.
    let revoked: serde_json::Value = reqwest::Client::new()
        .delete(format!("{url}/_simulator/iam/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 1);
    let before = sim.state.stats.snapshot()["get_backup"];
    gw.backups().get_backup(get()).await.unwrap();
    assert_eq!(iam_requests(), 2, "one refresh");
    assert_eq!(
        sim.state.stats.snapshot()["get_backup"],
        before + 2,
        "one retry"
    );
}

#[tokio::test]
async fn a_wrong_iam_password_is_unauthenticated() {
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        iam_users: vec!["acme:backup-bot:right".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", sim.addr);
    let gw = gateway(&url, iam_held(&url, inline("not-the-password-123"))).await;
    let status = gw
        .backups()
        .get_backup(pb::GetBackupRequest {
            project_id: String::new(),
            backup_id: BACKUP.into(),
            region: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        details(&status).error_info().unwrap().domain,
        "iam.myhuaweicloud.com"
    );
    assert!(
        !status.message().contains("not-the-password-123"),
        "{}",
        status.message()
    );
}

/// A simulator whose one IAM user `acme:backup-bot` has the password `right`.
async fn iam_simulator() -> simulator::Embedded {
    simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        iam_users: vec!["acme:backup-bot:right".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The flags of the built binary logging in to `url` as `acme:backup-bot`.
fn iam_flags<'a>(url: &'a str, password: &'a [&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--cbr-endpoint",
        url,
        "--project-id",
        PROJECT,
        "--iam-endpoint",
        url,
        "--iam-domain",
        "acme",
        "--iam-user",
        "backup-bot",
    ];
    args.extend_from_slice(password);
    args
}

fn get_default_project_backup() -> pb::GetBackupRequest {
    pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    }
}

fn assert_iam_refusal(status: &tonic::Status) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let d = details(status);
    let info = d.error_info().unwrap();
    assert_eq!(
        (info.domain.as_str(), info.reason.as_str()),
        ("iam.myhuaweicloud.com", "401")
    );
}

#[tokio::test]
async fn a_wrong_iam_password_backs_off_instead_of_repeating_it() {
    let sim = iam_simulator().await;
    let url = format!("http://{}", sim.addr);
    let gw = gateway(&url, iam_held(&url, inline("wrong-123"))).await;
    let logins = || sim.state.stats.snapshot()["iam_tokens"];
    // Serving, and no project called for yet: nobody was logged in.
    assert_eq!(logins(), 0);

    let started = std::time::Instant::now();
    for _ in 0..20 {
        let status = gw
            .backups()
            .get_backup(get_default_project_backup())
            .await
            .unwrap_err();
        assert_iam_refusal(&status);
    }
    // Pauses of 1 s, 2 s, 4 s …: within a window of w seconds at most
    // 1 + log2(w + 1) logins; well under a second, exactly one.
    let window = started.elapsed().as_secs_f64();
    let most = 1 + (window + 1.0).log2().floor() as u64;
    assert!(
        (1..=most).contains(&logins()),
        "{} logins in {window} s",
        logins()
    );
    assert!(
        sim.state.stats.snapshot()["get_backup"] == 0,
        "CBR never called"
    );

    // Once the pause has passed, a call tries again.
    let before = logins();
    loop {
        let status = gw
            .backups()
            .get_backup(get_default_project_backup())
            .await
            .unwrap_err();
        assert_iam_refusal(&status);
        if logins() > before {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no new login");
        // Polling: the pause ends at a time, not on an event.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(logins(), before + 1);
}

#[tokio::test]
async fn a_rotated_iam_password_file_ends_the_backoff() {
    let sim = iam_simulator().await;
    let url = format!("http://{}", sim.addr);
    let dir = std::env::temp_dir().join(format!("cbr-iam-pw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "wrong-123\n").unwrap();
    let password = SecretSource::File(SecretFile::open(&file).unwrap());
    let gw = gateway(&url, iam_held(&url, password)).await;
    for _ in 0..3 {
        let status = gw
            .backups()
            .get_backup(get_default_project_backup())
            .await
            .unwrap_err();
        assert_iam_refusal(&status);
    }
    assert_eq!(sim.state.stats.snapshot()["iam_tokens"], 1);
    // The operator fixes the secret: the next call logs in, pause or not.
    std::fs::write(&file, "right\n").unwrap();
    gw.backups()
        .get_backup(get_default_project_backup())
        .await
        .unwrap();
    assert_eq!(sim.state.stats.snapshot()["iam_tokens"], 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_failed_iam_login_is_logged_once_without_the_password() {
    let sim = iam_simulator().await;
    let url = format!("http://{}", sim.addr);
    let mut args = vec!["--listen", "127.0.0.1:0", "--log-format", "json"];
    args.extend(iam_flags(&url, &["--iam-password", "wrong-pw-7f3a"]));
    let gw = Binary::start(&args).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::backup_service_client::BackupServiceClient::new(channel);
    for _ in 0..5 {
        let status = client
            .get_backup(get_default_project_backup())
            .await
            .unwrap_err();
        assert_iam_refusal(&status);
    }
    let is_backoff = |l: &serde_json::Value| {
        l["level"] == "WARN"
            && l["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("IAM login failed")
    };
    let line = gw.wait_for_log(is_backoff).await;
    assert_eq!(line["project_id"], PROJECT, "{line}");
    assert_eq!(line["http_status"], 401, "{line}");
    assert_eq!(line["next_attempt_in"], "1s", "{line}");
    assert_eq!(line["failures_in_a_row"], 1, "{line}");
    // Once every call's line is in (each is written before its answer, and
    // read from the pipe a little later), there was one warning for them all.
    let started = std::time::Instant::now();
    let lines = loop {
        let lines = gw.log_lines();
        if lines.iter().filter(|l| l["message"] == "rpc").count() == 5 {
            break lines;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{lines:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        lines.iter().filter(|l| is_backoff(l)).count(),
        1,
        "{lines:?}"
    );
    let text = gw.logs.lock().unwrap().join("\n");
    assert!(!text.contains("wrong-pw-7f3a"));
}

/// Awaits every future (a tiny join_all, to avoid a dependency for one test).
async fn futures_join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn temporary_credentials_send_and_sign_their_security_token() {
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        credentials: vec!["TEMPAK:temp-secret:temp-security-token".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", sim.addr);
    let get = || pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    };
    let temporary = Held {
        aksk: Some(AkSk {
            access_key: "TEMPAK".into(),
            secret_key: inline("temp-secret"),
            security_token: Some(inline("temp-security-token")),
        }),
        iam: None,
    };
    let gw = gateway(&url, temporary).await;
    gw.backups().get_backup(get()).await.unwrap();
    // The same key without its token is refused, as the cloud refuses it.
    let gw = gateway(&url, aksk("TEMPAK", "temp-secret")).await;
    let status = gw.backups().get_backup(get()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(details(&status).error_info().unwrap().reason, "APIGW.0301");
}

#[tokio::test]
async fn the_binary_reads_huaweis_documented_environment_names() {
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        credentials: vec!["ENVAK:env-secret".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", sim.addr);
    // CLOUD_SDK_AK / CLOUD_SDK_SK, as Huawei's examples name them.
    let bin = Binary::start_with_env(
        &["--listen", "127.0.0.1:0", "--log-format", "json"],
        &[
            ("CBR_ENDPOINT", url.as_str()),
            ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT),
            ("CLOUD_SDK_AK", "ENVAK"),
            ("CLOUD_SDK_SK", "env-secret"),
        ],
    )
    .await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", bin.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::backup_service_client::BackupServiceClient::new(channel);
    let backup = client
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
    // Served by this (signature-checking) simulator, not an embedded one.
    assert_eq!(sim.state.stats.snapshot()["get_backup"], 1);
    let logs = bin.logs.lock().unwrap().join("\n");
    assert!(!logs.contains("env-secret"));
}

#[tokio::test]
async fn precedence_is_caller_token_then_aksk_then_iam() {
    let sim = simulator::spawn(&SimulatorSettings {
        fleet_size: 20,
        credentials: vec!["PRECAK:prec-secret".parse().unwrap()],
        tokens: vec!["caller-token".into()],
        iam_users: vec!["acme:bot:pw-123".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", sim.addr);
    let iam = || iam_user(&endpoint(&url), "acme", "bot", inline("pw-123"));
    let get = || pb::GetBackupRequest {
        project_id: String::new(),
        backup_id: BACKUP.into(),
        region: String::new(),
    };
    // AK/SK and IAM both held: AK/SK signs, IAM is never asked.
    let both = Held {
        iam: Some(iam()),
        ..aksk("PRECAK", "prec-secret")
    };
    let both = gateway(&url, both).await;
    both.backups().get_backup(get()).await.unwrap();
    assert_eq!(sim.state.stats.snapshot()["iam_tokens"], 0);
    // A caller's token wins over both (a wrong one is refused, not replaced).
    both.backups()
        .get_backup(with_token(get(), "caller-token"))
        .await
        .unwrap();
    let status = both
        .backups()
        .get_backup(with_token(get(), "not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(sim.state.stats.snapshot()["iam_tokens"], 0);
    // IAM alone: used.
    let only_iam = Held {
        aksk: None,
        iam: Some(iam()),
    };
    let only_iam = gateway(&url, only_iam).await;
    only_iam.backups().get_backup(get()).await.unwrap();
    assert_eq!(sim.state.stats.snapshot()["iam_tokens"], 1);
}
