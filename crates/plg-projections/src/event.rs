//! Events as projections see them: decoded into the domain's types by stream category.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use plg_domain::{
    Aggregate, DomainEvent, EventDecodeError,
    consent::{Consent, ConsentEvent},
    development_plan::{DevelopmentPlan, DevelopmentPlanEvent},
    event::{decode, decode_str},
    intervention::{Intervention, InterventionEvent},
    plg::{Plg, PlgEvent},
    scan::{ScanEvent, ScanResponse},
    school::{School, SchoolEvent},
    study::{Study, StudyEvent},
};
use plg_eventstore::{Position, RecordedEvent, StoredEvent, StreamName};
use serde::{Deserialize, de::IgnoredAny};

use crate::ProjectionError;

/// A recorded event with its payload decoded.
#[derive(Debug)]
pub struct LogEvent {
    pub position: Position,
    pub stream: String,
    pub revision: u64,
    /// The id part of the stream name: the aggregate's id.
    pub entity_id: String,
    pub occurred_at: DateTime<Utc>,
    /// The W3C trace context of the write that appended it, when that write was traced.
    pub traceparent: Option<String>,
    pub payload: Payload,
}

impl LogEvent {
    /// The day it happened, in the schools' time zone.
    pub fn occurred_on(&self) -> NaiveDate {
        plg_domain::values::school_date(self.occurred_at)
    }
}

#[derive(Debug)]
pub enum Payload {
    School(SchoolEvent),
    Study(StudyEvent),
    Scan(ScanEvent),
    Consent(ConsentEvent),
    Intervention(InterventionEvent),
    DevelopmentPlan(DevelopmentPlanEvent),
    Plg(PlgEvent),
    /// Events the research view does not use (people's personal data, categories added later).
    Other,
}

impl LogEvent {
    /// Decodes a recorded event, taking its payload rather than copying it: the way of stored
    /// text that does not read straight into the event.
    fn decode(recorded: RecordedEvent) -> Result<Self, ProjectionError> {
        if let Some(reason) = &recorded.unreadable {
            return Err(ProjectionError::Decode {
                position: recorded.position,
                message: reason.clone(),
            });
        }
        // As serde would read it (chrono parses the text), without copying the value first.
        let occurred_at = recorded
            .metadata
            .get("occurred_at")
            .and_then(serde_json::Value::as_str)
            .and_then(|text| text.parse().ok())
            .unwrap_or(recorded.recorded_at);
        let traceparent = recorded
            .metadata
            .get("traceparent")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let payload = payload(
            recorded.stream.category(),
            &recorded.event_type,
            recorded.schema_version,
            Json::Value(recorded.data),
        )
        .map_err(|error| ProjectionError::Decode {
            position: recorded.position,
            message: error.to_string(),
        })?;
        Ok(Self::new(
            recorded.position,
            &recorded.stream,
            recorded.revision.0,
            (occurred_at, traceparent),
            payload,
        ))
    }

    /// Decodes a stored event straight from its text (as the follower and the rebuild read
    /// the log), into the event [`decode`](Self::decode) gives for it as `read_all` returns it. Text that does not read that way (metadata of
    /// another shape, a payload that does not decode) takes `decode`'s way, so both give the
    /// same event, or the same error.
    pub fn decode_stored(stored: StoredEvent) -> Result<Self, ProjectionError> {
        let from_text = || {
            let metadata: Metadata<'_> = serde_json::from_str(&stored.metadata).ok()?;
            let occurred_at = metadata
                .occurred_at
                .and_then(|text| text.parse().ok())
                .unwrap_or(stored.recorded_at);
            let payload = payload(
                stored.stream.category(),
                &stored.event_type,
                stored.schema_version,
                Json::Text(&stored.data),
            )
            .ok()?;
            Some(Self::new(
                stored.position,
                &stored.stream,
                stored.revision.0,
                (occurred_at, metadata.traceparent.map(Cow::into_owned)),
                payload,
            ))
        };
        match from_text() {
            Some(event) => Ok(event),
            None => Self::decode(stored.into()),
        }
    }

    /// An event of `stream` at `revision`, with what its metadata says: when it happened and
    /// the trace of its write.
    fn new(
        position: Position,
        stream: &StreamName,
        revision: u64,
        (occurred_at, traceparent): (DateTime<Utc>, Option<String>),
        payload: Payload,
    ) -> Self {
        let category = stream.category();
        let entity_id = stream
            .as_str()
            .strip_prefix(category)
            .and_then(|rest| rest.strip_prefix('-'))
            .unwrap_or_default()
            .to_owned();
        Self {
            position,
            stream: stream.to_string(),
            revision,
            entity_id,
            occurred_at,
            traceparent,
            payload,
        }
    }
}

/// What projections read of an event's metadata.
#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow)]
    occurred_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    traceparent: Option<Cow<'a, str>>,
}

/// A payload's JSON: parsed, or the text it is stored as.
enum Json<'a> {
    Value(serde_json::Value),
    Text(&'a str),
}

