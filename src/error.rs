//! Every failure of a call, and its one mapping to `tonic::Status` (contract §4).
//!
//! Status messages stay short (they travel in HTTP/2 trailers): the upstream
//! `error_msg`, truncated, never a body dump. Upstream's `error_code`,
//! `error_msg` and request id arrive here already capped and cleaned of
//! control characters (`upstream::untrusted`, where they are read). Details are `google.rpc` messages:
//! `ErrorInfo` (reason = upstream `error_code`, domain = the service,
//! `metadata.http_status`), `RequestInfo` (upstream `X-Request-Id`) and, for input
//! the gateway refused itself, `BadRequest` naming every offending field.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::{
    domain::ValidationError,
    idempotency::IdempotencyError,
    upstream::{Service, TokenError, UpstreamError},
};

/// `ErrorInfo.domain` of errors the gateway raises itself.
pub(crate) const GATEWAY_DOMAIN: &str = "cbr-gateway";

/// Longest status message passed on; upstream messages can be long.
const MAX_MESSAGE_CHARS: usize = 300;

/// Upstream 400 codes that describe a state conflict rather than bad input
/// (REFERENCE.md §4.2): retrying later, not changing the request, can succeed.
const STATE_CONFLICT_CODES: &[&str] = &[
    "BackupService.0001", // no resource is available for backup
    "BackupService.2002", // the resource is being backed up
    "BackupService.2005", // restore not allowed in the current backup status
    "BackupService.6103", // resource already associated with a vault
    "BackupService.6113", // backup not allowed in the current vault status
    "BackupService.6114", // vault capacity exceeded
    "BackupService.6124", // backup not allowed for this type of vault
    "BackupService.6125", // a backup task is in progress
    "BackupService.6201", // the backup cannot be deleted
    "BackupService.6203", // performing backups
    "BackupService.6215", // backup not allowed in the current resource status
    "BackupService.7101", // backup not allowed in the current server status
    "BackupService.7102", // the server has stopped
    "BackupService.8300", // insufficient snapshot quota
    "BackupService.4008", // new projects may not use the old services
    "CSBS.2003",          // item in executing
    "CSBS.4000",          // checkpoint item not available
];

/// Upstream codes that mean "not found" even when sent with 400
/// (`BackupService.6105` is 404 on OTC and 400 on Huawei's page).
const NOT_FOUND_CODES: &[&str] = &[
    "BackupService.6000", // the policy does not exist
    "BackupService.6002", // the vault is not applied with the policy
    "BackupService.6105", // the vault does not exist
    "BackupService.6135", // the resource does not exist in the vault
    "BackupService.6200", // the backup does not exist
    "BackupService.6217", // the restore point does not exist
    "BackupService.6302", // the resource does not exist
    "BackupService.6500", // the operation log does not exist
    "BackupService.6501", // the task does not exist
    "BackupService.7000", // the disk does not exist
    "BackupService.7100", // the server does not exist
    "CSBS.3001",          // checkpoint item not found
];

/// CBR's answer to some missing IDs: a 401 with this message (REFERENCE.md §4.1).
const MALFORMED_URL: &str = "Malformed request url";

