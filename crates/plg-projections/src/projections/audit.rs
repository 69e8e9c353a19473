//! Which streams concern which school, so an administrator can audit a school's history
//! without scanning the whole log: the school's own streams and those of the scans, consents,
//! interventions and PLGs that name it, plus single events in shared streams (a study's
//! enrolment of the school).

use std::collections::BTreeSet;

use plg_domain::{
    consent::ConsentEvent, development_plan::DevelopmentPlanEvent, ids::SchoolId,
    intervention::InterventionEvent, plg::PlgEvent, scan::ScanEvent, school::SchoolEvent,
    study::StudyEvent,
};
use plg_eventstore::{StreamName, StreamRevision};
use rusqlite::Transaction;

use crate::{
    Projection, ProjectionError, Rebuilder, ResearchDb,
    event::{LogEvent, Payload},
};

/// The streams that concern a school: whole streams, and single events of shared ones.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SchoolStreams {
    /// By name.
    pub whole: Vec<StreamName>,
    /// By stream, then revision.
    pub events: Vec<(StreamName, StreamRevision)>,
}

/// The streams the projection has found to concern `school`, as far as it has followed the log.
pub fn school_streams(db: &ResearchDb, school: SchoolId) -> Result<SchoolStreams, ProjectionError> {
    let connection = db.read_connection()?;
    let school = school.to_string();
    let mut whole = connection
        .prepare("SELECT stream FROM audit_school_streams WHERE school_id = ?1 ORDER BY stream")?;
    let whole = whole
        .query_map([&school], |row| row.get::<_, String>(0))?
        .map(|stream| Ok(StreamName::new(stream?)?))
        .collect::<Result<_, ProjectionError>>()?;
    let mut events = connection.prepare(
        "SELECT stream, revision FROM audit_school_events WHERE school_id = ?1 ORDER BY stream, revision",
    )?;
    let events = events
        .query_map([&school], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .map(|row| {
            let (stream, revision) = row?;
            let revision = StreamRevision(u64::try_from(revision).unwrap_or(0));
            Ok((StreamName::new(stream)?, revision))
        })
        .collect::<Result<_, ProjectionError>>()?;
    Ok(SchoolStreams { whole, events })
}

#[derive(Debug)]
pub struct Audit;

impl Projection for Audit {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS audit_school_streams (
            school_id TEXT NOT NULL,
            stream    TEXT NOT NULL,
            PRIMARY KEY (school_id, stream)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS audit_school_events (
            school_id TEXT NOT NULL,
            stream    TEXT NOT NULL,
            revision  INTEGER NOT NULL,
            PRIMARY KEY (school_id, stream, revision)
        ) STRICT, WITHOUT ROWID;"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_school_streams", "audit_school_events"]
    }

    fn apply(
        &self,
        transaction: &Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(transaction, std::slice::from_ref(event))
    }

    /// Every row is written in key order once the batch's are known: nothing here reads them,
    /// and a row written twice is ignored whichever comes first.
    fn apply_batch(
        &self,
        transaction: &Transaction<'_>,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError> {
        let mut rows = Rows::default();
        rows.add(events);
        rows.write(transaction)
    }

    fn rebuilder(&self) -> Option<Box<dyn Rebuilder>> {
        Some(Box::new(Rebuilding {
            rows: Rows::default(),
            keeps: REBUILD_KEEPS,
        }))
    }
}

/// Rows after which a rebuild writes those waiting (checked after each batch, so up to a
/// batch's rows more may wait).
const REBUILD_KEEPS: usize = 1 << 17;

/// Rows to write, each table's in its key's order.
#[derive(Debug, Default)]
struct Rows {
    /// By school and stream.
    whole: BTreeSet<(String, String)>,
    /// By school, stream and revision.
    single: BTreeSet<(String, String, i64)>,
}

impl Rows {
    fn add(&mut self, events: &[LogEvent]) {
        for event in events {
            match &event.payload {
                Payload::School(SchoolEvent::SchoolRegistered { school_id, .. })
                | Payload::DevelopmentPlan(
                    DevelopmentPlanEvent::DevelopmentPlanRevised { school_id, .. }
                    | DevelopmentPlanEvent::ReflectionConversationRecorded { school_id, .. },
                )
                | Payload::Scan(ScanEvent::ScanSubmitted { school_id, .. })
                | Payload::Consent(ConsentEvent::ConsentWithdrawn { school_id, .. })
                | Payload::Intervention(InterventionEvent::InterventionLogged {
                    school_id, ..
                }) => {
                    self.whole
                        .insert((school_id.to_string(), event.stream.clone()));
                }
                Payload::Plg(PlgEvent::PlgFormed { school_ids, .. }) => {
                    for school_id in school_ids {
                        self.whole
                            .insert((school_id.to_string(), event.stream.clone()));
                    }
                }
                Payload::Study(StudyEvent::SchoolEnrolled { school_id }) => {
                    let revision = i64::try_from(event.revision).unwrap_or(i64::MAX);
                    self.single
                        .insert((school_id.to_string(), event.stream.clone(), revision));
                }
                _ => {}
            }
        }
    }

    fn write(&mut self, transaction: &Transaction<'_>) -> Result<(), ProjectionError> {
        if !self.whole.is_empty() {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO audit_school_streams (school_id, stream) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?;
            for row in std::mem::take(&mut self.whole) {
                insert.execute(row)?;
            }
        }
        if !self.single.is_empty() {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO audit_school_events (school_id, stream, revision)
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?;
            for row in std::mem::take(&mut self.single) {
                insert.execute(row)?;
            }
        }
        Ok(())
    }
}

/// The rebuild's writer: rows wait across batches until `keeps` of them do, so that each
/// table gets long runs in key order.
#[derive(Debug)]
struct Rebuilding {
    rows: Rows,
    keeps: usize,
}

impl Rebuilder for Rebuilding {
    fn apply(
        &mut self,
        transaction: &Transaction<'_>,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError> {
        self.rows.add(events);
        if self.rows.whole.len() + self.rows.single.len() >= self.keeps {
            self.rows.write(transaction)?;
        }
        Ok(())
    }

    fn finish(&mut self, transaction: &Transaction<'_>) -> Result<(), ProjectionError> {
        self.rows.write(transaction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::rebuild_limit::{
        assert_rebuilt_as_followed, submissions_then_retractions,
    };

    #[test]
    fn a_rebuild_that_reaches_its_limit_writes_the_rows_waiting() {
        // 3 kept at most, pages of 4: the limit is passed after every page, and the last
        // retraction meets its submission still waiting.
        let events = submissions_then_retractions(17);
        assert_rebuilt_as_followed(
            &Audit,
            Box::new(Rebuilding {
                rows: Rows::default(),
                keeps: 3,
            }),
            &events,
            4,
        );
    }
}
