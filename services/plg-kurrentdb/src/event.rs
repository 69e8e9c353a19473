//! A recorded event as KurrentDB's clients read it.

use chrono::{DateTime, Utc};
use plg_eventstore::RecordedEvent;
use plg_kurrentdb_wire::event_store::client::{
    StreamIdentifier, Uuid as WireUuid,
    streams::read_resp::{
        self, ReadEvent,
        read_event::{self, RecordedEvent as WireEvent},
    },
    uuid as wire_uuid,
};
use uuid::Uuid;

/// How a client asked for event ids: KurrentDB's structured pair of halves, or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdForm {
    Structured,
    String,
}

pub(crate) fn wire_id(id: Uuid, form: IdForm) -> WireUuid {
    let value = match form {
        IdForm::String => wire_uuid::Value::String(id.to_string()),
        IdForm::Structured => {
            let (most, least) = id.as_u64_pair();
            wire_uuid::Value::Structured(wire_uuid::Structured {
                most_significant_bits: most as i64,
                least_significant_bits: least as i64,
            })
        }
    };
    WireUuid { value: Some(value) }
}

/// `created`, as KurrentDB's servers send it and its clients read it: 100 ns ticks since the
/// Unix epoch (not .NET's 0001-01-01, which `DateTime.Ticks` would give).
pub(crate) fn created_ticks(recorded_at: DateTime<Utc>) -> i64 {
    let seconds = recorded_at.timestamp();
    seconds * 10_000_000 + i64::from(recorded_at.timestamp_subsec_nanos() / 100)
}

/// The read reply carrying `event`: its data and metadata as the stored JSON, its position
/// the store's, as both commit and prepare position.
pub(crate) fn read_resp(event: &RecordedEvent, form: IdForm) -> read_resp::Content {
    let position = event.position.0;
    let metadata = [
        ("type", event.event_type.clone()),
        ("content-type", "application/json".to_owned()),
        ("created", created_ticks(event.recorded_at).to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let recorded = WireEvent {
        id: Some(wire_id(event.id, form)),
        stream_identifier: Some(StreamIdentifier {
            stream_name: event.stream.as_str().as_bytes().to_vec(),
        }),
        stream_revision: event.revision.0,
        prepare_position: position,
        commit_position: position,
        metadata,
        custom_metadata: custom_metadata(&event.metadata),
        data: json_bytes(&event.data),
    };
    read_resp::Content::Event(ReadEvent {
        event: Some(recorded),
        link: None,
        position: Some(read_event::Position::CommitPosition(position)),
    })
}

/// `null` is how a raw append without custom metadata stores it (`append`): empty again.
fn custom_metadata(metadata: &serde_json::Value) -> Vec<u8> {
    if metadata.is_null() {
        Vec::new()
    } else {
        json_bytes(metadata)
    }
}

fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    // Serialising a json value cannot fail: its keys are strings.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_counts_ticks_from_the_unix_epoch() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T12:00:00.1234567Z")
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(created_ticks(at), 17_723_664_001_234_567);
        assert_eq!(created_ticks(DateTime::UNIX_EPOCH), 0);
    }

    #[test]
    fn structured_ids_keep_both_halves() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let Some(wire_uuid::Value::Structured(halves)) = wire_id(id, IdForm::Structured).value
        else {
            panic!("not structured");
        };
        assert_eq!(halves.most_significant_bits, 0x0123_4567_89ab_cdef);
        assert_eq!(
            halves.least_significant_bits as u64,
            0xfedc_ba98_7654_3210_u64
        );
    }
}
