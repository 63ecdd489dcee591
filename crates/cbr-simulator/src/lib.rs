#![forbid(unsafe_code)]
#![warn(missing_docs)]

//! The built-in CBR/CSBS simulator: a REST server that speaks the upstream API
//! as the real service does (contract §7), so the gateway, its tests and any CBR
//! client (Huawei's SDKs included) can run with no cloud account.
//!
//! It only speaks HTTP; the gateway reaches it exactly as it reaches the cloud.
//!
//! ```text
//! request ─► front.rs   X-Request-Id, counters, faults, AK/SK or token check
//!                       (every method and path but /_simulator/ admin)
//!              ▼
//!            routes.rs  the REST routes of the wire, IAM's POST /v3/auth/tokens (iam.rs)
//!                       (+ /_simulator/stats, /_simulator/faults)
//!              ▼
//!            store.rs   vaults, checkpoints, backups; create; list (query.rs)
//!            lifecycle/ vaults, policies, operation logs: computed from the
//!                       store at read time, plus the documents' seeds;
//!                       tasks.rs: RestoreBackup (POST …/backups/{id}/restore,
//!                       202) and DeleteBackup (DELETE …/backups/{id}, 204),
//!                       timed by restore_duration / delete_duration
//!              ▼
//!            model.rs   records → upstream JSON, with upstream's quirks
//! ```
//!
//! A crate of its own so that the compiler holds the line the design draws:
//! the simulator shares nothing with the gateway but the signer
//! ([`cbr_signer`]) and the wire. It builds its JSON from its own model,
//! never from the gateway's DTOs, so a misnamed field on one side fails a
//! test instead of passing on both.
//!
//! [`seed`] fills the store with the API documents' objects under their own IDs
//! and a deterministic fleet.

pub mod auth;
pub mod error;
pub mod faults;
pub mod front;
pub mod iam;
pub mod lifecycle;
pub mod model;
pub mod query;
pub mod routes;
pub mod seed;
mod server;
pub mod store;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, RwLock, RwLockReadGuard},
    time::Duration,
};

use tokio::net::TcpListener;

/// How the simulated service behaves: the settings of the standalone
/// simulator and of the gateway's embedded one alike. None is secret.
#[derive(Debug, Clone, clap::Args)]
pub struct Behaviour {
    /// Generated backups in the simulator's fleet (besides the documents' examples).
    #[arg(
        long = "sim-fleet-size",
        env = "SIM_FLEET_SIZE",
        default_value_t = 3000
    )]
    pub fleet_size: usize,

    /// Time a new backup takes to go from `protecting` to `available` (e.g. `10s`).
    #[arg(long = "sim-backup-duration", env = "SIM_BACKUP_DURATION", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub backup_duration: Duration,

    /// Time a restore takes: the backup is `restoring`, its `restore`
    /// operation log `running`, until then (a target named `sim-error…` fails).
    #[arg(long = "sim-restore-duration", env = "SIM_RESTORE_DURATION", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub restore_duration: Duration,

    /// Time a deletion takes: the backup is `deleting` until then, then gone.
    #[arg(long = "sim-delete-duration", env = "SIM_DELETE_DURATION", default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub delete_duration: Duration,

    /// Regions to serve, each with its own data: the first on the listen
    /// address, the next on 127.0.0.2, 127.0.0.3, … at the same port (the
    /// `Host` a client uses tells them apart). Empty: one region.
    #[arg(long = "sim-regions", env = "SIM_REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,

    /// Answer a restore with a bare 202, as the documents say, instead of
    /// `{"job_id": …}`, as terraform expects.
    #[arg(
        long = "sim-restore-without-job-id",
        env = "SIM_RESTORE_WITHOUT_JOB_ID"
    )]
    pub restore_without_job_id: bool,

    /// Fault rules, `;`-separated, e.g.
    /// `route=get_backup,error_rate=0.2,status=503,latency=50ms,drop_rate=0.1`
    /// (`route` is `*` or one of create_checkpoint, get_checkpoint, list_backups,
    /// get_backup, restore_backup, delete_backup, list_vaults, get_vault,
    /// list_policies, get_policy, list_operation_logs, get_operation_log,
    /// get_checkpoint_item, iam_tokens).
    #[arg(long = "sim-fault", env = "SIM_FAULTS", value_delimiter = ';')]
    pub faults: Vec<faults::FaultRule>,

    /// Seed of the fault decisions, so that a run's faults repeat exactly.
    #[arg(long = "sim-fault-seed", env = "SIM_FAULT_SEED")]
    pub fault_seed: Option<u64>,
}