/// Any failure of a gateway call.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request broke an input rule; nothing was sent upstream.
    #[error(transparent)]
    InvalidArgument(#[from] ValidationError),
    /// The upstream call failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The call carries no credentials and the gateway holds none.
    #[error(
        "no credentials: send x-auth-token metadata, or configure the gateway with AK/SK or an IAM user"
    )]
    NoCredentials,
    /// The caller's `x-auth-token` is not a usable token.
    #[error("x-auth-token metadata {0}")]
    BadToken(TokenError),
    /// The gateway may not act on this project (`--allowed-projects`).
    #[error("project {0} is not allowed")]
    ProjectNotAllowed(String),
    /// The call carries a caller credential that is not accepted (a bad JWT,
    /// an untrusted forwarded identity); the text says which and why.
    #[error("{0}")]
    CallerUnauthenticated(String),
    /// The authorization policy has no rule letting this caller call this
    /// method (on this project, once it is known).
    #[error("caller {caller} may not call {method}{}", .project.as_ref().map_or(String::new(), |p| format!(" on project {p}")))]
    CallerNotAllowed {
        /// The caller's identity.
        caller: std::sync::Arc<str>,
        /// `Service/Method`.
        method: &'static str,
        /// The project judged, when the refusal came after reading the request.
        project: Option<String>,
    },
    /// The caller spent its share of calls (`--max-calls-per-second-per-caller`).
    #[error("too many calls from this caller; retry in {}ms", .retry_after.as_millis())]
    CallerRateLimited {
        /// When the caller's bucket holds a call again.
        retry_after: std::time::Duration,
    },
    /// A browser page on an origin not in `--cors-allowed-origins`.
    #[error("calls from browser origin {0} are not allowed (--cors-allowed-origins)")]
    OriginNotAllowed(String),
    /// Every server-stream slot is taken (`--max-server-streams`).
    #[error("too many open streams; retry later")]
    TooManyStreams,
    /// The caller's deadline passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The caller went away (cancelled, or its connection closed).
    #[error("the caller went away")]
    Cancelled,
    /// `grpc-timeout` is not 1-8 digits and a unit.
    #[error("grpc-timeout header is malformed")]
    MalformedTimeout,
    /// A listing went past the largest offset upstream accepts.
    #[error("the listing goes beyond the largest offset")]
    ListingTooLong,
    /// A watch's poller stopped without a final state (a bug, or the gateway
    /// is going down): the caller should watch again.
    #[error("watch ended; retry")]
    WatchEnded,
    /// Something the gateway does not expect went wrong inside it.
    #[error("{0}")]
    Internal(&'static str),
    /// The request message did not arrive in time (`--request-read-timeout`).
    #[error("the request message did not arrive within {}s", .0.as_secs())]
    RequestTimeout(std::time::Duration),
    /// A request message is larger than `--max-request-bytes`.
    #[error("request message is larger than {0} bytes")]
    RequestTooLarge(u64),
    /// The gateway is shutting down; the client should reconnect elsewhere.
    #[error("the gateway is shutting down; reconnect")]
    ShuttingDown,
    /// An idempotent create (`request_id`) was refused, failed, or replays a
    /// remembered failure.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    /// CancelOperation and DeleteOperation: CBR has nothing to do them with;
    /// the text says why.
    #[error("{0}")]
    OperationsCannot(&'static str),
    /// WaitOperation's poller ended with a failure (upstream refused or kept
    /// failing): the status its watchers got.
    #[error("{}", .0.message())]
    WaitFailed(Status),
    /// An operation name that names nothing upstream knows as an operation
    /// (a backup that is not being deleted, say); the text says what.
    #[error("{0}")]
    OperationNotFound(String),
    /// A long-running operation's upstream task ended without success: how
    /// an operation's `error` reads (never a call's own failure).
    #[error("{}", operation_failure_message(.status, .code, .message))]
    OperationFailed {
        /// Upstream's status word (`failed`, `timeout`, `skipped`, or the
        /// gateway's `lost` for a restore whose log never appeared).
        status: &'static str,
        /// Upstream's error code (`BackupService.2008`), or empty.
        code: String,
        /// Upstream's message, or empty.
        message: String,
        /// The operation log, when there is one.
        operation_log_id: String,
    },
    /// Upstream's pages cannot be walked to an end (it repeated a page, or
    /// kept sending full pages past its own `count`); the text says which and
    /// how far the walk got.
    #[error("{0}")]
    UpstreamPagingBroken(String),
}

impl GatewayError {
    /// The gRPC status for this failure, with `google.rpc` details.
    pub fn to_status(&self) -> Status {
        match self {
            GatewayError::InvalidArgument(v) => invalid_argument(v),
            GatewayError::Upstream(u) => upstream_status(u),
            GatewayError::NoCredentials | GatewayError::BadToken(_) => {
                gateway_status(Code::Unauthenticated, "NO_CREDENTIALS", &self.to_string())
            }
            GatewayError::ProjectNotAllowed(_) => gateway_status(
                Code::PermissionDenied,
                "PROJECT_NOT_ALLOWED",
                &self.to_string(),
            ),
            GatewayError::CallerUnauthenticated(_) => gateway_status(
                Code::Unauthenticated,
                "CALLER_UNAUTHENTICATED",
                &self.to_string(),
            ),
            GatewayError::CallerNotAllowed { method, .. } => {
                let mut details = ErrorDetails::new();
                let metadata = HashMap::from([("method".to_owned(), (*method).to_owned())]);
                details.set_error_info("CALLER_NOT_ALLOWED", GATEWAY_DOMAIN, metadata);
                Status::with_error_details(
                    Code::PermissionDenied,
                    truncate(&self.to_string()),
                    details,
                )
            }
            GatewayError::CallerRateLimited { retry_after } => {
                let mut details = ErrorDetails::new();
                details.set_error_info("CALLER_RATE_LIMITED", GATEWAY_DOMAIN, HashMap::new());
                details.set_retry_info(Some(*retry_after));
                Status::with_error_details(Code::ResourceExhausted, self.to_string(), details)
            }
            GatewayError::OriginNotAllowed(_) => gateway_status(
                Code::PermissionDenied,
                "ORIGIN_NOT_ALLOWED",
                &self.to_string(),
            ),
            GatewayError::TooManyStreams => gateway_status(
                Code::ResourceExhausted,
                "TOO_MANY_STREAMS",
                &self.to_string(),
            ),
            GatewayError::DeadlineExceeded => gateway_status(
                Code::DeadlineExceeded,
                "DEADLINE_EXCEEDED",
                &self.to_string(),
            ),
            GatewayError::Cancelled => {
                gateway_status(Code::Cancelled, "CANCELLED", &self.to_string())
            }
            GatewayError::MalformedTimeout => gateway_status(
                Code::InvalidArgument,
                "MALFORMED_GRPC_TIMEOUT",
                &self.to_string(),
            ),
            GatewayError::ListingTooLong => {
                gateway_status(Code::OutOfRange, "LISTING_TOO_LONG", &self.to_string())
            }
            GatewayError::WatchEnded => {
                gateway_status(Code::Unavailable, "WATCH_ENDED", &self.to_string())
            }
            GatewayError::Internal(_) => {
                gateway_status(Code::Internal, "INTERNAL", &self.to_string())
            }
            GatewayError::RequestTimeout(_) => gateway_status(
                Code::DeadlineExceeded,
                "REQUEST_READ_TIMEOUT",
                &self.to_string(),
            ),
            GatewayError::RequestTooLarge(_) => gateway_status(
                Code::ResourceExhausted,
                "REQUEST_TOO_LARGE",
                &self.to_string(),
            ),
            GatewayError::ShuttingDown => {
                gateway_status(Code::Unavailable, "SHUTTING_DOWN", &self.to_string())
            }
            GatewayError::OperationsCannot(_) => {
                gateway_status(Code::Unimplemented, "OPERATIONS_CANNOT", &self.to_string())
            }
            GatewayError::WaitFailed(status) => status.clone(),
            GatewayError::OperationNotFound(_) => {
                gateway_status(Code::NotFound, "OPERATION_NOT_FOUND", &self.to_string())
            }
            GatewayError::OperationFailed {
                status,
                code,
                operation_log_id,
                ..
            } => {
                let mut details = ErrorDetails::new();
                let mut metadata = HashMap::from([
                    ("operation_status".to_owned(), (*status).to_owned()),
                    ("service".to_owned(), Service::Cbr.name().to_owned()),
                ]);
                if !operation_log_id.is_empty() {
                    metadata.insert("operation_log_id".to_owned(), operation_log_id.clone());
                }
                let reason = if code.is_empty() {
                    format!("OPERATION_{}", status.to_uppercase())
                } else {
                    code.clone()
                };
                details.set_error_info(reason, domain(Service::Cbr), metadata);
                Status::with_error_details(
                    operation_failure_code(status, code),
                    truncate(&self.to_string()),
                    details,
                )
            }
            // INTERNAL: retrying the same walk against the same upstream
            // fails the same way, and the caller's request was fine.
            GatewayError::UpstreamPagingBroken(why) => {
                gateway_status(Code::Internal, "UPSTREAM_PAGING_BROKEN", why)
            }
            GatewayError::Idempotency(e) => match e {
                IdempotencyError::Mismatch => invalid_argument(&ValidationError::single(
                    "request_id",
                    "was already used with different parameters",
                )),
                IdempotencyError::StoreUnavailable => gateway_status(
                    Code::Unavailable,
                    "IDEMPOTENCY_STORE_UNAVAILABLE",
                    &e.to_string(),
                ),
                // Exactly the status first answered, details included.
                IdempotencyError::Failed(f) => {
                    Status::with_details(f.code(), f.message(), f.details().to_vec().into())
                }
                IdempotencyError::Upstream(u) => upstream_status(u),
                IdempotencyError::Corrupt => gateway_status(
                    Code::Internal,
                    "IDEMPOTENCY_RECORD_UNREADABLE",
                    &e.to_string(),
                ),
                IdempotencyError::Interrupted => {
                    gateway_status(Code::Internal, "CREATE_INTERRUPTED", &e.to_string())
                }
            },
        }
    }

    /// Whether retrying later may succeed (pollers retry transient failures
    /// and, a few times, the ones that may pass): upstream's failures by
    /// their class, anything the gateway decided itself is permanent.
    pub(crate) fn class(&self) -> crate::upstream::FailureClass {
        match self {
            GatewayError::Upstream(u) => u.class(),
            _ => crate::upstream::FailureClass::Permanent,
        }
    }

    /// Upstream's request id, when a response arrived.
    pub fn upstream_request_id(&self) -> Option<&str> {
        match self {
            GatewayError::Upstream(u) => u.request_id(),
            GatewayError::Idempotency(e) => e.upstream_request_id(),
            _ => None,
        }
    }
}

/// How a failed idempotent create is answered, its repeats included (handed
/// to [`crate::idempotency`] so that it needs no mapping of its own).
pub(crate) fn failed_create(failure: &crate::idempotency::Failure<'_>) -> Status {
    use crate::idempotency::Failure;
    match failure {
        Failure::Upstream(err) => upstream_status(err),
        Failure::Interrupted => {
            GatewayError::Idempotency(IdempotencyError::Interrupted).to_status()
        }
    }
}

impl From<GatewayError> for Status {
    fn from(e: GatewayError) -> Self {
        e.to_status()
    }
}

/// Upstream codes of server-side failures (HTTP 500 in the error table).
const SERVER_FAILURE_CODES: &[&str] = &[
    "BackupService.0002",
    "BackupService.1005",
    "BackupService.6132",
    "BackupService.6137",
    "BackupService.7009",
    "BackupService.9910",
    "BackupService.9998",
];

/// The gRPC code of an operation whose upstream task ended in `status` with
/// `code`. There is no HTTP status to go by: the request was accepted, so
/// what failed is the world it met — FAILED_PRECONDITION, unless the code
/// says something was missing (NOT_FOUND) or upstream itself broke
/// (INTERNAL); a task stopped for running too long is DEADLINE_EXCEEDED, a
/// restore whose log never appeared UNKNOWN.
fn operation_failure_code(status: &str, code: &str) -> Code {
    match status {
        "timeout" => Code::DeadlineExceeded,
        "lost" => Code::Unknown,
        _ if NOT_FOUND_CODES.contains(&code) => Code::NotFound,
        _ if SERVER_FAILURE_CODES.contains(&code) => Code::Internal,
        _ => Code::FailedPrecondition,
    }
}

fn operation_failure_message(status: &str, code: &str, message: &str) -> String {
    let what = match status {
        "timeout" => "the operation timed out upstream",
        "skipped" => "the operation was skipped upstream (a pre-check failed)",
        "lost" => "no operation log of this restore appeared upstream",
        _ => "the operation failed upstream",
    };
    match (code.is_empty(), message.trim().is_empty()) {
        (true, true) => what.to_owned(),
        (true, false) => format!("{what}: {message}"),
        (false, true) => format!("{what} ({code})"),
        (false, false) => format!("{what} ({code}): {message}"),
    }
}

/// Whether `u` means the thing asked for does not exist (any of upstream's
/// ways of saying so, the 401 "Malformed request url" included).
pub(crate) fn is_not_found(u: &UpstreamError) -> bool {
    match u {
        UpstreamError::Status {
            status,
            code,
            message,
            ..
        } => code_for_http(*status, code.as_deref(), message.as_deref()) == Code::NotFound,
        _ => false,
    }
}

/// A refusal by the gateway itself, with an `ErrorInfo` in the gateway's domain.
fn gateway_status(code: Code, reason: &str, message: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, GATEWAY_DOMAIN, HashMap::new());
    Status::with_error_details(code, truncate(message), details)
}

