//! The pager behind StreamBackups: every page of ListBackups as one stream of
//! backups, the next page fetched while the current one streams.
//!
//! # Design
//!
//! One producer task per stream ([`BackupPager::stream`]) walks the listing and
//! sends one [`StreamBackupsResponse`] per backup into an `mpsc` channel of at
//! most [`CHANNEL_CAPACITY`] messages (never more than a page); the gRPC stream is
//! the receiving end, bounded by the caller's deadline ([`super::bounded`]).
//!
//! ```text
//!  fetch task (page N+1) ─┐
//!                         ▼ join
//!  producer: page N ──convert──► mpsc (≤ 32) ──► bounded(rx, deadline) ──► tonic
//! ```
//!
//! * **Walk.** `limit` = page size, `offset` from the request's offset (default
//!   0), then `offset += page length` until a page shorter than the page size
//!   (or empty). Upstream's `count` is never consulted: it is a total that may
//!   move while the walk runs, and the walk must not depend on it.
//! * **Prefetch.** Each page is fetched by a spawned task, so it runs while the
//!   producer is blocked sending the current page into the channel. The fetch of
//!   page N+1 starts once page N-1 has entirely left the channel — at once for
//!   the first page, otherwise after [`CHANNEL_CAPACITY`] items of page N were
//!   sent (the channel holds at most that many, so none of them is page N-1's).
//!   Memory therefore holds at most two pages of backups — the rest of page N
//!   (in hand or in the channel) and page N+1 (arriving or arrived) — plus
//!   what HTTP/2 flow control lets the transport buffer.
//! * **Cancellation.** The caller going away (or the deadline passing) drops the
//!   receiver. The producer notices at once: a send fails, or
//!   `tx.closed()` wins the `select!` against the page it awaits. It returns, and
//!   the fetch task's guard (`Fetch`) aborts that task, which drops the
//!   in-flight upstream request; no further page is requested.
//! * **Failures.** An upstream failure ends the stream with its mapped status
//!   (contract §4) after the backups already sent. Each page's call gets the
//!   caller's remaining deadline.
//! * **Logs.** One line per stream when it ends: method, code, backups sent,
//!   pages fetched, latency, upstream's last request id.

use tokio::{
    sync::mpsc,
    task::{JoinError, JoinHandle},
    time::Instant,
};
use tonic::Status;

use crate::{
    convert,
    error::GatewayError,
    proto::StreamBackupsResponse,
    service::Call,
    upstream::{Reply, UpstreamClient, UpstreamError, dto::BackupListDto},
    validate::{BackupQuery, DEFAULT_PAGE_SIZE},
    watch::{BoxStream, bounded},
};

/// Most messages waiting between the producer and the gRPC stream.
pub const CHANNEL_CAPACITY: usize = 32;

const METHOD: &str = "StreamBackups";

type Item = Result<StreamBackupsResponse, Status>;
type PageResult = Result<Reply<BackupListDto>, UpstreamError>;

/// One StreamBackups walk, ready to start.
#[derive(Debug)]
pub struct BackupPager {
    /// The upstream client.
    pub upstream: UpstreamClient,
    /// Credentials and deadline of the call.
    pub call: Call,
    /// Project to list.
    pub project_id: String,
    /// Checked filters; `limit` is the page size and `offset` where the walk
    /// starts (unset: [`DEFAULT_PAGE_SIZE`] and 0). `marker` is not used.
    pub query: BackupQuery,
}

/// How a walk went, for its log line.
#[derive(Debug)]
struct Summary {
    sent: u64,
    pages: u64,
    status: Status,
    request_id: Option<String>,
}

/// A page fetch running in its own task; dropping it aborts the task and with it
/// the upstream request.
struct Fetch(JoinHandle<PageResult>);

