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
    /// Decodes a recorded event, taking its payload rather than copying it.
    pub fn decode(recorded: RecordedEvent) -> Result<Self, ProjectionError> {
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
            occurred_at,
            payload,
        ))
    }

    /// Decodes a stored event straight from its text, into the event [`decode`](Self::decode)
    /// gives for it as `read_all` returns it. Text that does not read that way (metadata of
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
                occurred_at,
                payload,
            ))
        };
        match from_text() {
            Some(event) => Ok(event),
            None => Self::decode(stored.into()),
        }
    }

    fn new(
        position: Position,
        stream: &StreamName,
        revision: u64,
        occurred_at: DateTime<Utc>,
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
            payload,
        }
    }
}

/// What projections read of an event's metadata.
#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow)]
    occurred_at: Option<Cow<'a, str>>,
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
