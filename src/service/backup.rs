//! `cbr.gateway.v1.BackupService`.

use std::{pin::Pin, sync::Arc};

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    error::GatewayError,
    proto::{
        GetBackupRequest, GetBackupResponse, ListBackupsRequest, ListBackupsResponse,
        StreamBackupsRequest, StreamBackupsResponse, backup_service_server::BackupService,
    },
    rpcs,
};

/// Serves ListBackups, StreamBackups and GetBackup.
#[derive(Debug, Clone)]
pub(crate) struct BackupApi {
    shared: Arc<Shared>,
}

impl BackupApi {
    /// A service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The server stream of StreamBackups.
pub(crate) type BackupStream =
    Pin<Box<dyn Stream<Item = Result<StreamBackupsResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl BackupService for BackupApi {
    async fn list_backups(
        &self,
        request: Request<ListBackupsRequest>,
    ) -> Result<Response<ListBackupsResponse>, Status> {
        self.shared
            .unary(&rpcs::LIST_BACKUPS, request, |call, req| async move {
                let (project_id, query) =
                    domain::check_list_backups(&req, self.shared.default_project.as_deref())?;
                call.authorize(&project_id)?;
                let reply = self
                    .shared
                    .upstream
                    .list_backups(&call.auth, call.deadline, &project_id, &query)
                    .await?;
                Ok(reply.map(|page| domain::list_backups(page, &query)))
            })
            .await
    }

    type StreamBackupsStream = BackupStream;

    async fn stream_backups(
        &self,
        request: Request<StreamBackupsRequest>,
    ) -> Result<Response<Self::StreamBackupsStream>, Status> {
        // Everything that can refuse the call happens before the stream starts,
        // so bad input fails the call itself rather than its first message.
        let started = tokio::time::Instant::now();
        let rpc = &rpcs::STREAM_BACKUPS;
        let mut trace = crate::trace::TraceContext::from_metadata(request.metadata());
        let refuse = |error: GatewayError, trace: &crate::trace::TraceContext| {
            let status = error.to_status();
            crate::trace::CURRENT.sync_scope(trace.clone(), || {
                crate::telemetry::log_rpc(
                    rpc.method,
                    &status,
                    started,
                    None,
                    Some(crate::telemetry::StreamCounts::default()),
                );
            });
            status
        };
        let call = match self.shared.stream_context(rpc, &request) {
            Ok(call) => call,
            Err(e) => return Err(refuse(e, &trace)),
        };
        trace.facts = Some(call.admitted.facts.clone());
        let (project_id, query) =
            domain::check_stream_backups(request.get_ref(), self.shared.default_project.as_deref())
                .map_err(|e| refuse(GatewayError::InvalidArgument(e), &trace))?;
        call.authorize(&project_id).map_err(|e| refuse(e, &trace))?;
        let pager = crate::watch::pager::BackupPager {
            upstream: self.shared.upstream.clone(),
            auth: call.auth,
            deadline: call.deadline,
            project_id,
            query,
        };
        // The call's one log line, once the walk is over.
        let ended = move |summary: crate::watch::pager::Summary| {
            let counts = crate::telemetry::StreamCounts {
                backups: summary.sent,
                pages: summary.pages,
            };
            crate::telemetry::log_rpc(
                rpc.method,
                &summary.status,
                started,
                summary.request_id.as_deref(),
                Some(counts),
            );
        };
        let span = super::rpc_span(rpc.method);
        trace.attach(&span);
        // The pager's tasks carry the trace context and the span to upstream.
        Ok(Response::new(span.in_scope(|| {
            crate::trace::CURRENT.sync_scope(trace, || pager.stream(ended))
        })))
    }

    async fn get_backup(
        &self,
        request: Request<GetBackupRequest>,
    ) -> Result<Response<GetBackupResponse>, Status> {
        self.shared
            .unary(&rpcs::GET_BACKUP, request, |call, req| async move {
                let target = domain::check_get(
                    &req.project_id,
                    "backup_id",
                    &req.backup_id,
                    self.shared.default_project.as_deref(),
                )?;
                call.authorize(&target.project_id)?;
                let reply = self
                    .shared
                    .upstream
                    .get_backup(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|b| GetBackupResponse {
                    backup: Some(b.into()),
                }))
            })
            .await
    }
}
