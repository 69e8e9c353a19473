//! Respondents' scores per dimension, and their summaries per school, wave and role with the
//! study's suppression applied.
//!
//! The scores come as the scans projection keeps them (`scan_scores`: one row per submission,
//! its dimension scores computed when it arrived), in a compact form without strings. Only
//! the queries that need single answers (reliability's agreement, the item export) read the
//! answers, one school-wave at a time.

use std::collections::BTreeMap;

use plg_domain::{dimension::Dimension, scan::RespondentRole};
use plg_projections::{DimensionScores, StoredAnswer, decode_answers};
use plg_stats::Summary;
use rusqlite::{
    Row, Transaction,
    types::{FromSqlResult, ValueRef},
};

use crate::{
    ResearchError,
    context::{SchoolRef, StudyContext, parse_name},
    suppression::{Disclosure, Measure, Respondent},
};

/// One respondent's counted submission for a wave, by the indexes of its school and wave in
/// the study's [`StudyContext`]: only current submissions count, so superseded, retracted and
/// withdrawn ones never reach a statistic.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub school: usize,
    pub wave: usize,
    pub role: RespondentRole,
    pub scores: DimensionScores,
}

impl Respondent for Scored {
    fn role(&self) -> RespondentRole {
        self.role
    }

    fn score(&self, measure: Measure, dimension: Dimension) -> Option<f64> {
        match measure {
            Measure::Current => self.scores.current(dimension),
            Measure::Desired => self.scores.desired(dimension),
        }
    }
}

/// Every counted respondent of a study, optionally of one school and one wave, ordered by
/// school, wave and respondent (the order the statistics sum them in). Submissions of schools
/// not enrolled in the study or of waves it does not have are left out.
pub fn load_scored(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    school_id: Option<&str>,
    wave: Option<&str>,
) -> Result<Vec<Scored>, ResearchError> {
    // Separate statements, so that a school or wave narrows the key range read.
    let mut sql = String::from(
        "SELECT school_id, wave, role, scores FROM scan_scores
         WHERE study_id = ?1 AND status = 'current'",
    );
    let mut arguments = vec![context.study_id.as_str()];
    for (column, value) in [("school_id", school_id), ("wave", wave)] {
        if let Some(value) = value {
            arguments.push(value);
            sql.push_str(&format!(" AND {column} = ?{}", arguments.len()));
        }
    }
    sql.push_str(" ORDER BY school_id, wave, respondent, submission_id");
    let schools = context.school_indexes();
    let mut statement = transaction.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(arguments))?;
    let mut scored = Vec::new();
    while let Some(row) = rows.next()? {
        let school = schools.get(column(row, 0, ValueRef::as_str)?).copied();
        let label = column(row, 1, ValueRef::as_str)?;
        let wave = context.waves.iter().position(|wave| wave.label == label);
        let (Some(school), Some(wave)) = (school, wave) else {
            continue;
        };
        scored.push(Scored::read(row, 2, school, wave)?);
    }
    Ok(scored)
}

/// The counted respondents of one school-wave (indexes into the study's schools and waves), in
/// the order [`load_scored`] gives them.
pub fn load_school_wave(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    school: usize,
    wave: usize,
) -> Result<Vec<Scored>, ResearchError> {
    let mut statement = transaction.prepare_cached(
        "SELECT role, scores FROM scan_scores
         WHERE study_id = ?1 AND school_id = ?2 AND wave = ?3 AND status = 'current'
         ORDER BY respondent, submission_id",
    )?;
    let mut rows = statement.query((
        &context.study_id,
        &context.schools[school].school_id,
        &context.waves[wave].label,
    ))?;
    let mut scored = Vec::new();
    while let Some(row) = rows.next()? {
        scored.push(Scored::read(row, 0, school, wave)?);
    }
    Ok(scored)
}

impl Scored {
    /// A respondent from a row's role and scores, at `first` and the column after it.
    fn read(
        row: &Row<'_>,
        first: usize,
        school: usize,
        wave: usize,
    ) -> Result<Self, ResearchError> {
        let scores = column(row, first + 1, ValueRef::as_blob)?;
        Ok(Self {
            school,
            wave,
            role: parse_name(column(row, first, ValueRef::as_str)?)?,
            scores: DimensionScores::from_bytes(scores).ok_or_else(|| {
                ResearchError::UnknownValue(format!("scores of {} bytes", scores.len()))
            })?,
        })
    }
}

