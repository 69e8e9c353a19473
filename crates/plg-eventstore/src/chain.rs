//! Tamper evidence: every stream is a hash chain.
//!
//! When an event is appended, the store computes its hash ([`event_hash`]): SHA-256 over the
//! event's content *and the hash of the event before it in the same stream*. The hash is
//! stored with the event ([`RecordedEvent::hash`]). [`verify`] (or [`ChainVerifier`], for a
//! stream read page by page) recomputes the chain from revision 0 and reports the first
//! revision where it no longer holds, as a [`ChainBreak`].
//!
//! # What the chain proves, and what it does not
//!
//! It detects, at the first affected revision:
//! - an event altered in place (any hashed field, see below), unless its hash and the hash of
//!   every later event in the stream were rewritten too;
//! - an event removed from the middle of a stream, or a stream that no longer starts at
//!   revision 0 (a revision gap);
//! - events reordered within a stream, or moved to another stream;
//! - an event and its hash both rewritten consistently ("self-consistent fake"): the *next*
//!   event's stored hash no longer follows from it.
//!
//! It does not detect:
//! - a rewrite of a stream from some revision to its end, with every later hash recomputed,
//!   or the removal of a stream's last events: the hashes are stored next to the events, so
//!   whoever can rewrite the file can rewrite them too. Such changes are caught only by
//!   comparing with a hash recorded elsewhere: note a stream's head hash
//!   ([`ChainVerifier::head`], or the last event's [`RecordedEvent::hash`]) somewhere the
//!   attacker cannot reach (a printout, another system, a signed report), and later check
//!   that the stream still passes through it;
//! - changes to the global log that leave each stream intact: positions are not hashed (see
//!   below), so the interleaving of streams is not covered;
//! - anything that happened before the hashes were computed (events stored before a
//!   migration added the chain are vouched for only from the migration on).
//!
//! # Canonical encoding
//!
//! `hash = lowercase hex of SHA-256(encoding)`, where `encoding` is the concatenation of ten
//! fields, each written as its byte length (8 bytes, unsigned big-endian) followed by its
//! bytes. A fixed number of length-prefixed fields cannot be split two ways, so no two
//! different events (or predecessors) encode alike. In order:
//!
//! | # | field            | bytes                                                                    |
//! |---|------------------|--------------------------------------------------------------------------|
//! | 1 | format tag       | ASCII `plg-ledger event chain v1`                                        |
//! | 2 | previous hash    | ASCII lowercase hex of the previous event's hash; [`GENESIS`] at revision 0 |
//! | 3 | stream           | UTF-8 stream name                                                        |
//! | 4 | revision         | `u64`, big-endian                                                        |
//! | 5 | event id         | the UUID's 16 bytes, in RFC 9562 order (`Uuid::as_bytes`)                |
//! | 6 | event type       | UTF-8                                                                    |
//! | 7 | schema version   | `u32`, big-endian                                                        |
//! | 8 | data             | `json(data)`, below                                                      |
//! | 9 | metadata         | `json(metadata)`, below                                                  |
//! | 10| recorded at      | ASCII RFC 3339 in UTC with exactly six fractional digits and `Z`: `2025-01-31T12:00:00.123456Z` |
//!
//! `json(value)` is a typed encoding of the JSON *value* (not of the stored text), a tag byte
//! then the content:
//!
//! - `null` → `n`; `false` → `f`; `true` → `t`;
//! - a number stored as an integer from 0 to 2⁶⁴−1 → `u` + 8 bytes big-endian; a negative
//!   integer from −2⁶³ → `i` + 8 bytes big-endian two's complement; any other number (a
//!   float, including `3.0`) → `d` + the 8 bytes of its IEEE 754 binary64 bit pattern,
//!   big-endian;
//! - a string → `s` + length (8 bytes big-endian) + UTF-8 bytes;
//! - an array → `a` + item count (8 bytes big-endian) + each item's `json`;
//! - an object → `o` + member count (8 bytes big-endian) + for each member, sorted by key
//!   bytes ascending: key length (8 bytes big-endian) + key UTF-8 bytes + the value's `json`.
//!
//! Why not hash the JSON text (`serde_json::to_vec`)? The text depends on things outside the
//! event: serde_json's float formatting (1.0.x has already moved from `ryu` to `zmij`),
//! its escaping rules, and whether any crate in the build enables serde_json's
//! `preserve_order` feature (object keys then keep insertion order instead of being sorted).
//! That feature is not enabled in this workspace today (`cargo tree -e features -i
//! serde_json` shows only `std` and `float_roundtrip`), but the typed encoding sorts keys
//! itself and does not depend on it. The stored text round-trips to the identical value (the
//! store enables `float_roundtrip`), so the hash computed at append time and the one
//! recomputed from a read agree. Reformatting the stored JSON without changing its value
//! (whitespace, key order, `1e2` for `100.0`) is therefore not a detected alteration.
//!
//! What is deliberately *not* hashed: the global [`Position`](crate::Position). Positions
//! belong to the global log and each backend assigns them its own way (SQLite counts 1, 2,
//! 3…; KurrentDB uses log offsets), so a stream copied to another backend would not verify
//! if they were hashed. A stream's order is its revisions, which are hashed.
//!
//! `recorded_at` is hashed at microsecond precision, the precision the SQLite backend
//! stores; a backend must hash the timestamp exactly as it will read it back.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{NewEvent, RecordedEvent, StreamName, StreamRevision};

