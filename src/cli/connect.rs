//! The client's channel to the gateway: plaintext or TLS (system roots or
//! `--ca-cert`, optional client certificate), the caller's IAM token as
//! `x-auth-token`, and a deadline on every unary call.

use std::{path::Path, time::Duration};

use tonic::{
    Request,
    metadata::{AsciiMetadataValue, MetadataValue},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

use super::{CliError, ClientOptions};
use crate::proto::{
    backup_service_client::BackupServiceClient,
    checkpoint_item_service_client::CheckpointItemServiceClient,
    checkpoint_service_client::CheckpointServiceClient,
};

/// Environment variable holding the caller's IAM token. Never a flag: command
/// lines are visible to every user of the machine (`ps`).
pub(crate) const TOKEN_ENV: &str = "CBR_AUTH_TOKEN";

/// How long connecting to the gateway may take before the command fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An open channel to the gateway and what every request carries.
#[derive(Clone)]
pub(crate) struct Connection {
    channel: Channel,
    /// `x-auth-token`, from [`TOKEN_ENV`].
    token: Option<AsciiMetadataValue>,
    /// `project_id` of every request; empty means the gateway's own.
    pub project_id: String,
    /// `x-cbr-region` of every request (`--region`); none: the gateway's
    /// default region.
    region: Option<AsciiMetadataValue>,
    /// Deadline of unary calls.
    timeout: Duration,
    /// The gateway, as given (for messages).
    pub gateway: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("gateway", &self.gateway)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to the gateway, failing fast (with the reason) when it cannot
    /// be reached, TLS fails, or the options contradict each other.
    pub(crate) async fn open(opts: &ClientOptions) -> Result<Self, CliError> {
        let token = match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => {
                Some(MetadataValue::try_from(t.trim()).map_err(|_| {
                    CliError::Usage(format!(
                        "{TOKEN_ENV} is not a valid token (it must be printable ASCII)"
                    ))
                })?)
            }
            _ => None,
        };
        let gateway = opts.gateway.to_string();
        let endpoint = Endpoint::from(opts.gateway.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // A watch can sit quiet for minutes behind load balancers that
            // drop idle connections; pings keep it open and notice a dead peer.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .user_agent(concat!("cbr-gateway-cli/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| CliError::Usage(format!("bad user agent: {e}")))?;
        let endpoint = match tls_config(opts)? {
            Some(tls) => endpoint
                .tls_config(tls)
                .map_err(|e| CliError::Usage(format!("TLS settings: {}", error_chain(&e))))?,
            None => endpoint,
        };
        let channel = endpoint.connect().await.map_err(|e| CliError::Connect {
            gateway: gateway.clone(),
            reason: error_chain(&e),
        })?;
        let region = match opts.region.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => Some(MetadataValue::try_from(r).map_err(|_| {
                CliError::Usage("--region must be printable ASCII, e.g. ap-southeast-1".into())
            })?),
            _ => None,
        };
        Ok(Self {
            channel,
            token,
            region,
            project_id: opts.project_id.clone(),
            timeout: opts.timeout,
            gateway,
        })
    }

    /// CheckpointService client.
    pub(crate) fn checkpoints(&self) -> CheckpointServiceClient<Channel> {
        CheckpointServiceClient::new(self.channel.clone())
    }

    /// BackupService client.
    pub(crate) fn backups(&self) -> BackupServiceClient<Channel> {
        BackupServiceClient::new(self.channel.clone())
    }

    /// CheckpointItemService client.
    pub(crate) fn checkpoint_items(&self) -> CheckpointItemServiceClient<Channel> {
        CheckpointItemServiceClient::new(self.channel.clone())
    }

    /// VaultService client.
    pub(crate) fn vaults(&self) -> crate::proto::vault_service_client::VaultServiceClient<Channel> {
        crate::proto::vault_service_client::VaultServiceClient::new(self.channel.clone())
    }

    /// PolicyService client.
    pub(crate) fn policies(
        &self,
    ) -> crate::proto::policy_service_client::PolicyServiceClient<Channel> {
        crate::proto::policy_service_client::PolicyServiceClient::new(self.channel.clone())
    }

    /// OperationLogService client.
    pub(crate) fn operation_logs(
        &self,
    ) -> crate::proto::operation_log_service_client::OperationLogServiceClient<Channel> {
        crate::proto::operation_log_service_client::OperationLogServiceClient::new(
            self.channel.clone(),
        )
    }

    /// google.longrunning.Operations client.
    pub(crate) fn operations(
        &self,
    ) -> crate::proto::google::longrunning::operations_client::OperationsClient<Channel> {
        crate::proto::google::longrunning::operations_client::OperationsClient::new(
            self.channel.clone(),
        )
    }

    /// A unary request: the token and the `--timeout` deadline.
    pub(crate) fn unary<T>(&self, message: T) -> Request<T> {
        let mut request = self.streaming(message);
        request.set_timeout(self.timeout);
        request
    }

    /// A streaming request: the token, no deadline (the stream ends by itself).
    pub(crate) fn streaming<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(token) = &self.token {
            request.metadata_mut().insert("x-auth-token", token.clone());
        }
        if let Some(region) = &self.region {
            request
                .metadata_mut()
                .insert("x-cbr-region", region.clone());
        }
        request
    }
}

/// TLS settings, when the address is `https://`; TLS options with a plaintext
/// address are a usage error rather than silently ignored.
fn tls_config(opts: &ClientOptions) -> Result<Option<ClientTlsConfig>, CliError> {
    let https = opts.gateway.scheme_str() == Some("https");
    let any_tls_option =
        opts.ca_cert.is_some() || opts.client_cert.is_some() || opts.tls_server_name.is_some();
    if !https {
        if any_tls_option {
            return Err(CliError::Usage(format!(
                "TLS options need an https:// gateway address, not {}",
                opts.gateway
            )));
        }
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new();
    tls = match &opts.ca_cert {
        Some(path) => tls.ca_certificate(Certificate::from_pem(read(path, "--ca-cert")?)),
        None => tls.with_native_roots(),
    };
    if let (Some(cert), Some(key)) = (&opts.client_cert, &opts.client_key) {
        tls = tls.identity(Identity::from_pem(
            read(cert, "--client-cert")?,
            read(key, "--client-key")?,
        ));
    }
    if let Some(name) = &opts.tls_server_name {
        tls = tls.domain_name(name.clone());
    }
    Ok(Some(tls))
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("{flag} {}: {e}", path.display())))
}

/// `--gateway`: an `http://` or `https://` address with a host.
pub(crate) fn parse_gateway(raw: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = raw
        .parse()
        .map_err(|e| format!("{e}: expected http://host:port or https://host:port"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => {}
        _ => return Err("expected http://host:port or https://host:port".into()),
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err("the address takes no path: expected http://host:port".into());
    }
    Ok(uri)
}

/// An error and its sources on one line, without repeats: transport errors
/// nest the useful part ("Connection refused") several levels down.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_addresses() {
        assert!(parse_gateway("http://127.0.0.1:50051").is_ok());
        assert!(parse_gateway("https://gw.example:443").is_ok());
        for bad in [
            "127.0.0.1:50051",
            "ftp://x:1",
            "http://",
            "http://h:1/path",
            "h t",
        ] {
            assert!(parse_gateway(bad).is_err(), "{bad}");
        }
    }
}
