//! `cbr.gateway.v1.PolicyService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    proto::{
        GetPolicyRequest, GetPolicyResponse, ListPoliciesRequest, ListPoliciesResponse,
        policy_service_server::PolicyService,
    },
    rpcs,
};

/// Serves ListPolicies and GetPolicy.
#[derive(Debug, Clone)]
pub(crate) struct PolicyApi {
    shared: Arc<Shared>,
}

impl PolicyApi {
    /// A service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn list_policies(
        &self,
        request: Request<ListPoliciesRequest>,
    ) -> Result<Response<ListPoliciesResponse>, Status> {
        self.shared
            .unary(&rpcs::LIST_POLICIES, request, |call, req| async move {
                let (project_id, query) =
                    domain::check_list_policies(&req, call.default_project())?;
                call.authorize(&project_id)?;
                let reply = call
                    .upstream
                    .list_policies(&call.auth, call.deadline, &project_id, &query)
                    .await?;
                Ok(reply.map(ListPoliciesResponse::from))
            })
            .await
    }

    async fn get_policy(
        &self,
        request: Request<GetPolicyRequest>,
    ) -> Result<Response<GetPolicyResponse>, Status> {
        self.shared
            .unary(&rpcs::GET_POLICY, request, |call, req| async move {
                let target = domain::check_get(
                    &req.project_id,
                    "policy_id",
                    &req.policy_id,
                    call.default_project(),
                )?;
                call.authorize(&target.project_id)?;
                let reply = call
                    .upstream
                    .get_policy(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|v| GetPolicyResponse {
                    policy: Some(v.into()),
                }))
            })
            .await
    }
}