/// One respondent's counted submission with every answer, for the queries that need items.
#[derive(Debug, Clone)]
pub struct Response {
    /// Drawn at random by the server: known only to those who hold the answers already.
    pub submission_id: String,
    pub school_id: String,
    pub wave: String,
    pub respondent: String,
    pub role: RespondentRole,
    pub dimensions: BTreeMap<Dimension, Vec<ItemAnswer>>,
}

#[derive(Debug, Clone)]
pub struct ItemAnswer {
    pub item_code: String,
    pub current: Option<f64>,
    pub desired: Option<f64>,
}

/// The counted responses of one school in one wave with their answers, in respondent order,
/// each dimension's items in item-code order.
pub fn load_answers(
    transaction: &Transaction<'_>,
    study_id: &str,
    school_id: &str,
    wave: &str,
) -> Result<Vec<Response>, ResearchError> {
    let mut statement = transaction.prepare_cached(
        "SELECT submission_id, respondent, role, answers FROM scan_answers
         WHERE study_id = ?1 AND wave = ?2 AND school_id = ?3 AND status = 'current'
         ORDER BY respondent, submission_id",
    )?;
    let mut rows = statement.query((study_id, wave, school_id))?;
    let mut responses = Vec::new();
    while let Some(row) = rows.next()? {
        let dimensions = item_answers(column(row, 3, ValueRef::as_blob)?)?;
        responses.push(Response {
            submission_id: row.get(0)?,
            school_id: school_id.to_owned(),
            wave: wave.to_owned(),
            respondent: row.get(1)?,
            role: parse_name(column(row, 2, ValueRef::as_str)?)?,
            dimensions,
        });
    }
    Ok(responses)
}

/// Every counted response of a wave (optionally of one school), one school at a time, in one
/// read of the wave's range of `scan_answers`: `each` gets a school's id and its responses'
/// answers (blobs, see [`stored_answers`]) in respondent order, schools in id order.
pub fn each_school_answers(
    transaction: &Transaction<'_>,
    study_id: &str,
    wave: &str,
    school_id: Option<&str>,
    mut each: impl FnMut(&str, &[Vec<u8>]) -> Result<(), ResearchError>,
) -> Result<(), ResearchError> {
    // Separate statements, so that a school narrows the key range read.
    let mut statement = transaction.prepare_cached(if school_id.is_some() {
        "SELECT school_id, answers FROM scan_answers
         WHERE study_id = ?1 AND wave = ?2 AND school_id = ?3 AND status = 'current'
         ORDER BY school_id, respondent, submission_id"
    } else {
        "SELECT school_id, answers FROM scan_answers
         WHERE study_id = ?1 AND wave = ?2 AND status = 'current'
         ORDER BY school_id, respondent, submission_id"
    })?;
    let arguments = [Some(study_id), Some(wave), school_id];
    let mut rows = statement.query(rusqlite::params_from_iter(arguments.iter().flatten()))?;
    let (mut school, mut group) = (String::new(), Vec::new());
    while let Some(row) = rows.next()? {
        let school_id = column(row, 0, ValueRef::as_str)?;
        if school_id != school {
            if !group.is_empty() {
                each(&school, &group)?;
                group.clear();
            }
            school_id.clone_into(&mut school);
        }
        group.push(column(row, 1, ValueRef::as_blob)?.to_vec());
    }
    if !group.is_empty() {
        each(&school, &group)?;
    }
    Ok(())
}

/// A response's answers by dimension, each dimension's in item-code order.
fn item_answers(bytes: &[u8]) -> Result<BTreeMap<Dimension, Vec<ItemAnswer>>, ResearchError> {
    let mut dimensions: BTreeMap<Dimension, Vec<ItemAnswer>> = BTreeMap::new();
    for answer in stored_answers(bytes)? {
        dimensions
            .entry(answer.dimension)
            .or_default()
            .push(ItemAnswer {
                item_code: answer.item_code.to_owned(),
                current: answer.current.map(f64::from),
                desired: answer.desired.map(f64::from),
            });
    }
    Ok(dimensions)
}

