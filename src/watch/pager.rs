//! The pager behind StreamBackups, StreamVaults and StreamOperationLogs: every
//! page of one upstream list as one stream of its items, the next page fetched
//! while the current one streams. What is listed is a [`Listing`]; the walk
//! below is the same for all of them.
//!
//! # Design
//!
//! One producer task per stream ([`Pager::stream`]) walks the listing and
//! sends one message per item ([`Listing::message`]) into an `mpsc` channel of at
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
//!   (or empty). Upstream's `count` does not end the walk: it is a total that
//!   may move while the walk runs.
//! * **Guard.** An upstream that ignores `offset`, or never sends a short
//!   page, would keep the walk going for ever, so the walk ends with INTERNAL
//!   (`UPSTREAM_PAGING_BROKEN`, after the backups already sent) when
//!   * a page repeats the previous one (same length and the same IDs, compared
//!     by a hash) twice in a row. One repeat is skipped, not fatal: a page of
//!     size `n` legitimately repeats when `n` backups were created ahead of
//!     the walk between two fetches (newest first, everything shifts by `n`),
//!     and its backups were all sent already; or
//!   * a full page would have the walk go on from an offset past the largest
//!     positive `count` upstream gave. Up to `count` itself the walk goes on
//!     (a total that grew may fill the next page).
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

use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use futures_util::future::BoxFuture;

use crate::{
    domain::DEFAULT_PAGE_SIZE,
    error::GatewayError,
    proto as pb,
    upstream::{
        Auth, BackupQuery, OperationLogQuery, Reply, UpstreamClient, UpstreamError, VaultQuery, dto,
    },
    watch::{BoxStream, bounded},
};

/// Most messages waiting between the producer and the gRPC stream.
pub(crate) const CHANNEL_CAPACITY: usize = 32;

/// One page of a list: its items and upstream's `count` beside them.
pub(crate) struct Page<T> {
    items: Vec<T>,
    count: Option<i64>,
}

type PageResult<T> = Result<Reply<Page<T>>, UpstreamError>;

/// What a stream walks: one upstream list with its checked filters, whose
/// `limit` is the page size and `offset` where the walk starts (unset:
/// [`DEFAULT_PAGE_SIZE`] and 0).
pub(crate) trait Listing: Send + Sync + 'static {
    /// An upstream item.
    type Dto: Send + 'static;
    /// The stream's message for one item.
    type Message: Send + 'static;
    /// What the items are, in status messages (`backups`).
    const ITEMS: &'static str;
    /// The query's `limit` and `offset`.
    fn paging(&self) -> (Option<i32>, Option<i32>);
    /// Fetches the page at `offset`, on its own (the fetch runs in a task).
    fn fetch(
        &self,
        upstream: UpstreamClient,
        auth: Auth,
        deadline: Option<Instant>,
        project_id: String,
        offset: i32,
    ) -> BoxFuture<'static, PageResult<Self::Dto>>;
    /// The item's ID, to notice a page repeated.
    fn id(item: &Self::Dto) -> Option<&str>;
    /// The stream's message for `item`.
    fn message(item: Self::Dto) -> Self::Message;
}

/// One walk, ready to start.
pub(crate) struct Pager<L> {
    /// The upstream client.
    pub upstream: UpstreamClient,
    /// The credentials the call acts with.
    pub auth: Auth,
    /// When the caller stops waiting.
    pub deadline: Option<Instant>,
    /// Project to list.
    pub project_id: String,
    /// What to list.
    pub listing: L,
}

/// A [`Listing`] for a query type: its upstream list call, the page's field
/// of items, what the items are called, and the stream message's field.
macro_rules! listing {
    ($query:ty, $dto:ty, $message:ident { $field:ident }, $items:literal, $call:ident, $page:ident) => {
        impl Listing for $query {
            type Dto = $dto;
            type Message = pb::$message;
            const ITEMS: &'static str = $items;
            fn paging(&self) -> (Option<i32>, Option<i32>) {
                (self.limit, self.offset)
            }
            fn fetch(
                &self,
                upstream: UpstreamClient,
                auth: Auth,
                deadline: Option<Instant>,
                project_id: String,
                offset: i32,
            ) -> BoxFuture<'static, PageResult<Self::Dto>> {
                let mut query = self.clone();
                query.offset = Some(offset);
                Box::pin(async move {
                    let reply = upstream.$call(&auth, deadline, &project_id, &query).await?;
                    Ok(reply.map(|d| Page {
                        items: d.$page.0,
                        count: d.count.0,
                    }))
                })
            }
            fn id(item: &Self::Dto) -> Option<&str> {
                item.id.as_deref()
            }
            fn message(item: Self::Dto) -> Self::Message {
                pb::$message {
                    $field: Some(item.into()),
                }
            }
        }
    };
}

