//! `Streams`: reads of one stream or `$all`, in pages, and catch-up subscriptions that go
//! live. Appends are served only when allowed (`write`); deletes and tombstones are refused:
//! the ledger never deletes.

use std::sync::Arc;

use futures::{StreamExt as _, stream::BoxStream};
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StoreError, StreamName,
    StreamRevision,
};
use plg_kurrentdb_wire::event_store::client::{
    StreamIdentifier,
    streams::{
        self, AppendReq, AppendResp, BatchAppendReq, DeleteReq, DeleteResp, ReadReq, ReadResp,
        TombstoneReq, TombstoneResp,
        read_req::{
            Options as ReadOptions,
            options::{
                self as options, AllOptions, CountOption, StreamOption, StreamOptions,
                all_options::AllOption, stream_options::RevisionOption, uuid_option,
            },
        },
        read_resp::{self, Content},
    },
};
use plg_ledger::{Caller, Ledger};
use plg_server::Budgets;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming, metadata::MetadataMap};

use crate::{
    auth::{self, Keys},
    batch,
    event::{IdForm, read_resp},
    filter::Filter,
    write::{self, Writes},
};

/// Events read from the store at a time: a read of any count is streamed in pages of this.
pub(crate) const PAGE: usize = 4096;
/// Replies queued for a slow client before reading waits for it.
const QUEUE: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct Streams {
    ledger: Ledger,
    keys: Keys,
    /// A read, and a subscription for as long as it lasts, is a request in flight of its key.
    pub(crate) budgets: Budgets,
    pub(crate) writes: Writes,
}

impl Streams {
    pub(crate) fn new(ledger: Ledger, keys: Keys, budgets: Budgets, writes: Writes) -> Self {
        Self {
            ledger,
            keys,
            budgets,
            writes,
        }
    }

    pub(crate) fn store(&self) -> Arc<dyn EventStore> {
        self.ledger.store().clone()
    }

    pub(crate) async fn caller(&self, request: &Request<impl Sized>) -> Result<Caller, Status> {
        self.caller_named_in(request.metadata()).await
    }

    /// The caller the credentials in `metadata` name.
    pub(crate) async fn caller_named_in(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        auth::caller(&self.ledger, self.keys, metadata).await
    }
}

/// Where replies go; closed once the client has gone.
type Replies = mpsc::Sender<Result<ReadResp, Status>>;

/// Why a read or subscription ended early.
enum Stop {
    /// The client went away: nobody to tell.
    Gone,
    /// The store failed: the client is told.
    Failed(Status),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Self::Failed(plg_server::status(error.into()))
    }
}

async fn send(replies: &Replies, content: Content) -> Result<(), Stop> {
    replies
        .send(Ok(ReadResp {
            content: Some(content),
        }))
        .await
        .map_err(|_| Stop::Gone)
}

/// Tells the client why its read ended early, if it is still there to hear it.
async fn end(replies: &Replies, ended: Result<(), Stop>) {
    if let Err(Stop::Failed(status)) = ended {
        let _ = replies.send(Err(status)).await;
    }
}

/// A read's target, checked against the caller.
enum Target {
    Stream {
        stream: StreamName,
        revision: Option<RevisionOption>,
    },
    All {
        from: Option<AllOption>,
        filter: Option<Filter>,
    },
    /// A name the store cannot hold (`$`-prefixed system streams, `$$` metadata streams):
    /// not found, as a stream that was never written.
    Missing(Vec<u8>),
}

fn stream_not_found(name: Vec<u8>) -> Content {
    Content::StreamNotFound(read_resp::StreamNotFound {
        stream_identifier: Some(StreamIdentifier { stream_name: name }),
    })
}

fn timestamp() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

