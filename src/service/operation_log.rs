//! `cbr.gateway.v1.OperationLogService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    proto::{
        GetOperationLogRequest, GetOperationLogResponse, ListOperationLogsRequest,
        ListOperationLogsResponse, StreamOperationLogsRequest, StreamOperationLogsResponse,
        WatchOperationRequest, WatchOperationResponse,
        operation_log_service_server::OperationLogService,
    },
    rpcs,
    watch::{BoxStream, hub::watcher_stream, operation::OperationKey},
};

/// Serves ListOperationLogs, StreamOperationLogs, GetOperationLog and
/// WatchOperation.
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
                    let (project_id, query) =
                        domain::check_list_operation_logs(&req, call.default_project())?;
                    call.authorize(&project_id)?;
                    let reply = call
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
        self.shared
            .walk(
                &rpcs::STREAM_OPERATION_LOGS,
                request,
                domain::check_stream_operation_logs,
            )
            .await
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
                    call.default_project(),
                )?;
                call.authorize(&target.project_id)?;
                let reply = call
                    .upstream
                    .get_operation_log(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|v| GetOperationLogResponse {
                    operation_log: Some(v.into()),
                }))
            })
            .await
    }

    type WatchOperationStream = BoxStream<WatchOperationResponse>;

    async fn watch_operation(
        &self,
        request: Request<WatchOperationRequest>,
    ) -> Result<Response<Self::WatchOperationStream>, Status> {
        let shared = &self.shared;
        let rpc = &rpcs::WATCH_OPERATION;
        let call = shared.stream_context(rpc, &request).await?;
        let name = domain::check_operation_name("name", &request.get_ref().name)
            .map_err(crate::error::GatewayError::from)?;
        call.authorize_operation(&name)?;
        tracing::info!(rpc = rpc.method, caller = %call.admitted.caller.identity, operation = %name, "watch started");
        let key = OperationKey {
            region: call.region.clone(),
            name,
            identity: call.auth.identity(),
        };
        let rx = shared.operation_hub.subscribe(key, call.auth);
        let stream = watcher_stream::<OperationKey>(rx, shared.watch_heartbeat);
        Ok(Response::new(crate::watch::with_deadline(
            stream,
            call.deadline,
        )))
    }
}