// The walk never sends a marker: BackupQuery's stays unset (the stream's
// check never sets one).
listing!(
    BackupQuery,
    dto::BackupDto,
    StreamBackupsResponse { backup },
    "backups",
    list_backups,
    backups
);
listing!(
    VaultQuery,
    dto::VaultDto,
    StreamVaultsResponse { vault },
    "vaults",
    list_vaults,
    vaults
);
listing!(
    OperationLogQuery,
    dto::OperationLogDto,
    StreamOperationLogsResponse { operation_log },
    "operation logs",
    list_operation_logs,
    operation_logs
);

/// How a walk went, for its log line.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Items sent.
    pub sent: u64,
    /// Upstream pages fetched.
    pub pages: u64,
    /// How the stream ended.
    pub status: Status,
    /// Upstream's last request id.
    pub request_id: Option<String>,
}

/// What the walk remembers to notice an upstream whose pages never end.
#[derive(Debug, Default)]
struct Guard {
    /// The previous page's length and the hash of its IDs.
    previous: Option<(usize, u64)>,
    /// Pages in a row that repeated the one before.
    repeats: u32,
    /// The largest positive `count` upstream gave.
    count: Option<i64>,
}

/// What to do with a page, by [`Guard::page`].
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// A page unlike the previous one: send it.
    New,
    /// The previous page again, once: skip it (its backups were sent).
    Repeat,
    /// The previous page again, again: upstream ignores `offset`.
    RepeatedAgain,
}

impl Guard {
    /// Takes note of a page and upstream's `count` beside it.
    fn page<L: Listing>(&mut self, items: &[L::Dto], count: Option<i64>) -> Seen {
        // A count of 0 beside backups is read as "not filled in" rather than
        // as a total: trusted, it would end every walk of such an upstream
        // after one page.
        if let Some(c) = count.filter(|c| *c > 0) {
            self.count = Some(self.count.map_or(c, |seen| seen.max(c)));
        }
        let mut hasher = DefaultHasher::new();
        for item in items {
            L::id(item).hash(&mut hasher);
        }
        let mark = (items.len(), hasher.finish());
        // An empty page ends the walk anyway; it repeats nothing.
        let repeated = !items.is_empty() && self.previous == Some(mark);
        self.previous = Some(mark);
        if !repeated {
            self.repeats = 0;
            return Seen::New;
        }
        self.repeats += 1;
        if self.repeats == 1 {
            Seen::Repeat
        } else {
            Seen::RepeatedAgain
        }
    }

    /// Upstream's largest `count`, when the walk would go on from `next`, past it.
    fn past_count(&self, next: i32) -> Option<i64> {
        self.count.filter(|c| i64::from(next) > *c)
    }
}

/// Why a walk cannot go on, for the status that ends it.
fn broken_paging(why: &str, sent: u64, items: &str) -> Status {
    GatewayError::UpstreamPagingBroken(format!("{why}; stopping after {sent} {items}")).to_status()
}

/// A page fetch running in its own task; dropping it aborts the task and with it
/// the upstream request.
struct Fetch<T>(JoinHandle<PageResult<T>>);

impl<T> Drop for Fetch<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<L: Listing> Pager<L> {
    /// Starts the walk in a task of its own and returns the stream of its
    /// items, ended by the caller's deadline; `ended` gets the walk's
    /// [`Summary`] (for the call's log line) when it is over.
    pub(crate) fn stream(
        self,
        ended: impl FnOnce(Summary) + Send + 'static,
    ) -> BoxStream<L::Message> {
        let capacity = CHANNEL_CAPACITY.min(self.page_size());
        let (tx, rx) = mpsc::channel(capacity);
        let deadline = self.deadline;
        crate::trace::spawn(async move {
            ended(self.walk(&tx, capacity).await);
        });
        bounded(rx, deadline)
    }

    fn page_size(&self) -> usize {
        usize::try_from(self.listing.paging().0.unwrap_or(DEFAULT_PAGE_SIZE))
            .unwrap_or(1)
            .max(1)
    }

    /// Starts fetching the page at `offset`.
    fn fetch(&self, offset: i32) -> Fetch<L::Dto> {
        Fetch(crate::trace::spawn(self.listing.fetch(
            self.upstream.clone(),
            self.auth.clone(),
            self.deadline,
            self.project_id.clone(),
            offset,
        )))
    }

