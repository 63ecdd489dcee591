//! Configuration: one clap struct, every setting a flag and an environment variable.
//!
//! Values are checked while parsing (clap value parsers), so a bad setting stops the
//! process before it binds anything, with clap's message and exit code 2.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::{simulator::SimulatorSettings, validate};

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
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the built-in CBR/CSBS simulator alone, for any CBR client (Huawei's SDKs included).
    Simulator(SimulatorArgs),
}

/// Settings of `cbr-gateway simulator`.
#[derive(Debug, Clone, Args)]
pub struct SimulatorArgs {
    /// Address the simulator's REST API listens on.
    #[arg(long, env = "SIMULATOR_LISTEN", default_value = "127.0.0.1:8930")]
    pub listen: SocketAddr,
    /// Simulator behaviour.
    #[command(flatten)]
    pub settings: SimulatorSettings,
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = parse_filter)]
    pub log_level: String,
}

/// Command-line and environment configuration of the gateway.
#[derive(Debug, Clone, Parser)]
#[command(name = "cbr-gateway", version, about, long_about = None)]
pub struct Config {
    /// Address the gRPC server listens on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,

    /// Base URL of CBR v3, e.g. `https://cbr.cn-north-4.myhuaweicloud.com`.
    /// Unset: the gateway serves from its built-in simulator.
    #[arg(long, env = "CBR_ENDPOINT", value_parser = parse_endpoint)]
    pub cbr_endpoint: Option<Url>,

    /// Base URL of CSBS v1, e.g. `https://csbs.cn-north-4.myhuaweicloud.com`.
    /// Defaults to the CBR endpoint with its leading `cbr.` host label replaced by `csbs.`.
    #[arg(long, env = "CSBS_ENDPOINT", value_parser = parse_endpoint)]
    pub csbs_endpoint: Option<Url>,

    /// Project used when a request leaves `project_id` empty.
    #[arg(long, env = "HUAWEICLOUD_SDK_PROJECT_ID", value_parser = parse_project_id)]
    pub project_id: Option<String>,

    /// Time allowed to open a TCP/TLS connection to upstream (e.g. `5s`, `500ms`).
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub upstream_connect_timeout: Duration,

    /// Time allowed for one upstream request, from sending it to reading the whole
    /// body. The caller's gRPC deadline shortens it further.
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Largest upstream response body accepted, in bytes.
    #[arg(long, env = "UPSTREAM_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub upstream_max_body_bytes: u64,

    /// Idle keep-alive connections kept per upstream host.
    #[arg(long, env = "UPSTREAM_POOL_MAX_IDLE", default_value_t = 64)]
    pub upstream_pool_max_idle: usize,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info` or `cbr_gateway=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = parse_filter)]
    pub log_level: String,

    /// The built-in simulator, used when no CBR endpoint is set.
    #[command(flatten)]
    pub simulator: SimulatorSettings,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// The CSBS endpoint: the configured one, else derived from the CBR endpoint.
    pub fn effective_csbs_endpoint(&self) -> Option<Url> {
        if let Some(url) = &self.csbs_endpoint {
            return Some(url.clone());
        }
        let cbr = self.cbr_endpoint.as_ref()?;
        let host = cbr.host_str()?;
        let rest = host.strip_prefix("cbr.")?;
        let mut csbs = cbr.clone();
        csbs.set_host(Some(&format!("csbs.{rest}"))).ok()?;
        Some(csbs)
    }
}

/// Accepts an absolute `http`/`https` URL with a host and nothing after the path.
fn parse_endpoint(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("scheme must be http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("URL must not have a query or fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URL must not carry credentials".into());
    }
    Ok(url)
}

fn parse_project_id(raw: &str) -> Result<String, String> {
    if validate::is_valid_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(validate::ID_RULE.into())
    }
}

fn parse_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut argv = vec!["cbr-gateway"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv)
    }

    #[test]
    fn defaults_listen_on_50051() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:50051");
        assert_eq!(c.upstream_timeout, Duration::from_secs(30));
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn csbs_endpoint_is_derived_from_cbr() {
        let c = parse(&["--cbr-endpoint", "https://cbr.cn-north-4.myhuaweicloud.com"]).unwrap();
        assert_eq!(
            c.effective_csbs_endpoint().unwrap().as_str(),
            "https://csbs.cn-north-4.myhuaweicloud.com/"
        );
        let c = parse(&["--cbr-endpoint", "http://127.0.0.1:9000"]).unwrap();
        assert!(c.effective_csbs_endpoint().is_none());
    }

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
        assert_eq!(args.settings.faults.len(), 2);
        assert!(!format!("{args:?}").contains("SK1"), "secrets are redacted");
        assert!(
            Cli::try_parse_from(["cbr-gateway"])
                .unwrap()
                .command
                .is_none()
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--cbr-endpoint", "ftp://x"][..],
            &["--cbr-endpoint", "https://x/?a=b"],
            &["--cbr-endpoint", "https://user:pw@x"],
            &["--upstream-timeout", "soon"],
            &["--upstream-timeout", "0s"],
            &["--listen", "nowhere"],
            &["--log-format", "xml"],
            &["--project-id", "../etc"],
            &["--log-level", "info,[[["],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
