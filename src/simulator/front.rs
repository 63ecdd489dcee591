//! The simulator's front door, in front of the routes: a unique `X-Request-Id`
//! on every answer, request counters, fault injection (latency, dropped
//! connections, error answers) and authentication, like the API gateway in
//! front of the real service.

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc, task::Poll};

use axum::{Router, body::Body, response::IntoResponse};
use chrono::Utc;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tower::{Service, ServiceExt};

use super::{SimState, faults};

/// Largest request body the simulator reads.
const MAX_BODY: usize = 1024 * 1024;

/// Why a connection was dropped on purpose.
#[derive(Debug, thiserror::Error)]
#[error("simulated dropped connection")]
pub struct Dropped;

/// See the module documentation.
#[derive(Clone)]
pub struct Front {
    router: Router,
    state: Arc<SimState>,
}

impl Front {
    /// The front door for `router` over `state`.
    pub fn new(router: Router, state: Arc<SimState>) -> Self {
        Self { router, state }
    }
}

impl Service<Request<Incoming>> for Front {
    type Response = Response<Body>;
    type Error = Dropped;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Dropped>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Dropped>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let router = self.router.clone();
        let state = self.state.clone();
        Box::pin(async move {
            let request_id = uuid::Uuid::new_v4().simple().to_string();
            let mut response = match faults::route_of(req.method(), req.uri().path()) {
                Some(route) => serve_api(route, req, router, &state, &request_id).await?,
                // Admin routes and unknown paths: no counters, faults or auth.
                None => into_ok(router.oneshot(req.map(Body::new)).await),
            };
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-request-id", v);
            }
            Ok(response)
        })
    }
}

fn into_ok(r: Result<Response<Body>, Infallible>) -> Response<Body> {
    match r {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

async fn serve_api(
    route: &'static str,
    req: Request<Incoming>,
    router: Router,
    state: &SimState,
    request_id: &str,
) -> Result<Response<Body>, Dropped> {
    let in_flight = state.stats.start(route);
    let response = answer(route, req, router, state, request_id).await;
    if let Some(guard) = in_flight {
        guard.finish();
    }
    response
}

async fn answer(
    route: &'static str,
    req: Request<Incoming>,
    router: Router,
    state: &SimState,
    request_id: &str,
) -> Result<Response<Body>, Dropped> {
    let decision = state.faults.decide(route);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    if decision.drop {
        return Err(Dropped);
    }
    if let Some(status) = decision.error {
        return Ok(injected_error(status, decision.retry_after_s));
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(Body::new(body), MAX_BODY).await else {
        return Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response());
    };
    if state.credentials.enabled()
        && let Err(why) = state.credentials.check(&parts, &bytes, Utc::now())
    {
        let body = json!({
            "error_msg": format!("Incorrect IAM authentication information: {why}"),
            "error_code": "APIGW.0301",
            "request_id": request_id,
        });
        return Ok((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
    }
    Ok(into_ok(
        router
            .oneshot(Request::from_parts(parts, Body::from(bytes)))
            .await,
    ))
}

/// An injected error answer in upstream's shape.
fn injected_error(status: u16, retry_after_s: Option<u64>) -> Response<Body> {
    let code = match status {
        429 => "APIGW.0308",
        500 => "BackupService.9910",
        502 => "APIGW.0202",
        503 => "APIGW.0203",
        504 => "APIGW.0204",
        _ => "BackupService.9999",
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = json!({"error_code": code, "error_msg": "simulated fault"});
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secs) = retry_after_s {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