impl Streams {
    async fn target(&self, caller: &Caller, options: &ReadOptions) -> Result<Target, Status> {
        let denied = |error| plg_server::status(error);
        match &options.stream_option {
            Some(StreamOption::Stream(StreamOptions {
                stream_identifier,
                revision_option,
            })) => {
                let name = stream_identifier
                    .as_ref()
                    .map(|identifier| identifier.stream_name.clone())
                    .unwrap_or_default();
                let Some(stream) = String::from_utf8(name.clone())
                    .ok()
                    .and_then(|name| StreamName::new(name).ok())
                else {
                    caller
                        .require_any(&[
                            plg_domain::access::Role::Operator,
                            plg_domain::access::Role::Administrator,
                        ])
                        .map_err(denied)?;
                    return Ok(Target::Missing(name));
                };
                auth::may_read_stream(&self.ledger, caller, &stream)
                    .await
                    .map_err(denied)?;
                Ok(Target::Stream {
                    stream,
                    revision: *revision_option,
                })
            }
            Some(StreamOption::All(AllOptions { all_option })) => {
                auth::may_read_all(caller).map_err(denied)?;
                Ok(Target::All {
                    from: *all_option,
                    filter: Filter::from_request(options.filter_option.clone())?,
                })
            }
            None => Err(Status::invalid_argument(
                "the read names neither a stream nor $all",
            )),
        }
    }
}

fn stream_from(revision: Option<RevisionOption>, direction: Direction) -> ReadFrom<StreamRevision> {
    match (revision, direction) {
        (Some(RevisionOption::Revision(revision)), _) => ReadFrom::At(StreamRevision(revision)),
        (Some(RevisionOption::End(_)), _) | (None, Direction::Backward) => ReadFrom::End,
        (Some(RevisionOption::Start(_)), Direction::Backward) => ReadFrom::At(StreamRevision(0)),
        (Some(RevisionOption::Start(_)) | None, Direction::Forward) => ReadFrom::Start,
    }
}

/// Where a read of `$all` starts: forwards from a position inclusive, backwards from it
/// exclusive, as KurrentDB reads; `None` when nothing lies before it.
fn all_from(from: Option<AllOption>, direction: Direction) -> Option<ReadFrom<Position>> {
    match (from, direction) {
        (Some(AllOption::Position(position)), Direction::Forward) => {
            Some(ReadFrom::At(Position(position.commit_position)))
        }
        (Some(AllOption::Position(position)), Direction::Backward) => position
            .commit_position
            .checked_sub(1)
            .map(|before| ReadFrom::At(Position(before))),
        (Some(AllOption::End(_)), _) | (None, Direction::Backward) => Some(ReadFrom::End),
        (Some(AllOption::Start(_)), Direction::Backward) => None,
        (Some(AllOption::Start(_)) | None, Direction::Forward) => Some(ReadFrom::Start),
    }
}

/// The revision or position a read goes on from after the one it read last, in `direction`;
/// `None` past the first.
fn beyond(last: u64, direction: Direction) -> Option<u64> {
    match direction {
        Direction::Forward => last.checked_add(1),
        Direction::Backward => last.checked_sub(1),
    }
}

/// Sends up to `count` events of a read, a page at a time.
async fn read(
    store: Arc<dyn EventStore>,
    target: Target,
    direction: Direction,
    count: u64,
    form: IdForm,
    replies: &Replies,
) -> Result<(), Stop> {
    let mut left = count;
    match target {
        Target::Missing(name) => send(replies, stream_not_found(name)).await?,
        Target::Stream { stream, revision } => {
            if store.stream_revision(&stream).await?.is_none() {
                let name = stream.as_str().as_bytes().to_vec();
                return send(replies, stream_not_found(name)).await;
            }
            let mut from = Some(stream_from(revision, direction));
            while let Some(at) = from.filter(|_| left > 0) {
                let asked = page(left);
                let events = store.read_stream(&stream, direction, at, asked).await?;
                from = events
                    .last()
                    .filter(|_| events.len() == asked)
                    .and_then(|last| beyond(last.revision.0, direction))
                    .map(|revision| ReadFrom::At(StreamRevision(revision)));
                for event in &events {
                    send(replies, read_resp(event, form)).await?;
                }
                left -= events.len() as u64;
            }
        }
        Target::All { from, filter } => {
            let mut from = all_from(from, direction);
            // Whole pages even for a small count: a filter may pass over many events.
            while let Some(at) = from.filter(|_| left > 0) {
                let events = store.read_all(direction, at, PAGE).await?;
                from = events
                    .last()
                    .filter(|_| events.len() == PAGE)
                    .and_then(|last| beyond(last.position.0, direction))
                    .map(|position| ReadFrom::At(Position(position)));
                let matching = events
                    .iter()
                    .filter(|event| filter.as_ref().is_none_or(|filter| filter.matches(event)));
                for event in matching.take(page(left)) {
                    send(replies, read_resp(event, form)).await?;
                    left -= 1;
                }
            }
        }
    }
    Ok(())
}

