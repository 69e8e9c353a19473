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

use std::collections::BTreeMap;

use plg_domain::{
    consent::ConsentEvent,
    dimension::Dimension,
    scan::{RecordedAnswer, ScanEvent},
};
use plg_stats::mean_of_answered;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::{
    Projection, ProjectionError, Rebuilder,
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
        self.apply_batch(transaction, std::slice::from_ref(event))
    }

    /// New submissions, their answers and their scores wait for the end of the batch and are
    /// written in each table's key order, and each school-wave's last change is written once;
    /// a status change, which reads and updates submissions, writes those waiting first.
    fn apply_batch(
        &self,
        transaction: &Transaction<'_>,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError> {
        let mut pending = Pending::default();
        for event in events {
            apply(transaction, event, &mut pending)?;
        }
        pending.write(transaction)
    }

    fn rebuilder(&self) -> Option<Box<dyn Rebuilder>> {
        Some(Box::new(Rebuilding::keeping(REBUILD_KEEPS)))
    }
}

/// New submissions after which a rebuild writes those waiting (checked after each batch, so
/// up to a batch more may wait).
const REBUILD_KEEPS: usize = 1 << 17;

/// The rebuild's writer: as `apply_batch`, but new submissions wait across batches (until a
/// status change reads them, or `keeps` of them wait), so that each table gets long runs in
/// key order: into an empty table, one run is written page after page.
#[derive(Debug)]
struct Rebuilding {
    pending: Pending,
    keeps: usize,
}

impl Rebuilding {
    fn keeping(keeps: usize) -> Self {
        Self {
            pending: Pending::default(),
            keeps,
        }
    }
}

impl Rebuilder for Rebuilding {
    fn apply(
        &mut self,
        transaction: &Transaction<'_>,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            apply(transaction, event, &mut self.pending)?;
        }
        if self.pending.submissions.len() >= self.keeps {
            self.pending.write(transaction)?;
        }
        Ok(())
    }

    fn finish(&mut self, transaction: &Transaction<'_>) -> Result<(), ProjectionError> {
        self.pending.write(transaction)
    }
}

