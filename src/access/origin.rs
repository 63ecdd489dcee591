//! Browsers (contract §8): a request carrying an `Origin` header is served
//! only when that origin is listed in `--cors-allowed-origins`.
//!
//! CORS alone does not protect a gateway: tower-http's `CorsLayer` only adds
//! headers, and a DNS-rebinding page (`evil.test` resolving to the gateway's
//! address) is same-origin to the browser, so the browser never asks. Every
//! browser sends `Origin` with a POST, which every gRPC-Web call is, so
//! refusing unlisted origins here shuts out both cross-origin pages and
//! rebinding ones. Native gRPC clients send no `Origin` and are unaffected.

use http::{Request, header::ORIGIN};
use tokio::time::Instant;

use crate::{
    error::GatewayError,
    transport::gate::{Gate, GateLayer},
    transport::web::CorsOrigins,
};

/// Longest origin quoted back in a refusal.
const MAX_QUOTED: usize = 100;

/// Refuses requests from unlisted browser origins.
#[derive(Debug, Clone)]
pub struct OriginGate {
    allowed: CorsOrigins,
}

impl OriginGate {
    /// The layer allowing the origins of `--cors-allowed-origins` (none when
    /// empty).
    pub fn layer(allowed: CorsOrigins) -> GateLayer<Self> {
        GateLayer(Self { allowed })
    }

    fn allows(&self, origin: &http::HeaderValue) -> bool {
        match &self.allowed {
            CorsOrigins::None => false,
            CorsOrigins::Any => true,
            // Listed origins are normalised as browsers send them.
            CorsOrigins::List(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())),
        }
    }
}

impl Gate for OriginGate {
    fn admit<B>(&self, req: &mut Request<B>) -> Result<(), tonic::Status> {
        let Some(origin) = req.headers().get(ORIGIN).filter(|o| !self.allows(o)) else {
            return Ok(());
        };
        let started = Instant::now();
        let shown: String = String::from_utf8_lossy(origin.as_bytes())
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_QUOTED)
            .collect();
        let status = GatewayError::OriginNotAllowed(shown).to_status();
        let method = crate::rpcs::by_path(req.uri().path()).map_or("unknown", |r| r.method);
        crate::telemetry::log_refused(method, &status, started, None, "origin_denied");
        Err(status)
    }
}
