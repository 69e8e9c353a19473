//! The verification at the end of a migration: every stream has the same count, head
//! revision and head hash on both sides, every chain verifies on the target, the target
//! holds no other stream, and every request record answers its original outcome there.

use std::collections::BTreeMap;

use futures::StreamExt as _;

use plg_eventstore::chain::{ChainBreak, ChainVerifier};
use plg_eventstore::kurrentdb::KurrentDbEventStore;
use plg_eventstore::sqlite::SqliteEventStore;
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StreamName, StreamRevision,
};

use super::{MigrateError, PAGE, REQUESTS_AT_ONCE, RequestPages};

/// Every stream of a log as read: its count, head and the first break of its chain.
#[derive(Debug, Default)]
pub(super) struct Chains {
    streams: BTreeMap<StreamName, Chain>,
}

#[derive(Debug, Default)]
struct Chain {
    events: u64,
    head: Option<(StreamRevision, String)>,
    verifier: ChainVerifier,
    broken: Option<ChainBreak>,
}

impl Chains {
    /// Adds the next event of its stream.
    pub(super) fn push(&mut self, event: &RecordedEvent) {
        let chain = self.streams.entry(event.stream.clone()).or_default();
        chain.events += 1;
        chain.head = Some((event.revision, event.hash.clone()));
        if let Err(broken) = chain.verifier.push_past(event) {
            chain.broken.get_or_insert(broken);
        }
    }

    /// The target's whole log, read forward.
    pub(super) async fn read(target: &KurrentDbEventStore) -> Result<Self, MigrateError> {
        let mut chains = Self::default();
        let mut from = ReadFrom::Start;
        loop {
            let page = target
                .read_all(Direction::Forward, from, PAGE)
                .await
                .map_err(MigrateError::Target)?;
            let Some(last) = page.last() else {
                return Ok(chains);
            };
            from = ReadFrom::At(Position(last.position.0 + 1));
            page.iter().for_each(|event| chains.push(event));
        }
    }

    /// What differs between the source (`self`) and the target, one line each.
    pub(super) fn compare(&self, target: &Self) -> Vec<String> {
        let mut problems = Vec::new();
        for (stream, ours) in &self.streams {
            if let Some(broken) = &ours.broken {
                problems.push(format!("stream {stream}: the source's own chain: {broken}"));
            }
            let Some(theirs) = target.streams.get(stream) else {
                problems.push(format!(
                    "stream {stream}: {} events in the source, none on the target",
                    ours.events
                ));
                continue;
            };
            if (ours.events, &ours.head) != (theirs.events, &theirs.head) {
                problems.push(format!(
                    "stream {stream}: {} in the source, {} on the target",
                    ours.describe(),
                    theirs.describe()
                ));
            }
            if let Some(broken) = &theirs.broken {
                problems.push(format!("stream {stream} on the target: {broken}"));
            }
        }
        for (stream, theirs) in &target.streams {
            if !self.streams.contains_key(stream) {
                problems.push(format!(
                    "stream {stream}: {} events on the target, none in the source",
                    theirs.events
                ));
            }
        }
        problems
    }
}

impl Chain {
    fn describe(&self) -> String {
        match &self.head {
            Some((revision, hash)) => format!(
                "{} events, head revision {revision} with hash {hash}",
                self.events
            ),
            None => "no events".to_owned(),
        }
    }
}

/// Every request record of the source, looked up on the target as a retry would: it must
/// answer the same stream and revisions.
pub(super) async fn requests(
    source: &SqliteEventStore,
    target: &KurrentDbEventStore,
) -> Result<Vec<String>, MigrateError> {
    let mut problems = Vec::new();
    let mut pages = RequestPages::default();
    loop {
        let page = pages.next(source).await?;
        if page.is_empty() {
            return Ok(problems);
        }
        let mut found = futures::stream::iter(&page)
            .map(
                |record| async move { (record, target.find_idempotent_outcome(&record.key).await) },
            )
            .buffered(REQUESTS_AT_ONCE);
        while let Some((record, found)) = found.next().await {
            let expected = &record.outcome;
            let problem = match found {
                Ok(Some(outcome))
                    if (&outcome.stream, outcome.first_revision, outcome.revision)
                        == (&expected.stream, expected.first_revision, expected.revision) =>
                {
                    continue;
                }
                Ok(Some(outcome)) => format!(
                    "revisions {} to {} of {} on the target, {} to {} of {} in the source",
                    outcome.first_revision,
                    outcome.revision,
                    outcome.stream,
                    expected.first_revision,
                    expected.revision,
                    expected.stream
                ),
                Ok(None) => "missing on the target".to_owned(),
                Err(error) => format!("on the target: {error}"),
            };
            problems.push(format!("request record {}: {problem}", record.key.key));
        }
    }
}
