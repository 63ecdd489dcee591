//! gRPC services: thin adapters from tonic to validation, upstream and conversion.
//!
//! Every unary RPC goes through [`unary`], which reads the call's credentials
//! (`x-auth-token`) and deadline (set by [`crate::deadline`]), runs the handler, maps a failure to a status
//! in the one place that does it ([`crate::error`]), attaches upstream's request id
//! as `x-request-id`, and writes one log line per RPC.

pub mod backup;
pub mod checkpoint;
pub mod checkpoint_item;

use std::future::Future;

use tokio::time::Instant;
use tonic::{
    Request, Response, Status,
    metadata::{MetadataMap, MetadataValue},
};

use crate::{
    deadline::Deadline,
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
    /// When the caller stops waiting (from `grpc-timeout`, via [`Deadline`]).
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
    let deadline = request.extensions().get::<Deadline>().map(|d| d.0);
    let outcome = match call_context(request.metadata(), deadline) {
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

/// Reads the caller's credentials from metadata.
fn call_context(md: &MetadataMap, deadline: Option<Instant>) -> Result<Call, Status> {
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
    Ok(Call { auth, deadline })
}
