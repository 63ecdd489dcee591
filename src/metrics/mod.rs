//! Prometheus metrics, served in the OpenMetrics text format on
//! `--metrics-listen` at `/metrics`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `grpc_server_started_total` | counter | `grpc_service`, `grpc_method`, `region` |
//! | `grpc_server_handled_total` | counter | `grpc_service`, `grpc_method`, `region`, `grpc_code` |
//! | `grpc_server_handling_seconds` | histogram | `grpc_service`, `grpc_method`, `region` |
//! | `cbr_gateway_upstream_requests_total` | counter | `region`, `service`, `route`, `status` |
//! | `cbr_gateway_upstream_request_duration_seconds` | histogram | `region`, `service`, `route` |
//! | `cbr_gateway_upstream_retries_total` | counter | `region`, `service`, `route` |
//! | `cbr_gateway_upstream_shared_total` | counter | `region`, `service`, `route` |
//! | `cbr_gateway_upstream_retry_budget_exhausted_total` | counter | `region`, `service` |
//! | `cbr_gateway_upstream_shed_total` | counter | `region`, `service` |
//! | `cbr_gateway_upstream_inflight` | gauge | |
//! | `cbr_gateway_server_streams` | gauge | |
//! | `cbr_gateway_watch_pollers` | gauge | |
//! | `cbr_gateway_idempotent_creates_total` | counter | `result` |
//! | `cbr_gateway_authz_decisions_total` | counter | `decision`, `method` |
//! | `cbr_gateway_caller_rate_limited_total` | counter | `method` |
//! | `cbr_gateway_access_reloads_total` | counter | `file`, `result` |
//! | `cbr_gateway_connections_open` | gauge | |
//! | `cbr_gateway_connections_closed_total` | counter | `reason` |
//!
//! The gRPC metrics follow go-grpc-prometheus' names, so existing dashboards
//! work. Labels take values from small fixed sets only: method names the gateway
//! serves (anything else is `unknown`), route names, HTTP status codes, gRPC
//! code names, decisions, the known regions. No ID, project, caller, token or
//! URL ever becomes a label.
//!
//! A call's `region` is known only once its request is read: the handler
//! settles it through the [`RpcRegion`] the layer puts in the request's
//! extensions, and `grpc_server_started_total` counts the call then. A call
//! refused before (unauthenticated, denied, malformed, an unknown region)
//! counts in the default region, started and handled together.

mod endpoint;
mod registry;
mod rpc_layer;

pub(crate) use endpoint::router;
pub(crate) use registry::{Decision, Gauges, IdempotentResult, Metrics, UpstreamStatus, code_name};
pub(crate) use rpc_layer::{RpcMetricsLayer, RpcRegion};
