//! What can go wrong talking to upstream. The mapping to gRPC lives in
//! `crate::error`, the one place that knows both sides.

use super::paths::PathError;

/// Which upstream service a call went to: the wire's name for it, so a
/// route and the errors of calling it cannot disagree.
pub use cbr_wire::Api as Service;

/// A failed upstream call. Every variant names the `service` it went to.
#[derive(Debug, Clone, thiserror::Error)]
// The variants are documented; their `service` fields are the enum's own
// doc line, not a filler comment eleven times.
#[allow(missing_docs)]
pub enum UpstreamError {
    /// Upstream answered with a non-2xx status.
    #[error("{} answered HTTP {status}", service.name())]
    Status {
        service: Service,
        /// HTTP status code.
        status: u16,
        /// Upstream `error_code`, e.g. `BackupService.6200`.
        code: Option<String>,
        /// Upstream `error_msg`.
        message: Option<String>,
        /// Upstream `X-Request-Id`.
        request_id: Option<String>,
    },
    /// No connection could be opened (refused, DNS, TLS handshake, connect timeout).
    #[error("could not connect to {}", service.name())]
    Connect { service: Service },
    /// The connection failed after it was opened (reset, closed early).
    #[error("connection to {} failed", service.name())]
    Transport { service: Service },
    /// The upstream request timeout expired.
    #[error("{} did not answer in time", service.name())]
    Timeout { service: Service },
    /// The caller's gRPC deadline expired before upstream answered.
    #[error("deadline expired before {} answered", service.name())]
    DeadlineExceeded { service: Service },
    /// The response body was larger than the configured cap.
    #[error("{} response is larger than {limit} bytes", service.name())]
    BodyTooLarge {
        service: Service,
        /// The cap, in bytes.
        limit: u64,
        /// Upstream `X-Request-Id`.
        request_id: Option<String>,
    },
    /// A 2xx body that is not the expected JSON document.
    #[error("{} sent a response the gateway cannot read", service.name())]
    Decode {
        service: Service,
        /// Upstream `X-Request-Id`.
        request_id: Option<String>,
    },
    /// No endpoint is configured for the service.
    #[error("no {} endpoint is configured", service.name())]
    NotConfigured { service: Service },
    /// The gateway's own credentials could not be read (e.g. a secret file vanished).
    #[error("the gateway's credentials for {} are unavailable", service.name())]
    Credentials { service: Service },
    /// The gateway shed the call: every upstream slot stayed busy
    /// (`--max-upstream-inflight`) for `--upstream-queue-timeout`.
    #[error("the gateway is overloaded; retry shortly")]
    Overloaded { service: Service },
    /// The upstream URL could not be built safely.
    #[error("could not build the {} URL: {source}", service.name())]
    Url {
        service: Service,
        /// Why.
        source: PathError,
    },
}

impl UpstreamError {
    /// The service the failed call went to.
    pub fn service(&self) -> Service {
        match self {
            UpstreamError::Status { service, .. }
            | UpstreamError::Connect { service }
            | UpstreamError::Transport { service }
            | UpstreamError::Timeout { service }
            | UpstreamError::DeadlineExceeded { service }
            | UpstreamError::BodyTooLarge { service, .. }
            | UpstreamError::Decode { service, .. }
            | UpstreamError::NotConfigured { service }
            | UpstreamError::Credentials { service }
            | UpstreamError::Overloaded { service }
            | UpstreamError::Url { service, .. } => *service,
        }
    }

    /// Upstream's `X-Request-Id`, when a response arrived.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            UpstreamError::Status { request_id, .. }
            | UpstreamError::BodyTooLarge { request_id, .. }
            | UpstreamError::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether the request certainly never reached upstream, so that sending it
    /// again cannot repeat its effect: no connection could be opened, the gateway
    /// shed or refused it before sending, or upstream's API gateway refused it
    /// before the service saw it (401 authentication, 429 throttling).
    pub fn certainly_not_sent(&self) -> bool {
        match self {
            UpstreamError::Connect { .. }
            | UpstreamError::Overloaded { .. }
            | UpstreamError::NotConfigured { .. }
            | UpstreamError::Credentials { .. }
            | UpstreamError::Url { .. } => true,
            UpstreamError::Status { status, .. } => matches!(status, 401 | 429),
            // IAM failures happen before the CBR request is sent.
            other => other.service() == Service::Iam,
        }
    }

    /// How this failure would likely behave if the call were made again: the
    /// one answer the gateway has to "is this transient?" (retries, the watch
    /// hub).
    pub fn class(&self) -> FailureClass {
        match self {
            UpstreamError::Connect { .. }
            | UpstreamError::Transport { .. }
            | UpstreamError::Timeout { .. }
            | UpstreamError::DeadlineExceeded { .. }
            | UpstreamError::Overloaded { .. } => FailureClass::Transient,
            UpstreamError::Status { status, .. } => match status {
                429 | 502 | 503 | 504 => FailureClass::Transient,
                500..=599 => FailureClass::MayPass,
                _ => FailureClass::Permanent,
            },
            UpstreamError::Decode { .. } | UpstreamError::BodyTooLarge { .. } => {
                FailureClass::MayPass
            }
            UpstreamError::NotConfigured { .. }
            | UpstreamError::Credentials { .. }
            | UpstreamError::Url { .. } => FailureClass::Permanent,
        }
    }
}

/// How a failure is likely to behave if the call is made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Down, slow or shedding load (connect errors, 429, 502–504, timeouts:
    /// UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED): it will pass.
    Transient,
    /// A failure that may pass but may as well be for good (a 500, an
    /// unreadable answer: INTERNAL, UNKNOWN, ABORTED): worth a few more tries.
    MayPass,
    /// A refusal of the request itself (NOT_FOUND, PERMISSION_DENIED,
    /// INVALID_ARGUMENT, …): asking again changes nothing.
    Permanent,
}

impl FailureClass {
    /// The class of a gRPC status code, for clients that see only the
    /// gateway's status (the command-line client); it agrees with
    /// [`UpstreamError::class`] through the mapping of `crate::error`.
    pub fn of_code(code: tonic::Code) -> Self {
        use tonic::Code;
        match code {
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
                FailureClass::Transient
            }
            Code::Internal | Code::Unknown | Code::Aborted => FailureClass::MayPass,
            _ => FailureClass::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn failures_fall_in_three_classes() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
        ] {
            assert_eq!(
                FailureClass::of_code(code),
                FailureClass::Transient,
                "{code:?}"
            );
        }
        for code in [Code::Internal, Code::Unknown, Code::Aborted] {
            assert_eq!(
                FailureClass::of_code(code),
                FailureClass::MayPass,
                "{code:?}"
            );
        }
        for code in [
            Code::NotFound,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::Unimplemented,
            Code::Cancelled,
        ] {
            assert_eq!(
                FailureClass::of_code(code),
                FailureClass::Permanent,
                "{code:?}"
            );
        }
    }
}
