//! Events as projections see them: decoded into the domain's types by stream category.

use chrono::{DateTime, NaiveDate, Utc};
use plg_domain::{
    Aggregate,
    consent::{Consent, ConsentEvent},
    development_plan::{DevelopmentPlan, DevelopmentPlanEvent},
    event::decode,
    intervention::{Intervention, InterventionEvent},
    plg::{Plg, PlgEvent},
    scan::{ScanEvent, ScanResponse},
    school::{School, SchoolEvent},
    study::{Study, StudyEvent},
};
use plg_eventstore::{Position, RecordedEvent};

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
        let category = recorded.stream.category();
        let entity_id = recorded
            .stream
            .as_str()
            .strip_prefix(category)
            .and_then(|rest| rest.strip_prefix('-'))
            .unwrap_or_default()
            .to_owned();
        let payload = |data| -> Result<Payload, plg_domain::EventDecodeError> {
            let (event_type, version) = (&recorded.event_type, recorded.schema_version);
            Ok(match category {
                School::CATEGORY => Payload::School(decode(event_type, version, data)?),
                Study::CATEGORY => Payload::Study(decode(event_type, version, data)?),
                ScanResponse::CATEGORY => Payload::Scan(decode(event_type, version, data)?),
                Consent::CATEGORY => Payload::Consent(decode(event_type, version, data)?),
                Intervention::CATEGORY => Payload::Intervention(decode(event_type, version, data)?),
                DevelopmentPlan::CATEGORY => {
                    Payload::DevelopmentPlan(decode(event_type, version, data)?)
                }
                Plg::CATEGORY => Payload::Plg(decode(event_type, version, data)?),
                // People's events hold only personal data, which the research view never shows.
                _ => Payload::Other,
            })
        };
        // As serde would read it (chrono parses the text), without copying the value first.
        let occurred_at = recorded
            .metadata
            .get("occurred_at")
            .and_then(serde_json::Value::as_str)
            .and_then(|text| text.parse().ok())
            .unwrap_or(recorded.recorded_at);
        Ok(Self {
            position: recorded.position,
            stream: recorded.stream.to_string(),
            revision: recorded.revision.0,
            entity_id,
            occurred_at,
            payload: payload(recorded.data).map_err(|error| ProjectionError::Decode {
                position: recorded.position,
                message: error.to_string(),
            })?,
        })
    }
}
