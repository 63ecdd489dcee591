//! Opening the watch, and re-opening it when the gateway cut it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tonic::{Code, Status, Streaming};

use super::WatchTarget;
use crate::{
    cli::{CliError, connect::Connection},
    proto as pb,
};

/// Stream failures worth re-opening the watch for: the gateway went away
/// (restart, drain) rather than refusing the request. Watches carry no
/// deadline and are never cancelled by us, so CANCELLED here is hyper giving up
/// a request on a connection that closed under it.
pub(crate) fn reconnectable(status: &Status) -> bool {
    use crate::upstream::FailureClass;
    // Transient by the gateway's own classification, or the connection to
    // the gateway broke (tonic reports that as UNKNOWN, hyper as CANCELLED).
    FailureClass::of_code(status.code()) == FailureClass::Transient
        || matches!(status.code(), Code::Unknown | Code::Cancelled)
}

pub(super) async fn subscribe(
    conn: &Connection,
    target: &WatchTarget,
) -> Result<Streaming<pb::WatchCheckpointResponse>, Status> {
    let request = pb::WatchCheckpointRequest {
        project_id: conn.project_id.clone(),
        checkpoint_id: target.id.clone(),
        include_backups: target.include_backups,
        region: String::new(),
    };
    Ok(conn
        .checkpoints()
        .watch_checkpoint(conn.streaming(request))
        .await?
        .into_inner())
}

/// Re-opens the watch after the gateway cut it, with backoff (about 30 s in
/// all); any other refusal ends the command.
pub(super) async fn resubscribe(
    conn: &Connection,
    target: &WatchTarget,
) -> Result<Streaming<pb::WatchCheckpointResponse>, CliError> {
    reopen(|| subscribe(conn, target)).await
}

/// Calls `open` until it succeeds while the gateway is away (restarting,
/// draining: a [`reconnectable`] failure), with backoff of about 30 s in all;
/// any other refusal, or the gateway still away after that, ends the command.
/// Shared by every live view so that they all ride out a restart alike.
pub(crate) async fn reopen<T, F, Fut>(mut open: F) -> Result<T, CliError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
{
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(8))
        .with_max_times(6)
        .with_jitter()
        .build();
    loop {
        match open().await {
            Ok(opened) => return Ok(opened),
            Err(status) if reconnectable(&status) => match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(CliError::call(status)),
            },
            Err(status) => return Err(CliError::call(status)),
        }
    }
}
