//! Upstream error answers: HTTP status plus `{"error_code", "error_msg"}` with the
//! real codes (REFERENCE.md §3, §4).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An error answer of the simulated API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error_code`.
    pub code: &'static str,
    /// `error_msg`.
    pub message: String,
}

impl ApiError {
    /// 400 `BackupService.9900`: a parameter failed upstream's checks.
    pub fn parameter(detail: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.9900",
            message: format!("Parameter verification failed. {detail}"),
        }
    }
    /// 404 `BackupService.6217`.
    pub fn checkpoint_not_found(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "BackupService.6217",
            message: format!("The backup restore point {id} does not exist."),
        }
    }
    /// 404 `BackupService.6200`.
    pub fn backup_not_found(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "BackupService.6200",
            message: format!("The backup {id} does not exist."),
        }
    }
    /// 400 `BackupService.2010`: the resource is being restored (upstream's
    /// raw template `Resource %(resource_id)s is restoring.`).
    pub fn restoring(resource_id: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.2010",
            message: format!("Resource {resource_id} is restoring."),
        }
    }
    /// 400 `BackupService.2002`: the resource is being backed up, so it
    /// cannot be restored (LIFECYCLE.md §3.6).
    pub fn being_backed_up() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.2002",
            message: "The resource is being backed up and cannot be restored.".into(),
        }
    }
    /// 400 `BackupService.2005`: the backup's status does not allow a restore.
    pub fn restore_not_allowed() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.2005",
            message: "Restoration is not allowed in the current backup status.".into(),
        }
    }
    /// 400 `BackupService.6201`: the backup cannot be deleted (now).
    pub fn cannot_delete(id: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.6201",
            message: format!("The backup {id} cannot be deleted."),
        }
    }
    /// 404 `CSBS.3001`.
    pub fn checkpoint_item_not_found(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "CSBS.3001",
            message: format!("Checkpoint_item ({id}) is not found."),
        }
    }
    /// 404 `BackupService.6105`, in the error table's words (LIFECYCLE.md §8).
    pub fn vault_not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "BackupService.6105",
            message: "The vault does not exist.".into(),
        }
    }
    /// 404 `BackupService.6000`, in the error table's words.
    pub fn policy_not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "BackupService.6000",
            message: "The policy does not exist.".into(),
        }
    }
    /// 404 `BackupService.6500`, in the words of ShowOpLog's documented 404
    /// (the server's own, not the table's "The operation log …").
    pub fn operation_log_not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "BackupService.6500",
            message: "Operation log does not exist.".into(),
        }
    }
    /// 400 `BackupService.6135`.
    pub fn resource_not_in_vault(id: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.6135",
            message: format!("The resource {id} does not exist in the vault."),
        }
    }
    /// 400 `BackupService.8300`, upstream's "Insufficient snapshot quota.":
    /// the simulator keeps at most `cap` created checkpoints and all of them
    /// are still running.
    pub fn too_many_running(cap: usize) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.8300",
            message: format!(
                "Insufficient snapshot quota. (The simulator keeps {cap} created checkpoints and all are still running.)"
            ),
        }
    }
    /// 400 `BackupService.0001`.
    pub fn no_resource() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BackupService.0001",
            message: "No resource is available for backup.".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error_code": self.code, "error_msg": self.message})),
        )
            .into_response()
    }
}
