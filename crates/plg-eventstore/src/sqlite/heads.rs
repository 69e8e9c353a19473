//! What a store that has its file to itself knows of each stream's end, so that the reads
//! that find nothing new (a kept state catching up, a look for a stream that does not exist)
//! are answered without SQLite and without a trip to the blocking pool.
//!
//! Why a known end is the stream's end, always (`docs/architecture.md`, "Stream ends"):
//! - Only a store opened [`Sharing::Exclusive`](super::Sharing) keeps ends: its opener holds
//!   the file alone (plgd's exclusive `store.lock`), so every commit to it is its writer's.
//!   The writer still asks SQLite at each batch whether another connection committed
//!   (`PRAGMA data_version`) and then forgets every end, in case the lock was bypassed.
//! - Before it commits a batch, the writer removes the ends of the batch's streams and marks
//!   them in flux; after the commit it records their new ends. A read meanwhile asks SQLite.
//! - A read learns an end from SQLite only if no commit began or ended between the moment it
//!   started and the moment it records (a generation counter bumped at both) and the stream
//!   is not in flux: what it read is then still the stream's end.
//! - Ends only say where a stream stops; events are always read from SQLite.
//! - A stream the file certainly does not hold ([`StoredNames`]) ends before revision 0.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use hashlink::LruCache;

use super::stored::StoredNames;
use crate::{StreamName, StreamRevision};

/// Streams whose end is kept: the hot ones (keys, schools, studies) stay.
const CAPACITY: usize = 100_000;

/// What is known of where a stream ends: no event at or after `next`. `exact`: the event
/// before `next` exists (or `next` is 0: the stream does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct End {
    next: u64,
    exact: bool,
}

impl End {
    /// The stream ends with `head` (`None`: it does not exist).
    pub(super) fn at(head: Option<StreamRevision>) -> Self {
        Self {
            next: head.map_or(0, |head| head.0 + 1),
            exact: true,
        }
    }

    /// The stream has no event at or after `next`.
    pub(super) fn before(next: u64) -> Self {
        Self {
            next,
            exact: next == 0,
        }
    }

    /// Whether the stream has no event at or after `revision`.
    pub(super) fn is_before(self, revision: u64) -> bool {
        self.next <= revision
    }

    /// The stream's last revision, when known exactly.
    pub(super) fn head(self) -> Option<Option<StreamRevision>> {
        self.exact
            .then(|| self.next.checked_sub(1).map(StreamRevision))
    }
}

/// A moment in the store's commits: a read's end may be recorded only at the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Generation(u64);

#[derive(Debug, Default)]
pub(super) struct Heads {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    generation: u64,
    in_flux: HashSet<StreamName>,
    ends: LruCache<StreamName, End>,
    /// The streams and idempotency keys the file may hold; `None` once forgotten.
    stored: Option<StoredNames>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            generation: 0,
            in_flux: HashSet::new(),
            ends: LruCache::new(CAPACITY),
            stored: None,
        }
    }
}

