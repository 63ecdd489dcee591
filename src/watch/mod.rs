//! Server streams: the shared pollers behind WatchCheckpoint (`hub.rs`), the
//! pager behind StreamBackups, StreamVaults and StreamOperationLogs
//! (`pager.rs`), and what both need: a bound by the caller's deadline.

pub(crate) mod checkpoint;
pub(crate) mod hub;
pub(crate) mod operation;
pub(crate) mod pager;

pub use hub::MAX_PASSING_FAILURES;

use std::pin::Pin;

use tokio::{sync::mpsc, time::Instant};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::Status;

/// A boxed server stream of `T`.
pub(crate) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The stream of `rx`, ended with DEADLINE_EXCEEDED when `deadline` passes.
///
/// tonic bounds neither server streams nor their deadlines (PITFALLS.md), so
/// every stream goes through here. Dropping the stream (the caller cancelled or
/// the deadline passed) drops `rx`, which the producer sees as `tx.closed()`.
pub(crate) fn bounded<T: Send + 'static>(
    rx: mpsc::Receiver<Result<T, Status>>,
    deadline: Option<Instant>,
) -> BoxStream<T> {
    with_deadline(Box::pin(ReceiverStream::new(rx)), deadline)
}

/// `stream`, ended with DEADLINE_EXCEEDED when `deadline` passes.
pub(crate) fn with_deadline<T: Send + 'static>(
    stream: BoxStream<T>,
    deadline: Option<Instant>,
) -> BoxStream<T> {
    match deadline {
        None => stream,
        Some(deadline) => {
            let expiry =
                tokio_stream::once(Err(crate::error::GatewayError::DeadlineExceeded.to_status()));
            let timer = Box::pin(tokio::time::sleep_until(deadline));
            Box::pin(UntilDeadline {
                inner: stream,
                timer,
                expiry: Some(Box::pin(expiry)),
            })
        }
    }
}

/// Passes items through until the timer fires, then yields one
/// DEADLINE_EXCEEDED and ends.
struct UntilDeadline<T> {
    inner: BoxStream<T>,
    timer: Pin<Box<tokio::time::Sleep>>,
    expiry: Option<BoxStream<T>>,
}

impl<T> Stream for UntilDeadline<T> {
    type Item = Result<T, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::{future::Future, task::Poll};
        if self.expiry.is_none() {
            return Poll::Ready(None);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            let mut expiry = self.expiry.take().expect("checked above");
            return expiry.as_mut().poll_next(cx);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(None) => {
                self.expiry = None;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio_stream::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn streams_end_with_deadline_exceeded() {
        let (tx, rx) = mpsc::channel::<Result<u32, Status>>(4);
        tx.send(Ok(1)).await.unwrap();
        let mut s = bounded(rx, Some(Instant::now() + Duration::from_secs(5)));
        assert_eq!(s.next().await.unwrap().unwrap(), 1);
        let end = s.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), tonic::Code::DeadlineExceeded);
        assert!(s.next().await.is_none());
        // Dropping the stream is what tells the producer to stop.
        drop(s);
        assert!(tx.is_closed());
    }

    #[tokio::test]
    async fn without_a_deadline_the_stream_ends_with_the_producer() {
        let (tx, rx) = mpsc::channel::<Result<u32, Status>>(4);
        tx.send(Ok(7)).await.unwrap();
        drop(tx);
        let items: Vec<_> = bounded(rx, None).collect().await;
        assert_eq!(items.len(), 1);
    }
}
