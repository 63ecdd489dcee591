//! The REST routes of CBR v3 (checkpoints, backups, vaults, policies,
//! operation logs) and CSBS v1, IAM's token login, plus the
//! simulator's own admin routes under `/_simulator/` (counters and faults, for
//! tests and benchmarks).

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde_json::{Value, json};

use super::{SimState, error::ApiError, faults::FaultRule};

/// The simulated API.
pub fn router(state: Arc<SimState>) -> Router {
    use cbr_wire as wire;
    // The paths are the wire's own templates: the gateway builds its URLs
    // from the same table.
    Router::new()
        .route(&wire::CREATE_CHECKPOINT.template(), post(create_checkpoint))
        .route(&wire::GET_CHECKPOINT.template(), get(show_checkpoint))
        .route(&wire::LIST_BACKUPS.template(), get(list_backups))
        .route(
            &wire::GET_BACKUP.template(),
            get(show_backup).delete(delete_backup),
        )
        .route(&wire::RESTORE_BACKUP.template(), post(restore_backup))
        .route(
            &wire::GET_CHECKPOINT_ITEM.template(),
            get(show_checkpoint_item),
        )
        .route(&wire::LIST_VAULTS.template(), get(list_vaults))
        .route(&wire::GET_VAULT.template(), get(show_vault))
        .route(&wire::LIST_POLICIES.template(), get(list_policies))
        .route(&wire::GET_POLICY.template(), get(show_policy))
        .route(&wire::LIST_OPERATION_LOGS.template(), get(list_op_logs))
        .route(&wire::GET_OPERATION_LOG.template(), get(show_op_log))
        .route(&wire::IAM_TOKENS.template(), post(iam_tokens))
        .route(&wire::IAM_PROJECTS.template(), get(iam_projects))
        .route("/_simulator/stats", get(stats))
        .route("/_simulator/faults", get(get_faults).put(put_faults))
        .route(
            "/_simulator/iam/tokens",
            axum::routing::delete(revoke_tokens),
        )
        .fallback(unknown_api)
        // The API gateway matches an API by method and path, so another
        // method on a known path is an unknown API to it too (not axum's
        // empty 405).
        .method_not_allowed_fallback(unknown_api)
        .with_state(state)
}

type ApiResult = Result<Json<Value>, ApiError>;

async fn create_checkpoint(
    State(state): State<Arc<SimState>>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::parameter("body is not JSON"))?;
    let mut store = state.write();
    store
        .create_checkpoint(&project_id, &body, Utc::now(), state.backup_duration)
        .map(Json)
}

async fn show_checkpoint(
    State(state): State<Arc<SimState>>,
    Path((project_id, checkpoint_id)): Path<(String, String)>,
) -> ApiResult {
    state
        .read()
        .checkpoint(&project_id, &checkpoint_id, Utc::now())
        .map(Json)
}

async fn list_backups(
    State(state): State<Arc<SimState>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let query = super::query::ListQuery::parse(query.as_deref())?;
    state.read().list(&project_id, &query, Utc::now()).map(Json)
}

async fn show_backup(
    State(state): State<Arc<SimState>>,
    Path((project_id, backup_id)): Path<(String, String)>,
) -> ApiResult {
    state
        .read()
        .backup(&project_id, &backup_id, Utc::now())
        .map(Json)
}

