//! TLS and mutual TLS on the gRPC listener, black-box: the real gateway in-process
//! on `127.0.0.1:0` with certificates generated at test time (rcgen), called with
//! tonic clients over TLS, with and without client certificates, and in plaintext.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use crate::common::{Gateway, Settings, TestStack, aksk};
use cbr_gateway::{ServeError, transport::tls::TlsFiles};
use cbr_simulator::SimulatorSettings;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Upper bound of any one client attempt; reached only by a regression.
const ATTEMPT: Duration = Duration::from_secs(10);

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cbr-gateway-tls-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate and its private key, PEM-encoded.
struct Pair {
    cert: String,
    key: String,
}

impl Pair {
    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }
}

/// A test CA able to sign server and client certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn sign(&self, common_name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Pair {
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Pair {
        self.sign(
            "cbr-gateway",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, name: &str) -> Pair {
        self.sign(name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// A client certificate with these subject alternative names.
    fn client_with(&self, common_name: &str, sans: Vec<rcgen::SanType>) -> Pair {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A gateway (holding no credentials) serving TLS in-process with `files`,
/// with `edit` applied to its settings; its upstream is the simulator when
/// `simulator` says so, else an unused URL (health checks never reach it).
async fn gateway_with(
    files: TlsFiles,
    simulator: Option<SimulatorSettings>,
    edit: impl FnOnce(&mut Settings) + Send + 'static,
) -> TestStack {
    let builder = match simulator {
        Some(sim) => TestStack::builder().simulator(sim),
        None => TestStack::builder().upstream("http://127.0.0.1:9"),
    };
    builder
        .without_credentials()
        .settings(|s| s.transport.tls = Some(files))
        .settings(edit)
        .spawn()
        .await
}

/// [`gateway_with`] no upstream and nothing else changed.
async fn gateway(files: TlsFiles) -> Gateway {
    gateway_with(files, None, |_| {}).await.gateway
}

/// Server certificate files for `ca`, and the TLS settings naming them.
struct ServerFiles {
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
}

impl ServerFiles {
    fn new(ca: &Ca, client_ca: &Ca) -> ServerFiles {
        let dir = TempDir::new();
        let server = ca.server();
        let cert = dir.write("server.pem", &server.cert);
        let key = dir.write("server.key", &server.key);
        let client_ca = dir.write("client-ca.pem", &client_ca.pem());
        ServerFiles {
            _dir: dir,
            cert,
            key,
            client_ca,
        }
    }

    /// TLS: the server certificate, no client certificates asked for.
    fn tls(&self) -> TlsFiles {
        tls_files(&self.cert, &self.key, None)
    }

    /// Mutual TLS: client certificates must chain to the client CA.
    fn mtls(&self) -> TlsFiles {
        tls_files(&self.cert, &self.key, Some(&self.client_ca))
    }
}

fn tls_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> TlsFiles {
    TlsFiles {
        cert: cert.to_owned(),
        key: key.to_owned(),
        client_ca: client_ca.map(Path::to_owned),
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Connects (over TLS when `tls` is set) and calls `grpc.health.v1.Health/Check`
/// for the whole server; `Ok` only when it answers SERVING.
async fn health_check(addr: SocketAddr, tls: Option<ClientTlsConfig>) -> Result<(), String> {
    let attempt = async {
        let channel = match tls {
            Some(tls) => Channel::from_shared(format!("https://{addr}"))
                .unwrap()
                .tls_config(tls)
                .map_err(|e| format!("client TLS config: {e}"))?,
            None => Channel::from_shared(format!("http://{addr}")).unwrap(),
        };
        let channel = channel
            .connect()
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        let reply = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|status| format!("health check: {status:?}"))?
            .into_inner();
        if reply.status() == ServingStatus::Serving {
            Ok(())
        } else {
            Err(format!("not serving: {reply:?}"))
        }
    };
    within(attempt).await
}

async fn within<T>(attempt: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(ATTEMPT, attempt)
        .await
        .unwrap_or_else(|_| Err("attempt timed out".into()))
}

/// A client trusting `ca` for the server name `localhost`.
fn client_tls(ca: &Ca) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("localhost")
}

#[tokio::test]
async fn a_client_trusting_the_ca_calls_over_tls_and_plaintext_is_refused() {
    cbr_gateway::install_crypto_provider();
    let ca = Ca::new("test server CA");
    let files = ServerFiles::new(&ca, &ca);
    let gateway = gateway(files.tls()).await;

    health_check(gateway.addr, Some(client_tls(&ca)))
        .await
        .expect("a TLS client trusting the CA is served (ALPN h2 negotiated)");

    let err = health_check(gateway.addr, None)
        .await
        .expect_err("a plaintext client must fail against the TLS listener");
    assert!(!err.contains("timed out"), "plaintext fails fast: {err}");

    let stranger = Ca::new("unrelated CA");
    let err = health_check(gateway.addr, Some(client_tls(&stranger)))
        .await
        .expect_err("a client not trusting the server's CA must fail");
    assert!(err.contains("UnknownIssuer"), "{err}");

    // The listener still serves after failed handshakes, then drains cleanly.
    health_check(gateway.addr, Some(client_tls(&ca)))
        .await
        .expect("still served after failed handshakes");
    gateway.stop().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_client_ca() {
    cbr_gateway::install_crypto_provider();
    let server_ca = Ca::new("test server CA");
    let client_ca = Ca::new("test client CA");
    let files = ServerFiles::new(&server_ca, &client_ca);
    let gateway = gateway(files.mtls()).await;

    let trusted = client_ca.client("trusted-client");
    health_check(
        gateway.addr,
        Some(client_tls(&server_ca).identity(trusted.identity())),
    )
    .await
    .expect("a client certificate signed by the client CA is accepted");

    let err = health_check(gateway.addr, Some(client_tls(&server_ca)))
        .await
        .expect_err("a client without a certificate must be refused");
    assert!(err.contains("CertificateRequired"), "{err}");

    let other_ca = Ca::new("another client CA");
    let untrusted = other_ca.client("untrusted-client");
    let err = health_check(
        gateway.addr,
        Some(client_tls(&server_ca).identity(untrusted.identity())),
    )
    .await
    .expect_err("a client certificate from another CA must be refused");
    assert!(err.contains("UnknownCA"), "{err}");

    // The server CA signs server certificates only: one of its client
    // certificates is not trusted for client authentication either.
    let wrong_issuer = server_ca.client("server-ca-client");
    let err = health_check(
        gateway.addr,
        Some(client_tls(&server_ca).identity(wrong_issuer.identity())),
    )
    .await
    .expect_err("only the configured client CA is trusted");
    assert!(err.contains("UnknownCA"), "{err}");

    health_check(gateway.addr, None)
        .await
        .expect_err("plaintext is refused under mutual TLS");

    gateway.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_drains_an_open_tls_connection() {
    cbr_gateway::install_crypto_provider();
    let ca = Ca::new("test server CA");
    let files = ServerFiles::new(&ca, &ca);
    let gateway = gateway(files.tls()).await;

    // An idle, established TLS connection must not hold shutdown for the whole
    // drain timeout: hyper closes it gracefully.
    let channel = within(async {
        Channel::from_shared(format!("https://{}", gateway.addr))
            .unwrap()
            .tls_config(client_tls(&ca))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .expect("connects over TLS");
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("served");

    let started = std::time::Instant::now();
    gateway.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drained in {:?}, not at the 10 s drain timeout",
        started.elapsed()
    );
    drop(channel);
}

#[tokio::test]
async fn a_stalled_handshake_blocks_neither_other_clients_nor_shutdown() {
    use tokio::io::AsyncReadExt;

    cbr_gateway::install_crypto_provider();
    let ca = Ca::new("test server CA");
    let files = ServerFiles::new(&ca, &ca);
    let gateway = gateway(files.tls()).await;

    // A client that connects and never sends its ClientHello.
    let mut silent = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    health_check(gateway.addr, Some(client_tls(&ca)))
        .await
        .expect("others are served while a handshake is pending");

    // Shutdown abandons the pending handshake instead of waiting for its
    // timeout or for the drain timeout, and closes the connection.
    let started = std::time::Instant::now();
    gateway.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(ATTEMPT, silent.read(&mut buf))
        .await
        .expect("the silent connection is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn unusable_tls_files_stop_serve_before_it_serves() {
    cbr_gateway::install_crypto_provider();
    let ca = Ca::new("test server CA");
    let files = ServerFiles::new(&ca, &ca);
    let dir = TempDir::new();
    let missing = dir.0.join("missing.pem");
    let not_pem = dir.write("not-pem.pem", "this is not PEM\n");
    let wrong_key = dir.write("other.key", &ca.server().key);

    let cases: Vec<(TlsFiles, &Path, &str)> = vec![
        (
            tls_files(&missing, &files.key, None),
            &missing,
            "cannot read TLS certificate file",
        ),
        (
            tls_files(&files.cert, &missing, None),
            &missing,
            "cannot read TLS key file",
        ),
        (
            tls_files(&not_pem, &files.key, None),
            &not_pem,
            "no certificate found",
        ),
        (
            tls_files(&files.cert, &not_pem, None),
            &not_pem,
            "no private key found",
        ),
        (
            tls_files(&files.cert, &files.key, Some(&not_pem)),
            &not_pem,
            "no certificate found in client CA file",
        ),
        (
            tls_files(&files.cert, &wrong_key, None),
            &wrong_key,
            "cannot use TLS certificate",
        ),
    ];
    for (tls, path, expected) in cases {
        let case = format!("{tls:?}");
        let err = TestStack::builder()
            .upstream("http://127.0.0.1:9")
            .without_credentials()
            .settings(|s| s.transport.tls = Some(tls))
            .serve_error()
            .await;
        assert!(matches!(err, ServeError::Tls(_)), "{case}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(expected), "{case}: {msg}");
        assert!(msg.contains(path_str(path)), "names the file: {msg}");
    }
}

/// Runs the command-line client against `gateway` and returns (exit code, stderr).
async fn run_cli(gateway: &str, args: &[&str]) -> (i32, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
            .args(args)
            .args(["--gateway", gateway])
            .env_remove("CBR_AUTH_TOKEN")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the CLI does not hang")
    .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_command_line_client_speaks_tls_and_mutual_tls() {
    let server_ca = Ca::new("test server CA");
    let client_ca = Ca::new("test client CA");
    let files = ServerFiles::new(&server_ca, &client_ca);
    let gateway = gateway(files.mtls()).await;
    let dir = TempDir::new();
    let ca = dir.write("ca.pem", &server_ca.pem());
    let client = client_ca.client("cli");
    let cert = dir.write("cli.pem", &client.cert);
    let key = dir.write("cli.key", &client.key);
    let url = format!("https://localhost:{}", gateway.addr.port());
    let backup = "6df2b54c-dd62-4059-a07c-1b8f24f2725d";

    // Through TLS and the client certificate, the call reaches the gateway,
    // which answers (this one holds no credentials).
    let (code, err) = run_cli(
        &url,
        &[
            "backup",
            "get",
            backup,
            "--ca-cert",
            path_str(&ca),
            "--client-cert",
            path_str(&cert),
            "--client-key",
            path_str(&key),
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("error: Unauthenticated: ") && err.contains("NO_CREDENTIALS"),
        "the gateway answered over mTLS: {err}"
    );

    // Without the client certificate the gateway refuses the connection.
    let (code, err) = run_cli(&url, &["backup", "get", backup, "--ca-cert", path_str(&ca)]).await;
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("NO_CREDENTIALS"), "{err}");
    // The transport's cause comes along (the TLS alert, a broken pipe or a
    // closed connection: whichever the client reads first).
    assert!(err.contains("transport error: "), "{err}");
    assert!(err.lines().count() <= 2, "one or two lines: {err}");

    // A gateway certificate from an unknown CA is refused by the client.
    let (code, err) = run_cli(&url, &["backup", "get", backup]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("error: cannot reach the gateway at "),
        "{err}"
    );
    assert!(err.contains("UnknownIssuer"), "{err}");

    // TLS options with a plaintext address are a mistake, not ignored.
    let plain = format!("http://{}", gateway.addr);
    let (code, err) = run_cli(
        &plain,
        &["backup", "get", backup, "--ca-cert", path_str(&ca)],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("need an https://"), "{err}");
    gateway.stop().await;
}

#[tokio::test]
async fn client_certificates_name_the_caller_for_the_policy() {
    use cbr_gateway::proto::{GetBackupRequest, backup_service_client::BackupServiceClient};
    use rcgen::SanType;
    let server_ca = Ca::new("test server CA");
    let client_ca = Ca::new("test client CA");
    let files = ServerFiles::new(&server_ca, &client_ca);
    let policy = files._dir.write(
        "policy.yaml",
        r#"rules:
  - callers: ["spiffe://cluster.local/ns/jobs/sa/*", "job.example.com", "cn-only-job"]
    projects: ["4229d7a45436489f8c3dc2b1d35d4987"]
    methods: ["read"]
"#,
    );
    let gateway = gateway_with(
        files.mtls(),
        Some(SimulatorSettings {
            fleet_size: 10,
            ..Default::default()
        }),
        |s| {
            s.access.authz_policy = Some(policy);
            s.credentials = aksk("AK", "SK");
        },
    )
    .await;

    let call = |pair: Pair| {
        let tls = client_tls(&server_ca).identity(pair.identity());
        let addr = gateway.addr;
        async move {
            let channel = Channel::from_shared(format!("https://{addr}"))
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await
                .unwrap();
            BackupServiceClient::new(channel)
                .get_backup(GetBackupRequest {
                    project_id: "4229d7a45436489f8c3dc2b1d35d4987".into(),
                    backup_id: "6df2b54c-dd62-4059-a07c-1b8f24f2725d".into(),
                    region: String::new(),
                })
                .await
        }
    };
    let uri = |u: &str| SanType::URI(u.try_into().unwrap());
    let dns = |d: &str| SanType::DnsName(d.try_into().unwrap());
    // The first URI SAN names the caller, whatever else the certificate says.
    let reporter = client_ca.client_with(
        "ignored-cn",
        vec![
            dns("ignored.example.com"),
            uri("spiffe://cluster.local/ns/jobs/sa/reporter"),
        ],
    );
    call(reporter)
        .await
        .expect("a SPIFFE identity the policy names");
    // Else the first DNS SAN, else the subject CN.
    call(client_ca.client_with("ignored-cn", vec![dns("job.example.com")]))
        .await
        .expect("a DNS identity the policy names");
    call(client_ca.client_with("cn-only-job", vec![]))
        .await
        .expect("a CN the policy names");
    // A certificate the CA signed but the policy does not name is refused.
    let status = call(client_ca.client_with(
        "ignored-cn",
        vec![uri("spiffe://cluster.local/ns/other/sa/intruder")],
    ))
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(
        status
            .message()
            .contains("spiffe://cluster.local/ns/other/sa/intruder"),
        "{status:?}"
    );
    gateway.stop().await;
}