    /// Walks every page, sending each item; returns how it ended.
    async fn walk(
        &self,
        tx: &mpsc::Sender<Result<L::Message, Status>>,
        capacity: usize,
    ) -> Summary {
        let page_size = self.page_size();
        let mut summary = Summary {
            sent: 0,
            pages: 0,
            status: Status::ok(""),
            request_id: None,
        };
        let mut offset = self.listing.paging().1.unwrap_or(0);
        let mut guard = Guard::default();
        let mut in_flight = Some(self.fetch(offset));
        // Items of the previous page that may still sit in the channel.
        let mut wait_before_prefetch = 0;
        while let Some(mut fetch) = in_flight.take() {
            let joined: Result<PageResult<L::Dto>, JoinError> = tokio::select! {
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
                    return fail(
                        tx,
                        summary,
                        GatewayError::Internal("the page fetch failed").to_status(),
                    )
                    .await;
                }
            };
            summary.pages += 1;
            summary.request_id = reply.request_id;
            let mut page = reply.value.items;
            let len = page.len();
            match guard.page::<L>(&page, reply.value.count) {
                Seen::New => {}
                Seen::Repeat => page.clear(),
                Seen::RepeatedAgain => {
                    let why = format!(
                        "upstream repeated a page of {len} {} at offset {offset} (offset ignored?)",
                        L::ITEMS
                    );
                    let status = broken_paging(&why, summary.sent, L::ITEMS);
                    return fail(tx, summary, status).await;
                }
            }
            let next_offset = if len >= page_size {
                match i32::try_from(len).ok().and_then(|l| offset.checked_add(l)) {
                    Some(next) => Some(next),
                    None => {
                        let status = GatewayError::ListingTooLong.to_status();
                        return fail(tx, summary, status).await;
                    }
                }
            } else {
                None
            };
            // A full page whose next offset is past upstream's count: send
            // it (the count may have grown), then stop instead of fetching on.
            let past_count = next_offset.and_then(|next| guard.past_count(next));
            let next_offset = next_offset.filter(|_| past_count.is_none());
            for (i, item) in page.into_iter().enumerate() {
                if let Some(next) = next_offset
                    && in_flight.is_none()
                    && i >= wait_before_prefetch
                {
                    in_flight = Some(self.fetch(next));
                }
                if tx.send(Ok(L::message(item))).await.is_err() {
                    return self.gone(summary);
                }
                summary.sent += 1;
            }
            if let Some(count) = past_count {
                let why = format!("upstream kept sending full pages past its count of {count}");
                let status = broken_paging(&why, summary.sent, L::ITEMS);
                return fail(tx, summary, status).await;
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
        summary.status = match self.deadline {
            Some(d) if d <= Instant::now() => GatewayError::DeadlineExceeded.to_status(),
            _ => GatewayError::Cancelled.to_status(),
        };
        summary
    }
}

/// Ends the stream with `status` after what was already sent.
async fn fail<M>(
    tx: &mpsc::Sender<Result<M, Status>>,
    mut summary: Summary,
    status: Status,
) -> Summary {
    // A caller that already left does not need it.
    let _ = tx.send(Err(status.clone())).await;
    summary.status = status;
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{dto::BackupDto, lenient::Text};

    fn page(ids: &[&str]) -> Vec<BackupDto> {
        ids.iter()
            .map(|id| BackupDto {
                id: Text(Some((*id).to_owned())),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn a_page_repeated_twice_in_a_row_is_broken_paging() {
        let mut g = Guard::default();
        assert_eq!(g.page::<BackupQuery>(&page(&["a", "b"]), None), Seen::New);
        assert_eq!(g.page::<BackupQuery>(&page(&["c", "d"]), None), Seen::New);
        // Shifted by two new backups: skipped once, not fatal.
        assert_eq!(
            g.page::<BackupQuery>(&page(&["c", "d"]), None),
            Seen::Repeat
        );
        assert_eq!(g.page::<BackupQuery>(&page(&["e", "f"]), None), Seen::New);
        assert_eq!(
            g.page::<BackupQuery>(&page(&["e", "f"]), None),
            Seen::Repeat
        );
        assert_eq!(
            g.page::<BackupQuery>(&page(&["e", "f"]), None),
            Seen::RepeatedAgain
        );
        // Same IDs in another order, or one more, are another page.
        let mut g = Guard::default();
        assert_eq!(g.page::<BackupQuery>(&page(&["a", "b"]), None), Seen::New);
        assert_eq!(g.page::<BackupQuery>(&page(&["b", "a"]), None), Seen::New);
        assert_eq!(
            g.page::<BackupQuery>(&page(&["b", "a", "c"]), None),
            Seen::New
        );
        // Empty pages end walks; they repeat nothing.
        assert_eq!(g.page::<BackupQuery>(&[], None), Seen::New);
        assert_eq!(g.page::<BackupQuery>(&[], None), Seen::New);
    }

    #[test]
    fn the_largest_positive_count_bounds_the_walk() {
        let mut g = Guard::default();
        assert_eq!(g.past_count(1_000_000), None, "no count, no bound");
        g.page::<BackupQuery>(&page(&["a"]), Some(5));
        assert_eq!(g.past_count(5), None, "the walk may reach the count");
        assert_eq!(g.past_count(6), Some(5));
        // The count moves while the walk runs: the largest one counts.
        g.page::<BackupQuery>(&page(&["b"]), Some(7));
        g.page::<BackupQuery>(&page(&["c"]), Some(6));
        assert_eq!(g.past_count(7), None);
        assert_eq!(g.past_count(8), Some(7));
        // A zero or negative count beside backups is not a total.
        let mut g = Guard::default();
        g.page::<BackupQuery>(&page(&["a"]), Some(0));
        g.page::<BackupQuery>(&page(&["b"]), Some(-1));
        assert_eq!(g.past_count(1_000_000), None);
    }
}
