//! EventLogService: reads a stream, or the global log from a position, back as recorded, with
//! who wrote each event, through which tool, and when.

use plg_contract::events::events_to_proto;
use plg_contract::parse::Violations;
use plg_domain::{ValueError, ids::ApiKeyId};
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StoreError, StreamName,
    StreamRevision,
};
use plg_ledger::{Ledger, ServiceError};
use plg_proto::v1::{
    self,
    event_log_service_server::{EventLogService, EventLogServiceServer},
};
use plg_server::{Runtime, caller_of, limits, read, streams::Streams};
use prost::Message;
use tonic::{Request, Response, Status};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// Events read from the store at a time while a reply fills.
const STORE_PAGE: usize = 32;

pub fn server(runtime: &Runtime) -> EventLogServiceServer<EventLog> {
    EventLogServiceServer::new(EventLog {
        ledger: runtime.ledger.clone(),
        streams: runtime.streams.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct EventLog {
    ledger: Ledger,
    /// Bounds a reply's bytes.
    streams: Streams,
}

fn page_size(max_count: u32) -> Result<usize, ValueError> {
    match max_count {
        0 => Ok(DEFAULT_PAGE as usize),
        1..=MAX_PAGE => Ok(max_count as usize),
        _ => Err(ValueError::new(format!("must be at most {MAX_PAGE}"))),
    }
}

/// Where a reply reads next in the store.
enum Cursor {
    Stream {
        stream: StreamName,
        direction: Direction,
        from: Option<ReadFrom<StreamRevision>>,
    },
    All {
        from: ReadFrom<Position>,
    },
}

impl Cursor {
    /// The next `count` events, or none when the stream or log is read to its end.
    async fn next(
        &mut self,
        store: &dyn EventStore,
        count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            Self::Stream {
                stream,
                direction,
                from,
            } => {
                let Some(at) = *from else {
                    return Ok(Vec::new());
                };
                let events = store.read_stream(stream, *direction, at, count).await?;
                *from = events.last().and_then(|last| match direction {
                    Direction::Forward => Some(ReadFrom::At(last.revision.next())),
                    Direction::Backward => last
                        .revision
                        .0
                        .checked_sub(1)
                        .map(|revision| ReadFrom::At(StreamRevision(revision))),
                });
                Ok(events)
            }
            Self::All { from } => {
                let events = store.read_all(Direction::Forward, *from, count).await?;
                if let Some(last) = events.last() {
                    *from = ReadFrom::At(Position(last.position.0 + 1));
                }
                Ok(events)
            }
        }
    }
}

/// A reply's events, and the position of the last event it covers (shown or left out).
struct Page {
    events: Vec<v1::Event>,
    last_position: Option<u64>,
}

impl EventLog {
    /// Up to `count` events the caller may read, as the contract shows them, ending the page
    /// early once it reaches the reply byte budget. Reads the store a few events at a time, so
    /// large events are never held beyond the budget either. The first event is always
    /// taken, however large, so that a reader can always get past it.
    async fn page(
        &self,
        mut cursor: Cursor,
        count: usize,
        readable: Option<ApiKeyId>,
    ) -> Result<Page, ServiceError> {
        let budget = self.streams.limits().reply_bytes;
        let readable = readable.map(|key| key.to_string());
        let written_with = |event: &RecordedEvent, key: &str| {
            event.metadata.get("key_id").and_then(|id| id.as_str()) == Some(key)
        };
        let mut page = Page {
            events: Vec::new(),
            last_position: None,
        };
        // The reply's other field, `last_position`, at its largest.
        let mut size = 11;
        let mut read = 0;
        while read < count {
            let asked = (count - read).min(STORE_PAGE);
            let events = cursor.next(self.ledger.store().as_ref(), asked).await?;
            let ended = events.len() < asked;
            // Each event's position and whether the caller sees it; only those it sees are
            // opened and converted.
            let mut positions = Vec::with_capacity(events.len());
            let mut shown = Vec::new();
            for event in events {
                let shows = readable
                    .as_deref()
                    .is_none_or(|key| written_with(&event, key));
                positions.push((event.position.0, shows));
                if shows {
                    shown.push(event);
                }
            }
            let mut shown = events_to_proto(shown, self.ledger.vault())
                .await?
                .into_iter();
            for (position, shows) in positions {
                if shows && let Some(event) = shown.next() {
                    let length = event.encoded_len();
                    let length = 1 + prost::length_delimiter_len(length) + length;
                    if !page.events.is_empty() && size + length > budget {
                        return Ok(page);
                    }
                    size += length;
                    page.events.push(event);
                }
                page.last_position = Some(position);
                read += 1;
            }
            if ended {
                break;
            }
        }
        Ok(page)
    }
}

impl EventLog {
    async fn stream_page(
        &self,
        request: Request<v1::ReadStreamRequest>,
    ) -> Result<v1::ReadStreamResponse, ServiceError> {
        let readable = caller_of(&request)?.event_log_filter()?;
        let message = request.into_inner();
        let mut violations = Violations::default();
        let stream = violations.check(
            "stream",
            StreamName::new(message.stream.trim()).map_err(|_| {
                ValueError::new(format!(
                    "{} is not a valid stream name",
                    limits::echo(message.stream.trim())
                ))
            }),
        );
        let direction = violations.check(
            "direction",
            match v1::ReadDirection::try_from(message.direction) {
                Ok(v1::ReadDirection::Unspecified | v1::ReadDirection::Forward) => {
                    Ok(Direction::Forward)
                }
                Ok(v1::ReadDirection::Backward) => Ok(Direction::Backward),
                Err(_) => Err(ValueError::new("must be one of the listed values")),
            },
        );
        let page = violations.check("max_count", page_size(message.max_count));
        let (Some(stream), Some(direction), Some(page)) = (stream, direction, page) else {
            return Err(violations.into_error());
        };
        let from = match (message.from_revision, direction) {
            (Some(revision), _) => ReadFrom::At(StreamRevision(revision)),
            (None, Direction::Forward) => ReadFrom::Start,
            (None, Direction::Backward) => ReadFrom::End,
        };
        let cursor = Cursor::Stream {
            stream,
            direction,
            from: Some(from),
        };
        let page = self.page(cursor, page, readable).await?;
        Ok(v1::ReadStreamResponse {
            events: page.events,
        })
    }

    async fn log_page(
        &self,
        request: Request<v1::ReadAllRequest>,
    ) -> Result<v1::ReadAllResponse, ServiceError> {
        let readable = caller_of(&request)?.event_log_filter()?;
        let message = request.into_inner();
        let from = message.after_position.map_or(ReadFrom::Start, |position| {
            ReadFrom::At(Position(position.saturating_add(1)))
        });
        let count = page_size(message.max_count)
            .map_err(|error| ServiceError::invalid("max_count", error.0))?;
        let page = self.page(Cursor::All { from }, count, readable).await?;
        Ok(v1::ReadAllResponse {
            events: page.events,
            last_position: page
                .last_position
                .unwrap_or(message.after_position.unwrap_or(0)),
        })
    }
}

#[tonic::async_trait]
impl EventLogService for EventLog {
    async fn read_stream(
        &self,
        request: Request<v1::ReadStreamRequest>,
    ) -> Result<Response<v1::ReadStreamResponse>, Status> {
        read(self.stream_page(request)).await
    }

    async fn read_all(
        &self,
        request: Request<v1::ReadAllRequest>,
    ) -> Result<Response<v1::ReadAllResponse>, Status> {
        read(self.log_page(request)).await
    }
}