/// A response's answers as `scan_answers` keeps them, read in place.
pub fn stored_answers(bytes: &[u8]) -> Result<Vec<StoredAnswer<'_>>, ResearchError> {
    decode_answers(bytes)
        .ok_or_else(|| ResearchError::UnknownValue(format!("answers of {} bytes", bytes.len())))
}

/// A column's text or bytes, read in place rather than copied.
pub(crate) fn column<'r, T: ?Sized>(
    row: &'r Row<'_>,
    index: usize,
    read: impl FnOnce(&ValueRef<'r>) -> FromSqlResult<&'r T>,
) -> Result<&'r T, ResearchError> {
    let value = row.get_ref(index)?;
    let stored = value.data_type();
    read(&value).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, stored, Box::new(error)).into()
    })
}

/// An integer column read as `i64`, the one integer type both SQLite and PostgreSQL's `BIGINT`
/// give, then narrowed to `T`: out of range fails as rusqlite's own read into `T` does.
pub(crate) fn int<T: TryFrom<i64>>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let value: i64 = row.get(index)?;
    T::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(index, value))
}

/// A 0/1 column read as `i64`, as a `bool`: any value but 0 is true, as rusqlite reads it.
pub(crate) fn flag(row: &Row<'_>, index: usize) -> rusqlite::Result<bool> {
    Ok(row.get::<_, i64>(index)? != 0)
}

/// A summary as researchers may see it: without scores when the group is too small.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown {
    pub n: usize,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub suppressed: bool,
}

impl Shown {
    fn of(values: &[f64], suppressed: bool) -> Self {
        if suppressed {
            return Self::hidden(values.len());
        }
        let summary = Summary::of(values);
        Self {
            n: values.len(),
            mean: summary.map(|s| s.mean),
            sd: summary.and_then(|s| s.sd),
            suppressed,
        }
    }

    /// A suppressed cell of `n` respondents.
    fn hidden(n: usize) -> Self {
        Self {
            n,
            mean: None,
            sd: None,
            suppressed: true,
        }
    }