/// Applies one event, leaving new submissions in `pending`. Statements are prepared once per
/// connection. Rows are written from the event's values and the rows a statement changes hand
/// back what the kept tables need, so no statement looks up a submission another has just
/// written.
fn apply(
    transaction: &Transaction<'_>,
    event: &LogEvent,
    pending: &mut Pending,
) -> Result<(), ProjectionError> {
    let position = sql_position(event.position);
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
            if let Some(superseded) = supersedes {
                mark(
                    transaction,
                    pending,
                    &superseded.to_string(),
                    "superseded",
                    position,
                )?;
            }
            let (study_id, school_id) = (study_id.to_string(), school_id.to_string());
            // ScanService refuses scans after a withdrawal, but one that raced it can land
            // later in the log: it never counts either.
            // Read as 0 or 1, an integer on both SQLite and PostgreSQL (docs/postgresql.md).
            let withdrawn: i64 = transaction
                .prepare_cached(
                    "SELECT CASE WHEN EXISTS (SELECT 1 FROM consent_withdrawals
                                              WHERE study_id = ?1 AND school_id = ?2
                                                AND respondent = ?3)
                            THEN 1 ELSE 0 END",
                )?
                .query_row(params![study_id, school_id, respondent.as_str()], |row| {
                    row.get(0)
                })?;
            let status = if withdrawn != 0 {
                "withdrawn"
            } else {
                "current"
            };
            let submission = Kept {
                study_id,
                school_id,
                wave: wave.as_str().to_owned(),
                respondent: respondent.as_str().to_owned(),
                submission_id: submission_id.to_string(),
                status: status.to_owned(),
                changed_at: position,
            };
            pending.school_wave_changed(&submission);
            // A submission without answers never reached a statistic: it has no scores.
            let scored = if answers.is_empty() {
                None
            } else {
                let answers_blob =
                    encode_answers(answers).ok_or_else(|| ProjectionError::Decode {
                        position: event.position,
                        message: "an item code longer than 255 bytes".to_owned(),
                    })?;
                Some(Scored {
                    answers: answers_blob,
                    scores: DimensionScores::of(answers).to_bytes(),
                })
            };
            pending.submissions.push(NewSubmission {
                submission,
                response_id: response_id.to_string(),
                role: role.as_str(),
                instrument_version: instrument_version.as_str().to_owned(),
                answered_on: answered_on.to_string(),
                scored,
            });
        }
        Payload::Scan(ScanEvent::ScanRetracted { submission_id, .. }) => {
            mark(
                transaction,
                pending,
                &submission_id.to_string(),
                "retracted",
                position,
            )?;
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
                    "INSERT INTO consent_withdrawals VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    study_id,
                    school_id,
                    respondent.as_str(),
                    event.occurred_on().to_string(),
                    position,
                ])?;
            pending.write_submissions(transaction)?;
            let changed = transaction
                .prepare_cached(&format!(
                    "UPDATE scan_submissions SET status = 'withdrawn', changed_at = ?4
                     WHERE study_id = ?1 AND school_id = ?2 AND respondent = ?3
                     RETURNING {KEPT}"
                ))?
                .query_map(
                    params![study_id, school_id, respondent.as_str(), position],
                    Kept::from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            for submission in &changed {
                status_changed(transaction, pending, submission)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A submission added in the batch, not written yet.
#[derive(Debug)]
struct NewSubmission {
    submission: Kept,
    response_id: String,
    role: &'static str,
    instrument_version: String,
    answered_on: String,
    /// `None` without answers.
    scored: Option<Scored>,
}

/// A submission's answers and scores as stored.
#[derive(Debug)]
struct Scored {
    answers: Vec<u8>,
    scores: Vec<u8>,
}

/// What a batch has yet to write.
#[derive(Debug, Default)]
struct Pending {
    submissions: Vec<NewSubmission>,
    /// Each school-wave's last change in the batch, by study, school and wave.
    school_waves: BTreeMap<(String, String, String), i64>,
}

impl Pending {
    /// Log positions only grow, so the batch's largest is the school-wave's last change.
    fn school_wave_changed(&mut self, submission: &Kept) {
        let key = (
            submission.study_id.clone(),
            submission.school_id.clone(),
            submission.wave.clone(),
        );
        let changed_at = self
            .school_waves
            .entry(key)
            .or_insert(submission.changed_at);
        *changed_at = (*changed_at).max(submission.changed_at);
    }

    /// Writes the new submissions, their answers and their scores, each table in its key's
    /// order (`scan_submissions` by submission id, its primary key, so within a batch its
    /// rowids follow that order rather than the log's; no query reads rowids).
    fn write_submissions(&mut self, transaction: &Transaction<'_>) -> Result<(), ProjectionError> {
        if self.submissions.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<&NewSubmission> = self.submissions.iter().collect();
        rows.sort_unstable_by(|a, b| a.submission.submission_id.cmp(&b.submission.submission_id));
        let mut insert = transaction.prepare_cached(
            "INSERT INTO scan_submissions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?10)",
        )?;
        for new in &rows {
            let kept = &new.submission;
            insert.execute(params![
                kept.submission_id,
                new.response_id,
                kept.study_id,
                kept.school_id,
                kept.wave,
                kept.respondent,
                new.role,
                new.instrument_version,
                new.answered_on,
                kept.changed_at,
                kept.status,
            ])?;
        }
        rows.retain(|new| new.scored.is_some());
        rows.sort_unstable_by(|a, b| a.answers_key().cmp(&b.answers_key()));
        let mut insert = transaction.prepare_cached(
            "INSERT INTO scan_answers (study_id, school_id, wave, respondent, submission_id,
                 role, status, answers)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (new, scored) in rows
            .iter()
            .filter_map(|new| Some((new, new.scored.as_ref()?)))
        {
            insert.execute(new.params(&scored.answers))?;
        }
        rows.sort_unstable_by(|a, b| a.scores_key().cmp(&b.scores_key()));
        let mut insert = transaction
            .prepare_cached("INSERT INTO scan_scores VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        for (new, scored) in rows
            .iter()
            .filter_map(|new| Some((new, new.scored.as_ref()?)))
        {
            insert.execute(new.params(&scored.scores))?;
        }
        self.submissions.clear();
        Ok(())
    }

    /// Writes everything left waiting.
    fn write(&mut self, transaction: &Transaction<'_>) -> Result<(), ProjectionError> {
        self.write_submissions(transaction)?;
        let mut upsert = transaction.prepare_cached(
            "INSERT INTO scan_school_waves (study_id, school_id, wave, changed_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (study_id, school_id, wave)
             DO UPDATE SET changed_at = CASE
                 WHEN excluded.changed_at > scan_school_waves.changed_at
                 THEN excluded.changed_at ELSE scan_school_waves.changed_at END",
        )?;
        for ((study_id, school_id, wave), changed_at) in &self.school_waves {
            upsert.execute(params![study_id, school_id, wave, changed_at])?;
        }
        self.school_waves.clear();
        Ok(())
    }
}

impl NewSubmission {
    /// Its key in `scan_answers`.
    fn answers_key(&self) -> [&str; 5] {
        let kept = &self.submission;
        [
            &kept.study_id,
            &kept.wave,
            &kept.school_id,
            &kept.respondent,
            &kept.submission_id,
        ]
    }

    /// Its key in `scan_scores`: by school before wave.
    fn scores_key(&self) -> [&str; 5] {
        let kept = &self.submission;
        [
            &kept.study_id,
            &kept.school_id,
            &kept.wave,
            &kept.respondent,
            &kept.submission_id,
        ]
    }

    /// The columns `scan_answers` and `scan_scores` share, in that order, then `blob`.
    fn params<'a>(&'a self, blob: &'a [u8]) -> impl rusqlite::Params + 'a {
        let kept = &self.submission;
        (
            kept.study_id.as_str(),
            kept.school_id.as_str(),
            kept.wave.as_str(),
            kept.respondent.as_str(),
            kept.submission_id.as_str(),
            self.role,
            kept.status.as_str(),
            blob,
        )
    }
}

/// What the kept tables hold of a submission beside its own row.
#[derive(Debug)]
struct Kept {
    study_id: String,
    school_id: String,
    wave: String,
    respondent: String,
    submission_id: String,
    status: String,
    changed_at: i64,
}

/// [`Kept`]'s columns in `scan_submissions`, in [`Kept::from_row`]'s order.
const KEPT: &str = "study_id, school_id, wave, respondent, submission_id, status, changed_at";

impl Kept {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            study_id: row.get(0)?,
            school_id: row.get(1)?,
            wave: row.get(2)?,
            respondent: row.get(3)?,
            submission_id: row.get(4)?,
            status: row.get(5)?,
            changed_at: row.get(6)?,
        })
    }
}

