//! `cbr-gateway`: parse the configuration, start logging, serve, map errors to an
//! exit code (2 for configuration, 1 for run-time failures).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use cbr_gateway::{config::Config, serve, shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints usage errors and exits with code 2 by itself.
    let config = Config::parse();
    telemetry::init(config.log_format, &config.log_level);

    let Some(cbr) = config.cbr_endpoint.as_ref() else {
        eprintln!("error: no upstream configured: set CBR_ENDPOINT (or --cbr-endpoint)");
        return ExitCode::from(2);
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
    tracing::info!(
        listen = %addr,
        cbr_endpoint = %cbr,
        csbs_endpoint = %config.effective_csbs_endpoint().map_or_else(|| "(none)".to_owned(), |u| u.to_string()),
        "cbr-gateway serving gRPC"
    );
    for url in [Some(cbr.clone()), config.effective_csbs_endpoint()]
        .into_iter()
        .flatten()
    {
        let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost");
        if url.scheme() == "http" && !loopback {
            tracing::warn!(endpoint = %url, "upstream endpoint is plaintext HTTP: tokens would cross the network unencrypted");
        }
    }
    match serve(listener, config, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cbr-gateway stopped");
            ExitCode::from(1)
        }
    }
}
