//! `cbr.gateway.v1.BackupService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    proto::{
        GetBackupRequest, GetBackupResponse, ListBackupsRequest, ListBackupsResponse,
        StreamBackupsRequest, StreamBackupsResponse, backup_service_server::BackupService,
    },
    rpcs,
    watch::BoxStream,
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

    type StreamBackupsStream = BoxStream<StreamBackupsResponse>;

    async fn stream_backups(
        &self,
        request: Request<StreamBackupsRequest>,
    ) -> Result<Response<Self::StreamBackupsStream>, Status> {
        let default_project = self.shared.default_project.clone();
        self.shared.walk(&rpcs::STREAM_BACKUPS, request, |req| {
            domain::check_stream_backups(req, default_project.as_deref())
        })
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
