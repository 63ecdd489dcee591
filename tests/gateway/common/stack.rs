//! The test stack: an upstream (the in-process simulator, or a server the test
//! started) and the real gateway in-process, configured with typed settings.
//!
//! ```ignore
//! let stack = TestStack::builder()
//!     .simulator(SimulatorSettings { fleet_size: 20, ..Default::default() })
//!     .project(PROJECT)
//!     .settings(|s| s.watch.poll_interval = Duration::from_millis(100))
//!     .spawn()
//!     .await;
//! let got = stack.backups().get_backup(..).await;
//! ```
//!
//! Every in-process gateway of the suite starts here, from the command line's
//! own defaults ([`settings`]) changed field by field: a test names the
//! setting it is about in the type the gateway reads, and a renamed or retyped
//! setting fails to compile rather than to parse. Tests whose subject is the
//! command line itself (flags, environment, exit codes, the deploy manifests)
//! run the built binary or parse strings instead.

use std::{
    net::{Ipv4Addr, SocketAddr},
    ops::Deref,
    time::Duration,
};

use cbr_gateway::{
    ServeError,
    config::Config,
    proto::{
        backup_service_client::BackupServiceClient,
        checkpoint_item_service_client::CheckpointItemServiceClient,
        checkpoint_service_client::CheckpointServiceClient,
        operation_log_service_client::OperationLogServiceClient,
        policy_service_client::PolicyServiceClient, vault_service_client::VaultServiceClient,
    },
    upstream::{AkSk, Secret},
};
use cbr_simulator::{Embedded, SimulatorSettings};
use clap::Parser;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;
use url::Url;
use wiremock::MockServer;

use super::{TEST_AK, TEST_SK};

// What tests edit the settings with.
pub use cbr_gateway::{
    settings::Settings,
    upstream::{Held, SecretSource, credentials::IamUser},
};

/// The gateway's settings as the command line builds them with no flags, but
/// holding the test AK/SK ([`TEST_AK`]/[`TEST_SK`]), with no shutdown delay
/// (no load balancer watches a test gateway) and no metrics listener (tests
/// run in parallel: no two may take the default port).
pub fn settings() -> Settings {
    let mut settings = Config::try_parse_from(["cbr-gateway"])
        .expect("the defaults parse")
        .settings()
        .expect("the defaults make settings");
    settings.credentials = aksk(TEST_AK, TEST_SK);
    settings.transport.shutdown_delay = Duration::ZERO;
    settings.metrics_listen = None;
    settings
}

/// Held AK/SK credentials, given inline.
pub fn aksk(access_key: &str, secret_key: &str) -> Held {
    Held {
        aksk: Some(AkSk {
            access_key: access_key.to_owned(),
            secret_key: inline(secret_key),
            security_token: None,
        }),
        iam: None,
    }
}

/// A secret given inline.
pub fn inline(secret: &str) -> SecretSource {
    SecretSource::Inline(Secret::new(secret))
}

/// A held IAM user logging in at `endpoint`, with the command line's default
/// refresh margin.
pub fn iam_user(endpoint: &Url, domain: &str, user: &str, password: SecretSource) -> IamUser {
    let defaults = Config::try_parse_from(["cbr-gateway"]).expect("the defaults parse");
    IamUser {
        endpoint: endpoint.clone(),
        domain: domain.to_owned(),
        user: user.to_owned(),
        password,
        refresh_ahead: defaults.credentials.iam_refresh_ahead,
    }
}

/// An endpoint URL.
pub fn endpoint(raw: &str) -> Url {
    Url::parse(raw).expect("an endpoint URL")
}

/// `http://{addr}` as a URL.
pub fn http_url(addr: SocketAddr) -> Url {
    Url::parse(&format!("http://{addr}")).expect("a loopback URL")
}

/// Where the gateway listens.
enum Listen {
    Bind(String),
    Listener(TcpListener),
}

/// One change a test makes to the gateway's settings before it starts.
type SettingsEdit = Box<dyn FnOnce(&mut Settings) + Send>;

/// Builds a [`TestStack`]: see the module's docs.
#[must_use = "a stack starts only when spawned"]
pub struct StackBuilder {
    simulator: Option<SimulatorSettings>,
    upstream: Option<Url>,
    edits: Vec<SettingsEdit>,
    listen: Listen,
}

impl StackBuilder {
    /// Starts a simulator in this process with `settings`; both the CBR and
    /// the CSBS endpoints point at it.
    pub fn simulator(mut self, settings: SimulatorSettings) -> Self {
        self.simulator = Some(settings);
        self
    }

    /// Points both the CBR and the CSBS endpoints at `url`, an upstream the
    /// test runs itself (a wiremock server, a capturing server).
    pub fn upstream(mut self, url: &str) -> Self {
        self.upstream = Some(Url::parse(url).expect("an upstream URL"));
        self
    }

    /// Changes the typed settings. Edits run in order, after the endpoints are
    /// set, so an edit can read `s.upstream.cbr_endpoint` (the simulator's URL)
    /// or clear `s.upstream.csbs_endpoint`.
    pub fn settings(mut self, edit: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.edits.push(Box::new(edit));
        self
    }

    /// The project used when a request names none.
    pub fn project(self, project: &str) -> Self {
        let project = project.to_owned();
        self.settings(move |s| s.calls.default_project = Some(project))
    }

    /// The gateway holds no credentials of its own: callers bring tokens.
    pub fn without_credentials(self) -> Self {
        self.settings(|s| s.credentials = Held::default())
    }

    /// Listens on a listener bound to `addr` (default `127.0.0.1:0`), e.g.
    /// `0.0.0.0:0` to be reachable from more than loopback.
    pub fn bind(mut self, addr: &str) -> Self {
        self.listen = Listen::Bind(addr.to_owned());
        self
    }