/// What stands for the previous hash at revision 0: 64 zeros, not a possible SHA-256 output
/// in practice.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The first field of every encoding: names the format, so that these digests cannot be
/// mistaken for SHA-256 digests of anything else, and a future format can be told apart.
const FORMAT_TAG: &[u8] = b"plg-ledger event chain v1";

/// The chain hash of `event`, given the hash of the event before it in its stream (`None`
/// for revision 0, which hashes [`GENESIS`] instead). Lowercase hex SHA-256 of the
/// [canonical encoding](self#canonical-encoding). `event.hash` and `event.position` are not
/// part of it.
pub fn event_hash(previous: Option<&str>, event: &RecordedEvent) -> String {
    HashedFields {
        stream: &event.stream,
        revision: event.revision,
        id: &event.id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        data: &event.data,
        metadata: &event.metadata,
        recorded_at: &event.recorded_at,
    }
    .hash(previous)
}

/// The chain hash an event being appended will have: what a backend stores at append time.
/// Equal to [`event_hash`] of the [`RecordedEvent`] it becomes, provided `recorded_at` is
/// the timestamp the backend will read back.
pub fn new_event_hash(
    previous: Option<&str>,
    stream: &StreamName,
    revision: StreamRevision,
    event: &NewEvent,
    recorded_at: &DateTime<Utc>,
) -> String {
    HashedFields {
        stream,
        revision,
        id: &event.id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        data: &event.data,
        metadata: &event.metadata,
        recorded_at,
    }
    .hash(previous)
}

/// Checks one stream's hash chain: `events` must be the whole stream, in revision order,
/// from revision 0. Each event's hash is recomputed from its predecessor's *recomputed* hash
/// and compared with the stored one, so an event rewritten together with its own hash still
/// breaks the chain at the next event.
///
/// An empty slice verifies. Removing a stream's last events is not detected (see the
/// [module documentation](self#what-the-chain-proves-and-what-it-does-not)); to check the
/// stream against a head hash recorded elsewhere, use [`ChainVerifier::head`].
pub fn verify(events: &[RecordedEvent]) -> Result<(), ChainBreak> {
    let mut verifier = ChainVerifier::new();
    events.iter().try_for_each(|event| verifier.push(event))
}

/// Like [`verify`], but carries on past each break (see [`ChainVerifier::push_past`]) and
/// reports every one, in revision order; empty when the chain is intact.
pub fn breaks(events: &[RecordedEvent]) -> Vec<ChainBreak> {
    let mut verifier = ChainVerifier::new();
    events
        .iter()
        .filter_map(|event| verifier.push_past(event).err())
        .collect()
}

/// Where a stream's hash chain breaks: every event before `revision` verified; the event at
/// `revision` is missing, out of place, or does not hash to what is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hash chain breaks at revision {revision}: {reason}")]
pub struct ChainBreak {
    pub revision: StreamRevision,
    pub reason: String,
}

