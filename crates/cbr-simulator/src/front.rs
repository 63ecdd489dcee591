//! The simulator's front door, in front of the routes: a unique `X-Request-Id`
//! on every answer, request counters, fault injection (latency, dropped
//! connections, error answers) and authentication, like the API gateway in
//! front of the real service.
//!
//! Every request except the simulator's own `/_simulator/…` admin routes must
//! authenticate when credentials are configured, whatever its method or path
//! (IAM's token login excepted: it is how a client gets a token).

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
        let (router, state) = match sibling_named(&self.state, &req) {
            Some(sibling) => (super::routes::router(sibling.clone()), sibling),
            None => (self.router.clone(), self.state.clone()),
        };
        Box::pin(async move {
            let request_id = uuid::Uuid::new_v4().simple().to_string();
            let mut response = match door(req.method(), req.uri().path()) {
                Door::Route(route) => serve_api(route, req, router, &state, &request_id).await?,
                // No counters or faults (they are per route), but the same
                // auth check as the routes.
                Door::Other => authenticated(req, router, &state, &request_id).await,
                Door::Admin => into_ok(router.oneshot(req.map(Body::new)).await),
            };
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-request-id", v);
            }
            Ok(response)
        })
    }
}

/// The other region the request's host names, if any: one of the host's
/// dot-separated labels is the region's name (`cbr.{region}.myhuaweicloud.com`
/// as Huawei's SDKs build endpoints, or `{region}.localhost`).
fn sibling_named(state: &SimState, req: &Request<Incoming>) -> Option<Arc<SimState>> {
    let siblings = state.siblings.get().filter(|s| !s.is_empty())?;
    let host = req.uri().host().or_else(|| {
        let raw = req.headers().get(http::header::HOST)?.to_str().ok()?;
        // Without the port (an IPv6 literal names no region anyway).
        Some(raw.rsplit_once(':').map_or(raw, |(host, _)| host))
    })?;
    host.split('.').find_map(|label| {
        siblings
            .iter()
            .find(|(name, _)| name == label)
            .and_then(|(_, state)| state.upgrade())
    })
}

/// Where a request goes past the front door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// One of the simulated API's routes ([`faults::route_of`]): counted,
    /// faulted and authenticated.
    Route(&'static str),
    /// Anything else addressed to the simulated cloud (another method on an
    /// API path, an unknown path): authenticated, then whatever the router
    /// answers. Authenticating by default, rather than only the routes the
    /// simulator knows, means a method axum serves implicitly (HEAD on GET
    /// routes) or a route added later can never be reached unauthenticated.
    Other,
    /// The simulator's own admin routes (`/_simulator/…`): no counters,
    /// faults or auth, so tests can always reach them.
    Admin,
}

/// The door for `method` and `path`.
pub fn door(method: &http::Method, path: &str) -> Door {
    if let Some(route) = faults::route_of(method, path) {
        Door::Route(route)
    } else if path == "/_simulator" || path.starts_with("/_simulator/") {
        Door::Admin
    } else {
        Door::Other
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
    Ok(authenticated(req, router, state, request_id).await)
}

/// The router's answer if the request authenticates (or no credentials are
/// configured), else 401 `APIGW.0301` as the API gateway answers.
async fn authenticated(
    req: Request<Incoming>,
    router: Router,
    state: &SimState,
    request_id: &str,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // The body is read first: signatures cover it.
    let Ok(bytes) = axum::body::to_bytes(Body::new(body), MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    if state.credentials.enabled()
        && let Err(why) = state.credentials.check(&parts, &bytes, Utc::now())
    {
        let body = json!({
            "error_msg": format!("Incorrect IAM authentication information: {why}"),
            "error_code": "APIGW.0301",
            "request_id": request_id,
        });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    into_ok(
        router
            .oneshot(Request::from_parts(parts, Body::from(bytes)))
            .await,
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn only_the_admin_routes_skip_the_checks() {
        assert_eq!(
            door(&Method::GET, "/v3/p/backups/b"),
            Door::Route("get_backup")
        );
        assert_eq!(
            door(&Method::HEAD, "/v3/p/backups/b"),
            Door::Route("get_backup")
        );
        for (method, path) in [
            (Method::PUT, "/v3/p/backups/b"),
            (Method::PUT, "/v1/p/checkpoint_items/i"),
            (Method::POST, "/v3/p/vaults"),
            (Method::GET, "/"),
            (Method::GET, "//_simulator/stats"),
            (Method::GET, "/_simulatorx"),
        ] {
            assert_eq!(door(&method, path), Door::Other, "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/_simulator/stats"),
            (Method::PUT, "/_simulator/faults"),
            (Method::DELETE, "/_simulator/iam/tokens"),
        ] {
            assert_eq!(door(&method, path), Door::Admin, "{method} {path}");
        }
    }
}
