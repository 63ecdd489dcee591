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
        })
        .await
        .unwrap()
        .into_inner()
        .backup
        .unwrap();
    assert_eq!(backup.id, BACKUP);
}