/// Verifies a stream's chain event by event, for streams read in pages: push the events in
/// revision order from revision 0. [`verify`] does the same for a slice.
#[derive(Debug, Clone, Default)]
pub struct ChainVerifier {
    /// The stream of the first event pushed.
    stream: Option<StreamName>,
    /// The revision the next event must have.
    next: StreamRevision,
    /// The recomputed hash of the last verified event.
    head: Option<String>,
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies the next event of the stream. After a break the verifier stays where it
    /// was: pushing more events reports nothing new.
    pub fn push(&mut self, event: &RecordedEvent) -> Result<(), ChainBreak> {
        let broken = |reason: String| ChainBreak {
            revision: self.next,
            reason,
        };
        if let Some(stream) = &self.stream
            && *stream != event.stream
        {
            return Err(broken(format!(
                "event {} at revision {} belongs to stream {}, not {stream}",
                event.id, event.revision, event.stream
            )));
        }
        if event.revision != self.next {
            let found = event.revision;
            return Err(broken(if self.next == StreamRevision(0) {
                format!("does not start at revision 0: the first event is revision {found}")
            } else if found > self.next {
                format!("revision gap: expected {}, found {found}", self.next)
            } else {
                format!(
                    "revision out of order: expected {}, found {found}",
                    self.next
                )
            }));
        }
        if let Some(reason) = &event.unreadable {
            return Err(broken(format!(
                "payload unreadable, so its hash cannot be recomputed: {reason}"
            )));
        }
        let recomputed = event_hash(self.head.as_deref(), event);
        if recomputed != event.hash {
            return Err(broken(format!(
                "event altered (or an earlier event rewritten along with its hash): stored \
                 hash {:?} differs from recomputed {recomputed}",
                event.hash
            )));
        }
        if self.stream.is_none() {
            self.stream = Some(event.stream.clone());
        }
        self.next = self.next.next();
        self.head = Some(recomputed);
        Ok(())
    }

    /// Like [`push`](Self::push), but a break does not stop the verifier: the event that
    /// broke is taken as stored, so the events after it are checked against it and a later
    /// break is reported too. An event of another stream is passed over.
    pub fn push_past(&mut self, event: &RecordedEvent) -> Result<(), ChainBreak> {
        let outcome = self.push(event);
        let ours = self
            .stream
            .as_ref()
            .is_none_or(|stream| *stream == event.stream);
        if outcome.is_err() && ours {
            self.stream = Some(event.stream.clone());
            self.next = event.revision.next();
            self.head = Some(event.hash.clone());
        }
        outcome
    }

    /// The hash of the last event verified so far: the stream's head once all its events
    /// are pushed. Compare it with a head hash recorded elsewhere to detect a rewritten or
    /// truncated tail.
    pub fn head(&self) -> Option<&str> {
        self.head.as_deref()
    }

    /// How many events have verified (after [`push_past`](Self::push_past) went past a
    /// break: the revision the next event must have).
    pub fn verified(&self) -> u64 {
        self.next.0
    }
}

/// `recorded_at` as the chain hashes it, and as the SQLite backend stores it: RFC 3339, UTC,
/// microseconds (finer digits are truncated).
pub(crate) fn timestamp_text(recorded_at: &DateTime<Utc>) -> String {
    recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The hashed fields of one event, borrowed from a [`RecordedEvent`] or a [`NewEvent`].
struct HashedFields<'a> {
    stream: &'a StreamName,
    revision: StreamRevision,
    id: &'a Uuid,
    event_type: &'a str,
    schema_version: u32,
    data: &'a Value,
    metadata: &'a Value,
    recorded_at: &'a DateTime<Utc>,
}

impl HashedFields<'_> {
    fn hash(&self, previous: Option<&str>) -> String {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update(length(bytes.len()));
            hasher.update(bytes);
        };
        field(FORMAT_TAG);
        field(previous.unwrap_or(GENESIS).as_bytes());
        field(self.stream.as_str().as_bytes());
        field(&self.revision.0.to_be_bytes());
        field(self.id.as_bytes());
        field(self.event_type.as_bytes());
        field(&self.schema_version.to_be_bytes());
        let mut json = Vec::new();
        encode_json(self.data, &mut json);
        field(&json);
        json.clear();
        encode_json(self.metadata, &mut json);
        field(&json);
        field(timestamp_text(self.recorded_at).as_bytes());
        Hex(&hasher.finalize()).to_string()
    }
}

/// A length or count as written in the encoding: 8 bytes, big-endian.
fn length(len: usize) -> [u8; 8] {
    // usize is at most 64 bits on every target Rust supports.
    (len as u64).to_be_bytes()
}

