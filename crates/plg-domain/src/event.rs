use serde::{
    Serialize,
    de::{
        DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess,
        value::{MapAccessDeserializer, MapDeserializer},
    },
};
use serde_json::de::StrRead;

/// An aggregate's event enum. It serialises adjacently tagged (`#[serde(tag = "type",
/// content = "data")]`): the tag is the event's type name, stored beside its payload.
pub trait DomainEvent: Serialize + DeserializeOwned + std::fmt::Debug + Clone {
    /// The schema version of this event's payload. Bump it when a payload changes shape, and
    /// teach decoding to upcast the older versions.
    fn schema_version(&self) -> u32 {
        1
    }

    /// Whether this event erases its stream's personal data: once it is in the log, the
    /// stream's key must be destroyed.
    fn erases_personal_data(&self) -> bool {
        false
    }
}

/// An event ready to store: its type name, schema version and JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub data: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    #[error(
        "event {event_type} has schema version {stored}, newer than the {known} this build knows"
    )]
    NewerSchema {
        event_type: String,
        stored: u32,
        known: u32,
    },
    #[error("event {event_type} does not decode: {source}")]
    Payload {
        event_type: String,
        source: serde_json::Error,
    },
    #[error("event does not encode as a tagged object")]
    NotTagged,
}

pub fn encode<E: DomainEvent>(event: &E) -> Result<EncodedEvent, EventDecodeError> {
    let schema_version = event.schema_version();
    let value = serde_json::to_value(event).map_err(|source| EventDecodeError::Payload {
        event_type: std::any::type_name::<E>().to_owned(),
        source,
    })?;
    let serde_json::Value::Object(mut tagged) = value else {
        return Err(EventDecodeError::NotTagged);
    };
    let Some(serde_json::Value::String(event_type)) = tagged.remove("type") else {
        return Err(EventDecodeError::NotTagged);
    };
    let data = tagged.remove("data").unwrap_or(serde_json::Value::Null);
    Ok(EncodedEvent {
        event_type,
        schema_version,
        data,
    })
}

pub fn decode<E: DomainEvent>(
    event_type: &str,
    schema_version: u32,
    data: serde_json::Value,
) -> Result<E, EventDecodeError> {
    // The tag first: serde then reads the payload straight into the event, where a JSON
    // object (whose keys are sorted, `data` before `type`) makes it buffer the payload first.
    let tagged = [
        ("type", serde_json::Value::String(event_type.to_owned())),
        ("data", data),
    ];
    let event = E::deserialize(MapDeserializer::<_, serde_json::Error>::new(
        tagged.into_iter(),
    ));
    checked(event_type, schema_version, event)
}

/// [`decode`] from the payload's JSON text, read straight into the event rather than into a
/// `serde_json::Value` first.
pub fn decode_str<E: DomainEvent>(
    event_type: &str,
    schema_version: u32,
    data: &str,
) -> Result<E, EventDecodeError> {
    let mut payload = serde_json::Deserializer::from_str(data);
    let event = E::deserialize(MapAccessDeserializer::new(Tagged {
        event_type: Some(event_type),
        payload: Some(&mut payload),
    }))
    .and_then(|event| payload.end().map(|()| event));
    checked(event_type, schema_version, event)
}

fn checked<E: DomainEvent>(
    event_type: &str,
    schema_version: u32,
    event: Result<E, serde_json::Error>,
) -> Result<E, EventDecodeError> {
    let event = event.map_err(|source| EventDecodeError::Payload {
        event_type: event_type.to_owned(),
        source,
    })?;
    let known = event.schema_version();
    if schema_version > known {
        return Err(EventDecodeError::NewerSchema {
            event_type: event_type.to_owned(),
            stored: schema_version,
            known,
        });
    }
    Ok(event)
}

/// An event as the map `{"type": event_type, "data": payload}`, the tag first (see
/// [`decode`]), its payload read from the text as serde asks for it.
struct Tagged<'a, 'de> {
    event_type: Option<&'a str>,
    payload: Option<&'a mut serde_json::Deserializer<StrRead<'de>>>,
}

