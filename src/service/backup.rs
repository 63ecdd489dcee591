//! `cbr.gateway.v1.BackupService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    idempotency::Fingerprint,
    proto::{
        self as pb, DeleteBackupRequest, GetBackupRequest, GetBackupResponse, ListBackupsRequest,
        ListBackupsResponse, RestoreBackupRequest, StreamBackupsRequest, StreamBackupsResponse,
        backup_service_server::BackupService, google::longrunning::Operation,
    },
    rpcs,
    upstream::{Reply, UpstreamError},
    watch::{BoxStream, operation::OperationState},
};

/// Serves ListBackups, StreamBackups, GetBackup, RestoreBackup and
/// DeleteBackup.
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
                let (project_id, query) = domain::check_list_backups(&req, call.default_project())?;
                call.authorize(&project_id)?;
                let reply = call
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
        self.shared
            .walk(&rpcs::STREAM_BACKUPS, request, domain::check_stream_backups)
            .await
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
                    call.default_project(),
                )?;
                call.authorize(&target.project_id)?;
                let reply = call
                    .upstream
                    .get_backup(&call.auth, call.deadline, &target.project_id, &target.id)
                    .await?;
                Ok(reply.map(|b| GetBackupResponse {
                    backup: Some(b.into()),
                }))
            })
            .await
    }

    async fn restore_backup(
        &self,
        request: Request<RestoreBackupRequest>,
    ) -> Result<Response<Operation>, Status> {
        self.shared
            .unary(&rpcs::RESTORE_BACKUP, request, |call, req| async move {
                let input = domain::check_restore_backup(req, call.default_project())?;
                call.authorize(&input.project_id)?;
                let request_id = input.request_id.map(|id| {
                    let body = serde_json::to_vec(&input.body).unwrap_or_default();
                    let fp = Fingerprint::of_call(
                        "RestoreBackup",
                        &input.project_id,
                        &input.backup_id,
                        &body,
                    );
                    (id, fp)
                });
                let upstream = call.upstream.clone();
                let auth = call.auth.clone();
                let accepted = input.clone();
                let region = call.named_region().map(str::to_owned);
                let start = |deadline| async move {
                    let since = chrono::Utc::now().timestamp();
                    let reply = upstream
                        .restore_backup(
                            &auth,
                            deadline,
                            &accepted.project_id,
                            &accepted.backup_id,
                            &accepted.body,
                        )
                        .await?;
                    Ok(reply.map(|job_id| {
                        let (name, reading) =
                            domain::accepted_restore(&accepted, region.as_deref(), job_id, since);
                        OperationState::new(&name, reading).operation
                    }))
                };
                self.shared
                    .once(&call, &input.project_id, request_id, start)
                    .await
            })
            .await
    }

    async fn delete_backup(
        &self,
        request: Request<DeleteBackupRequest>,
    ) -> Result<Response<Operation>, Status> {
        self.shared
            .unary(&rpcs::DELETE_BACKUP, request, |call, req| async move {
                let input =
                    domain::check_delete_backup(&req, call.default_project())?;
                call.authorize(&input.project_id)?;
                let request_id = input.request_id.map(|id| {
                    let fp = Fingerprint::of_call(
                        "DeleteBackup",
                        &input.project_id,
                        &input.backup_id,
                        &[],
                    );
                    (id, fp)
                });
                let upstream = call.upstream.clone();
                let auth = call.auth.clone();
                let (project, backup) = (input.project_id.clone(), input.backup_id.clone());
                let region = call.named_region().map(str::to_owned);
                let start = |deadline| async move {
                    let deleted = upstream
                        .delete_backup(&auth, deadline, &project, &backup)
                        .await;
                    match deleted {
                        Ok(reply) => Ok(reply.map(|()| {
                            let (name, reading) = domain::accepted_delete(&project, region.as_deref(), &backup, None);
                            OperationState::new(&name, reading).operation
                        })),
                        // Upstream refuses to delete a backup it is already
                        // deleting (a 400), and the backup's status tells
                        // that refusal from the others: the caller gets the
                        // deletion under way, as a repeat should.
                        Err(refused @ UpstreamError::Status { status: 400 | 409, .. }) => {
                            let Ok(shown) = upstream.get_backup(&auth, deadline, &project, &backup).await
                            else {
                                return Err(refused);
                            };
                            let shown = pb::Backup::from(shown.value);
                            if !matches!(
                                shown.status(),
                                pb::BackupStatus::Deleting | pb::BackupStatus::WaitingDelete
                            ) {
                                return Err(refused);
                            }
                            tracing::info!(backup = %backup, "backup already being deleted; answering that deletion");
                            let (name, reading) =
                                domain::accepted_delete(&project, region.as_deref(), &backup, Some(&shown));
                            Ok(Reply {
                                value: OperationState::new(&name, reading).operation,
                                request_id: refused.request_id().map(str::to_owned),
                            })
                        }
                        Err(e) => Err(e),
                    }
                };
                self.shared
                    .once(&call, &input.project_id, request_id, start)
                    .await
            })
            .await
    }
}