impl Behaviour {
    /// Settings with this behaviour and no authentication.
    pub fn settings(&self) -> SimulatorSettings {
        SimulatorSettings {
            fleet_size: self.fleet_size,
            backup_duration: self.backup_duration,
            restore_duration: self.restore_duration,
            delete_duration: self.delete_duration,
            restore_job_id: !self.restore_without_job_id,
            regions: self.regions.clone(),
            faults: self.faults.clone(),
            fault_seed: self.fault_seed,
            ..SimulatorSettings::default()
        }
    }
}

/// The standalone simulator's settings, as flags and environment variables:
/// its behaviour and the credentials it accepts.
///
/// Secrets (key pairs, tokens, IAM passwords) show neither in `--help` (their
/// environment values are hidden) nor in `Debug`.
#[derive(Clone, clap::Args)]
pub struct Args {
    /// How the service behaves.
    #[command(flatten)]
    pub behaviour: Behaviour,

    /// AK:SK pairs whose SDK-HMAC-SHA256 signatures the simulator accepts
    /// (comma-separated). With credentials or tokens set, every API call must
    /// authenticate.
    #[arg(
        long = "sim-credentials",
        env = "SIM_CREDENTIALS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub credentials: Vec<auth::KeyPair>,

    /// IAM tokens the simulator accepts as `X-Auth-Token` (comma-separated).
    #[arg(
        long = "sim-tokens",
        env = "SIM_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// IAM users that may log in with `POST /v3/auth/tokens`, as comma-separated
    /// `DOMAIN:USER:PASSWORD` triples. The tokens they get are accepted as
    /// `X-Auth-Token` until they expire; with users set, every API call must
    /// authenticate.
    #[arg(
        long = "sim-iam-users",
        env = "SIM_IAM_USERS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub iam_users: Vec<iam::IamUser>,

    /// Validity of the IAM tokens the simulator issues (e.g. `24h`, `2s`).
    #[arg(long = "sim-iam-token-lifetime", env = "SIM_IAM_TOKEN_LIFETIME", default_value = "24h",
          value_parser = humantime::parse_duration)]
    pub iam_token_lifetime: Duration,
}

impl Args {
    /// The settings these flags give.
    pub fn settings(&self) -> SimulatorSettings {
        SimulatorSettings {
            credentials: self.credentials.clone(),
            tokens: self.tokens.clone(),
            iam_users: self.iam_users.clone(),
            iam_token_lifetime: self.iam_token_lifetime,
            ..self.behaviour.settings()
        }
    }
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.settings(), f)
    }
}

/// Everything the simulator runs with.
#[derive(Clone)]
pub struct SimulatorSettings {
    /// Generated backups in the fleet (besides the documents' examples).
    pub fleet_size: usize,
    /// Time a new backup takes to go from `protecting` to `available`.
    pub backup_duration: Duration,
    /// Key pairs whose signatures are accepted; with credentials or tokens
    /// set, every API call must authenticate.
    pub credentials: Vec<auth::KeyPair>,
    /// IAM tokens accepted as `X-Auth-Token`.
    pub tokens: Vec<String>,
    /// IAM users that may log in.
    pub iam_users: Vec<iam::IamUser>,
    /// Validity of the IAM tokens issued.
    pub iam_token_lifetime: Duration,
    /// Fault rules.
    pub faults: Vec<faults::FaultRule>,
    /// Seed of the fault decisions.
    pub fault_seed: Option<u64>,
    /// Time a restore takes (the backup is `restoring` meanwhile).
    pub restore_duration: Duration,
    /// Time a deletion takes (the backup is `deleting` meanwhile).
    pub delete_duration: Duration,
    /// Whether a restore's 202 carries `{"job_id": …}` (what terraform reads)
    /// rather than no body (what the documents say).
    pub restore_job_id: bool,
    /// The regions served (see [`Behaviour::regions`]); empty: one.
    pub regions: Vec<String>,
}

