use serde::{
    Serialize,
    de::{DeserializeOwned, value::MapDeserializer},
};

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
    ))
    .map_err(|source| EventDecodeError::Payload {
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