impl<'de> MapAccess<'de> for Tagged<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let key = match (&self.event_type, &self.payload) {
            (Some(_), _) => "type",
            (None, Some(_)) => "data",
            (None, None) => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        if let Some(event_type) = self.event_type.take() {
            return seed.deserialize(event_type.into_deserializer());
        }
        match self.payload.take() {
            Some(payload) => seed.deserialize(payload),
            None => Err(serde::de::Error::custom("no value past the payload")),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::{
        dimension::Dimension,
        ids::{SchoolId, StudyId, SubmissionId},
        instrument::Instrument,
        scan::{RecordedAnswer, RespondentRole, ScanEvent},
        study::StudyEvent,
        values::{ItemCode, Pseudonym, Score, Text, WaveLabel},
    };

    fn submitted() -> ScanEvent {
        let (study_id, school_id) = (StudyId::new_random(), SchoolId::new_random());
        let wave = WaveLabel::parse("T1").expect("label");
        let respondent = Pseudonym::parse("r-1").expect("pseudonym");
        ScanEvent::ScanSubmitted {
            response_id: crate::ids::ResponseId::derive(study_id, school_id, &wave, &respondent),
            submission_id: SubmissionId::new_random(),
            study_id,
            school_id,
            wave,
            respondent,
            role: RespondentRole::Teacher,
            instrument_version: Instrument::built_in().version,
            answered_on: NaiveDate::from_ymd_opt(2016, 2, 1).expect("date"),
            answers: vec![RecordedAnswer {
                item_code: ItemCode::parse("E1.1").expect("code"),
                dimension: Dimension::InternalProfessionalisation,
                current: Some(Score::new(4).expect("score")),
                desired: None,
            }],
            supersedes: Some(SubmissionId::new_random()),
        }
    }

    /// Both decodings of a payload's text: from a parsed value, and straight from the text.
    fn both<E: DomainEvent + PartialEq>(
        event_type: &str,
        version: u32,
        text: &str,
    ) -> (Option<E>, Option<E>) {
        let from_value = serde_json::from_str(text)
            .ok()
            .and_then(|value| decode(event_type, version, value).ok());
        (from_value, decode_str(event_type, version, text).ok())
    }

    #[test]
    fn a_payload_read_straight_from_its_text_is_the_event_read_from_its_value() {
        let retracted = ScanEvent::ScanRetracted {
            submission_id: SubmissionId::new_random(),
            // Escapes and characters beyond ASCII read alike.
            reason: Some(Text::parse("\"wrong\" school\n\u{e9}\u{1F600}\\").expect("text")),
        };
        for event in [submitted(), retracted] {
            let encoded = encode(&event).expect("encodes");
            let text = serde_json::to_string(&encoded.data).expect("text");
            assert_eq!(
                both(&encoded.event_type, encoded.schema_version, &text),
                (Some(event.clone()), Some(event))
            );
        }
        // Fields added later read as their defaults either way.
        let old = serde_json::json!({
            "study_id": StudyId::new_random(),
            "title": "De school als PLG",
            "description": null,
            "waves": [],
            "instrument": Instrument::built_in(),
        })
        .to_string();
        let (from_value, from_text) = both::<StudyEvent>("StudyDefined", 1, &old);
        assert!(from_value.is_some());
        assert_eq!(from_text, from_value);
    }

    #[test]
    fn a_payload_that_does_not_read_from_its_value_does_not_read_from_its_text() {
        let encoded = encode(&submitted()).expect("encodes");
        let text = serde_json::to_string(&encoded.data).expect("text");
        for (event_type, version, text) in [
            ("ScanSubmitted", 2, text.clone()),
            ("ScanWithdrawn", 1, text.clone()),
            ("ScanSubmitted", 1, format!("{text} {{}}")),
            ("ScanSubmitted", 1, text[..text.len() - 1].to_owned()),
            ("ScanSubmitted", 1, text.replace("\"T1\"", "7")),
            ("ScanSubmitted", 1, "null".to_owned()),
        ] {
            assert_eq!(
                both::<ScanEvent>(event_type, version, &text),
                (None, None),
                "{event_type} v{version}: {text}"
            );
        }
    }
}