/// INVALID_ARGUMENT with a `BadRequest` naming the fields. A hostile request
/// can break a rule thousands of times over: the detail lists at most
/// [`crate::domain::MAX_VIOLATIONS`] (the checker keeps no more), the
/// message says how many there were, and `ErrorInfo.metadata.violations`
/// carries the total.
fn invalid_argument(v: &ValidationError) -> Status {
    let listed = v.violations.len();
    let total = listed + v.omitted;
    let mut details = ErrorDetails::with_bad_request(
        v.violations
            .iter()
            .map(|x| FieldViolation::new(&x.field, &x.description))
            .collect::<Vec<_>>(),
    );
    let metadata = HashMap::from([("violations".to_owned(), total.to_string())]);
    details.set_error_info("INVALID_ARGUMENT", GATEWAY_DOMAIN, metadata);
    let mut message = format!("{}: {}", v.violations[0].field, v.violations[0].description);
    if total > 1 {
        message.push_str(&format!(" (and {} more)", total - 1));
    }
    if v.omitted > 0 {
        message.push_str(&format!("; the first {listed} are listed"));
    }
    Status::with_error_details(Code::InvalidArgument, truncate(&message), details)
}

/// A trailers-only gRPC response carrying `status`, for layers that refuse a
/// call before any service sees it.
pub(crate) fn status_response(status: &Status) -> http::Response<tonic::body::Body> {
    let (parts, ()) = status.clone().into_http::<()>().into_parts();
    http::Response::from_parts(parts, tonic::body::Body::empty())
}

