//! Which streams concern which school, so an administrator can audit a school's history
//! without scanning the whole log: the school's own streams and those of the scans, consents,
//! interventions and PLGs that name it, plus single events in shared streams (a study's
//! enrolment of the school).

use plg_domain::{
    consent::ConsentEvent, development_plan::DevelopmentPlanEvent, intervention::InterventionEvent,
    plg::PlgEvent, scan::ScanEvent, school::SchoolEvent, study::StudyEvent,
};
use rusqlite::{Transaction, params};

use crate::{
    Projection, ProjectionError,
    event::{LogEvent, Payload},
};

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
        ) STRICT;
        CREATE TABLE IF NOT EXISTS audit_school_events (
            school_id TEXT NOT NULL,
            stream    TEXT NOT NULL,
            revision  INTEGER NOT NULL,
            PRIMARY KEY (school_id, stream, revision)
        ) STRICT;"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_school_streams", "audit_school_events"]
    }

    fn apply(
        &self,
        transaction: &Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError> {
        let whole_stream = |school_id: String| {
            transaction
                .execute(
                    "INSERT OR IGNORE INTO audit_school_streams (school_id, stream) VALUES (?1, ?2)",
                    params![school_id, event.stream],
                )
                .map(drop)
        };
        match &event.payload {
            Payload::School(SchoolEvent::SchoolRegistered { school_id, .. })
            | Payload::DevelopmentPlan(
                DevelopmentPlanEvent::DevelopmentPlanRevised { school_id, .. }
                | DevelopmentPlanEvent::ReflectionConversationRecorded { school_id, .. },
            )
            | Payload::Scan(ScanEvent::ScanSubmitted { school_id, .. })
            | Payload::Consent(ConsentEvent::ConsentWithdrawn { school_id, .. })
            | Payload::Intervention(InterventionEvent::InterventionLogged { school_id, .. }) => {
                whole_stream(school_id.to_string())?;
            }
            Payload::Plg(PlgEvent::PlgFormed { school_ids, .. }) => {
                for school_id in school_ids {
                    whole_stream(school_id.to_string())?;
                }
            }
            Payload::Study(StudyEvent::SchoolEnrolled { school_id }) => {
                transaction.execute(
                    "INSERT OR IGNORE INTO audit_school_events (school_id, stream, revision) VALUES (?1, ?2, ?3)",
                    params![school_id.to_string(), event.stream, i64::try_from(event.revision).unwrap_or(i64::MAX)],
                )?;
            }
            _ => {}
        }
        Ok(())
    }
}