impl std::fmt::Debug for SimulatorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Written out so that a secret field added later must be thought about.
        let Self {
            fleet_size,
            backup_duration,
            credentials,
            tokens,
            iam_users,
            iam_token_lifetime,
            faults,
            fault_seed,
            restore_duration,
            delete_duration,
            restore_job_id,
            regions,
        } = self;
        f.debug_struct("SimulatorSettings")
            .field("fleet_size", fleet_size)
            .field("backup_duration", backup_duration)
            // `KeyPair` and `IamUser` redact their secrets themselves.
            .field("credentials", credentials)
            .field("tokens", &format_args!("[<{} redacted>]", tokens.len()))
            .field("iam_users", iam_users)
            .field("iam_token_lifetime", iam_token_lifetime)
            .field("faults", faults)
            .field("fault_seed", fault_seed)
            .field("restore_duration", restore_duration)
            .field("delete_duration", delete_duration)
            .field("restore_job_id", restore_job_id)
            .field("regions", regions)
            .finish()
    }
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        Self {
            fleet_size: 3000,
            backup_duration: Duration::from_secs(10),
            credentials: vec![],
            tokens: vec![],
            iam_users: vec![],
            iam_token_lifetime: Duration::from_secs(24 * 60 * 60),
            faults: vec![],
            fault_seed: None,
            restore_duration: Duration::from_secs(10),
            delete_duration: Duration::from_secs(5),
            restore_job_id: true,
            regions: vec![],
        }
    }
}

/// The simulator's shared state.
#[derive(Debug)]
pub struct SimState {
    /// The data.
    pub store: RwLock<store::Store>,
    /// How long new backups take.
    pub backup_duration: Duration,
    /// How long restores take.
    pub restore_duration: Duration,
    /// How long deletions take.
    pub delete_duration: Duration,
    /// Whether a restore answers with its `job_id`.
    pub restore_job_id: bool,
    /// The names of the regions the simulator serves (IAM lists the project
    /// of each); empty: one unnamed region.
    pub regions: Vec<String>,
    /// Fault rules.
    pub faults: faults::Faults,
    /// Request counters.
    pub stats: faults::Stats,
    /// Accepted credentials.
    pub credentials: auth::Credentials,
    /// IAM users and the tokens issued to them (also consulted by `credentials`).
    pub iam: Arc<iam::Iam>,
    /// The other regions served, by name: a request whose `Host` names one
    /// (`cbr.ap-southeast-3.myhuaweicloud.com`, `ap-southeast-3.localhost`)
    /// is answered from its data, whichever address it reached. Weak: the
    /// regions name each other.
    pub siblings: std::sync::OnceLock<Vec<(String, std::sync::Weak<SimState>)>>,
}

impl SimState {
    /// State seeded per `settings`.
    pub fn new(settings: &SimulatorSettings) -> Self {
        Self::in_region(settings, 0)
    }

    /// The state of the `region`th region served (its own data, see
    /// [`seed::store_in`]).
    pub fn in_region(settings: &SimulatorSettings, region: usize) -> Self {
        let iam = Arc::new(iam::Iam::new(
            &settings.iam_users,
            settings.iam_token_lifetime,
        ));
        Self {
            store: RwLock::new(seed::store_in(settings.fleet_size, region)),
            backup_duration: settings.backup_duration,
            restore_duration: settings.restore_duration,
            delete_duration: settings.delete_duration,
            restore_job_id: settings.restore_job_id,
            regions: settings.regions.clone(),
            faults: faults::Faults::new(settings.faults.clone(), settings.fault_seed),
            stats: faults::Stats::default(),
            credentials: auth::Credentials::new(&settings.credentials, &settings.tokens)
                .with_iam(iam.clone()),
            iam,
            siblings: std::sync::OnceLock::new(),
        }
    }

    /// Read access to the store (a poisoned lock still holds consistent data:
    /// no writer panics midway).
    pub fn read(&self) -> RwLockReadGuard<'_, store::Store> {
        let now = chrono::Utc::now();
        let store = self.store.read().unwrap_or_else(|e| e.into_inner());
        if !store.sweep_due(now) {
            return store;
        }
        // A deletion ended since the last request: its backup goes now, so
        // that no read sees it after its time.
        drop(store);
        drop(self.write());
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the store, swept of ended deletions.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, store::Store> {
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        store.sweep(chrono::Utc::now());
        store
    }
}

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()>,
) {
    let service = front::Front::new(routes::router(state.clone()), state);
    server::run(listener, service, shutdown).await;
}