fn page(left: u64) -> usize {
    usize::try_from(left).map_or(PAGE, |left| left.min(PAGE))
}

/// Follows a subscription: its confirmation, then events from the store until the head it
/// had when it started (`CaughtUp`), then live ones.
async fn subscribe(
    store: Arc<dyn EventStore>,
    target: Target,
    form: IdForm,
    replies: &Replies,
) -> Result<(), Stop> {
    let confirmation = Content::Confirmation(read_resp::SubscriptionConfirmation {
        subscription_id: uuid::Uuid::new_v4().to_string(),
    });
    match target {
        Target::Missing(_) => {
            // Nothing is ever written to a name the store cannot hold: caught up for good.
            send(replies, confirmation).await?;
            send(replies, caught_up(None, None)).await?;
            replies.closed().await;
            Err(Stop::Gone)
        }
        Target::Stream { stream, revision } => {
            let head = store.stream_revision(&stream).await?;
            let after = match revision {
                Some(RevisionOption::Revision(revision)) => Some(StreamRevision(revision)),
                Some(RevisionOption::End(_)) => head,
                Some(RevisionOption::Start(_)) | None => None,
            };
            let events = store.subscribe_to_stream(stream, after);
            send(replies, confirmation).await?;
            let live = head.is_none_or(|head| after.is_some_and(|after| after >= head));
            let reaches_head =
                |event: &RecordedEvent| head.is_none_or(|head| event.revision >= head);
            follow(events, None, live, reaches_head, form, replies).await
        }
        Target::All { from, filter } => {
            let last = store
                .read_all(Direction::Backward, ReadFrom::End, 1)
                .await?;
            let head = last.first().map(|event| event.position);
            let after = match from {
                Some(AllOption::Position(position)) => Some(Position(position.commit_position)),
                Some(AllOption::End(_)) => head,
                Some(AllOption::Start(_)) | None => None,
            };
            let events = store.subscribe_to_all(after);
            send(replies, confirmation).await?;
            let live = head.is_none_or(|head| after.is_some_and(|after| after >= head));
            let reaches_head =
                |event: &RecordedEvent| head.is_none_or(|head| event.position >= head);
            follow(events, filter, live, reaches_head, form, replies).await
        }
    }
}

fn caught_up(stream_revision: Option<StreamRevision>, position: Option<Position>) -> Content {
    Content::CaughtUp(read_resp::CaughtUp {
        timestamp: Some(timestamp()),
        stream_revision: stream_revision.and_then(|revision| i64::try_from(revision.0).ok()),
        position: position.map(|position| streams::Position {
            commit_position: position.0,
            prepare_position: position.0,
        }),
    })
}

