//! Scan submissions and their answers, with which submission counts now, and respondents'
//! withdrawals of consent, after which none of their submissions counts.
//!
//! Beside the answers it keeps what the research queries read, current as each event is
//! applied (`docs/architecture.md`, "The research view's aggregates"):
//! - `scan_scores`: each submission's dimension scores (current and desired), computed once
//!   with the function the statistics always used, in the same item order, so every value is
//!   the same f64 the queries computed from the answers before; with the submission's status,
//!   kept equal to `scan_submissions.status`. Stored in the order the queries read it.
//! - `scan_school_waves`: per school and wave, the last log position at which one of its
//!   submissions was added or changed status (what the release rule compares).
//! - `scan_answers`: each submission's answers in one blob ([`encode_answers`]), keyed so that
//!   a wave's answers are one range of the key in school and respondent order, with the
//!   submission's status, kept equal to `scan_submissions.status`.

use plg_domain::{
    consent::ConsentEvent,
    dimension::Dimension,
    scan::{RecordedAnswer, ScanEvent},
};
use plg_stats::mean_of_answered;
use rusqlite::{Transaction, params};

use crate::{
    Projection, ProjectionError,
    batch::sql_position,
    event::{LogEvent, Payload},
    projections::answers::encode_answers,
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
        CREATE INDEX IF NOT EXISTS scan_submissions_by_respondent
            ON scan_submissions (study_id, school_id, respondent);
        CREATE TABLE IF NOT EXISTS scan_scores (
            study_id      TEXT NOT NULL,
            school_id     TEXT NOT NULL,
            wave          TEXT NOT NULL,
            respondent    TEXT NOT NULL,
            submission_id TEXT NOT NULL,
            role          TEXT NOT NULL,
            status        TEXT NOT NULL,
            scores        BLOB NOT NULL,
            PRIMARY KEY (study_id, school_id, wave, respondent, submission_id)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS scan_school_waves (
            study_id   TEXT NOT NULL,
            school_id  TEXT NOT NULL,
            wave       TEXT NOT NULL,
            changed_at INTEGER NOT NULL,
            PRIMARY KEY (study_id, school_id, wave)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS scan_answers (
            study_id      TEXT NOT NULL,
            wave          TEXT NOT NULL,
            school_id     TEXT NOT NULL,
            respondent    TEXT NOT NULL,
            submission_id TEXT NOT NULL,
            role          TEXT NOT NULL,
            status        TEXT NOT NULL,
            answers       BLOB NOT NULL,
            PRIMARY KEY (study_id, wave, school_id, respondent, submission_id)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS consent_withdrawals (
            study_id     TEXT NOT NULL,
            school_id    TEXT NOT NULL,
            respondent   TEXT NOT NULL,
            withdrawn_on TEXT NOT NULL,
            position     INTEGER NOT NULL,
            PRIMARY KEY (study_id, school_id, respondent)
        ) STRICT;"
    }

    fn version(&self) -> u32 {
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "scan_submissions",
            "scan_answers",
            "consent_withdrawals",
            "scan_scores",
            "scan_school_waves",
        ]
    }

    fn apply(
        &self,
        transaction: &Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError> {
        // Statements are prepared once per connection: a scan applies a dozen and more.
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
                        .execute(params![
                            superseded.to_string(),
                            sql_position(event.position)
                        ])?;
                }
                let submission_id = submission_id.to_string();
                // ScanService refuses scans after a withdrawal, but one that raced it can
                // land later in the log: it never counts either.
                transaction
                    .prepare_cached(
                        "INSERT INTO scan_submissions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                            CASE WHEN EXISTS (SELECT 1 FROM consent_withdrawals
                                              WHERE study_id = ?3 AND school_id = ?4 AND respondent = ?6)
                                 THEN 'withdrawn' ELSE 'current' END, ?10)",
                    )?
                    .execute(params![
                        submission_id,
                        response_id.to_string(),
                        study_id.to_string(),
                        school_id.to_string(),
                        wave.as_str(),
                        respondent.as_str(),
                        role.as_str(),
                        instrument_version.as_str(),
                        answered_on.to_string(),
                        sql_position(event.position),
                    ])?;
                // A submission without answers never reached a statistic: it has no scores.
                if !answers.is_empty() {
                    let blob = encode_answers(answers).ok_or_else(|| ProjectionError::Decode {
                        position: event.position,
                        message: "an item code longer than 255 bytes".to_owned(),
                    })?;
                    transaction
                        .prepare_cached(
                            "INSERT INTO scan_answers
                             SELECT study_id, wave, school_id, respondent, submission_id, role,
                                    status, ?2
                             FROM scan_submissions WHERE submission_id = ?1",
                        )?
                        .execute(params![submission_id, blob])?;
                    transaction
                        .prepare_cached(
                            "INSERT INTO scan_scores
                             SELECT study_id, school_id, wave, respondent, submission_id, role,
                                    status, ?2
                             FROM scan_submissions WHERE submission_id = ?1",
                        )?
                        .execute(params![
                            submission_id,
                            DimensionScores::of(answers).to_bytes()
                        ])?;
                }
                submission_changed(transaction, &submission_id)?;
                if let Some(superseded) = supersedes {
                    status_changed(transaction, &superseded.to_string())?;
                }
            }
            Payload::Scan(ScanEvent::ScanRetracted { submission_id, .. }) => {
                let submission_id = submission_id.to_string();
                transaction
                    .prepare_cached(
                        "UPDATE scan_submissions SET status = 'retracted', changed_at = ?2
                     WHERE submission_id = ?1 AND status != 'withdrawn'",
                    )?
                    .execute(params![submission_id, sql_position(event.position)])?;
                status_changed(transaction, &submission_id)?;
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
                        sql_position(event.position),
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
                        sql_position(event.position)
                    ])?;
                let mut theirs = transaction.prepare_cached(
                    "SELECT submission_id FROM scan_submissions
                     WHERE study_id = ?1 AND school_id = ?2 AND respondent = ?3",
                )?;
                let changed = theirs
                    .query_map(params![study_id, school_id, respondent.as_str()], |row| {
                        row.get::<_, String>(0)
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                for submission_id in changed {
                    status_changed(transaction, &submission_id)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// After an existing submission changed status: its answers' status (a new submission's
/// answers are written with it), and what [`submission_changed`] keeps.
fn status_changed(
    transaction: &Transaction<'_>,
    submission_id: &str,
) -> Result<(), ProjectionError> {
    transaction
        .prepare_cached(
            "UPDATE scan_answers SET status = s.status FROM scan_submissions s
             WHERE s.submission_id = ?1
               AND (scan_answers.study_id, scan_answers.wave, scan_answers.school_id,
                    scan_answers.respondent, scan_answers.submission_id)
                 = (s.study_id, s.wave, s.school_id, s.respondent, s.submission_id)",
        )?
        .execute([submission_id])?;
    submission_changed(transaction, submission_id)
}

/// Brings what is kept of a submission up to date after it was added or changed status: its
/// status in `scan_scores`, and its school-wave's last change (log positions only grow, so
/// taking the larger keeps the latest `changed_at` of the school-wave's submissions).
fn submission_changed(
    transaction: &Transaction<'_>,
    submission_id: &str,
) -> Result<(), ProjectionError> {
    transaction
        .prepare_cached(
            "UPDATE scan_scores SET status = s.status FROM scan_submissions s
             WHERE s.submission_id = ?1
               AND (scan_scores.study_id, scan_scores.school_id, scan_scores.wave,
                    scan_scores.respondent, scan_scores.submission_id)
                 = (s.study_id, s.school_id, s.wave, s.respondent, s.submission_id)",
        )?
        .execute([submission_id])?;
    transaction
        .prepare_cached(
            "INSERT INTO scan_school_waves (study_id, school_id, wave, changed_at)
             SELECT study_id, school_id, wave, changed_at FROM scan_submissions
             WHERE submission_id = ?1
             ON CONFLICT (study_id, school_id, wave)
             DO UPDATE SET changed_at = max(changed_at, excluded.changed_at)",
        )?
        .execute([submission_id])?;
    Ok(())
}

/// How many dimensions a submission has scores on.
const DIMENSIONS: usize = Dimension::ALL.len();

/// One submission's score on each dimension, current and desired: the mean of the items of
/// the dimension the respondent answered (`plg_stats::mean_of_answered`), summed in item-code
/// order, as the statistics have always computed it. Stored as 2 × 12 little-endian f64 in
/// [`Dimension::ALL`] order (each dimension's current, then its desired), NaN where the
/// respondent answered none of the dimension's items (a mean never is NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DimensionScores([f64; 2 * DIMENSIONS]);

impl DimensionScores {
    /// Bytes a stored value takes.
    const BYTES: usize = 2 * DIMENSIONS * 8;

    /// The scores of a submission's answers.
    pub fn of(answers: &[RecordedAnswer]) -> Self {
        let mut answers: Vec<&RecordedAnswer> = answers.iter().collect();
        answers.sort_by(|a, b| a.item_code.as_str().cmp(b.item_code.as_str()));
        let mut scores = [f64::NAN; 2 * DIMENSIONS];
        for dimension in Dimension::ALL {
            let items: Vec<&RecordedAnswer> = answers
                .iter()
                .filter(|answer| answer.dimension == dimension)
                .copied()
                .collect();
            let mean = |pick: fn(&RecordedAnswer) -> Option<f64>| {
                mean_of_answered(&items.iter().map(|item| pick(item)).collect::<Vec<_>>())
            };
            let at = Self::index(dimension);
            scores[at] =
                mean(|item| item.current.map(|score| f64::from(score.value()))).unwrap_or(f64::NAN);
            scores[at + 1] =
                mean(|item| item.desired.map(|score| f64::from(score.value()))).unwrap_or(f64::NAN);
        }
        Self(scores)
    }

    fn index(dimension: Dimension) -> usize {
        // `Dimension::ALL` lists the variants in declaration order.
        2 * dimension as usize
    }

    pub fn current(&self, dimension: Dimension) -> Option<f64> {
        let score = self.0[Self::index(dimension)];
        (!score.is_nan()).then_some(score)
    }

    pub fn desired(&self, dimension: Dimension) -> Option<f64> {
        let score = self.0[Self::index(dimension) + 1];
        (!score.is_nan()).then_some(score)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0
            .iter()
            .flat_map(|score| score.to_le_bytes())
            .collect()
    }

    /// `None` for bytes of another length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let mut scores = [f64::NAN; 2 * DIMENSIONS];
        for (score, chunk) in scores.iter_mut().zip(bytes.chunks_exact(8)) {
            *score = f64::from_le_bytes(chunk.try_into().ok()?);
        }
        Some(Self(scores))
    }
}