fn encode_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(b'n'),
        Value::Bool(false) => out.push(b'f'),
        Value::Bool(true) => out.push(b't'),
        Value::Number(number) => encode_number(number, out),
        Value::String(text) => {
            out.push(b's');
            encode_text(text, out);
        }
        Value::Array(items) => {
            out.push(b'a');
            out.extend_from_slice(&length(items.len()));
            for item in items {
                encode_json(item, out);
            }
        }
        Value::Object(members) => {
            out.push(b'o');
            out.extend_from_slice(&length(members.len()));
            // In key order, whatever serde_json's map order (its `preserve_order` feature):
            // sorted here unless already sorted, as its default map keeps them (the writer
            // hashes every object of every event). `str` ordering is byte ordering.
            if members.keys().is_sorted() {
                members.iter().for_each(|member| encode_member(member, out));
            } else {
                let mut sorted: Vec<_> = members.iter().collect();
                sorted.sort_unstable_by_key(|(key, _)| *key);
                sorted
                    .into_iter()
                    .for_each(|member| encode_member(member, out));
            }
        }
    }
}

fn encode_member((key, item): (&String, &Value), out: &mut Vec<u8>) {
    encode_text(key, out);
    encode_json(item, out);
}

fn encode_number(number: &Number, out: &mut Vec<u8>) {
    if let Some(unsigned) = number.as_u64() {
        out.push(b'u');
        out.extend_from_slice(&unsigned.to_be_bytes());
    } else if let Some(signed) = number.as_i64() {
        out.push(b'i');
        out.extend_from_slice(&signed.to_be_bytes());
    } else if let Some(float) = number.as_f64() {
        out.push(b'd');
        out.extend_from_slice(&float.to_bits().to_be_bytes());
    } else {
        // Reachable only if serde_json's `arbitrary_precision` feature were enabled (it is
        // not): a number no f64 holds, hashed by its text under its own tag.
        out.push(b'x');
        encode_text(&number.to_string(), out);
    }
}

fn encode_text(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&length(text.len()));
    out.extend_from_slice(text.as_bytes());
}