/// The gRPC code for an upstream HTTP status and error code (contract §4).
pub(crate) fn code_for_http(status: u16, error_code: Option<&str>, message: Option<&str>) -> Code {
    let code_is = |list: &[&str]| error_code.is_some_and(|c| list.contains(&c));
    match status {
        400 if code_is(STATE_CONFLICT_CODES) => Code::FailedPrecondition,
        400 if code_is(NOT_FOUND_CODES) => Code::NotFound,
        400 => Code::InvalidArgument,
        401 if message.is_some_and(|m| m.trim().eq_ignore_ascii_case(MALFORMED_URL)) => {
            Code::NotFound
        }
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        412 => Code::FailedPrecondition,
        429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        500 => Code::Internal,
        501 => Code::Unimplemented,
        502 | 503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Unknown,
    }
}

fn upstream_status(u: &UpstreamError) -> Status {
    let service = u.service();
    let (code, reason, message, mut metadata) = match u {
        UpstreamError::Status {
            status,
            code,
            message,
            ..
        } => {
            let grpc = code_for_http(*status, code.as_deref(), message.as_deref());
            let reason = code.clone().unwrap_or_else(|| format!("HTTP_{status}"));
            let text = message
                .clone()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| format!("{} answered HTTP {status}", service.name()));
            let meta = HashMap::from([("http_status".to_owned(), status.to_string())]);
            (grpc, reason, text, meta)
        }
        UpstreamError::Connect { .. } | UpstreamError::Transport { .. } => (
            Code::Unavailable,
            "UPSTREAM_UNAVAILABLE".to_owned(),
            u.to_string(),
            HashMap::new(),
        ),
        UpstreamError::Timeout { .. } => (
            Code::DeadlineExceeded,
            "UPSTREAM_TIMEOUT".to_owned(),
            u.to_string(),
            HashMap::new(),
        ),
        UpstreamError::DeadlineExceeded { .. } => (
            Code::DeadlineExceeded,
            "DEADLINE_EXCEEDED".to_owned(),
            u.to_string(),
            HashMap::new(),
        ),
        UpstreamError::BodyTooLarge { limit, .. } => (
            Code::Internal,
            "UPSTREAM_RESPONSE_TOO_LARGE".to_owned(),
            u.to_string(),
            HashMap::from([("limit_bytes".to_owned(), limit.to_string())]),
        ),
        UpstreamError::Decode { .. } => (
            Code::Internal,
            "UPSTREAM_RESPONSE_UNREADABLE".to_owned(),
            u.to_string(),
            HashMap::new(),
        ),
        UpstreamError::NotConfigured { .. } => (
            Code::FailedPrecondition,
            "UPSTREAM_NOT_CONFIGURED".to_owned(),
            format!(
                "{} (set {})",
                u,
                match service {
                    Service::Cbr => "CBR_ENDPOINT",
                    Service::Csbs => "CSBS_ENDPOINT",
                    Service::Iam => "IAM_ENDPOINT",
                }
            ),
            HashMap::new(),
        ),
        UpstreamError::Credentials { .. } => (
            Code::Unavailable,
            "CREDENTIALS_UNAVAILABLE".to_owned(),
            u.to_string(),
            HashMap::new(),
        ),
        UpstreamError::Overloaded { .. } => (
            Code::Unavailable,
            "OVERLOADED".to_owned(),
            u.to_string(),
            HashMap::new(),
        ),
        UpstreamError::Url { .. } => (
            Code::InvalidArgument,
            "UNSAFE_UPSTREAM_URL".to_owned(),
            u.to_string(),
            HashMap::new(),
        ),
    };
    metadata.insert("service".to_owned(), service.name().to_owned());
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, domain(service), metadata);
    if let Some(id) = u.request_id() {
        details.set_request_info(id, "");
    }
    Status::with_error_details(code, truncate(&message), details)
}

