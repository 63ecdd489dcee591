//! `cbr.gateway.v1.CheckpointItemService` (CSBS v1).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    proto::{
        GetCheckpointItemRequest, GetCheckpointItemResponse,
        checkpoint_item_service_server::CheckpointItemService,
    },
    rpcs,
};

/// Serves GetCheckpointItem.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointItemApi {
    shared: Arc<Shared>,
}

impl CheckpointItemApi {
    /// A service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl CheckpointItemService for CheckpointItemApi {
    async fn get_checkpoint_item(
        &self,
        request: Request<GetCheckpointItemRequest>,
    ) -> Result<Response<GetCheckpointItemResponse>, Status> {
        self.shared
            .unary(
                &rpcs::GET_CHECKPOINT_ITEM,
                request,
                |call, req| async move {
                    let target = domain::check_get(
                        &req.project_id,
                        "checkpoint_item_id",
                        &req.checkpoint_item_id,
                        call.default_project(),
                    )?;
                    call.authorize(&target.project_id)?;
                    let reply = call
                        .upstream
                        .get_checkpoint_item(
                            &call.auth,
                            call.deadline,
                            &target.project_id,
                            &target.id,
                        )
                        .await?;
                    Ok(reply.map(|i| GetCheckpointItemResponse {
                        checkpoint_item: Some(i.into()),
                    }))
                },
            )
            .await
    }
}