/// Sends a subscription's events that pass `filter`, and `CaughtUp` once (at once when
/// `live`, else after the first event that `reaches_head`), until the client leaves or the
/// store closes.
async fn follow(
    mut events: BoxStream<'static, Result<RecordedEvent, StoreError>>,
    filter: Option<Filter>,
    mut live: bool,
    reaches_head: impl Fn(&RecordedEvent) -> bool,
    form: IdForm,
    replies: &Replies,
) -> Result<(), Stop> {
    if live {
        send(replies, caught_up(None, None)).await?;
    }
    let checkpoint_every = filter.as_ref().and_then(Filter::checkpoint_every);
    let mut examined = 0_u64;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = replies.closed() => return Err(Stop::Gone),
        };
        // The store's subscriptions end only when it closes, as plgd stops. Never ended
        // cleanly: KurrentDB's Rust client (1.1.0) spins on a subscription that ends without
        // an error, so it is told to subscribe again elsewhere.
        let Some(event) = event.transpose()? else {
            return Err(Stop::Failed(Status::unavailable(
                "the server is stopping: subscribe again",
            )));
        };
        if filter.as_ref().is_none_or(|filter| filter.matches(&event)) {
            send(replies, read_resp(&event, form)).await?;
        }
        examined += 1;
        if checkpoint_every.is_some_and(|every| examined.is_multiple_of(every)) {
            let position = event.position.0;
            let checkpoint = read_resp::Checkpoint {
                commit_position: position,
                prepare_position: position,
                timestamp: Some(timestamp()),
            };
            send(replies, Content::Checkpoint(checkpoint)).await?;
        }
        if !live && reaches_head(&event) {
            live = true;
            let caught = caught_up(Some(event.revision), Some(event.position));
            send(replies, caught).await?;
        }
    }
}

fn refused_delete() -> Status {
    Status::failed_precondition(
        "the ledger never deletes or tombstones a stream: erasure destroys keys instead",
    )
}

#[tonic::async_trait]
impl streams::streams_server::Streams for Streams {
    type ReadStream = ReceiverStream<Result<ReadResp, Status>>;
    type BatchAppendStream = batch::Replies;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<Self::ReadStream>, Status> {
        let caller = self.caller(&request).await?;
        let options = request
            .into_inner()
            .options
            .ok_or_else(|| Status::invalid_argument("the read has no options"))?;
        let target = self.target(&caller, &options).await?;
        let permit = self.budgets.admit(&caller.principal())?;
        let direction = match options.read_direction() {
            options::ReadDirection::Forwards => Direction::Forward,
            options::ReadDirection::Backwards => Direction::Backward,
        };
        let form = match options.uuid_option.and_then(|option| option.content) {
            Some(uuid_option::Content::Structured(_)) => IdForm::Structured,
            Some(uuid_option::Content::String(_)) | None => IdForm::String,
        };
        let (replies, received) = mpsc::channel(QUEUE);
        let store = self.store();
        match options.count_option {
            Some(CountOption::Count(count)) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let ended = read(store, target, direction, count, form, &replies).await;
                    end(&replies, ended).await;
                });
            }
            Some(CountOption::Subscription(_)) => {
                if direction == Direction::Backward {
                    return Err(Status::invalid_argument(
                        "a subscription reads forwards only",
                    ));
                }
                tokio::spawn(async move {
                    let _permit = permit;
                    let ended = subscribe(store, target, form, &replies).await;
                    end(&replies, ended).await;
                });
            }
            None => {
                return Err(Status::invalid_argument(
                    "the read asks neither a count nor a subscription",
                ));
            }
        }
        Ok(Response::new(ReceiverStream::new(received)))
    }

    async fn append(
        &self,
        request: Request<Streaming<AppendReq>>,
    ) -> Result<Response<AppendResp>, Status> {
        write::append(self, request).await
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        self.caller(&request).await?;
        Err(refused_delete())
    }

    async fn tombstone(
        &self,
        request: Request<TombstoneReq>,
    ) -> Result<Response<TombstoneResp>, Status> {
        self.caller(&request).await?;
        Err(refused_delete())
    }

    async fn batch_append(
        &self,
        request: Request<Streaming<BatchAppendReq>>,
    ) -> Result<Response<Self::BatchAppendStream>, Status> {
        batch::batch_append(self, request).await
    }
}
