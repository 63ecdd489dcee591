//! `cbr-gateway`: parse the command line, start logging, run the gateway (with
//! the built-in simulator when no cloud is configured), the simulator alone, or
//! a client command, and map errors to an exit code (2 for configuration, 1 for
//! run-time failures; client commands have their own, see [`cbr_gateway::cli`]).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use cbr_gateway::{
    cmd::{Cli, Command, SimulatorArgs},
    config::Config,
    serve, telemetry,
    transport::drain as shutdown,
};
use cbr_simulator as simulator;
use clap::Parser;

fn main() -> ExitCode {
    // clap prints usage errors and exits with code 2 by itself.
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // The gateway's own choice (`--worker-threads`); the simulator and the
    // client commands keep tokio's default.
    if cli.command.is_none() {
        builder.worker_threads(cli.gateway.runtime_workers());
    }
    let runtime = builder.enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Simulator(args)) => run_simulator(args).await,
        Some(Command::Regions(args)) => args.run(),
        Some(Command::Client(command)) => cbr_gateway::cli::run(command).await,
        None => run_gateway(cli.gateway).await,
    }
}

async fn run_gateway(mut config: Config) -> ExitCode {
    let telemetry = match telemetry::init(
        config.log_format,
        &config.log_level,
        config.otlp_endpoint.as_ref(),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| config.listen.to_string(), |a| a.to_string());
    let regions = match config.apply_region() {
        Ok(table) => table,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if config.cbr_endpoint.is_none() {
        // No cloud configured: serve from the built-in simulator, over HTTP on
        // loopback, exactly as the gateway talks to the cloud. Unless told
        // otherwise, the gateway signs with a fresh key pair that the simulator
        // verifies, so the default setup exercises real request signing.
        let mut settings = config.simulator.settings();
        // Two regions by default, so that a region can be named at once.
        if settings.regions.is_empty() {
            settings.regions = vec!["ap-southeast-1".into(), "ap-southeast-3".into()];
        }
        if !config.credentials.any_configured() {
            let pair = simulator::auth::KeyPair {
                access_key: "CBRGATEWAYSIMULATOR".into(),
                secret_key: uuid::Uuid::new_v4().simple().to_string(),
                security_token: None,
            };
            config.credentials.ak = Some(pair.access_key.clone());
            config.credentials.sk =
                Some(pair.secret_key.parse().unwrap_or_else(|_| unreachable!()));
            settings.credentials.push(pair);
        }
        let sim = match simulator::spawn(&settings).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("error: cannot start the built-in simulator: {e}");
                return ExitCode::from(1);
            }
        };
        let url = format!("http://{}", sim.addr);
        // Whatever key the gateway holds now opens only the simulator.
        config.builtin_simulator = true;
        config.cbr_endpoint = url.parse().ok();
        config.csbs_endpoint = url.parse().ok();
        if let Err(e) = config.simulated_regions(&sim.regions) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        let project = config
            .project_id
            .get_or_insert_with(|| simulator::seed::PROJECT.to_owned());
        tracing::info!(
            listen = %addr,
            simulator = %url,
            default_project = %project,
            regions = %sim.regions.iter().map(|r| format!("{}={}", r.name, r.addr)).collect::<Vec<_>>().join(","),
            fleet_size = config.simulator.fleet_size,
            "cbr-gateway serving gRPC from the built-in CBR simulator (no CBR_ENDPOINT set)"
        );
    } else {
        let cbr = config.cbr_endpoint.clone();
        let csbs = config.effective_csbs_endpoint();
        tracing::info!(
            listen = %addr,
            region = regions.default_region().unwrap_or(""),
            cbr_endpoint = %cbr.as_ref().map_or_else(String::new, |u| u.to_string()),
            csbs_endpoint = %csbs.as_ref().map_or_else(|| "(none)".to_owned(), |u| u.to_string()),
            "cbr-gateway serving gRPC"
        );
        for url in [cbr, csbs].into_iter().flatten() {
            let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || url.host_str() == Some("localhost");
            if url.scheme() == "http" && !loopback {
                tracing::warn!(endpoint = %url, "upstream endpoint is plaintext HTTP: tokens would cross the network unencrypted");
            }
        }
    }
    // A second signal skips the delay and the drain: the operator means it.
    let signal = async {
        shutdown::signal().await;
        tokio::spawn(async {
            shutdown::signal().await;
            tracing::warn!("second signal: exiting without draining");
            std::process::exit(130);
        });
    };
    let settings = match config.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            tracing::error!(error = %e, "cbr-gateway stopped");
            return ExitCode::from(2);
        }
    };
    let code = match serve(listener, settings, signal).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            tracing::error!(error = %e, "cbr-gateway stopped");
            ExitCode::from(e.exit_code())
        }
    };
    telemetry.shutdown();
    code
}

async fn run_simulator(args: SimulatorArgs) -> ExitCode {
    let _ = telemetry::init(args.log_format, &args.log_level, None);
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| args.listen.to_string(), |a| a.to_string());
    let settings = args.settings.settings();
    let state = std::sync::Arc::new(simulator::SimState::new(&settings));
    let regions = match listener.local_addr() {
        Ok(first) => simulator::serve_more_regions(&settings, first, state.clone()).await,
        Err(_) => Vec::new(),
    };
    tracing::info!(
        listen = %addr,
        project = simulator::seed::PROJECT,
        fleet_size = settings.fleet_size,
        auth = state.credentials.enabled(),
        regions = %regions.iter().map(|r| format!("{}={}", r.name, r.addr)).collect::<Vec<_>>().join(","),
        "CBR simulator serving the CBR v3 and CSBS v1 REST APIs"
    );
    simulator::serve(listener, state, shutdown::signal()).await;
    ExitCode::SUCCESS
}
