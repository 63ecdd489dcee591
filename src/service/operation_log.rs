//! `cbr.gateway.v1.OperationLogService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    proto::{
        GetOperationLogRequest, GetOperationLogResponse, ListOperationLogsRequest,
        ListOperationLogsResponse, StreamOperationLogsRequest, StreamOperationLogsResponse,
        operation_log_service_server::OperationLogService,
    },
    rpcs,
    watch::BoxStream,
};

/// Serves ListOperationLogs, StreamOperationLogs and GetOperationLog.
#[derive(Debug, Clone)]
pub(crate) struct OperationLogApi {
    shared: Arc<Shared>,
}

impl OperationLogApi {
    /// A service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl OperationLogService for OperationLogApi {
    async fn list_operation_logs(
        &self,
        request: Request<ListOperationLogsRequest>,
    ) -> Result<Response<ListOperationLogsResponse>, Status> {
        self.shared
            .unary(
                &rpcs::LIST_OPERATION_LOGS,
                request,
                |call, req| async move {
                    let (project_id, query) = domain::check_list_operation_logs(
                        &req,
                        self.shared.default_project.as_deref(),
                    )?;
                    call.authorize(&project_id)?;
                    let reply = self
                        .shared
                        .upstream
                        .list_operation_logs(&call.auth, call.deadline, &project_id, &query)
                        .await?;
                    Ok(reply.map(ListOperationLogsResponse::from))
                },
            )
            .await
    }

    type StreamOperationLogsStream = BoxStream<StreamOperationLogsResponse>;

    async fn stream_operation_logs(
        &self,
        request: Request<StreamOperationLogsRequest>,
    ) -> Result<Response<Self::StreamOperationLogsStream>, Status> {
        let default_project = self.shared.default_project.clone();
        self.shared
            .walk(&rpcs::STREAM_OPERATION_LOGS, request, |req| {
                domain::check_stream_operation_logs(req, default_project.as_deref())
            })
    }

    async fn get_operation_log(
        &self,
        request: Request<GetOperationLogRequest>,
    ) -> Result<Response<GetOperationLogResponse>, Status> {
        self.shared
            .unary(&rpcs::GET_OPERATION_LOG, request, |call, req| async move {
                let target = domain::check_get(
                    &req.project_id,
                    "operation_log_id",
                    &req.operation_log_id,
                    self.shared.default_project.as_deref(),
                )?;
                call.authorize(&target.project_id)?;
                let reply = self
                    .shared
                    .upstream
                    .get_operation_log(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|v| GetOperationLogResponse {
                    operation_log: Some(v.into()),
                }))
            })
            .await
    }
}
