//! The scrape endpoint.

use std::sync::Arc;

use super::Metrics;

/// The `GET /metrics` endpoint, to serve on `--metrics-listen`.
pub(crate) fn router(metrics: Arc<Metrics>) -> axum::Router {
    use axum::{http::header, routing::get};
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    )
}
