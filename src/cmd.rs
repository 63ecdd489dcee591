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
    /// List the regions the gateway knows and their CBR, CSBS and IAM
    /// endpoints as this configuration resolves them (HUAWEICLOUD_SDK_REGION,
    /// CBR_ENDPOINT and the other endpoint settings,
    /// HUAWEICLOUD_SDK_REGION_{CBR,CSBS,IAM}_<REGION_ID>, the regions file,
    /// Huawei's SDKs' table). The default region is marked `*`.
    Regions(RegionsArgs),
    /// Client commands: talk to a running gateway.
    #[command(flatten)]
    Client(ClientCommand),
}

/// Settings of `cbr-gateway regions`: the gateway's own region settings.
#[derive(Debug, Clone, Args)]
pub struct RegionsArgs {
    /// The default region and the regions file.
    #[command(flatten)]
    pub regions: crate::config::RegionArgs,
    /// As the gateway's `--cbr-endpoint`.
    #[arg(long, env = "CBR_ENDPOINT")]
    pub cbr_endpoint: Option<url::Url>,
    /// As the gateway's `--csbs-endpoint`.
    #[arg(long, env = "CSBS_ENDPOINT")]
    pub csbs_endpoint: Option<url::Url>,
    /// As the gateway's `--iam-endpoint`.
    #[arg(long, env = "IAM_ENDPOINT")]
    pub iam_endpoint: Option<url::Url>,
    /// `text` (a table) or `json` (one object per region, one per line).
    #[arg(long, short = 'o', value_enum, default_value_t = crate::cli::OutputFormat::Text)]
    pub output: crate::cli::OutputFormat,
}

impl RegionsArgs {
    /// Prints the table; exit 0, or 2 when the settings do not resolve.
    pub fn run(&self) -> std::process::ExitCode {
        use std::io::Write as _;
        let table = match self.regions.table(
            self.cbr_endpoint.as_ref(),
            self.csbs_endpoint.as_ref(),
            self.iam_endpoint.as_ref(),
        ) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        let default = table.default_region();
        let mut out = std::io::stdout().lock();
        let mut rows = Vec::new();
        for (id, e) in table.iter() {
            let sources = [&e.cbr, &e.csbs, &e.iam].map(|x| x.source.name());
            if self.output == crate::cli::OutputFormat::Json {
                let line = serde_json::json!({
                    "region": id,
                    "default": Some(id) == default,
                    "cbr": e.cbr.url.as_str(),
                    "csbs": e.csbs.url.as_str(),
                    "iam": e.iam.url.as_str(),
                    "sources": {"cbr": sources[0], "csbs": sources[1], "iam": sources[2]},
                });
                rows.push(line.to_string());
            } else {
                let mark = if Some(id) == default { "*" } else { " " };
                // One source word when all three agree, else each.
                let from = if sources.iter().all(|s| *s == sources[0]) {
                    sources[0].to_owned()
                } else {
                    sources.join(",")
                };
                rows.push(format!(
                    "{mark} {id:<18} {:<46} {:<46} {:<46} {from}",
                    e.cbr.url.as_str(),
                    e.csbs.url.as_str(),
                    e.iam.url.as_str()
                ));
            }
        }
        if self.output == crate::cli::OutputFormat::Text {
            rows.insert(
                0,
                format!(
                    "  {:<18} {:<46} {:<46} {:<46} FROM",
                    "REGION", "CBR", "CSBS", "IAM"
                ),
            );
        }
        for row in rows {
            if writeln!(out, "{}", row.trim_end()).is_err() {
                break;
            }
        }
        if default.is_none() && self.output == crate::cli::OutputFormat::Text {
            eprintln!(
                "no default region: with neither HUAWEICLOUD_SDK_REGION nor CBR_ENDPOINT set, the gateway serves from its built-in simulator"
            );
        }
        std::process::ExitCode::SUCCESS
    }
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
