//! Reads and subscriptions. The log's readers never see KurrentDB's own events nor the
//! request streams: they are filtered out here, on the client, since the listener's regex
//! filter cannot express "all but" (no look-around); reads page on until they have
//! `max_count` events that are shown, or the log ends.

use ::kurrentdb::{
    ReadAllOptions, ReadStreamOptions, StreamPosition, SubscribeToAllOptions,
    SubscribeToStreamOptions, SubscriptionFilter,
};
use futures::{StreamExt, stream::BoxStream};

use super::envelope::{self, is_hidden};
use super::{KurrentDbEventStore, storage, to_kurrentdb};
use crate::{
    Direction, Position, ReadFrom, StoreError, StoredSubscription, StreamName, StreamRevision,
    Subscription,
};

/// Events read from the log per request.
const PAGE: usize = 4_096;

/// Events a stored subscription hands over at most in one page.
const STORED_PAGE: usize = 512;

type RawEvents = BoxStream<'static, Result<::kurrentdb::RecordedEvent, StoreError>>;

impl KurrentDbEventStore {
    /// Up to `max_count` events of one stream, as KurrentDB reads them; a stream never
    /// written reads as none.
    pub(super) async fn stream_events(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<Vec<::kurrentdb::RecordedEvent>, StoreError> {
        let position = match (direction, from) {
            _ if max_count == 0 => return Ok(Vec::new()),
            (Direction::Forward, ReadFrom::End) => return Ok(Vec::new()),
            (Direction::Forward, ReadFrom::Start) => StreamPosition::Start,
            (Direction::Backward, ReadFrom::End) => StreamPosition::End,
            // Backwards from the start is the first event.
            (Direction::Backward, ReadFrom::Start) => StreamPosition::Position(0),
            (_, ReadFrom::At(revision)) => StreamPosition::Position(revision.0),
        };
        let options = ReadStreamOptions::default()
            .position(position)
            .max_count(max_count);
        let options = match direction {
            Direction::Forward => options.forwards(),
            Direction::Backward => options.backwards(),
        };
        let read = match self.client.read_stream(stream.as_str(), &options).await {
            Err(::kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            read => read.map_err(storage)?,
        };
        all_of(read).await
    }

    /// The last event of a stream, if it has one.
    pub(super) async fn last_event(
        &self,
        stream: &StreamName,
    ) -> Result<Option<::kurrentdb::RecordedEvent>, StoreError> {
        Ok(self
            .stream_events(stream, Direction::Backward, ReadFrom::End, 1)
            .await?
            .pop())
    }

    /// Up to `max_count` events of the log that are shown, matching `filter` if one is given.
    pub(super) async fn log_events(
        &self,
        direction: Direction,
        from: ReadFrom<Position>,
        max_count: usize,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Vec<::kurrentdb::RecordedEvent>, StoreError> {
        let mut shown = Vec::new();
        let mut start = match (direction, from) {
            _ if max_count == 0 => return Ok(shown),
            (Direction::Forward, ReadFrom::End) | (Direction::Backward, ReadFrom::Start) => {
                return Ok(shown);
            }
            (Direction::Forward, ReadFrom::Start) => StreamPosition::Start,
            (Direction::Backward, ReadFrom::End) => StreamPosition::End,
            (Direction::Forward, ReadFrom::At(position)) => {
                StreamPosition::Position(to_kurrentdb(position))
            }
            (Direction::Backward, ReadFrom::At(position)) => {
                // KurrentDB reads backwards from *before* a position; `At` includes the
                // event there, so it is read forwards first.
                let at = self
                    .log_page(
                        Direction::Forward,
                        StreamPosition::Position(to_kurrentdb(position)),
                        1,
                        filter.clone(),
                    )
                    .await?;
                shown.extend(
                    at.into_iter()
                        .filter(|event| event.position.commit == position.0 && !is_hidden(event)),
                );
                StreamPosition::Position(to_kurrentdb(position))
            }
        };
        // Forwards from a position includes the event there: a page after the first starts
        // at the last event read, asks one more and drops it.
        let mut seen: Option<u64> = None;
        while shown.len() < max_count {
            let asked = (max_count - shown.len()).min(PAGE) + usize::from(seen.is_some());
            let page = self
                .log_page(direction, start, asked, filter.clone())
                .await?;
            let ended = page.len() < asked;
            let mut last = None;
            for event in page {
                last = Some(event.position);
                if seen == Some(event.position.commit) || is_hidden(&event) {
                    continue;
                }
                if shown.len() < max_count {
                    shown.push(event);
                }
            }
            match last {
                Some(position) if !ended => {
                    start = StreamPosition::Position(position);
                    if direction == Direction::Forward {
                        seen = Some(position.commit);
                    }
                }
                _ => break,
            }
        }
        Ok(shown)
    }

    async fn log_page(
        &self,
        direction: Direction,
        start: StreamPosition<::kurrentdb::Position>,
        count: usize,
        filter: Option<SubscriptionFilter>,
    ) -> Result<Vec<::kurrentdb::RecordedEvent>, StoreError> {
        let options = ReadAllOptions::default().position(start).max_count(count);
        let options = match direction {
            Direction::Forward => options.forwards(),
            Direction::Backward => options.backwards(),
        };
        let options = match filter {
            Some(filter) => options.filter(filter),
            None => options,
        };
        all_of(self.client.read_all(&options).await.map_err(storage)?).await
    }

    /// The streams of a category, each once, in the order their first events were written:
    /// a read of the log filtered by stream name prefix (KurrentDB's `$ce-` projection may
    /// be off), keeping each stream's first event.
    pub(super) async fn category_streams(
        &self,
        category: &str,
    ) -> Result<Vec<StreamName>, StoreError> {
        let prefix = format!("{category}-");
        let filter = SubscriptionFilter::on_stream_name().add_prefix(&prefix);
        self.log_events(
            Direction::Forward,
            ReadFrom::Start,
            usize::MAX,
            Some(filter),
        )
        .await?
        .into_iter()
        .filter(|event| event.revision == 0 && event.stream_id().starts_with(&prefix))
        .map(|event| {
            StreamName::new(event.stream_id())
                .map_err(|_| StoreError::Corrupt(format!("stream name {:?}", event.stream_id())))
        })
        .collect()
    }

    /// The log's shown events after `after` (`None`: from the start), then live.
    pub(super) fn follow_log(&self, after: Option<Position>) -> RawEvents {
        let client = self.client.clone();
        let options = SubscribeToAllOptions::default().position(
            after.map_or(StreamPosition::Start, |position| {
                StreamPosition::Position(to_kurrentdb(position))
            }),
        );
        futures::stream::once(async move { client.subscribe_to_all(&options).await })
            .flat_map(shown_events)
            .boxed()
    }

    /// One stream's events after `after` (`None`: from its first), then live.
    pub(super) fn follow_stream(
        &self,
        stream: StreamName,
        after: Option<StreamRevision>,
    ) -> RawEvents {
        let client = self.client.clone();
        let options = SubscribeToStreamOptions::default().start_from(
            after.map_or(StreamPosition::Start, |revision| {
                StreamPosition::Position(revision.0)
            }),
        );
        futures::stream::once(
            async move { client.subscribe_to_stream(stream.as_str(), &options).await },
        )
        .flat_map(shown_events)
        .boxed()
    }
}

/// Every event of a read, until it ends.
async fn all_of(
    mut read: ::kurrentdb::ReadStream,
) -> Result<Vec<::kurrentdb::RecordedEvent>, StoreError> {
    let mut events = Vec::new();
    loop {
        match read.next().await {
            Ok(Some(resolved)) => events.extend(resolved.event),
            Ok(None) => return Ok(events),
            Err(::kurrentdb::Error::ResourceNotFound) => return Ok(events),
            Err(error) => return Err(storage(error)),
        }
    }
}

/// A subscription's events that are shown; it ends after its first error.
fn shown_events(subscription: ::kurrentdb::Subscription) -> RawEvents {
    futures::stream::unfold(Some(subscription), |subscription| async move {
        let mut subscription = subscription?;
        loop {
            match subscription.next().await {
                Ok(resolved) => match resolved.event {
                    Some(event) if !is_hidden(&event) => {
                        return Some((Ok(event), Some(subscription)));
                    }
                    _ => continue,
                },
                Err(error) => return Some((Err(storage(error)), None)),
            }
        }
    })
    .boxed()
}

pub(super) fn recorded(events: RawEvents) -> Subscription {
    events
        .map(|event| event.and_then(|event| envelope::recorded_event(&event)))
        .boxed()
}

/// Events in pages of what has arrived, each page non-empty.
pub(super) fn stored_pages(events: RawEvents) -> StoredSubscription {
    events
        .ready_chunks(STORED_PAGE)
        .map(|page| {
            page.into_iter()
                .map(|event| event.and_then(|event| envelope::stored_event(&event)))
                .collect()
        })
        .boxed()
}