/// 202, with `{"job_id"}` or no body ([`crate::SimulatorSettings::restore_job_id`]).
async fn restore_backup(
    State(state): State<Arc<SimState>>,
    Path((project_id, backup_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::parameter("body is not JSON"))?;
    let job_id = state.write().restore_backup(
        &project_id,
        &backup_id,
        &body,
        Utc::now(),
        state.restore_duration,
    )?;
    Ok(if state.restore_job_id {
        (StatusCode::ACCEPTED, Json(json!({ "job_id": job_id }))).into_response()
    } else {
        StatusCode::ACCEPTED.into_response()
    })
}

/// 204 and no body.
async fn delete_backup(
    State(state): State<Arc<SimState>>,
    Path((project_id, backup_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .write()
        .delete_backup(&project_id, &backup_id, Utc::now(), state.delete_duration)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn show_checkpoint_item(
    State(state): State<Arc<SimState>>,
    Path((project_id, item_id)): Path<(String, String)>,
) -> ApiResult {
    state
        .read()
        .checkpoint_item(&project_id, &item_id, Utc::now())
        .map(Json)
}

async fn list_vaults(
    State(state): State<Arc<SimState>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    state
        .read()
        .list_vaults(&project_id, query.as_deref(), Utc::now())
        .map(Json)
}

async fn show_vault(
    State(state): State<Arc<SimState>>,
    Path((project_id, vault_id)): Path<(String, String)>,
) -> ApiResult {
    state
        .read()
        .show_vault(&project_id, &vault_id, Utc::now())
        .map(Json)
}

async fn list_policies(
    State(state): State<Arc<SimState>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    state
        .read()
        .list_policies(&project_id, query.as_deref())
        .map(Json)
}

async fn show_policy(
    State(state): State<Arc<SimState>>,
    Path((project_id, policy_id)): Path<(String, String)>,
) -> ApiResult {
    state.read().show_policy(&project_id, &policy_id).map(Json)
}

async fn list_op_logs(
    State(state): State<Arc<SimState>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    state
        .read()
        .list_op_logs(&project_id, query.as_deref(), Utc::now())
        .map(Json)
}

async fn show_op_log(
    State(state): State<Arc<SimState>>,
    Path((project_id, log_id)): Path<(String, String)>,
) -> ApiResult {
    state
        .read()
        .show_op_log(&project_id, &log_id, Utc::now())
        .map(Json)
}

async fn iam_tokens(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    state.iam.create_token(&body, Utc::now())
}

/// IAM's `GET /v3/projects?name=…`: the simulated project, named after the
/// region asked for when the simulator serves it (or any region, with one
/// unnamed region); an unknown name lists nothing, as IAM does.
async fn iam_projects(
    State(state): State<Arc<SimState>>,
    RawQuery(query): RawQuery,
) -> Json<Value> {
    let name = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("name="))
        .map(|n| {
            percent_encoding::percent_decode_str(n)
                .decode_utf8_lossy()
                .into_owned()
        });
    let served = |n: &str| state.regions.is_empty() || state.regions.iter().any(|r| r == n);
    let projects: Vec<Value> = name
        .filter(|n| !n.is_empty() && served(n))
        .map(|n| {
            json!({
                "id": super::seed::PROJECT,
                "name": n,
                "domain_id": "d78cbac186b744899480f25bd022f468",
                "enabled": true,
                "is_domain": false,
                "parent_id": "d78cbac186b744899480f25bd022f468",
                "description": "",
                "links": {"self": format!("https://iam.myhuaweicloud.com/v3/projects/{}", super::seed::PROJECT)},
            })
        })
        .into_iter()
        .collect();
    Json(json!({
        "projects": projects,
        "links": {"self": "https://iam.myhuaweicloud.com/v3/projects", "previous": null, "next": null},
    }))
}

async fn stats(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({
        "requests": state.stats.snapshot(),
        "in_flight": state.stats.in_flight(),
        "abandoned": state.stats.abandoned(),
    }))
}

/// Revokes every token IAM issued, so tests can exercise refresh-on-401.
async fn revoke_tokens(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({ "revoked": state.iam.revoke_all() }))
}

async fn get_faults(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!(state.faults.rules()))
}

async fn put_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let replaced = serde_json::from_slice::<Vec<FaultRule>>(&body)
        .map_err(|e| e.to_string())
        .and_then(|rules| state.faults.try_replace(rules));
    match replaced {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::parameter(&format!("bad fault rules: {e}")).into_response(),
    }
}

/// What the API gateway answers for a path it does not know.
async fn unknown_api() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error_code": "APIGW.0101",
            "error_msg": "The API does not exist or has not been published in the environment",
        })),
    )
        .into_response()
}
