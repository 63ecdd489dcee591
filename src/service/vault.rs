//! `cbr.gateway.v1.VaultService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    proto::{
        GetVaultRequest, GetVaultResponse, ListVaultsRequest, ListVaultsResponse,
        StreamVaultsRequest, StreamVaultsResponse, vault_service_server::VaultService,
    },
    rpcs,
    watch::BoxStream,
};

/// Serves ListVaults, StreamVaults and GetVault.
#[derive(Debug, Clone)]
pub(crate) struct VaultApi {
    shared: Arc<Shared>,
}

impl VaultApi {
    /// A service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl VaultService for VaultApi {
    async fn list_vaults(
        &self,
        request: Request<ListVaultsRequest>,
    ) -> Result<Response<ListVaultsResponse>, Status> {
        self.shared
            .unary(&rpcs::LIST_VAULTS, request, |call, req| async move {
                let (project_id, query) = domain::check_list_vaults(&req, call.default_project())?;
                call.authorize(&project_id)?;
                let reply = call
                    .upstream
                    .list_vaults(&call.auth, call.deadline, &project_id, &query)
                    .await?;
                Ok(reply.map(ListVaultsResponse::from))
            })
            .await
    }

    type StreamVaultsStream = BoxStream<StreamVaultsResponse>;

    async fn stream_vaults(
        &self,
        request: Request<StreamVaultsRequest>,
    ) -> Result<Response<Self::StreamVaultsStream>, Status> {
        self.shared
            .walk(&rpcs::STREAM_VAULTS, request, domain::check_stream_vaults)
            .await
    }

    async fn get_vault(
        &self,
        request: Request<GetVaultRequest>,
    ) -> Result<Response<GetVaultResponse>, Status> {
        self.shared
            .unary(&rpcs::GET_VAULT, request, |call, req| async move {
                let target = domain::check_get(
                    &req.project_id,
                    "vault_id",
                    &req.vault_id,
                    call.default_project(),
                )?;
                call.authorize(&target.project_id)?;
                let reply = call
                    .upstream
                    .get_vault(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|v| GetVaultResponse {
                    vault: Some(v.into()),
                }))
            })
            .await
    }
}
