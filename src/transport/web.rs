//! Browsers: CORS for gRPC-Web pages on the origins `--cors-allowed-origins`
//! lists. (Refusing every other origin is the access rules' job:
//! [`crate::access::OriginGate`]; CORS headers alone stop no one.)

/// Which browser origins may call the gateway (`--cors-allowed-origins`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS: browsers refuse cross-origin calls.
    #[default]
    None,
    /// `*`: any origin.
    Any,
    /// Exactly these origins, normalized as browsers send them in `Origin`
    /// (`scheme://host[:port]`, lower-case host, no default port).
    List(Vec<http::HeaderValue>),
}

/// The CORS policy for gRPC-Web browsers, if any origin is allowed: the
/// headers gRPC-Web clients send, the status headers they must read, POST only.
pub(crate) fn cors_layer(origins: &CorsOrigins) -> Option<tower_http::cors::CorsLayer> {
    use http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    const ALLOW: [&str; 9] = [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "x-auth-token",
        "x-request-id",
        "traceparent",
        "tracestate",
    ];
    const EXPOSE: [&str; 4] = [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
    ];
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::POST])
            .allow_headers(ALLOW.map(HeaderName::from_static))
            .expose_headers(EXPOSE.map(HeaderName::from_static))
            // Chromium's cap; a changed policy reaches browsers within it.
            .max_age(std::time::Duration::from_secs(2 * 60 * 60)),
    )
}
