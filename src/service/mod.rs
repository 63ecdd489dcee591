//! gRPC services: thin adapters from tonic to validation, upstream and conversion.
//!
//! Every unary RPC goes through [`unary`], which reads the call's metadata
//! (`x-auth-token`, `grpc-timeout`), runs the handler, maps a failure to a status
//! in the one place that does it ([`crate::error`]), attaches upstream's request id
//! as `x-request-id`, and writes one log line per RPC.

pub mod backup;
pub mod checkpoint;
pub mod checkpoint_item;

use std::{future::Future, time::Duration};

use tokio::time::Instant;
use tonic::{
    Request, Response, Status,
    metadata::{MetadataMap, MetadataValue},
};

use crate::{
    error::GatewayError,
    upstream::{Auth, AuthToken, Reply, UpstreamClient},
};

/// State every service shares.
#[derive(Debug)]
pub struct Shared {
    /// The upstream client.
    pub upstream: UpstreamClient,
    /// Project used when a request leaves `project_id` empty.
    pub default_project: Option<String>,
}

/// What the gateway knows about one call before it runs.
#[derive(Debug, Clone)]
pub struct Call {
    /// Credentials for the upstream request.
    pub auth: Auth,
    /// When the caller stops waiting (from `grpc-timeout`).
    pub deadline: Option<Instant>,
}

/// Runs one unary RPC: context, handler, error mapping, metadata, log line.
pub async fn unary<Req, Resp, Fut>(
    method: &'static str,
    request: Request<Req>,
    handler: impl FnOnce(Call, Req) -> Fut,
) -> Result<Response<Resp>, Status>
where
    Fut: Future<Output = Result<Reply<Resp>, GatewayError>>,
{
    let started = Instant::now();
    let outcome = match call_context(request.metadata(), started) {
        Ok(call) => handler(call, request.into_inner()).await,
        Err(status) => {
            log_rpc(method, &status, started, None);
            return Err(status);
        }
    };
    match outcome {
        Ok(reply) => {
            let mut response = Response::new(reply.value);
            if let Some(id) = reply.request_id.as_deref()
                && let Ok(value) = MetadataValue::try_from(id)
            {
                response.metadata_mut().insert("x-request-id", value);
            }
            log_rpc(
                method,
                &Status::ok(""),
                started,
                reply.request_id.as_deref(),
            );
            Ok(response)
        }
        Err(err) => {
            let status = err.to_status();
            log_rpc(method, &status, started, err.upstream_request_id());
            Err(status)
        }
    }
}

fn log_rpc(method: &str, status: &Status, started: Instant, upstream_request_id: Option<&str>) {
    let latency_us = started.elapsed().as_micros() as u64;
    let code = status.code();
    let upstream_request_id = upstream_request_id.unwrap_or("");
    if matches!(
        code,
        tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::DataLoss
    ) {
        tracing::warn!(rpc = method, code = ?code, latency_us, upstream_request_id, message = status.message(), "rpc");
    } else {
        tracing::info!(rpc = method, code = ?code, latency_us, upstream_request_id, "rpc");
    }
}

/// Reads credentials and the deadline from the call's metadata.
fn call_context(md: &MetadataMap, now: Instant) -> Result<Call, Status> {
    let auth = match md.get("x-auth-token") {
        None => Auth::Anonymous,
        Some(v) => {
            let parsed = v
                .to_str()
                .map_err(|_| "must be visible ASCII")
                .and_then(AuthToken::parse);
            match parsed {
                Ok(token) => Auth::Token(token),
                Err(why) => {
                    return Err(Status::unauthenticated(format!(
                        "x-auth-token metadata {why}"
                    )));
                }
            }
        }
    };
    let deadline = match md.get("grpc-timeout") {
        None => None,
        Some(v) => {
            let timeout = v
                .to_str()
                .ok()
                .and_then(parse_grpc_timeout)
                .ok_or_else(|| Status::invalid_argument("grpc-timeout metadata is malformed"))?;
            Some(now + timeout)
        }
    };
    Ok(Call { auth, deadline })
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (`H M S m u n`).
pub fn parse_grpc_timeout(raw: &str) -> Option<Duration> {
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