    /// Serves on `listener`, e.g. one whose address a client already knows.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listen = Listen::Listener(listener);
        self
    }

    /// Starts the upstream (if it is the simulator), then the gateway, and
    /// connects a channel to it.
    pub async fn spawn(self) -> TestStack {
        let (settings, listener, sim) = self.prepare().await;
        let gateway = Gateway::serve(listener, settings).await;
        TestStack { gateway, sim }
    }

    /// Runs the gateway expecting it to refuse to start, and returns why.
    pub async fn serve_error(self) -> ServeError {
        let (settings, listener, _sim) = self.prepare().await;
        tokio::time::timeout(
            Duration::from_secs(10),
            cbr_gateway::serve(listener, settings, std::future::pending()),
        )
        .await
        .expect("the start fails in time")
        .expect_err("the gateway refuses to start")
    }

    async fn prepare(self) -> (Settings, TcpListener, Option<Embedded>) {
        let sim = match &self.simulator {
            Some(sim) => Some(
                cbr_simulator::spawn(sim)
                    .await
                    .expect("start the simulator"),
            ),
            None => None,
        };
        let mut settings = settings();
        if let Some(url) = sim.as_ref().map(|s| http_url(s.addr)).or(self.upstream) {
            settings.upstream.cbr_endpoint = Some(url.clone());
            settings.upstream.csbs_endpoint = Some(url);
        }
        for edit in self.edits {
            edit(&mut settings);
        }
        let listener = match self.listen {
            Listen::Bind(addr) => TcpListener::bind(addr).await.expect("bind the gateway"),
            Listen::Listener(listener) => listener,
        };
        (settings, listener, sim)
    }
}

/// A simulator (when the builder started one) and a gateway in this process;
/// both stop when dropped. Derefs to the [`Gateway`].
pub struct TestStack {
    /// The gateway.
    pub gateway: Gateway,
    /// The simulator, if the builder started one.
    pub sim: Option<Embedded>,
}

impl TestStack {
    /// A builder starting from [`settings`], with no upstream.
    pub fn builder() -> StackBuilder {
        StackBuilder {
            simulator: None,
            upstream: None,
            edits: Vec::new(),
            listen: Listen::Bind("127.0.0.1:0".into()),
        }
    }

    /// The simulator the builder started.
    pub fn sim(&self) -> &Embedded {
        self.sim.as_ref().expect("this stack runs a simulator")
    }

    /// The gateway and the simulator the builder started, for a test's own
    /// wrapper that keeps both.
    pub fn into_parts(self) -> (Gateway, Embedded) {
        (self.gateway, self.sim.expect("this stack runs a simulator"))
    }

    /// Stops the gateway as [`Gateway::stop`] does (the simulator runs on
    /// until the test's runtime ends).
    pub async fn stop(self) {
        self.gateway.stop().await;
    }

    /// The simulator's base URL, as the gateway reaches it.
    pub fn sim_url(&self) -> String {
        format!("http://{}", self.sim().addr)
    }
}

impl Deref for TestStack {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

/// A running gateway; stops when dropped.
pub struct Gateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its gRPC channel.
    pub channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Gateway {
    /// A gateway (holding the test AK/SK) whose CBR and CSBS endpoints are
    /// both `upstream`.
    pub async fn against(upstream: &MockServer) -> Gateway {
        TestStack::builder()
            .upstream(&upstream.uri())
            .spawn()
            .await
            .gateway
    }

    async fn serve(listener: TcpListener, settings: Settings) -> Gateway {
        let mut addr = listener.local_addr().unwrap();
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let tls = settings.transport.tls.is_some();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            cbr_gateway::serve(listener, settings, async {
                let _ = stopped.await;
            })
            .await
            .expect("gateway serves");
        });
        let endpoint = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5));
        // Connected before the test begins, so that the gateway is known to
        // serve (and this connection counts, as tests of the connection cap
        // expect). A TLS listener is called by the test's own TLS clients:
        // this plaintext channel then stays unconnected.
        let channel = if tls {
            endpoint.connect_lazy()
        } else {
            endpoint.connect().await.expect("connect to gateway")
        };
        Gateway {
            addr,
            channel,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// CheckpointService client.
    pub fn checkpoints(&self) -> CheckpointServiceClient<Channel> {
        CheckpointServiceClient::new(self.channel.clone())
    }

    /// BackupService client.
    pub fn backups(&self) -> BackupServiceClient<Channel> {
        BackupServiceClient::new(self.channel.clone())
    }

    /// CheckpointItemService client.
    pub fn checkpoint_items(&self) -> CheckpointItemServiceClient<Channel> {
        CheckpointItemServiceClient::new(self.channel.clone())
    }

    /// VaultService client.
    pub fn vaults(&self) -> VaultServiceClient<Channel> {
        VaultServiceClient::new(self.channel.clone())
    }

    /// PolicyService client.
    pub fn policies(&self) -> PolicyServiceClient<Channel> {
        PolicyServiceClient::new(self.channel.clone())
    }

    /// OperationLogService client.
    pub fn operation_logs(&self) -> OperationLogServiceClient<Channel> {
        OperationLogServiceClient::new(self.channel.clone())
    }

    /// google.longrunning.Operations client.
    pub fn operations(
        &self,
    ) -> cbr_gateway::proto::google::longrunning::operations_client::OperationsClient<Channel> {
        cbr_gateway::proto::google::longrunning::operations_client::OperationsClient::new(
            self.channel.clone(),
        )
    }

    /// Stops the gateway and waits (at most 15 s) for it to drain and stop
    /// cleanly: `serve` returning an error fails the test.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("the gateway stops in time")
                .expect("the gateway stops without error");
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
