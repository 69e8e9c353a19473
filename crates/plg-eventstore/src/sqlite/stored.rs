//! Which stream names and idempotency keys the file holds, as 64-bit hashes, for a store that
//! has its file to itself: a name whose hash is not among them is certainly not stored. So the
//! two look-ups of a new command (is its request id a retry? does its new target stream
//! exist?) are answered from memory, with no trip to the blocking pool and no SQLite. A hash
//! that is among them may be another name's (a collision): then SQLite is asked, as before.
//!
//! Why a name whose hash is absent is not stored (`docs/architecture.md`, "Stream ends"):
//! - The hashes are read from the file as the store opens, before its writer starts.
//! - The writer adds the streams and keys of a batch before it commits it, so a look-up that
//!   finds a name absent ran before any commit of it began.
//! - Nothing is ever removed: streams and keys are never deleted, and the names of an append
//!   that failed stay, which costs only a look-up.
//! - When another connection committed, the writer forgets them with the stream ends.
//!
//! The cost is memory: about 10–20 bytes per stream and per write ever made.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use rusqlite::{Connection, types::ValueRef};

#[derive(Debug)]
pub(super) struct StoredNames {
    hasher: RandomState,
    hashes: HashSet<u64>,
}

impl StoredNames {
    /// Every stream and idempotency key in the file.
    pub(super) fn load(connection: &Connection) -> rusqlite::Result<Self> {
        let mut names = Self::empty();
        for sql in [
            "SELECT stream FROM events WHERE revision = 0",
            "SELECT key FROM idempotency",
        ] {
            let mut statement = connection.prepare(sql)?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                // Raw bytes: a damaged name that is not UTF-8 is still a name the file holds,
                // and must not keep the store from opening.
                if let ValueRef::Text(name) | ValueRef::Blob(name) = row.get_ref(0)? {
                    names.add(name);
                }
            }
        }
        Ok(names)
    }

    pub(super) fn empty() -> Self {
        Self {
            hasher: RandomState::new(),
            hashes: HashSet::new(),
        }
    }

    pub(super) fn add(&mut self, name: &[u8]) {
        self.hashes.insert(self.hasher.hash_one(name));
    }

    /// False only when `name` is certainly not stored.
    pub(super) fn may_hold(&self, name: &[u8]) -> bool {
        self.hashes.contains(&self.hasher.hash_one(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_file_holds_may_be_held_and_nothing_else_is() {
        let connection = Connection::open_in_memory().expect("opens");
        connection
            .execute_batch(
                "CREATE TABLE events (stream TEXT, revision INTEGER);
                 CREATE TABLE idempotency (key TEXT);
                 INSERT INTO events VALUES ('order-1', 0), ('order-1', 1), ('order-2', 0);
                 INSERT INTO idempotency VALUES ('3:key/request-1');",
            )
            .expect("fills");
        let mut names = StoredNames::load(&connection).expect("loads");
        for stored in ["order-1", "order-2", "3:key/request-1"] {
            assert!(names.may_hold(stored.as_bytes()), "{stored}");
        }
        assert!(!names.may_hold(b"order-3"));
        assert!(!names.may_hold(b"3:key/request-2"));
        names.add(b"order-3");
        assert!(names.may_hold(b"order-3"));
    }
}
