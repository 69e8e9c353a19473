//! Bounds on server streams and replies: how many streams a key may have in production at
//! once, how many exports run at all (each holds a blocking thread and a read snapshot), how
//! long a stream may wait for a client that takes nothing, and how large a reply may grow.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_stream::Stream;
use tonic::Status;

use plg_ledger::{Caller, ServiceError};

/// The `[streams]` configuration section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamLimits {
    /// Exports running at once in the process, each on a blocking thread of its own.
    pub export_concurrency: usize,
    /// Streams (exports, school histories, store verifications) one key may have in
    /// production at once.
    pub streams_per_key: usize,
    /// A stream whose client has taken nothing for this long is stopped.
    pub stream_idle_seconds: u64,
    /// The encoded size at which `ReadAll` and `ReadStream` end a page.
    pub reply_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            export_concurrency: 4,
            streams_per_key: 2,
            stream_idle_seconds: 30,
            // Leaves 1 MiB under the usual 4 MiB client limit for the event that ends a page.
            reply_bytes: 3 * 1024 * 1024,
        }
    }
}

/// Why a stream's producer must stop.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error("the client went away")]
    ClientGone,
    #[error("the client took nothing for {0:?}")]
    Idle(Duration),
}

/// The limits and what they count, shared by every service of a process.
#[derive(Debug, Clone)]
pub struct Streams {
    limits: StreamLimits,
    exports: Arc<Semaphore>,
    per_key: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for Streams {
    fn default() -> Self {
        Self::new(StreamLimits::default())
    }
}

impl Streams {
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            exports: Arc::new(Semaphore::new(limits.export_concurrency)),
            limits,
            per_key: Arc::default(),
        }
    }

    pub fn limits(&self) -> &StreamLimits {
        &self.limits
    }

    /// A stream for `caller`, or `RESOURCE_EXHAUSTED` when its key has its limit in production.
    pub fn open<T>(
        &self,
        caller: &Caller,
        buffer: usize,
    ) -> Result<(Outbox<T>, ReplyStream<T>), ServiceError> {
        let slot = self.slot(caller)?;
        Ok(self.channel(buffer, slot, None))
    }

    /// As [`Self::open`], and also one of the process's export slots.
    pub fn open_export<T>(
        &self,
        caller: &Caller,
        buffer: usize,
    ) -> Result<(Outbox<T>, ReplyStream<T>), ServiceError> {
        let slot = self.slot(caller)?;
        let export = self.exports.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!(
                limit = self.limits.export_concurrency,
                "export refused: every export slot is taken"
            );
            ServiceError::ResourceExhausted(format!(
                "{} exports are running, the most this server runs at once; retry later",
                self.limits.export_concurrency
            ))
        })?;
        Ok(self.channel(buffer, slot, Some(export)))
    }

    fn slot(&self, caller: &Caller) -> Result<KeySlot, ServiceError> {
        let key = caller.principal();
        let mut open = self
            .per_key
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let count = open.entry(key.clone()).or_default();
        if *count >= self.limits.streams_per_key {
            tracing::warn!(
                key,
                limit = self.limits.streams_per_key,
                "stream refused: the key has its limit open"
            );
            return Err(ServiceError::ResourceExhausted(format!(
                "this key has {} streams open, the most it may; finish or cancel one first",
                self.limits.streams_per_key
            )));
        }
        *count += 1;
        Ok(KeySlot {
            per_key: self.per_key.clone(),
            key,
        })
    }

    fn channel<T>(
        &self,
        buffer: usize,
        slot: KeySlot,
        export: Option<OwnedSemaphorePermit>,
    ) -> (Outbox<T>, ReplyStream<T>) {
        let (sender, receiver) = mpsc::channel(buffer);
        let (stop, stopped) = oneshot::channel();
        (
            Outbox {
                sender,
                idle: Duration::from_secs(self.limits.stream_idle_seconds),
                stop: Some(stop),
                _slot: slot,
                _export: export,
            },
            ReplyStream {
                receiver,
                stopped: Some(stopped),
            },
        )
    }
}

/// One of a key's stream slots, given back when dropped.
#[derive(Debug)]
struct KeySlot {
    per_key: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Drop for KeySlot {
    fn drop(&mut self) {
        let mut open = self
            .per_key
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The producing end of a stream. It holds the stream's slots until dropped, so a producer
/// that stops (done, client gone, or idle) frees them.
#[derive(Debug)]
pub struct Outbox<T> {
    sender: mpsc::Sender<Result<T, Status>>,
    idle: Duration,
    stop: Option<oneshot::Sender<Status>>,
    _slot: KeySlot,
    _export: Option<OwnedSemaphorePermit>,
}

impl<T> Outbox<T> {
    /// Sends a message, waiting at most the idle limit for the client to make room. When it
    /// does not, the stream ends with `DEADLINE_EXCEEDED` instead of what is still queued.
    pub async fn send(&mut self, message: Result<T, Status>) -> Result<(), Stopped> {
        match tokio::time::timeout(self.idle, self.sender.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stopped::ClientGone),
            Err(_) => {
                tracing::warn!(idle = ?self.idle, "stream stopped: the client took nothing");
                if let Some(stop) = self.stop.take() {
                    let _ = stop.send(Status::deadline_exceeded(format!(
                        "the stream was stopped: the client took nothing for {} s",
                        self.idle.as_secs()
                    )));
                }
                Err(Stopped::Idle(self.idle))
            }
        }
    }

    /// [`Self::send`] from a blocking thread (`spawn_blocking`), which has the runtime's
    /// context.
    pub fn blocking_send(&mut self, message: Result<T, Status>) -> Result<(), Stopped> {
        tokio::runtime::Handle::current().block_on(self.send(message))
    }
}

/// The client's end: the messages, or the status that stopped the stream first.
#[derive(Debug)]
pub struct ReplyStream<T> {
    receiver: mpsc::Receiver<Result<T, Status>>,
    stopped: Option<oneshot::Receiver<Status>>,
}

impl<T> Stream for ReplyStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(stopped) = self.stopped.as_mut() {
            match Pin::new(stopped).poll(context) {
                Poll::Ready(Ok(status)) => {
                    self.stopped = None;
                    self.receiver.close();
                    // Drop what was queued: the client gets the reason, not a short stream.
                    while self.receiver.try_recv().is_ok() {}
                    return Poll::Ready(Some(Err(status)));
                }
                // The producer finished without stopping the stream.
                Poll::Ready(Err(_)) => self.stopped = None,
                Poll::Pending => {}
            }
        }
        self.receiver.poll_recv(context)
    }
}
