//! Aggregate states kept between commands, so that a command replays only the events its
//! target and the aggregates it reads gained since they were last loaded, not whole streams.
//!
//! What keeps a cached state honest:
//! - An entry is a state and the revision it folds: exactly the fold of its stream's events
//!   up to and including that revision. Events are immutable and streams only grow, so an
//!   entry can fall behind its stream but never disagree with it.
//! - Every load reads the events after the entry's revision from the store before the state
//!   is used, so a state is as current as a full replay would be: also when another process
//!   appended (several writers on one store), and after a restart (the cache starts empty).
//!   A store that holds its file alone may answer that read from where it knows the stream
//!   ends, without SQLite (`plg_eventstore::sqlite::heads`): it knows every commit.
//! - An entry is replaced only by one of a later revision, so two loads racing cannot put an
//!   older state back.
//! - A decision on a state that fell behind between its load and its append fails the
//!   append's expected revision, as it would without the cache, and is decided again.
//! - Only states folded from events read back from the store are kept, never one a write
//!   computed from its own events: what is kept is what a replay gives, sealed personal data
//!   sealed.

use std::{
    any::Any,
    num::NonZeroUsize,
    sync::{Arc, Mutex, PoisonError},
};

use hashlink::LruCache;
use plg_eventstore::{StreamName, StreamRevision};

/// Streams whose state is kept: the hot ones (studies, PLGs, schools) stay, the long tail of
/// one-off streams (a respondent's scan) is evicted first.
pub const DEFAULT_CAPACITY: NonZeroUsize = NonZeroUsize::new(10_000).expect("non-zero");

/// A state and the revision it folds.
#[derive(Debug)]
struct Entry {
    revision: StreamRevision,
    state: Arc<dyn Any + Send + Sync>,
}

/// The least recently used states, up to a number of streams.
#[derive(Debug)]
pub(crate) struct StateCache {
    entries: Mutex<LruCache<StreamName, Entry>>,
}

impl StateCache {
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(capacity.get())),
        }
    }

    /// The stream's state as last kept, and the revision it folds: shared, not copied, so a
    /// load that finds nothing new costs no copy of a large state (a study's enrolments).
    pub(crate) fn get<A: Send + Sync + 'static>(
        &self,
        stream: &StreamName,
    ) -> Option<(Arc<A>, StreamRevision)> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(stream)?;
        let state = Arc::clone(&entry.state).downcast::<A>().ok()?;
        Some((state, entry.revision))
    }

    /// Keeps `state` as the fold of `stream` up to `revision`, unless a later one is kept.
    pub(crate) fn put<A: Send + Sync + 'static>(
        &self,
        stream: &StreamName,
        state: Arc<A>,
        revision: StreamRevision,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries
            .peek(stream)
            .is_some_and(|kept| kept.revision >= revision)
        {
            return;
        }
        entries.insert(stream.clone(), Entry { revision, state });
    }
}
