//! The binary's command line: the gateway (no subcommand), the simulator
//! alone, or a client command. `main.rs` parses it and runs what it names.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::{
    cli::ClientCommand,
    config::{Config, parse_filter},
    telemetry::LogFormat,
};

/// The command line: the gateway by default, or one of the subcommands.
#[derive(Debug, Clone, Parser)]
#[command(name = "cbr-gateway", version, about, long_about = None,
          args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A subcommand; none runs the gateway.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Gateway settings.
    #[command(flatten)]
    pub gateway: Config,
}

/// Subcommands.
// Parsed once at start: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the built-in CBR/CSBS simulator alone, for any CBR client (Huawei's SDKs included).
    Simulator(SimulatorArgs),
    /// Client commands: talk to a running gateway.
    #[command(flatten)]
    Client(ClientCommand),
}

/// Settings of `cbr-gateway simulator`.
#[derive(Debug, Clone, Args)]
pub struct SimulatorArgs {
    /// Address the simulator's REST API listens on.
    #[arg(long, env = "SIMULATOR_LISTEN", default_value = "127.0.0.1:8930")]
    pub listen: SocketAddr,
    /// Simulator behaviour and the credentials it accepts.
    #[command(flatten)]
    pub settings: cbr_simulator::Args,
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = parse_filter)]
    pub log_level: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_is_a_subcommand() {
        let cli = Cli::try_parse_from([
            "cbr-gateway",
            "simulator",
            "--listen",
            "127.0.0.1:9000",
            "--sim-credentials",
            "AK1:SK1,AK2:SK2",
            "--sim-fault",
            "route=get_backup,error_rate=0.5;route=list_backups,latency=10ms",
        ])
        .unwrap();
        let Some(Command::Simulator(args)) = cli.command else {
            panic!("expected the simulator subcommand");
        };
        assert_eq!(args.listen.port(), 9000);
        assert_eq!(args.settings.credentials.len(), 2);
        assert_eq!(args.settings.behaviour.faults.len(), 2);
        assert!(!format!("{args:?}").contains("SK1"), "secrets are redacted");
        assert!(
            Cli::try_parse_from(["cbr-gateway"])
                .unwrap()
                .command
                .is_none()
        );
    }
}