    /// The summary behind a shown cell, for statistics built on it.
    pub fn summary(&self) -> Option<Summary> {
        Summary::from_moments(self.n, self.mean?, self.sd)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaveScore {
    pub school: SchoolRef,
    pub wave: String,
    /// `None`: pooled over roles.
    pub role: Option<RespondentRole>,
    pub dimension: Dimension,
    pub current: Shown,
    pub desired: Shown,
}

impl WaveScore {
    pub fn gap(&self) -> Option<f64> {
        Some(self.desired.mean? - self.current.mean?)
    }
}

/// Counted respondents per school and wave (indexes into the study's schools and waves), each
/// group in the order given.
pub fn school_waves(scored: &[Scored]) -> BTreeMap<(usize, usize), Vec<&Scored>> {
    let mut groups: BTreeMap<(usize, usize), Vec<&Scored>> = BTreeMap::new();
    for respondent in scored {
        groups
            .entry((respondent.school, respondent.wave))
            .or_default()
            .push(respondent);
    }
    groups
}

/// One summary of a school-wave's scores without the school's and wave's names: what
/// [`school_wave_cells`] computes, and what the view keeps between queries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// `None`: pooled over roles.
    pub role: Option<RespondentRole>,
    pub dimension: Dimension,
    pub current: Shown,
    pub desired: Shown,
}

impl Cell {
    pub fn named(&self, school: &SchoolRef, wave: &str) -> WaveScore {
        WaveScore {
            school: school.clone(),
            wave: wave.to_owned(),
            role: self.role,
            dimension: self.dimension,
            current: self.current,
            desired: self.desired,
        }
    }
}

/// Summaries per school × wave × dimension (see [`school_wave_cells`]), school-waves in the
/// order of the study's schools and waves.
pub fn wave_scores(context: &StudyContext, scored: &[Scored]) -> Vec<WaveScore> {
    let mut scores = Vec::new();
    for ((school, wave), group) in school_waves(scored) {
        let cells = school_wave_cells(context, school, wave, &group);
        let (school, wave) = (&context.schools[school], &context.waves[wave].label);
        scores.extend(cells.iter().map(|cell| cell.named(school, wave)));
    }
    scores
}

/// Summaries of one school-wave's counted respondents (`group`, at these indexes into the
/// study's schools and waves) per dimension, pooled (first) and per role that answered, as the
/// school-wave's [`Disclosure`] allows; none for a school-wave without counted respondents.
/// They depend on nothing but the group, the study's minimum group size and whether the
/// school-wave is released. A hidden role has a row in every dimension, with its size in the
/// school-wave as `n`: rows or counts that differ by dimension would tell which dimensions its
/// few members skipped, and single them out in the item export. A school-wave too small to show
/// has only pooled rows, all with its size as `n`.
pub fn school_wave_cells(
    context: &StudyContext,
    school: usize,
    wave: usize,
    group: &[&Scored],
) -> Vec<Cell> {
    let mut cells = Vec::new();
    if group.is_empty() {
        return cells;
    }
    let min = context.min_group_size as usize;
    let disclosure = Disclosure::decide(group, min, context.is_released(school, wave));
    for dimension in Dimension::ALL {
        let row = |role, current: Shown, desired: Shown| Cell {
            role,
            dimension,
            current,
            desired,
        };
        if disclosure.group_hidden() {
            let size = Shown::hidden(group.len());
            cells.push(row(None, size, size));
            continue;
        }
        let values = |role: Option<RespondentRole>, measure: Measure| -> Vec<f64> {
            group
                .iter()
                .filter(|response| role.is_none_or(|role| response.role == role))
                .filter_map(|response| response.score(measure, dimension))
                .collect()
        };
        let shown = |role: Option<RespondentRole>, measure: Measure| {
            Shown::of(
                &values(role, measure),
                disclosure.cell_hidden(dimension, measure),
            )
        };
        if values(None, Measure::Current).is_empty() {
            continue;
        }
        cells.push(row(
            None,
            shown(None, Measure::Current),
            shown(None, Measure::Desired),
        ));
        for (index, role) in RespondentRole::ALL.iter().enumerate() {
            if disclosure.role_hidden(index) {
                let hidden = Shown::hidden(disclosure.role_size(index));
                cells.push(row(Some(*role), hidden, hidden));
            } else if !values(Some(*role), Measure::Current).is_empty() {
                cells.push(row(
                    Some(*role),
                    shown(Some(*role), Measure::Current),
                    shown(Some(*role), Measure::Desired),
                ));
            }
        }
    }
    cells
}

/// How many dimensions the scan has.
pub const DIMENSIONS: usize = Dimension::ALL.len();

/// The pooled current cell of each school-wave and dimension, by the indexes of its school and
/// wave in the study's [`StudyContext`]: what the statistics across schools read. Looked up by
/// index, not by name: on a large study they look a cell up hundreds of thousands of times.
#[derive(Debug, Clone)]
pub struct PooledCells {
    waves: usize,
    cells: Vec<[Option<Shown>; DIMENSIONS]>,
}

impl PooledCells {
    /// No cells yet, for a study of `schools` schools and `waves` waves.
    pub fn new(schools: usize, waves: usize) -> Self {
        Self {
            waves,
            cells: vec![[None; DIMENSIONS]; schools * waves],
        }
    }

    /// Takes a school-wave's pooled cells from its cells ([`school_wave_cells`]).
    pub fn insert(&mut self, school: usize, wave: usize, cells: &[Cell]) {
        let pooled = &mut self.cells[school * self.waves + wave];
        for cell in cells.iter().filter(|cell| cell.role.is_none()) {
            pooled[cell.dimension as usize] = Some(cell.current);
        }
    }

    /// The pooled current cell of a school-wave on a dimension, shown or not.
    pub fn get(&self, school: usize, wave: usize, dimension: Dimension) -> Option<&Shown> {
        self.cells[school * self.waves + wave][dimension as usize].as_ref()
    }

    /// Whether a school-wave's pooled current cell on a dimension may be shown.
    pub fn is_shown(&self, school: usize, wave: usize, dimension: Dimension) -> bool {
        self.get(school, wave, dimension)
            .is_some_and(|cell| !cell.suppressed)
    }