/// Gives an existing submission a new status (superseded or retracted) at `position`, unless
/// it is withdrawn: a withdrawal is final. A submission not there, or withdrawn, changes
/// nothing, so nothing kept changes either.
fn mark(
    transaction: &Transaction<'_>,
    pending: &mut Pending,
    submission_id: &str,
    status: &str,
    position: i64,
) -> Result<(), ProjectionError> {
    pending.write_submissions(transaction)?;
    let changed = transaction
        .prepare_cached(&format!(
            "UPDATE scan_submissions SET status = ?2, changed_at = ?3
             WHERE submission_id = ?1 AND status != 'withdrawn'
             RETURNING {KEPT}"
        ))?
        .query_row(params![submission_id, status, position], Kept::from_row)
        .optional()?;
    match changed {
        Some(submission) => status_changed(transaction, pending, &submission),
        None => Ok(()),
    }
}

/// After an existing submission changed status: the status of its answers and scores, kept
/// equal to `scan_submissions.status`, and its school-wave's last change. Its answers and
/// scores are written already.
fn status_changed(
    transaction: &Transaction<'_>,
    pending: &mut Pending,
    submission: &Kept,
) -> Result<(), ProjectionError> {
    let key = params![
        submission.study_id,
        submission.school_id,
        submission.wave,
        submission.respondent,
        submission.submission_id,
        submission.status,
    ];
    transaction
        .prepare_cached(
            "UPDATE scan_answers SET status = ?6
             WHERE study_id = ?1 AND wave = ?3 AND school_id = ?2 AND respondent = ?4
               AND submission_id = ?5",
        )?
        .execute(key)?;
    transaction
        .prepare_cached(
            "UPDATE scan_scores SET status = ?6
             WHERE study_id = ?1 AND school_id = ?2 AND wave = ?3 AND respondent = ?4
               AND submission_id = ?5",
        )?
        .execute(key)?;
    pending.school_wave_changed(submission);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::rebuild_limit::{
        assert_rebuilt_as_followed, submissions_then_retractions,
    };

    #[test]
    fn a_rebuild_that_reaches_its_limit_writes_the_submissions_waiting() {
        // 3 kept at most, pages of 4: the limit is passed after every page, and the last
        // retraction meets its submission still waiting.
        let events = submissions_then_retractions(17);
        assert_rebuilt_as_followed(&Scans, Box::new(Rebuilding::keeping(3)), &events, 4);
    }
}