/// Lowercase hex of a digest.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::Position;

    fn event(revision: u64, data: Value) -> RecordedEvent {
        RecordedEvent {
            id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            stream: StreamName::new("order-1").expect("valid name"),
            revision: StreamRevision(revision),
            position: Position(revision + 1),
            event_type: "order-placed".to_owned(),
            schema_version: 1,
            data,
            metadata: json!({"actor": "user-1"}),
            recorded_at: Utc
                .timestamp_opt(1_738_324_800, 123_456_000)
                .single()
                .expect("valid timestamp"),
            hash: String::new(),
            unreadable: None,
        }
    }

    /// A stream of `count` events with correct hashes.
    fn chain(count: u64) -> Vec<RecordedEvent> {
        let mut previous: Option<String> = None;
        (0..count)
            .map(|revision| {
                let mut event = event(revision, json!({ "n": revision }));
                event.hash = event_hash(previous.as_deref(), &event);
                previous = Some(event.hash.clone());
                event
            })
            .collect()
    }

    fn rehash_from(events: &mut [RecordedEvent], from: usize) {
        for index in from..events.len() {
            let previous = index
                .checked_sub(1)
                .map(|before| events[before].hash.clone());
            events[index].hash = event_hash(previous.as_deref(), &events[index]);
        }
    }

    #[test]
    fn the_encoding_is_pinned() {
        // Changing the encoding invalidates every stored hash: this value must never change.
        assert_eq!(
            event_hash(
                None,
                &event(0, json!({"b": [1, -2, 2.5, null, true], "a": "x"}))
            ),
            "3ccc1abe638f6909351c70edbe7f5b3400baaa4e099e2c6fa9ee976a220162a5"
        );
    }

    #[test]
    fn a_hash_is_lowercase_hex_sha256() {
        let hash = event_hash(None, &event(0, json!({})));
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    }

    #[test]
    fn every_hashed_field_changes_the_hash() {
        let base = event(1, json!({"n": 1}));
        let predecessor = "ab".repeat(32);
        let hash = |event: &RecordedEvent| event_hash(Some(&predecessor), event);
        let original = hash(&base);
        let variants: Vec<(&str, RecordedEvent)> = vec![
            (
                "stream",
                RecordedEvent {
                    stream: StreamName::new("order-2").expect("valid name"),
                    ..base.clone()
                },
            ),
            (
                "revision",
                RecordedEvent {
                    revision: StreamRevision(2),
                    ..base.clone()
                },
            ),
            (
                "id",
                RecordedEvent {
                    id: Uuid::nil(),
                    ..base.clone()
                },
            ),
            (
                "event type",
                RecordedEvent {
                    event_type: "order-placed2".to_owned(),
                    ..base.clone()
                },
            ),
            (
                "schema version",
                RecordedEvent {
                    schema_version: 2,
                    ..base.clone()
                },
            ),
            (
                "data",
                RecordedEvent {
                    data: json!({"n": 2}),
                    ..base.clone()
                },
            ),
            (
                "data number type",
                RecordedEvent {
                    data: json!({"n": 1.0}),
                    ..base.clone()
                },
            ),
            (
                "metadata",
                RecordedEvent {
                    metadata: json!({"actor": "user-2"}),
                    ..base.clone()
                },
            ),
            (
                "recorded at",
                RecordedEvent {
                    recorded_at: base.recorded_at + chrono::Duration::microseconds(1),
                    ..base.clone()
                },
            ),
        ];
        for (field, variant) in &variants {
            assert_ne!(hash(variant), original, "{field} is hashed");
        }
        assert_ne!(
            event_hash(None, &base),
            original,
            "the predecessor is hashed"
        );
        assert_ne!(
            event_hash(Some(&"ac".repeat(32)), &base),
            original,
            "the predecessor is hashed"
        );
        assert_eq!(
            event_hash(None, &base),
            event_hash(Some(GENESIS), &base),
            "no predecessor hashes as GENESIS"
        );

        // What is not hashed: the position, the stored hash, sub-microsecond digits.
        let unhashed = RecordedEvent {
            position: Position(99),
            hash: "anything".to_owned(),
            recorded_at: base.recorded_at + chrono::Duration::nanoseconds(999),
            ..base.clone()
        };
        assert_eq!(hash(&unhashed), original);
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        // Moving bytes between adjacent text fields, or between JSON strings, changes the hash.
        let a = RecordedEvent {
            event_type: "ab".to_owned(),
            data: json!(["c", "d"]),
            ..event(0, json!(null))
        };
        let b = RecordedEvent {
            event_type: "a".to_owned(),
            data: json!(["bc", "d"]),
            ..a.clone()
        };
        let c = RecordedEvent {
            data: json!(["cd"]),
            ..a.clone()
        };
        let d = RecordedEvent {
            data: json!({"c": "d"}),
            ..a.clone()
        };
        let hashes: std::collections::HashSet<_> = [&a, &b, &c, &d]
            .iter()
            .map(|event| event_hash(None, event))
            .collect();
        assert_eq!(hashes.len(), 4);
    }

    #[test]
    fn object_key_order_does_not_matter() {
        let mut forward = serde_json::Map::new();
        forward.insert("a".to_owned(), json!(1));
        forward.insert("b".to_owned(), json!(2));
        let mut backward = serde_json::Map::new();
        backward.insert("b".to_owned(), json!(2));
        backward.insert("a".to_owned(), json!(1));
        assert_eq!(
            event_hash(None, &event(0, Value::Object(forward))),
            event_hash(None, &event(0, Value::Object(backward)))
        );
    }

    /// The hash computed from an appended value equals the one recomputed from its stored
    /// text read back, for the values that are hardest to round-trip.
    #[test]
    fn hashes_survive_the_json_text_round_trip() {
        let values = [
            json!({
                "floats": [0.1, -0.0, 0.0, 3.0, 1e20, 1.7976931348623157e308, 5e-324, -2.5e-300],
                "integers": [0, -1, i64::MIN, i64::MAX, u64::MAX],
                "text": "Grüße \"q\" \\ \n\t\u{0}\u{1F600} /",
                "nested": {"z": {}, "a": [], "m": null, "": false},
            }),
            json!(f64::EPSILON),
            json!("just a string"),
        ];
        for value in values {
            let appended = event(0, value);
            let text = serde_json::to_string(&appended.data).expect("encodes");
            let read_back = RecordedEvent {
                data: serde_json::from_str(&text).expect("decodes"),
                ..appended.clone()
            };
            assert_eq!(
                event_hash(None, &appended),
                event_hash(None, &read_back),
                "{text}"
            );
        }
    }

    #[test]
    fn new_event_hash_matches_event_hash() {
        let recorded = event(3, json!({"n": 3}));
        let new = NewEvent {
            id: recorded.id,
            event_type: recorded.event_type.clone(),
            schema_version: recorded.schema_version,
            data: recorded.data.clone(),
            metadata: recorded.metadata.clone(),
        };
        let previous = Some("ab".repeat(32));
        assert_eq!(
            new_event_hash(
                previous.as_deref(),
                &recorded.stream,
                recorded.revision,
                &new,
                &recorded.recorded_at
            ),
            event_hash(previous.as_deref(), &recorded)
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&[]), Ok(()));
        assert_eq!(verify(&chain(1)), Ok(()));
        let events = chain(5);
        assert_eq!(verify(&events), Ok(()));

        let mut verifier = ChainVerifier::new();
        assert_eq!(verifier.head(), None);
        for event in &events {
            verifier.push(event).expect("verifies");
        }
        assert_eq!(verifier.verified(), 5);
        assert_eq!(verifier.head(), Some(events[4].hash.as_str()));
    }

    #[test]
    fn an_altered_event_breaks_at_its_revision() {
        let mut events = chain(5);
        events[2].data = json!({"n": 200});
        let error = verify(&events).expect_err("altered");
        assert_eq!(error.revision, StreamRevision(2));
        assert!(error.reason.starts_with("event altered"), "{error}");
        assert!(error.reason.contains(&events[2].hash), "{error}");
    }

    #[test]
    fn a_rewritten_hash_breaks_at_the_next_revision() {
        let mut events = chain(5);
        events[1].data = json!({"n": 100});
        rehash_from(&mut events[..2], 1);
        let error = verify(&events).expect_err("altered");
        assert_eq!(error.revision, StreamRevision(2));
    }

    #[test]
    fn a_rewritten_tail_verifies() {
        // The documented limit: rewriting every hash to the end goes unnoticed by `verify`...
        let mut events = chain(5);
        let head = events[4].hash.clone();
        events[1].data = json!({"n": 100});
        rehash_from(&mut events, 1);
        assert_eq!(verify(&events), Ok(()));
        // ...but not by a head hash recorded elsewhere.
        assert_ne!(events[4].hash, head);
    }

    #[test]
    fn an_unreadable_payload_breaks_at_its_revision_and_the_rest_is_still_checked() {
        let mut events = chain(6);
        events[1].data = Value::Null;
        events[1].unreadable = Some("data is not valid json".to_owned());
        events[4].data = json!({"n": 400});
        let error = verify(&events).expect_err("unreadable");
        assert_eq!(error.revision, StreamRevision(1));
        assert!(error.reason.contains("data is not valid json"), "{error}");

        let found = breaks(&events);
        let revisions: Vec<_> = found.iter().map(|broken| broken.revision.0).collect();
        assert_eq!(revisions, [1, 4], "{found:?}");
        assert!(found[1].reason.starts_with("event altered"), "{found:?}");
        assert_eq!(breaks(&chain(6)), []);

        let mut gap = chain(5);
        gap.remove(2);
        let found = breaks(&gap);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].reason, "revision gap: expected 2, found 3");
    }

    #[test]
    fn missing_and_misplaced_events_break_the_chain() {
        let events = chain(5);

        let mut gap = events.clone();
        gap.remove(3);
        let error = verify(&gap).expect_err("gap");
        assert_eq!(error.revision, StreamRevision(3));
        assert_eq!(error.reason, "revision gap: expected 3, found 4");

        let error = verify(&events[1..]).expect_err("no start");
        assert_eq!(error.revision, StreamRevision(0));
        assert_eq!(
            error.reason,
            "does not start at revision 0: the first event is revision 1"
        );

        let mut swapped = events.clone();
        swapped.swap(1, 2);
        let error = verify(&swapped).expect_err("out of order");
        assert_eq!(error.revision, StreamRevision(1));
        assert_eq!(error.reason, "revision gap: expected 1, found 2");

        let mut duplicated = events.clone();
        duplicated.insert(2, events[1].clone());
        let error = verify(&duplicated).expect_err("duplicate");
        assert_eq!(error.reason, "revision out of order: expected 2, found 1");

        // Renumbered to close the gap: the hashes no longer follow.
        let mut renumbered = gap;
        renumbered[3].revision = StreamRevision(3);
        let error = verify(&renumbered).expect_err("renumbered");
        assert_eq!(error.revision, StreamRevision(3));
        assert!(error.reason.starts_with("event altered"), "{error}");

        let mut foreign = events;
        foreign[2].stream = StreamName::new("order-2").expect("valid name");
        let error = verify(&foreign).expect_err("foreign");
        assert_eq!(error.revision, StreamRevision(2));
        assert!(
            error.reason.contains("belongs to stream order-2"),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            format!("hash chain breaks at revision 2: {}", error.reason)
        );
    }
}
