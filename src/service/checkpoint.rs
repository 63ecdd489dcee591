//! `cbr.gateway.v1.CheckpointService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    error::GatewayError,
    idempotency::Fingerprint,
    proto::{
        CreateCheckpointRequest, CreateCheckpointResponse, GetCheckpointRequest,
        GetCheckpointResponse, WatchCheckpointRequest, WatchCheckpointResponse,
        checkpoint_service_server::CheckpointService,
    },
    rpcs,
    watch::{checkpoint::WatchKey, hub::watcher_stream},
};

/// Serves CreateCheckpoint, GetCheckpoint and WatchCheckpoint.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointApi {
    shared: Arc<Shared>,
}

impl CheckpointApi {
    /// A service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The server stream of WatchCheckpoint.
pub(crate) type WatchStream = crate::watch::BoxStream<WatchCheckpointResponse>;

#[tonic::async_trait]
impl CheckpointService for CheckpointApi {
    async fn create_checkpoint(
        &self,
        request: Request<CreateCheckpointRequest>,
    ) -> Result<Response<CreateCheckpointResponse>, Status> {
        self.shared
            .unary(&rpcs::CREATE_CHECKPOINT, request, |call, req| async move {
                let input = domain::check_create_checkpoint(req, call.default_project())?;
                call.authorize(&input.project_id)?;
                let body = (&input).into();
                let request_id = input
                    .request_id
                    .map(|id| (id, Fingerprint::of_create(&input.project_id, &body)));
                let upstream = call.upstream.clone();
                let auth = call.auth.clone();
                let project = input.project_id.clone();
                let start = |deadline| async move {
                    let reply = upstream
                        .create_checkpoint(&auth, deadline, &project, &body)
                        .await?;
                    Ok(reply.map(|c| CreateCheckpointResponse {
                        checkpoint: Some(c.into()),
                    }))
                };
                self.shared
                    .once(&call, &input.project_id, request_id, start)
                    .await
            })
            .await
    }

    async fn get_checkpoint(
        &self,
        request: Request<GetCheckpointRequest>,
    ) -> Result<Response<GetCheckpointResponse>, Status> {
        self.shared
            .unary(&rpcs::GET_CHECKPOINT, request, |call, req| async move {
                let target = domain::check_get(
                    &req.project_id,
                    "checkpoint_id",
                    &req.checkpoint_id,
                    call.default_project(),
                )?;
                call.authorize(&target.project_id)?;
                let reply = call
                    .upstream
                    .get_checkpoint(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|c| GetCheckpointResponse {
                    checkpoint: Some(c.into()),
                }))
            })
            .await
    }

    type WatchCheckpointStream = WatchStream;

    async fn watch_checkpoint(
        &self,
        request: Request<WatchCheckpointRequest>,
    ) -> Result<Response<Self::WatchCheckpointStream>, Status> {
        let shared = &self.shared;
        let rpc = &rpcs::WATCH_CHECKPOINT;
        let call = shared
            .stream_context(rpc, &request)
            .await
            .map_err(|e| e.to_status())?;
        let req = request.get_ref();
        let target = domain::check_get(
            &req.project_id,
            "checkpoint_id",
            &req.checkpoint_id,
            call.default_project(),
        )
        .map_err(|e| GatewayError::from(e).to_status())?;
        call.authorize(&target.project_id)
            .map_err(|e| e.to_status())?;
        let key = WatchKey {
            region: call.region.clone(),
            identity: call.auth.identity(),
            project_id: target.project_id,
            checkpoint_id: target.id,
            include_backups: req.include_backups,
        };
        tracing::info!(rpc = rpc.method, caller = %call.admitted.caller.identity, checkpoint = %key.checkpoint_id, include_backups = key.include_backups, "watch started");
        let rx = shared.watch_hub.subscribe(key, call.auth);
        let stream = watcher_stream::<WatchKey>(rx, shared.watch_heartbeat);
        Ok(Response::new(crate::watch::with_deadline(
            stream,
            call.deadline,
        )))
    }
}