impl Json<'_> {
    fn decode<E: DomainEvent>(self, event_type: &str, version: u32) -> Result<E, EventDecodeError> {
        match self {
            Json::Value(value) => decode(event_type, version, value),
            Json::Text(text) => decode_str(event_type, version, text),
        }
    }
}

/// Decodes a payload into its stream category's events.
fn payload(
    category: &str,
    event_type: &str,
    version: u32,
    data: Json<'_>,
) -> Result<Payload, EventDecodeError> {
    Ok(match category {
        School::CATEGORY => Payload::School(data.decode(event_type, version)?),
        Study::CATEGORY => Payload::Study(data.decode(event_type, version)?),
        ScanResponse::CATEGORY => Payload::Scan(data.decode(event_type, version)?),
        Consent::CATEGORY => Payload::Consent(data.decode(event_type, version)?),
        Intervention::CATEGORY => Payload::Intervention(data.decode(event_type, version)?),
        DevelopmentPlan::CATEGORY => Payload::DevelopmentPlan(data.decode(event_type, version)?),
        Plg::CATEGORY => Payload::Plg(data.decode(event_type, version)?),
        // People's events hold only personal data, which the research view never shows; it
        // needs no more than that their payload is JSON, as `read_all` does.
        _ => {
            if let Json::Text(text) = data {
                serde_json::from_str::<IgnoredAny>(text).map_err(|source| {
                    EventDecodeError::Payload {
                        event_type: event_type.to_owned(),
                        source,
                    }
                })?;
            }
            Payload::Other
        }
    })
}

#[cfg(test)]
mod tests {
    use plg_domain::{
        event::encode,
        ids::{StudyId, SubmissionId},
    };
    use plg_eventstore::StreamRevision;

    use super::*;

    fn stored(stream: &str, event_type: &str, data: &str, metadata: &str) -> StoredEvent {
        StoredEvent {
            id: uuid::Uuid::new_v4(),
            stream: StreamName::new(stream).expect("name"),
            revision: StreamRevision(3),
            position: Position(17),
            event_type: event_type.to_owned(),
            schema_version: 1,
            data: data.to_owned(),
            metadata: metadata.to_owned(),
            recorded_at: "2016-02-01T09:00:00Z".parse().expect("time"),
            hash: "ab".repeat(32),
        }
    }

    /// Both ways of decoding: from the text, and as `read_all` returns it; as text, to compare.
    fn both(stored: StoredEvent) -> (String, String) {
        let show = |decoded: Result<LogEvent, ProjectionError>| match decoded {
            Ok(event) => format!("{event:?}"),
            Err(error) => format!("error: {error}"),
        };
        let from_value = show(LogEvent::decode(stored.clone().into()));
        (show(LogEvent::decode_stored(stored)), from_value)
    }

    #[test]
    fn an_event_decoded_from_its_text_is_the_event_decoded_from_its_value() {
        let retracted = encode(&ScanEvent::ScanRetracted {
            submission_id: SubmissionId::new_random(),
            reason: None,
        })
        .expect("encodes");
        let data = serde_json::to_string(&retracted.data).expect("text");
        let stream = format!("scan-{}", StudyId::new_random());
        let occurred = r#"{"actor":"a","occurred_at":"2016-01-31T23:30:00Z","tool":"t"}"#;
        let cases = [
            // The usual event, and metadata of other shapes, which take `decode`'s way.
            (stream.as_str(), "ScanRetracted", data.clone(), occurred),
            (&stream, "ScanRetracted", data.clone(), r#"{"actor":"a"}"#),
            (
                &stream,
                "ScanRetracted",
                data.clone(),
                r#"{"occurred_at":7}"#,
            ),
            (
                &stream,
                "ScanRetracted",
                data.clone(),
                r#"{"occurred_at":"not a time"}"#,
            ),
            (&stream, "ScanRetracted", data.clone(), "null"),
            (&stream, "ScanRetracted", data.clone(), "{"),
            // A payload serde reads from a value but not from the text (a key twice), one
            // that does not decode, one that is no JSON.
            (
                &stream,
                "ScanRetracted",
                data.replacen('{', r#"{"reason":"x","#, 1),
                occurred,
            ),
            (&stream, "ScanSubmitted", data.clone(), occurred),
            (&stream, "ScanRetracted", format!("{data}]"), occurred),
            // People's events: only their JSON counts.
            (
                "person-1",
                "PersonRegistered",
                r#"{"sealed":"x"}"#.to_owned(),
                occurred,
            ),
            (
                "person-1",
                "PersonRegistered",
                "{\"sealed\":".to_owned(),
                occurred,
            ),
        ];
        for (stream, event_type, data, metadata) in cases {
            let (from_text, from_value) = both(stored(stream, event_type, &data, metadata));
            assert_eq!(from_text, from_value, "{event_type} {data} {metadata}");
        }
    }
}