impl Heads {
    /// Ends known from the start: every stream not among `stored` does not exist.
    pub(super) fn with_stored(stored: StoredNames) -> Self {
        Self {
            state: Mutex::new(State {
                stored: Some(stored),
                ..State::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where `stream` ends, if known.
    pub(super) fn end(&self, stream: &StreamName) -> Option<End> {
        let mut state = self.state();
        if let Some(end) = state.ends.get(stream) {
            return Some(*end);
        }
        let stored = state.stored.as_ref()?;
        (!stored.may_hold(stream.as_str().as_bytes())).then(|| End::at(None))
    }

    /// Whether no append with the idempotency key `key` was ever committed.
    pub(super) fn key_unused(&self, key: &str) -> bool {
        self.state()
            .stored
            .as_ref()
            .is_some_and(|stored| !stored.may_hold(key.as_bytes()))
    }

    /// Taken before a read of SQLite whose result may be recorded.
    pub(super) fn generation(&self) -> Generation {
        Generation(self.state().generation)
    }

    /// Records what a read that started at `generation` found, if no commit began or ended
    /// since; an end already known at this moment is just as true, so the tighter stays.
    pub(super) fn learn(&self, generation: Generation, stream: &StreamName, end: End) {
        let mut state = self.state();
        if state.generation != generation.0 || state.in_flux.contains(stream) {
            return;
        }
        let end = match state.ends.peek(stream) {
            Some(known) if known.next < end.next || (known.next == end.next && known.exact) => {
                *known
            }
            _ => end,
        };
        state.ends.insert(stream.clone(), end);
    }

    /// Before a commit: the streams it may change have no known end until it is done, and
    /// they and the idempotency keys it may record may be stored from now on.
    pub(super) fn committing<'a>(
        &self,
        streams: impl IntoIterator<Item = &'a StreamName>,
        keys: impl IntoIterator<Item = &'a str>,
    ) {
        let mut state = self.state();
        state.generation += 1;
        for stream in streams {
            state.ends.remove(stream);
            state.in_flux.insert(stream.clone());
            if let Some(stored) = state.stored.as_mut() {
                stored.add(stream.as_str().as_bytes());
            }
        }
        if let Some(stored) = state.stored.as_mut() {
            keys.into_iter().for_each(|key| stored.add(key.as_bytes()));
        }
    }

    /// After a commit (or its failure): each stream it appended to ends where it left it.
    pub(super) fn committed<'a>(
        &self,
        appended: impl IntoIterator<Item = (&'a StreamName, StreamRevision)>,
    ) {
        let mut state = self.state();
        state.generation += 1;
        state.in_flux.clear();
        for (stream, head) in appended {
            state.ends.insert(stream.clone(), End::at(Some(head)));
        }
    }

    /// Another connection committed: nothing known holds any more.
    pub(super) fn forget_all(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.ends.clear();
        state.stored = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> StreamName {
        StreamName::new("order-1").expect("valid")
    }

    #[test]
    fn a_read_that_overlapped_a_commit_records_nothing() {
        let heads = Heads::default();
        let before = heads.generation();
        heads.committing([&stream()], []);
        heads.learn(before, &stream(), End::at(None));
        assert_eq!(
            heads.end(&stream()),
            None,
            "started before the commit began"
        );
        let during = heads.generation();
        heads.learn(during, &stream(), End::at(None));
        assert_eq!(heads.end(&stream()), None, "the stream is in flux");
        heads.committed([(&stream(), StreamRevision(0))]);
        heads.learn(during, &stream(), End::at(None));
        assert_eq!(heads.end(&stream()), Some(End::at(Some(StreamRevision(0)))));
    }

    #[test]
    fn the_tighter_of_two_true_ends_stays() {
        let heads = Heads::default();
        let now = heads.generation();
        heads.learn(now, &stream(), End::before(5));
        heads.learn(now, &stream(), End::at(Some(StreamRevision(2))));
        heads.learn(now, &stream(), End::before(4));
        let end = heads.end(&stream()).expect("known");
        assert_eq!(end.head(), Some(Some(StreamRevision(2))));
        assert!(end.is_before(3) && !end.is_before(2));
    }

    #[test]
    fn a_foreign_commit_forgets_every_end() {
        let heads = Heads::default();
        heads.committed([(&stream(), StreamRevision(0))]);
        heads.forget_all();
        assert_eq!(heads.end(&stream()), None);
    }

    #[test]
    fn a_stream_or_key_never_stored_is_absent_until_a_commit_of_it_begins() {
        let heads = Heads::with_stored(StoredNames::empty());
        assert_eq!(heads.end(&stream()), Some(End::at(None)));
        assert!(heads.key_unused("3:key/request-1"));
        heads.committing([&stream()], ["3:key/request-1"]);
        assert_eq!(heads.end(&stream()), None, "in flux: SQLite is asked");
        assert!(!heads.key_unused("3:key/request-1"));
        // A failed commit leaves them possibly stored: only a look-up more.
        heads.committed([]);
        assert_eq!(heads.end(&stream()), None);
        assert!(!heads.key_unused("3:key/request-1"));
    }

    #[test]
    fn a_foreign_commit_forgets_what_the_file_holds() {
        let heads = Heads::with_stored(StoredNames::empty());
        heads.forget_all();
        assert_eq!(heads.end(&stream()), None);
        assert!(!heads.key_unused("3:key/request-1"));
    }
}
