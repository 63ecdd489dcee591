//! `cbr.gateway.v1.CheckpointService`.

use std::{pin::Pin, sync::Arc};

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    convert,
    proto::{
        CreateCheckpointRequest, CreateCheckpointResponse, GetCheckpointRequest,
        GetCheckpointResponse, WatchCheckpointRequest, WatchCheckpointResponse,
        checkpoint_service_server::CheckpointService,
    },
    validate,
};

/// Serves CreateCheckpoint, GetCheckpoint and WatchCheckpoint.
#[derive(Debug, Clone)]
pub struct CheckpointApi {
    shared: Arc<Shared>,
}

impl CheckpointApi {
    /// A service over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The server stream of WatchCheckpoint.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<WatchCheckpointResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl CheckpointService for CheckpointApi {
    async fn create_checkpoint(
        &self,
        request: Request<CreateCheckpointRequest>,
    ) -> Result<Response<CreateCheckpointResponse>, Status> {
        self.shared
            .unary("CreateCheckpoint", request, |call, req| async move {
                let input =
                    validate::check_create_checkpoint(req, self.shared.default_project.as_deref())?;
                self.shared.authorize(&input.project_id)?;
                let body = convert::create_checkpoint_body(&input);
                let reply = self
                    .shared
                    .upstream
                    .create_checkpoint(&call.auth, call.deadline, &input.project_id, &body)
                    .await?;
                Ok(reply.map(|c| CreateCheckpointResponse {
                    checkpoint: Some(convert::checkpoint(c)),
                }))
            })
            .await
    }

    async fn get_checkpoint(
        &self,
        request: Request<GetCheckpointRequest>,
    ) -> Result<Response<GetCheckpointResponse>, Status> {
        self.shared
            .unary("GetCheckpoint", request, |call, req| async move {
                let target = validate::check_get(
                    &req.project_id,
                    "checkpoint_id",
                    &req.checkpoint_id,
                    self.shared.default_project.as_deref(),
                )?;
                self.shared.authorize(&target.project_id)?;
                let reply = self
                    .shared
                    .upstream
                    .get_checkpoint(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|c| GetCheckpointResponse {
                    checkpoint: Some(convert::checkpoint(c)),
                }))
            })
            .await
    }

    type WatchCheckpointStream = WatchStream;

    async fn watch_checkpoint(
        &self,
        _request: Request<WatchCheckpointRequest>,
    ) -> Result<Response<Self::WatchCheckpointStream>, Status> {
        Err(Status::unimplemented(
            "WatchCheckpoint is not implemented yet",
        ))
    }
}
