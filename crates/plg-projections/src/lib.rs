//! The research view: projections that turn the event log into SQL tables researchers can
//! query (through ResearchService, or directly with any SQLite tool).
//!
//! One follower reads the global log and applies each batch to every projection in one
//! transaction; each projection has its own checkpoint, moved in the same transaction as the
//! rows it covers, so every event takes effect exactly once, across crashes and restarts. The
//! view as a whole is current up to the lowest checkpoint.

mod batch;
mod database;
mod event;
mod projections;
mod rebuild;
mod runner;
mod telemetry;

pub use database::{RESEARCH_DB_FILE, ResearchDb, view_position};
pub use event::{LogEvent, Payload};
pub use projections::{
    all as all_projections,
    answers::{StoredAnswer, decode_answers, encode_answers},
    audit::{SchoolStreams, school_streams},
    scans::DimensionScores,
};
pub use rebuild::{Rebuilt, rebuild};
pub use runner::{ProjectionError, Projections};
pub use telemetry::view_lag;

/// One projection: the tables it owns and how an event changes them.
pub trait Projection: Send + Sync + std::fmt::Debug + 'static {
    /// Stable name, the key of its checkpoint.
    fn name(&self) -> &'static str;
    /// `CREATE TABLE IF NOT EXISTS …` statements for its tables. When it changes, an existing
    /// view rebuilds this projection from the log on open.
    fn schema(&self) -> &'static str;
    /// Bump when `apply` comes to write different rows for events already in the log, with the
    /// schema unchanged: an existing view then rebuilds this projection on open too.
    fn version(&self) -> u32 {
        1
    }
    /// Its tables, dropped on rebuild.
    fn tables(&self) -> &'static [&'static str];
    /// Applies one event inside the batch's transaction. Must depend on the event (and rows
    /// written from earlier events) only, so a rebuild produces the same rows.
    fn apply(
        &self,
        transaction: &rusqlite::Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError>;
    /// Applies a batch's events, in log order, inside the batch's transaction: by default one
    /// at a time. A projection may instead write rows that no event of the batch reads back in
    /// the order of their table's key (each page of a B-tree visited once, not once per row),
    /// as long as it leaves the rows `apply` leaves, event by event.
    fn apply_batch(
        &self,
        transaction: &rusqlite::Transaction<'_>,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError> {
        events
            .iter()
            .try_for_each(|event| self.apply(transaction, event))
    }
    /// Its writer for a rebuild, or `None` to write each batch as `apply_batch` does. A
    /// rebuild's copy is nobody's view until it is complete, so such a writer may keep rows
    /// waiting across the rebuild's batches and write more of them in key order at once.
    fn rebuilder(&self) -> Option<Box<dyn Rebuilder>> {
        None
    }
}

/// A projection's writer while it is rebuilt: it gets the log's batches in order, then
/// `finish` once, in a transaction of its own, after the last. The rows it leaves must be
/// those `apply_batch` leaves for the same events.
pub trait Rebuilder: Send + std::fmt::Debug {
    fn apply(
        &mut self,
        transaction: &rusqlite::Transaction<'_>,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError>;
    /// Writes every row still waiting.
    fn finish(&mut self, transaction: &rusqlite::Transaction<'_>) -> Result<(), ProjectionError>;
}