/// A simulator running in this process on a loopback port.
#[derive(Debug)]
pub struct Embedded {
    /// Where it listens (its first region, with several).
    pub addr: SocketAddr,
    /// Its state (counters, faults).
    pub state: Arc<SimState>,
    /// Every region it serves, the first included; empty with one region.
    pub regions: Vec<RegionServer>,
}

/// Starts a simulator on `127.0.0.1:0` in the background; it runs until the
/// runtime stops.
pub async fn spawn(settings: &SimulatorSettings) -> std::io::Result<Embedded> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(SimState::new(settings));
    tokio::spawn(serve(listener, state.clone(), std::future::pending()));
    let regions = serve_more_regions(settings, addr, state.clone()).await;
    Ok(Embedded {
        addr,
        state,
        regions,
    })
}

/// One region the simulator serves.
#[derive(Debug, Clone)]
pub struct RegionServer {
    /// Its name.
    pub name: String,
    /// Where it listens: the first region's port on its own loopback address.
    pub addr: SocketAddr,
    /// Its state.
    pub state: Arc<SimState>,
}

/// Serves `settings.regions` after the first on 127.0.0.2, 127.0.0.3, … at
/// `first`'s port, each with its own data, and lists them all (the first
/// included). A region whose address cannot be bound (not every system
/// routes all of 127/8 to loopback) is left out, with a warning. Every
/// region is also reachable at any of the addresses by a `Host` naming it
/// (see [`SimState::siblings`]).
pub async fn serve_more_regions(
    settings: &SimulatorSettings,
    first: SocketAddr,
    first_state: Arc<SimState>,
) -> Vec<RegionServer> {
    let mut out = Vec::new();
    let Some(name) = settings.regions.first() else {
        return out;
    };
    out.push(RegionServer {
        name: name.clone(),
        addr: first,
        state: first_state,
    });
    for (i, name) in settings.regions.iter().enumerate().skip(1) {
        let Ok(octet) = u8::try_from(i + 1) else {
            break;
        };
        let addr = SocketAddr::from(([127, 0, 0, octet], first.port()));
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                let state = Arc::new(SimState::in_region(settings, i));
                tokio::spawn(serve(listener, state.clone(), std::future::pending()));
                out.push(RegionServer {
                    name: name.clone(),
                    addr,
                    state,
                });
            }
            Err(e) => {
                tracing::warn!(region = %name, %addr, error = %e, "cannot serve this simulated region");
            }
        }
    }
    for region in &out {
        let others = out
            .iter()
            .filter(|o| !Arc::ptr_eq(&o.state, &region.state))
            .map(|o| (o.name.clone(), Arc::downgrade(&o.state)))
            .collect();
        let _ = region.state.siblings.set(others);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Args,
    }

    #[test]
    fn debug_never_shows_secrets() {
        let cli = Cli::try_parse_from([
            "sim",
            "--sim-credentials",
            "AK1:sentinel-sk-1,AK2:sentinel-sk-2:sentinel-sts-2",
            "--sim-tokens",
            "sentinel-token-1,sentinel-token-2",
            "--sim-iam-users",
            "acme:alice:sentinel-password",
        ])
        .unwrap();
        assert_eq!(cli.settings.credentials.len(), 2);
        assert_eq!(cli.settings.tokens.len(), 2);
        assert_eq!(cli.settings.iam_users.len(), 1);
        let state = SimState::new(&cli.settings.settings());
        for shown in [
            format!("{cli:?}"),
            format!("{:#?}", cli.settings),
            format!("{:#?}", cli.settings.settings()),
            format!("{state:?}"),
        ] {
            assert!(!shown.contains("sentinel"), "{shown}");
            // What is not secret still shows.
            assert!(shown.contains("AK1") && shown.contains("alice"), "{shown}");
        }
        assert!(format!("{:?}", cli.settings).contains("[<2 redacted>]"));
    }
}
