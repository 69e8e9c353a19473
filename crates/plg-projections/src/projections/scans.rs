//! Scan submissions and their answers, with which submission counts now, and respondents'
//! withdrawals of consent, after which none of their submissions counts.

use plg_domain::{consent::ConsentEvent, scan::ScanEvent};
use rusqlite::{Transaction, params};

use crate::{
    Projection, ProjectionError,
    event::{LogEvent, Payload},
};

#[derive(Debug)]
pub struct Scans;

impl Projection for Scans {
    fn name(&self) -> &'static str {
        "scans"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS scan_submissions (
            submission_id      TEXT PRIMARY KEY,
            response_id        TEXT NOT NULL,
            study_id           TEXT NOT NULL,
            school_id          TEXT NOT NULL,
            wave               TEXT NOT NULL,
            respondent         TEXT NOT NULL,
            role               TEXT NOT NULL,
            instrument_version TEXT NOT NULL,
            answered_on        TEXT NOT NULL,
            position           INTEGER NOT NULL,
            status             TEXT NOT NULL
                CHECK (status IN ('current', 'superseded', 'retracted', 'withdrawn')),
            changed_at         INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX IF NOT EXISTS scan_submissions_by_wave
            ON scan_submissions (study_id, wave, school_id, status);
        CREATE TABLE IF NOT EXISTS scan_answers (
            submission_id TEXT NOT NULL,
            item_code     TEXT NOT NULL,
            dimension     TEXT NOT NULL,
            current       INTEGER,
            desired       INTEGER,
            PRIMARY KEY (submission_id, item_code)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS consent_withdrawals (
            study_id     TEXT NOT NULL,
            school_id    TEXT NOT NULL,
            respondent   TEXT NOT NULL,
            withdrawn_on TEXT NOT NULL,
            position     INTEGER NOT NULL,
            PRIMARY KEY (study_id, school_id, respondent)
        ) STRICT;"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["scan_submissions", "scan_answers", "consent_withdrawals"]
    }

    fn apply(
        &self,
        transaction: &Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError> {
        match &event.payload {
            Payload::Scan(ScanEvent::ScanSubmitted {
                response_id,
                submission_id,
                study_id,
                school_id,
                wave,
                respondent,
                role,
                instrument_version,
                answered_on,
                answers,
                supersedes,
            }) => {
                // A withdrawal is final: what it marked stays withdrawn.
                if let Some(superseded) = supersedes {
                    transaction
                        .prepare_cached(
                            "UPDATE scan_submissions SET status = 'superseded', changed_at = ?2
                         WHERE submission_id = ?1 AND status != 'withdrawn'",
                        )?
                        .execute(params![superseded.to_string(), position(event)])?;
                }
                // ScanService refuses scans after a withdrawal, but one that raced it can
                // land later in the log: it never counts either.
                transaction.prepare_cached(
                    "INSERT INTO scan_submissions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                        CASE WHEN EXISTS (SELECT 1 FROM consent_withdrawals
                                          WHERE study_id = ?3 AND school_id = ?4 AND respondent = ?6)
                             THEN 'withdrawn' ELSE 'current' END, ?10)")?
.execute(
                    params![
                        submission_id.to_string(),
                        response_id.to_string(),
                        study_id.to_string(),
                        school_id.to_string(),
                        wave.as_str(),
                        respondent.as_str(),
                        role.as_str(),
                        instrument_version.as_str(),
                        answered_on.to_string(),
                        position(event),
                    ],
                )?;
                let submission_id = submission_id.to_string();
                let mut insert_answer = transaction
                    .prepare_cached("INSERT INTO scan_answers VALUES (?1, ?2, ?3, ?4, ?5)")?;
                for answer in answers {
                    insert_answer.execute(params![
                        submission_id,
                        answer.item_code.as_str(),
                        answer.dimension.as_str(),
                        answer.current.map(|score| score.value()),
                        answer.desired.map(|score| score.value()),
                    ])?;
                }
            }
            Payload::Scan(ScanEvent::ScanRetracted { submission_id, .. }) => {
                transaction
                    .prepare_cached(
                        "UPDATE scan_submissions SET status = 'retracted', changed_at = ?2
                     WHERE submission_id = ?1 AND status != 'withdrawn'",
                    )?
                    .execute(params![submission_id.to_string(), position(event)])?;
            }
            Payload::Consent(ConsentEvent::ConsentWithdrawn {
                study_id,
                school_id,
                respondent,
                ..
            }) => {
                let (study_id, school_id) = (study_id.to_string(), school_id.to_string());
                transaction
                    .prepare_cached(
                        "INSERT OR IGNORE INTO consent_withdrawals VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        study_id,
                        school_id,
                        respondent.as_str(),
                        event.occurred_on().to_string(),
                        position(event),
                    ])?;
                transaction
                    .prepare_cached(
                        "UPDATE scan_submissions SET status = 'withdrawn', changed_at = ?4
                     WHERE study_id = ?1 AND school_id = ?2 AND respondent = ?3",
                    )?
                    .execute(params![
                        study_id,
                        school_id,
                        respondent.as_str(),
                        position(event)
                    ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The event's log position as SQLite stores it.
fn position(event: &LogEvent) -> i64 {
    i64::try_from(event.position.0).unwrap_or(i64::MAX)
}