impl Drop for Fetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl BackupPager {
    /// Starts the walk in a task of its own and returns the stream of its
    /// backups, ended by the caller's deadline. `started` is when the call
    /// arrived (for the log line).
    pub fn stream(self, started: Instant) -> BoxStream<StreamBackupsResponse> {
        let capacity = CHANNEL_CAPACITY.min(self.page_size());
        let (tx, rx) = mpsc::channel(capacity);
        let deadline = self.call.deadline;
        crate::trace::spawn(async move {
            let summary = self.walk(&tx, capacity).await;
            let counts = crate::telemetry::StreamCounts {
                backups: summary.sent,
                pages: summary.pages,
            };
            crate::telemetry::log_rpc(
                METHOD,
                &summary.status,
                started,
                summary.request_id.as_deref(),
                Some(counts),
            );
        });
        bounded(rx, deadline)
    }

    fn page_size(&self) -> usize {
        usize::try_from(self.query.limit.unwrap_or(DEFAULT_PAGE_SIZE))
            .unwrap_or(1)
            .max(1)
    }

    /// Starts fetching the page at `offset`.
    fn fetch(&self, offset: i32) -> Fetch {
        let upstream = self.upstream.clone();
        let auth = self.call.auth.clone();
        let deadline = self.call.deadline;
        let project_id = self.project_id.clone();
        let mut query = self.query.clone();
        query.offset = Some(offset);
        query.marker = None;
        Fetch(crate::trace::spawn(async move {
            upstream
                .list_backups(&auth, deadline, &project_id, &query)
                .await
        }))
    }

    /// Walks every page, sending each backup; returns how it ended.
    async fn walk(&self, tx: &mpsc::Sender<Item>, capacity: usize) -> Summary {
        let page_size = self.page_size();
        let mut summary = Summary {
            sent: 0,
            pages: 0,
            status: Status::ok(""),
            request_id: None,
        };
        let mut offset = self.query.offset.unwrap_or(0);
        let mut in_flight = Some(self.fetch(offset));
        // Items of the previous page that may still sit in the channel.
        let mut wait_before_prefetch = 0;
        while let Some(mut fetch) = in_flight.take() {
            let joined: Result<PageResult, JoinError> = tokio::select! {
                joined = &mut fetch.0 => joined,
                () = tx.closed() => return self.gone(summary),
            };
            let reply = match joined {
                Ok(Ok(reply)) => reply,
                Ok(Err(err)) => {
                    summary.request_id = err.request_id().map(str::to_owned);
                    return fail(tx, summary, GatewayError::Upstream(err).to_status()).await;
                }
                Err(_) => {
                    return fail(tx, summary, Status::internal("the page fetch failed")).await;
                }
            };
            summary.pages += 1;
            summary.request_id = reply.request_id;
            let page = reply.value.backups.0;
            let len = page.len();
            let next_offset = if len >= page_size {
                match i32::try_from(len).ok().and_then(|l| offset.checked_add(l)) {
                    Some(next) => Some(next),
                    None => {
                        let status =
                            Status::out_of_range("the listing goes beyond the largest offset");
                        return fail(tx, summary, status).await;
                    }
                }
            } else {
                None
            };
            for (i, backup) in page.into_iter().enumerate() {
                if let Some(next) = next_offset
                    && in_flight.is_none()
                    && i >= wait_before_prefetch
                {
                    in_flight = Some(self.fetch(next));
                }
                let message = StreamBackupsResponse {
                    backup: Some(convert::backup(backup)),
                };
                if tx.send(Ok(message)).await.is_err() {
                    return self.gone(summary);
                }
                summary.sent += 1;
            }
            if let Some(next) = next_offset {
                if in_flight.is_none() {
                    in_flight = Some(self.fetch(next));
                }
                offset = next;
            }
            wait_before_prefetch = capacity;
        }
        summary
    }

    /// The receiver is gone: the deadline passed or the caller cancelled.
    fn gone(&self, mut summary: Summary) -> Summary {
        summary.status = match self.call.deadline {
            Some(d) if d <= Instant::now() => Status::deadline_exceeded("deadline exceeded"),
            _ => Status::cancelled("the caller went away"),
        };
        summary
    }
}

/// Ends the stream with `status` after what was already sent.
async fn fail(tx: &mpsc::Sender<Item>, mut summary: Summary, status: Status) -> Summary {
    // A caller that already left does not need it.
    let _ = tx.send(Err(status.clone())).await;
    summary.status = status;
    summary
}
