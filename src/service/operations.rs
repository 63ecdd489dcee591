//! `google.longrunning.Operations` (AIP-151) over the operations RestoreBackup
//! and DeleteBackup start: every answer is read from upstream then and there
//! (`watch::operation`), so any replica answers for any operation.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    domain,
    error::GatewayError,
    proto::{
        self as pb,
        google::longrunning::{
            CancelOperationRequest, DeleteOperationRequest, GetOperationRequest,
            ListOperationsRequest, ListOperationsResponse, Operation, WaitOperationRequest,
            operations_server::Operations,
        },
    },
    rpcs,
    upstream::Reply,
    watch::{
        hub::Published,
        operation::{OperationKey, OperationState, observe},
    },
};

/// Serves GetOperation, ListOperations and WaitOperation; CancelOperation and
/// DeleteOperation are UNIMPLEMENTED (CBR can neither cancel nor forget a
/// task).
#[derive(Debug, Clone)]
pub(crate) struct OperationsApi {
    shared: Arc<Shared>,
}

impl OperationsApi {
    /// A service over the shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// How much of the caller's remaining time WaitOperation leaves unused, so
/// that its answer (the latest state) arrives before the caller's deadline
/// turns it into DEADLINE_EXCEEDED: a tenth, at most this.
const WAIT_MARGIN: Duration = Duration::from_millis(500);

#[tonic::async_trait]
impl Operations for OperationsApi {
    async fn get_operation(
        &self,
        request: Request<GetOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        self.shared
            .unary(&rpcs::GET_OPERATION, request, |call, req| async move {
                let name = domain::check_operation_name("name", &req.name)?;
                call.authorize_operation(&name)?;
                let state = observe(&call.upstream, &call.auth, call.deadline, &name).await?;
                Ok(Reply {
                    value: state.operation,
                    request_id: None,
                })
            })
            .await
    }

    async fn list_operations(
        &self,
        request: Request<ListOperationsRequest>,
    ) -> Result<Response<ListOperationsResponse>, Status> {
        self.shared
            .unary(&rpcs::LIST_OPERATIONS, request, |call, req| async move {
                let mut list = domain::check_list_operations(&req, call.default_project())?;
                call.authorize(&list.project_id)?;
                let project = list.project_id.clone();
                // One upstream page per call, except that an empty page of
                // restores moves straight on to the deletions.
                loop {
                    let Some(kind) = list.kinds.first().copied() else {
                        return Ok(Reply {
                            value: ListOperationsResponse::default(),
                            request_id: None,
                        });
                    };
                    list.query.operation_type = Some(kind);
                    let page = call
                        .upstream
                        .list_operation_logs(&call.auth, call.deadline, &project, &list.query)
                        .await?;
                    let request_id = page.request_id;
                    let count = page.value.count.0;
                    let logs: Vec<pb::OperationLog> = page
                        .value
                        .operation_logs
                        .0
                        .into_iter()
                        .map(pb::OperationLog::from)
                        .collect();
                    let next_page_token = list.next_page_token(logs.len(), count);
                    if logs.is_empty() && next_page_token.ends_with(":0") {
                        list.kinds.remove(0);
                        list.query.offset = Some(0);
                        continue;
                    }
                    let operations = logs
                        .into_iter()
                        .filter_map(|log| {
                            let name = domain::name_of_log(&project, call.named_region(), &log)?;
                            let reading = domain::read_log(&project, log);
                            Some(OperationState::new(&name, reading).operation)
                        })
                        .collect();
                    return Ok(Reply {
                        value: ListOperationsResponse {
                            operations,
                            next_page_token,
                            unreachable: Vec::new(),
                        },
                        request_id,
                    });
                }
            })
            .await
    }

    async fn wait_operation(
        &self,
        request: Request<WaitOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        self.shared
            .unary(&rpcs::WAIT_OPERATION, request, |call, req| async move {
                let name = domain::check_operation_name("name", &req.name)?;
                let timeout = domain::check_wait_timeout(req.timeout.as_ref())?;
                call.authorize_operation(&name)?;
                // The answer is due at the timeout or shortly before the
                // call's deadline (always set for unary calls), whichever
                // comes first.
                let now = Instant::now();
                let mut until = call.deadline.map_or(now, |d| {
                    let left = d.saturating_duration_since(now);
                    d - (left / 10).min(WAIT_MARGIN)
                });
                if let Some(t) = timeout {
                    until = until.min(now + t);
                }
                // One reading now: a done operation, or a bad name, answers
                // at once.
                let first = observe(&call.upstream, &call.auth, call.deadline, &name).await?;
                if first.operation.done || Instant::now() >= until {
                    return Ok(Reply {
                        value: first.operation,
                        request_id: None,
                    });
                }
                // Then the shared poller, which WatchOperation uses too: the
                // waiter sleeps until a new state is published, the time is
                // up, or the gateway drains (a wait may be long; the answer
                // is the latest state, as at a timeout, and the client waits
                // again on another replica).
                let key = OperationKey {
                    region: call.region.clone(),
                    name,
                    identity: call.auth.identity(),
                };
                let mut rx = self.shared.operation_hub.subscribe(key, call.auth.clone());
                let mut latest = first.operation;
                let draining = self.shared.drain.started();
                tokio::pin!(draining);
                loop {
                    let published = rx.borrow_and_update().clone();
                    match published {
                        Published::State(snap) => {
                            latest = snap.state.operation.clone();
                            if latest.done {
                                break;
                            }
                        }
                        Published::Failed(status) => {
                            return Err(GatewayError::WaitFailed(status));
                        }
                        Published::Pending => {}
                    }
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { break },
                        () = tokio::time::sleep_until(until) => break,
                        () = &mut draining => break,
                    }
                }
                Ok(Reply {
                    value: latest,
                    request_id: None,
                })
            })
            .await
    }

    async fn cancel_operation(
        &self,
        request: Request<CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        self.shared
            .unary(&rpcs::CANCEL_OPERATION, request, |_, req| async move {
                domain::check_operation_name("name", &req.name)?;
                Err(GatewayError::OperationsCannot(
                    "CBR cannot cancel a restore or a deletion once it has accepted it",
                ))
            })
            .await
    }

    async fn delete_operation(
        &self,
        request: Request<DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        self.shared
            .unary(&rpcs::DELETE_OPERATION, request, |_, req| async move {
                domain::check_operation_name("name", &req.name)?;
                Err(GatewayError::OperationsCannot(
                    "CBR keeps its operation logs; the gateway keeps nothing to delete",
                ))
            })
            .await
    }
}