    /// The mean of a pooled current cell that may be shown: what statistics across schools
    /// and waves use.
    pub fn shown_mean(&self, school: usize, wave: usize, dimension: Dimension) -> Option<f64> {
        self.get(school, wave, dimension)
            .filter(|cell| !cell.suppressed)?
            .mean
    }
}

/// The computation every query did before the scores were kept, as the oracle of the test
/// below (and of the suppression tests, which decide on respondents with answers): each
/// respondent's score is the mean of the items of the dimension they answered, in item-code
/// order.
#[cfg(test)]
impl Respondent for Response {
    fn role(&self) -> RespondentRole {
        self.role
    }

    fn score(&self, measure: Measure, dimension: Dimension) -> Option<f64> {
        let items = self.dimensions.get(&dimension)?;
        let pick = |item: &ItemAnswer| match measure {
            Measure::Current => item.current,
            Measure::Desired => item.desired,
        };
        plg_stats::mean_of_answered(&items.iter().map(pick).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use plg_domain::{
        consent::ConsentEvent,
        ids::{ConsentId, ResponseId, SchoolId, StudyId, SubmissionId},
        instrument::Instrument,
        scan::ScanEvent,
        values::{Pseudonym, WaveLabel, parse_date},
    };
    use plg_projections::{Payload, Projection, ResearchDb, all_projections};

    use super::*;
    use crate::fixture::{Draw, Log, answers};

    /// Every counted answer of the study, each respondent with their answers: how the queries
    /// loaded the study before the scores were kept (counted by `scan_submissions`' status).
    fn recomputed(transaction: &Transaction<'_>, study_id: &str) -> Vec<Response> {
        let mut statement = transaction
            .prepare(
                "SELECT s.submission_id, s.school_id, s.wave, s.respondent, s.role, a.answers
                 FROM scan_submissions s JOIN scan_answers a USING (submission_id)
                 WHERE s.study_id = ?1 AND s.status = 'current'
                 ORDER BY s.school_id, s.wave, s.respondent",
            )
            .expect("prepares");
        let mut rows = statement.query([study_id]).expect("queries");
        let mut responses: Vec<Response> = Vec::new();
        while let Some(row) = rows.next().expect("reads") {
            let role: String = row.get(4).expect("role");
            let blob: Vec<u8> = row.get(5).expect("answers");
            let dimensions = item_answers(&blob).expect("a blob of answers");
            responses.push(Response {
                submission_id: row.get(0).expect("id"),
                school_id: row.get(1).expect("school"),
                wave: row.get(2).expect("wave"),
                respondent: row.get(3).expect("respondent"),
                role: parse_name(&role).expect("a role"),
                dimensions,
            });
        }
        responses
    }

    #[test]
    fn the_kept_scores_equal_those_recomputed_from_the_answers_bit_for_bit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let all = all_projections();
        let projections: Vec<&dyn Projection> = all.iter().map(AsRef::as_ref).collect();
        let db = ResearchDb::open(dir.path().join("research.db"), &projections).expect("opens");
        let study_id = StudyId::new_random();
        let schools = [SchoolId::new_random(), SchoolId::new_random()];
        let waves = ["T1", "T2"];
        let mut draw = Draw(11);
        let mut log = Log { events: Vec::new() };
        let mut submissions: Vec<SubmissionId> = Vec::new();
        let submit = |log: &mut Log,
                      draw: &mut Draw,
                      school: SchoolId,
                      wave: &str,
                      respondent: &str,
                      supersedes: Option<SubmissionId>| {
            let wave = WaveLabel::parse(wave).expect("a label");
            let respondent = Pseudonym::parse(respondent).expect("a pseudonym");
            let submission_id = SubmissionId::new_random();
            log.push(Payload::Scan(ScanEvent::ScanSubmitted {
                response_id: ResponseId::derive(study_id, school, &wave, &respondent),
                submission_id,
                study_id,
                school_id: school,
                wave,
                respondent,
                role: RespondentRole::ALL[draw.below(4) as usize],
                instrument_version: Instrument::built_in().version,
                answered_on: parse_date("2016-02-01").expect("a date"),
                answers: answers(draw),
                supersedes,
            }));
            submission_id
        };
        for school in schools {
            for wave in waves {
                for respondent in 0..12 {
                    let name = format!("r{respondent:02}");
                    let first = submit(&mut log, &mut draw, school, wave, &name, None);
                    // Every fourth answers again: the first no longer counts.
                    let last = if respondent % 4 == 0 {
                        submit(&mut log, &mut draw, school, wave, &name, Some(first))
                    } else {
                        first
                    };
                    submissions.push(last);
                }
            }
        }
        for retracted in submissions.iter().step_by(7) {
            log.push(Payload::Scan(ScanEvent::ScanRetracted {
                submission_id: *retracted,
                reason: None,
            }));
        }
        let withdraw = |log: &mut Log, respondent: &str| {
            let respondent = Pseudonym::parse(respondent).expect("a pseudonym");
            log.push(Payload::Consent(ConsentEvent::ConsentWithdrawn {
                consent_id: ConsentId::derive(study_id, schools[0], &respondent),
                study_id,
                school_id: schools[0],
                respondent,
                reason: None,
            }));
        };
        withdraw(&mut log, "r03");
        withdraw(&mut log, "r04");
        // A scan that raced the withdrawal into the log, and a resubmission after it.
        submit(&mut log, &mut draw, schools[0], "T2", "r03", None);
        submit(
            &mut log,
            &mut draw,
            schools[0],
            "T1",
            "r05",
            submissions.get(5).copied(),
        );

        let mut connection = db.write_connection().expect("connects");
        let transaction = connection.transaction().expect("begins");
        for event in &log.events {
            for projection in &projections {
                projection.apply(&transaction, event).expect("applies");
            }
        }
        transaction.commit().expect("commits");

        let mut connection = db.read_connection().expect("connects");
        let transaction = connection.transaction().expect("begins");
        let context = StudyContext::released(study_id, &waves, &schools);
        let oracle = recomputed(&transaction, &context.study_id);
        let kept = load_scored(&transaction, &context, None, None).expect("loads");
        assert!(
            oracle.len() > 30,
            "a varied data set: {} counted",
            oracle.len()
        );
        assert_eq!(kept.len(), oracle.len(), "the same respondents count");
        let bits = |score: Option<f64>| score.map(f64::to_bits);
        let mut missing = 0;
        for (kept, recomputed) in kept.iter().zip(&oracle) {
            assert_eq!(context.schools[kept.school].school_id, recomputed.school_id);
            assert_eq!(context.waves[kept.wave].label, recomputed.wave);
            assert_eq!(kept.role, recomputed.role);
            for dimension in Dimension::ALL {
                for measure in Measure::BOTH {
                    let score = recomputed.score(measure, dimension);
                    missing += usize::from(score.is_none());
                    assert_eq!(
                        bits(kept.score(measure, dimension)),
                        bits(score),
                        "{} {dimension:?} {measure:?}",
                        recomputed.respondent
                    );
                }
            }
        }
        assert!(missing > 0, "some dimensions were left unanswered");

        // One school and one wave read only their own.
        let school = &context.schools[1].school_id;
        let one = load_scored(&transaction, &context, Some(school), Some("T2")).expect("loads");
        let expected: Vec<_> = kept
            .iter()
            .filter(|kept| kept.school == 1 && kept.wave == 1)
            .collect();
        assert_eq!(one.len(), expected.len());
        for (one, expected) in one.iter().zip(expected) {
            assert_eq!(one.scores.to_bytes(), expected.scores.to_bytes());
        }

        // A school-wave's answers are the oracle's.
        let answers = load_answers(&transaction, &context.study_id, school, "T2").expect("loads");
        let expected: Vec<&Response> = oracle
            .iter()
            .filter(|response| response.school_id == *school && response.wave == "T2")
            .collect();
        assert_eq!(
            answers
                .iter()
                .map(|response| (&response.submission_id, response.dimensions.len()))
                .collect::<Vec<_>>(),
            expected
                .iter()
                .map(|response| (&response.submission_id, response.dimensions.len()))
                .collect::<Vec<_>>()
        );

        // Each school-wave's last change is the latest of its submissions'.
        let changes = |sql: &str| -> Vec<(String, String, i64)> {
            let mut statement = transaction.prepare(sql).expect("prepares");
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .expect("queries")
                .collect::<Result<_, _>>()
                .expect("reads")
        };
        assert_eq!(
            changes(
                "SELECT school_id, wave, changed_at FROM scan_school_waves ORDER BY school_id, wave"
            ),
            changes(
                "SELECT school_id, wave, MAX(changed_at) FROM scan_submissions
                 GROUP BY school_id, wave ORDER BY school_id, wave"
            )
        );
    }
}
