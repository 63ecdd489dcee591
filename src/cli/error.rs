//! The client's failures, each printed as one or two readable lines: the gRPC
//! code and message, then what the status details add (upstream error code,
//! request id, the fields the gateway refused).

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::metrics::code_name;

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Options that cannot work together, or unreadable files they name.
    #[error("{0}")]
    Usage(String),
    /// The gateway could not be reached (or TLS with it failed).
    #[error("cannot reach the gateway at {gateway}: {reason}")]
    Connect {
        /// The address tried.
        gateway: String,
        /// The transport's reason.
        reason: String,
    },
    /// A call ended with a non-OK status.
    #[error("{}", report_status(.0))]
    Call(Box<Status>),
    /// A watch stream ended without the checkpoint reaching a final state.
    #[error("the watch ended before checkpoint {0} finished")]
    Unfinished(String),
    /// An operation was not done when the command stopped following it.
    #[error("operation {0} did not end while the command followed it")]
    OperationUnfinished(String),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// A message could not be printed as JSON.
    #[error("cannot print JSON: {0}")]
    Json(String),
}

impl CliError {
    /// A failed call.
    pub fn call(status: Status) -> Self {
        Self::Call(Box::new(status))
    }

    /// The lines printed on stderr.
    pub fn report(&self) -> String {
        format!("error: {self}")
    }

    /// The process' exit code: 2 for usage, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Output went to a reader that left (`| head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// `NotFound: the checkpoint does not exist` and, when details say more, a
/// second line: `upstream BackupService.6201 (HTTP 404), request id …` or the
/// fields the gateway refused.
fn report_status(status: &Status) -> String {
    if status.code() == Code::Cancelled && status.message() == "Timeout expired" {
        // tonic reports its own client-side deadline as CANCELLED.
        return "DeadlineExceeded: no answer before the deadline (raise --timeout)".into();
    }
    let mut message = status.message().trim().to_owned();
    // A status made on this side from a transport failure keeps the cause
    // (refused, TLS alert, reset) as its source, not in its message.
    if let Some(source) = std::error::Error::source(status) {
        let cause = super::connect::error_chain(source);
        if !message.contains(&cause) {
            message = if cause.starts_with(&message) {
                cause
            } else {
                format!("{message}: {cause}")
            };
        }
    }
    let mut out = format!("{}: {message}", code_name(status.code()));
    let details = status.get_error_details();
    let mut extra = Vec::new();
    if let Some(info) = details.error_info().filter(|i| !i.reason.is_empty()) {
        // Upstream's own answers carry its HTTP status; the gateway's reasons
        // (UPSTREAM_UNAVAILABLE, …) do not.
        let same_as_code = info
            .reason
            .replace('_', "")
            .eq_ignore_ascii_case(code_name(status.code()));
        match info.metadata.get("http_status") {
            Some(http) => extra.push(format!("upstream {} (HTTP {http})", info.reason)),
            None if !same_as_code => extra.push(format!("reason {}", info.reason)),
            None => {}
        }
    }
    if let Some(req) = details.request_info()
        && !req.request_id.is_empty()
    {
        extra.push(format!("request id {}", req.request_id));
    } else if let Some(id) = status
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        extra.push(format!("request id {id}"));
    }
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            // The message often is the one violation already.
            if !(message.contains(&v.field) && message.contains(&v.description)) {
                extra.push(format!("{}: {}", v.field, v.description));
            }
        }
    }
    if !extra.is_empty() {
        out.push_str("\n  ");
        out.push_str(&extra.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    #[test]
    fn upstream_errors_show_code_and_request_id() {
        let mut details = ErrorDetails::new();
        details
            .set_error_info(
                "BackupService.6201",
                "cbr.myhuaweicloud.com",
                [("http_status".to_owned(), "404".to_owned())],
            )
            .set_request_info("req-123", "");
        let status =
            Status::with_error_details(Code::NotFound, "The backup does not exist.", details);
        let text = CliError::call(status).report();
        assert_eq!(
            text,
            "error: NotFound: The backup does not exist.\n  upstream BackupService.6201 (HTTP 404), request id req-123"
        );
    }

    #[test]
    fn refused_fields_are_named() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "invalid request",
            ErrorDetails::with_bad_request_violation("checkpoint_id", "must be a UUID"),
        );
        let text = CliError::call(status).report();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("InvalidArgument: invalid request"), "{text}");
        assert!(text.contains("checkpoint_id: must be a UUID"), "{text}");
    }

    #[test]
    fn client_deadline_reads_as_deadline() {
        let text = CliError::call(Status::cancelled("Timeout expired")).report();
        assert!(text.starts_with("error: DeadlineExceeded"), "{text}");
    }
}