/// Cuts `s` to at most [`MAX_MESSAGE_CHARS`] characters.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// The `google.rpc.ErrorInfo.domain` of errors from `service`.
fn domain(service: Service) -> &'static str {
    match service {
        Service::Cbr => "cbr.myhuaweicloud.com",
        Service::Csbs => "csbs.myhuaweicloud.com",
        Service::Iam => "iam.myhuaweicloud.com",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_table() {
        let cases = [
            (400, Some("BackupService.9900"), None, Code::InvalidArgument),
            (
                400,
                Some("BackupService.6125"),
                None,
                Code::FailedPrecondition,
            ),
            (400, Some("BackupService.6105"), None, Code::NotFound),
            (
                401,
                Some("APIGW.0301"),
                Some("verify aksk signature fail"),
                Code::Unauthenticated,
            ),
            (
                401,
                Some("401"),
                Some("Malformed request url"),
                Code::NotFound,
            ),
            (403, None, None, Code::PermissionDenied),
            (404, Some("BackupService.6200"), None, Code::NotFound),
            (409, None, None, Code::Aborted),
            (429, None, None, Code::ResourceExhausted),
            (500, None, None, Code::Internal),
            (502, None, None, Code::Unavailable),
            (503, None, None, Code::Unavailable),
            (504, None, None, Code::DeadlineExceeded),
            (418, None, None, Code::Unknown),
        ];
        for (http, code, msg, want) in cases {
            assert_eq!(code_for_http(http, code, msg), want, "{http} {code:?}");
        }
    }

    #[test]
    fn broken_paging_is_internal_in_the_gateways_domain() {
        let why = "upstream repeated a page (offset ignored?); stopping after 3 backups";
        let status = GatewayError::UpstreamPagingBroken(why.into()).to_status();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), why);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("UPSTREAM_PAGING_BROKEN", GATEWAY_DOMAIN)
        );
    }

    #[test]
    fn an_upstream_failure_and_its_status_are_in_the_same_class() {
        use crate::upstream::FailureClass;
        let status = |status: u16| UpstreamError::Status {
            service: Service::Cbr,
            status,
            code: None,
            message: None,
            request_id: None,
        };
        let cbr = Service::Cbr;
        for error in [
            UpstreamError::Connect { service: cbr },
            UpstreamError::Transport { service: cbr },
            UpstreamError::Timeout { service: cbr },
            UpstreamError::Overloaded { service: cbr },
            UpstreamError::Decode {
                service: cbr,
                request_id: None,
            },
            UpstreamError::NotConfigured { service: cbr },
            status(400),
            status(403),
            status(404),
            status(429),
            status(500),
            status(502),
            status(503),
            status(504),
        ] {
            let code = GatewayError::Upstream(error.clone()).to_status().code();
            assert_eq!(
                FailureClass::of_code(code),
                error.class(),
                "{error:?} → {code:?}"
            );
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(1000);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
