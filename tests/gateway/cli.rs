//! The binary's command line: `--help` lists every setting with its environment
//! variable, and invalid configuration (gateway or simulator) stops it at start
//! with exit code 2.

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Runs the binary to completion; a binary that starts serving instead of
/// exiting is killed and fails the test rather than hanging it.
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cbr-gateway");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("cbr-gateway kept running instead of exiting: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn gateway(args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .args(args)
        .env_remove("CBR_ENDPOINT")
        .env_remove("CSBS_ENDPOINT")
        .env_remove("GATEWAY_LISTEN")
        .env_remove("HUAWEICLOUD_SDK_PROJECT_ID"))
}

#[test]
fn help_lists_every_setting_and_its_environment_variable() {
    let out = gateway(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, env) in [
        ("--listen", "GATEWAY_LISTEN"),
        ("--cbr-endpoint", "CBR_ENDPOINT"),
        ("--csbs-endpoint", "CSBS_ENDPOINT"),
        ("--project-id", "HUAWEICLOUD_SDK_PROJECT_ID"),
        ("--region", "HUAWEICLOUD_SDK_REGION"),
        ("--regions-file", "HUAWEICLOUD_SDK_REGIONS_FILE"),
        ("--sim-restore-duration", "SIM_RESTORE_DURATION"),
        ("--sim-delete-duration", "SIM_DELETE_DURATION"),
        ("--upstream-connect-timeout", "UPSTREAM_CONNECT_TIMEOUT"),
        ("--upstream-timeout", "UPSTREAM_TIMEOUT"),
        ("--upstream-max-body-bytes", "UPSTREAM_MAX_BODY_BYTES"),
        ("--log-format", "LOG_FORMAT"),
        ("--log-level", "LOG_LEVEL"),
        ("--sim-fleet-size", "SIM_FLEET_SIZE"),
        ("--sim-backup-duration", "SIM_BACKUP_DURATION"),
        ("--sim-fault", "SIM_FAULTS"),
        ("--ak", "HUAWEICLOUD_SDK_AK"),
        ("--sk", "HUAWEICLOUD_SDK_SK"),
        ("--sk-file", "HUAWEICLOUD_SDK_SK_FILE"),
        ("--security-token", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
        ("--iam-endpoint", "IAM_ENDPOINT"),
        ("--iam-user", "IAM_USER"),
        ("--iam-password-file", "IAM_PASSWORD_FILE"),
        ("--tls-cert", "GATEWAY_TLS_CERT"),
        ("--tls-client-ca", "GATEWAY_TLS_CLIENT_CA"),
        ("--allowed-projects", "GATEWAY_ALLOWED_PROJECTS"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
        assert!(
            help.contains(&format!("env: {env}")),
            "{env} missing from --help"
        );
    }
    // The simulator's credentials are the standalone simulator's business;
    // the embedded one uses the gateway's own generated key.
    let sim_help = String::from_utf8(gateway(&["simulator", "--help"]).stdout).unwrap();
    for flag in ["--sim-credentials", "--sim-tokens", "--sim-iam-users"] {
        assert!(!help.contains(flag), "{flag} in the gateway's --help");
        assert!(
            sim_help.contains(flag),
            "{flag} missing from simulator --help"
        );
    }
}

#[test]
fn invalid_configuration_exits_with_code_2() {
    for (args, mention) in [
        (
            &["--cbr-endpoint", "ftp://cbr.example"][..],
            "--cbr-endpoint",
        ),
        (
            &[
                "--cbr-endpoint",
                "https://cbr.example",
                "--listen",
                "nowhere",
            ],
            "--listen",
        ),
        (
            &[
                "--cbr-endpoint",
                "https://cbr.example",
                "--upstream-timeout",
                "0s",
            ],
            "--upstream-timeout",
        ),
        (
            &[
                "--cbr-endpoint",
                "https://cbr.example",
                "--log-format",
                "xml",
            ],
            "--log-format",
        ),
        (
            &[
                "--cbr-endpoint",
                "https://cbr.example",
                "--project-id",
                "a/b",
            ],
            "--project-id",
        ),
        (&["--sim-fault", "route=nowhere"], "--sim-fault"),
        (
            &["simulator", "--sim-credentials", "no-colon"],
            "--sim-credentials",
        ),
        (&["simulator", "--listen", "nowhere"], "--listen"),
        (&["--tls-cert", "/tmp/cert.pem"], "--tls-key"),
    ] {
        let out = gateway(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(mention), "{args:?}: {stderr}");
    }
}

#[test]
fn invalid_environment_is_refused_too() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_cbr-gateway")).env("CBR_ENDPOINT", "not a url"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cbr-endpoint"));
}

#[test]
fn help_never_shows_secret_values_from_the_environment() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
        .arg("--help")
        .env("HUAWEICLOUD_SDK_SK", "sk-from-env-123")
        .env("HUAWEICLOUD_SDK_SECURITY_TOKEN", "token-from-env-456")
        .env("IAM_PASSWORD", "password-from-env-789"));
    let help = String::from_utf8_lossy(&out.stdout);
    for secret in [
        "sk-from-env-123",
        "token-from-env-456",
        "password-from-env-789",
    ] {
        assert!(!help.contains(secret), "{secret} shown in --help");
    }
}

#[test]
fn help_never_shows_the_simulators_secrets_from_the_environment() {
    let secrets = [
        "sentinel-sim-sk",
        "sentinel-sim-security-token",
        "sentinel-sim-token-1",
        "sentinel-sim-token-2",
        "sentinel-sim-password",
    ];
    for args in [&["--help"][..], &["simulator", "--help"]] {
        let out = run(Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
            .args(args)
            .env(
                "SIM_CREDENTIALS",
                "SIMAK:sentinel-sim-sk:sentinel-sim-security-token",
            )
            .env("SIM_TOKENS", "sentinel-sim-token-1,sentinel-sim-token-2")
            .env("SIM_IAM_USERS", "acme:alice:sentinel-sim-password"));
        assert!(out.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The simulator's help lists the settings, so their values had their
        // chance; the gateway's own does not list them at all.
        for env in ["SIM_CREDENTIALS", "SIM_TOKENS", "SIM_IAM_USERS"] {
            assert_eq!(
                stdout.contains(env),
                args[0] == "simulator",
                "{env} in {args:?}"
            );
        }
        for secret in secrets {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{secret} shown by {args:?}"
            );
        }
    }
}

#[test]
fn incomplete_credentials_stop_the_gateway_at_start() {
    for (args, mention) in [
        (
            &["--cbr-endpoint", "http://127.0.0.1:9", "--ak", "ONLYAK"][..],
            "an AK needs an SK",
        ),
        (
            &["--cbr-endpoint", "http://127.0.0.1:9", "--iam-user", "u"],
            "IAM login needs",
        ),
        (
            &[
                "--cbr-endpoint",
                "http://127.0.0.1:9",
                "--ak",
                "A",
                "--sk-file",
                "/nonexistent/sk",
            ],
            "/nonexistent/sk",
        ),
    ] {
        let out = gateway(&[&["--listen", "127.0.0.1:0"], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stderr.contains(mention) || stdout.contains(mention),
            "{args:?}: {stderr}{stdout}"
        );
    }
}
