//! School-waves' computed values, kept between queries (`docs/research-view.md`, "Kept
//! school-waves").
//!
//! A school-wave's cells ([`school_wave_cells`]) depend only on its counted respondents, the
//! study's minimum group size and whether it is released; so do the figures reliability keeps
//! per school-wave. The scans projection records the log position of the last change to a
//! school-wave's submissions (`scan_school_waves.changed_at`), and a log position identifies
//! the rows (the same log gives the same rows, also after a rebuild). So a value is kept with
//! the stamp it was computed under, and a query serves it only where the stamp read in the
//! query's own snapshot is the same; the others it computes from their rows in that snapshot,
//! with the same code. Nothing here is on the follower's path.

use std::{
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use hashlink::LinkedHashMap;
use rusqlite::{Transaction, types::ValueRef};

use crate::{
    ResearchError,
    context::StudyContext,
    scores::{
        Cell, PooledCells, Scored, WaveScore, column, load_school_wave, load_scored,
        school_wave_cells, school_waves,
    },
};

/// The bytes kept by default, for cells and for reliability's figures each: a study of 1,000
/// schools × 3 waves × 40 respondents takes at most about 20 MB of cells (`docs/performance.md`,
/// "Kept school-waves").
pub const DEFAULT_LIMIT: usize = 48 << 20;

/// Stale school-waves read one by one when at most one in this many of a query's is stale;
/// above that, the query's whole range in one read.
const ONE_BY_ONE: usize = 8;

/// What a school-wave's values were computed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    changed_at: i64,
    min_group_size: u32,
    released: bool,
}

/// A school-wave of a query, by its indexes into the study's schools and waves, with the stamp
/// read in the query's snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Stamped {
    pub at: (usize, usize),
    stamp: Stamp,
}

/// The bytes a kept value holds on to, near enough to bound memory by.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

impl Weigh for Box<[Cell]> {
    fn bytes(&self) -> usize {
        size_of_val(&**self)
    }
}

struct Entry<V> {
    stamp: Stamp,
    value: Arc<V>,
}

/// Study, school and wave.
type Key = (String, String, String);

/// What an entry holds on to (the 64: the allocators' and the map's own overhead).
fn weight<V: Weigh>(key: &Key, entry: &Entry<V>) -> usize {
    64 + key.0.len()
        + key.1.len()
        + key.2.len()
        + size_of::<Key>()
        + size_of::<Entry<V>>()
        + size_of::<V>()
        + entry.value.bytes()
}

/// Kept values, shared by the view's clones, least recently used dropped first once they hold
/// more than their limit of bytes.
pub struct SchoolWaveCache<V> {
    kept: Arc<Mutex<Kept<V>>>,
}

struct Kept<V> {
    entries: LinkedHashMap<Key, Entry<V>>,
    bytes: usize,
    limit: usize,
}

impl<V> Clone for SchoolWaveCache<V> {
    fn clone(&self) -> Self {
        Self {
            kept: Arc::clone(&self.kept),
        }
    }
}

impl<V> fmt::Debug for SchoolWaveCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept = self.lock();
        f.debug_struct("SchoolWaveCache")
            .field("entries", &kept.entries.len())
            .field("bytes", &kept.bytes)
            .field("limit", &kept.limit)
            .finish()
    }
}

impl<V> SchoolWaveCache<V> {
    pub fn new(limit: usize) -> Self {
        Self {
            kept: Arc::new(Mutex::new(Kept {
                entries: LinkedHashMap::new(),
                bytes: 0,
                limit,
            })),
        }
    }

    /// Entries and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        let kept = self.lock();
        (kept.entries.len(), kept.bytes)
    }

    /// Every entry is consistent on its own, so one left by a panicking query is still good.
    fn lock(&self) -> MutexGuard<'_, Kept<V>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The key of the school-wave at these indexes into the study's schools and waves.
fn key(context: &StudyContext, (school, wave): (usize, usize)) -> Key {
    (
        context.study_id.clone(),
        context.schools[school].school_id.clone(),
        context.waves[wave].label.clone(),
    )
}

impl<V: Weigh> SchoolWaveCache<V> {
    /// The school-waves of `stamped` whose kept value is outdated (kept with another stamp) and
    /// those it keeps no value of, each in their order.
    pub fn outdated_and_missing(
        &self,
        context: &StudyContext,
        stamped: &[Stamped],
    ) -> (Vec<Stamped>, Vec<Stamped>) {
        let kept = self.lock();
        let (mut outdated, mut missing) = (Vec::new(), Vec::new());
        for stamped in stamped {
            match kept.entries.get(&key(context, stamped.at)) {
                Some(entry) if entry.stamp != stamped.stamp => outdated.push(*stamped),
                Some(_) => {}
                None => missing.push(*stamped),
            }
        }
        (outdated, missing)
    }

    /// The studies the cache holds values of, the most recently used first.
    pub fn studies(&self) -> Vec<String> {
        let kept = self.lock();
        let mut studies: Vec<String> = Vec::new();
        for (study, ..) in kept.entries.keys().rev() {
            if !studies.contains(study) {
                studies.push(study.clone());
            }
        }
        studies
    }

    /// Whether the cache holds less than `share` of its limit.
    pub fn below(&self, share: f64) -> bool {
        let kept = self.lock();
        (kept.bytes as f64) < kept.limit as f64 * share
    }

    /// Each school-wave's value, in the order given: the kept one where its stamp is the
    /// snapshot's, else what `compute` gives for the stale ones (in their order), kept for the
    /// next query.
    pub fn values(
        &self,
        context: &StudyContext,
        stamped: &[Stamped],
        compute: impl FnOnce(&[(usize, usize)]) -> Result<Vec<V>, ResearchError>,
    ) -> Result<Vec<Arc<V>>, ResearchError> {
        let key = |at| key(context, at);
        let mut found: Vec<Option<Arc<V>>> = {
            let mut kept = self.lock();
            stamped
                .iter()
                .map(|stamped| {
                    let entry = kept.entries.to_back(&key(stamped.at))?;
                    (entry.stamp == stamped.stamp).then(|| Arc::clone(&entry.value))
                })
                .collect()
        };
        let stale: Vec<usize> = (0..stamped.len())
            .filter(|index| found[*index].is_none())
            .collect();
        if !stale.is_empty() {
            let at: Vec<(usize, usize)> = stale.iter().map(|index| stamped[*index].at).collect();
            let computed = compute(&at)?;
            // Callers pair values with school-waves by position: one short would put a
            // school-wave's cells, suppressed ones too, under another's name.
            assert_eq!(computed.len(), at.len(), "one value per stale school-wave");
            let mut kept = self.lock();
            for (index, value) in stale.into_iter().zip(computed) {
                let value = Arc::new(value);
                let entry = Entry {
                    stamp: stamped[index].stamp,
                    value: Arc::clone(&value),
                };
                kept.keep(key(stamped[index].at), entry);
                found[index] = Some(value);
            }
            kept.evict();
        }
        Ok(found.into_iter().flatten().collect())
    }
}

impl<V: Weigh> Kept<V> {
    fn keep(&mut self, key: Key, entry: Entry<V>) {
        self.bytes += weight(&key, &entry);
        if let Some(old) = self.entries.insert(key.clone(), entry) {
            self.bytes -= weight(&key, &old);
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.limit {
            let Some((key, old)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= weight(&key, &old);
        }
    }
}

/// A school-wave, by its indexes into the study's schools and waves, and its cells.
type KeptCells = ((usize, usize), Arc<Box<[Cell]>>);

/// The cells of the study's school-waves with counted respondents (optionally of one school and
/// one wave) in this snapshot, from kept cells where their stamp is current: each with its
/// school-wave, in the order of the study's schools and waves.
fn school_wave_cells_kept(
    cells: &SchoolWaveCache<Box<[Cell]>>,
    transaction: &Transaction<'_>,
    context: &StudyContext,
    (school_id, wave): (Option<&str>, Option<&str>),
) -> Result<Vec<KeptCells>, ResearchError> {
    let stamped = stamps(transaction, context, school_id, wave)?;
    let kept = cells.values(context, &stamped, |stale| {
        let whole_range = read_whole_range(stale.len(), stamped.len());
        compute_cells(transaction, context, (school_id, wave), stale, whole_range)
    })?;
    Ok(stamped.iter().map(|stamped| stamped.at).zip(kept).collect())
}

/// The cells of the `stale` school-waves of `range`, from their rows ([`load_stale`]).
pub fn compute_cells(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    range: (Option<&str>, Option<&str>),
    stale: &[(usize, usize)],
    whole_range: bool,
) -> Result<Vec<Box<[Cell]>>, ResearchError> {
    let scored = load_stale(transaction, context, range, stale, whole_range)?;
    let groups = school_waves(&scored);
    Ok(stale
        .iter()
        .map(|&(school, wave)| {
            let group = groups.get(&(school, wave)).map_or(&[][..], Vec::as_slice);
            school_wave_cells(context, school, wave, group).into_boxed_slice()
        })
        .collect())
}

/// What [`crate::scores::wave_scores`] gives for the counted respondents of the study
/// (optionally of one school and one wave) in this snapshot, from kept cells where their stamp
/// is current; only the pooled cells when `pooled_only` (all reliability reads).
pub fn wave_scores(
    cells: &SchoolWaveCache<Box<[Cell]>>,
    transaction: &Transaction<'_>,
    context: &StudyContext,
    range: (Option<&str>, Option<&str>),
    pooled_only: bool,
) -> Result<Vec<WaveScore>, ResearchError> {
    let mut scores = Vec::new();
    for ((school, wave), cells) in school_wave_cells_kept(cells, transaction, context, range)? {
        let (school, wave) = (&context.schools[school], &context.waves[wave].label);
        scores.extend(
            cells
                .iter()
                .filter(|cell| !pooled_only || cell.role.is_none())
                .map(|cell| cell.named(school, wave)),
        );
    }
    Ok(scores)
}

/// The pooled current cells of the same school-waves as [`wave_scores`], by index: all that
/// the statistics across schools read.
pub fn pooled_cells(
    cells: &SchoolWaveCache<Box<[Cell]>>,
    transaction: &Transaction<'_>,
    context: &StudyContext,
    range: (Option<&str>, Option<&str>),
) -> Result<PooledCells, ResearchError> {
    let mut pooled = PooledCells::new(context.schools.len(), context.waves.len());
    for ((school, wave), cells) in school_wave_cells_kept(cells, transaction, context, range)? {
        pooled.insert(school, wave, &cells);
    }
    Ok(pooled)
}

/// Whether a query with `stale` of its `of` school-waves stale reads its whole range at once.
pub fn read_whole_range(stale: usize, of: usize) -> bool {
    stale * ONE_BY_ONE > of
}

/// The counted respondents of the `stale` school-waves of a query over `range` (a school and a
/// wave, or all), in [`load_scored`]'s order: those of the `whole_range` in one read, or each
/// stale school-wave's on its own.
pub fn load_stale(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    (school_id, wave): (Option<&str>, Option<&str>),
    stale: &[(usize, usize)],
    whole_range: bool,
) -> Result<Vec<Scored>, ResearchError> {
    if whole_range {
        return load_scored(transaction, context, school_id, wave);
    }
    let mut scored = Vec::new();
    for &(school, wave) in stale {
        scored.extend(load_school_wave(transaction, context, school, wave)?);
    }
    Ok(scored)
}

/// Each school-wave of the study with submissions (optionally of one school and one wave), in
/// the order of the study's schools and waves, with its stamp in this snapshot; school-waves of
/// schools not enrolled or of waves the study does not have are left out.
pub fn stamps(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    school_id: Option<&str>,
    wave: Option<&str>,
) -> Result<Vec<Stamped>, ResearchError> {
    let mut statement = transaction.prepare_cached(
        "SELECT school_id, wave, changed_at FROM scan_school_waves
         WHERE study_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR school_id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR wave = ?3)",
    )?;
    let schools = context.school_indexes();
    let mut rows = statement.query((&context.study_id, school_id, wave))?;
    let mut stamped = Vec::new();
    while let Some(row) = rows.next()? {
        let school = schools.get(column(row, 0, ValueRef::as_str)?).copied();
        let label = column(row, 1, ValueRef::as_str)?;
        let wave = context.waves.iter().position(|wave| wave.label == label);
        if let (Some(school), Some(wave)) = (school, wave) {
            let stamp = Stamp {
                changed_at: row.get(2)?,
                min_group_size: context.min_group_size,
                released: context.is_released(school, wave),
            };
            stamped.push(Stamped {
                at: (school, wave),
                stamp,
            });
        }
    }
    stamped.sort_unstable_by_key(|stamped| stamped.at);
    Ok(stamped)
}

#[cfg(test)]
mod tests {
    use plg_domain::{
        consent::ConsentEvent,
        ids::{ConsentId, ResponseId, SchoolId, StudyId, SubmissionId},
        instrument::Instrument,
        scan::{RespondentRole, ScanEvent},
        values::{Pseudonym, WaveLabel, parse_date},
    };
    use plg_projections::{Payload, Projection, ResearchDb, all_projections};

    use crate::{
        ResearchView,
        context::NamedSchool,
        fixture::{Draw, Log, answers},
    };

    // Nine, so that one stale school-wave of a wave is read on its own (`ONE_BY_ONE`).
    const SCHOOLS: usize = 9;

    /// A study of nine schools and waves T1 and T2 (minimum group size 3), projected from a log
    /// the test writes, with the registry's rows written directly.
    struct Study {
        _dir: tempfile::TempDir,
        db: ResearchDb,
        id: StudyId,
        schools: Vec<SchoolId>,
        log: Log,
        applied: usize,
        draw: Draw,
    }

    impl Study {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let all = all_projections();
            let projections: Vec<&dyn Projection> = all.iter().map(AsRef::as_ref).collect();
            let db = ResearchDb::open(dir.path().join("research.db"), &projections).expect("opens");
            let study = Self {
                _dir: dir,
                db,
                id: StudyId::new_random(),
                schools: (0..SCHOOLS).map(|_| SchoolId::new_random()).collect(),
                log: Log { events: Vec::new() },
                applied: 0,
                draw: Draw(23),
            };
            let id = study.id;
            study.execute(&format!(
                "INSERT INTO studies VALUES ('{id}', 'Study', NULL, 3, 0, 'v1', '2016-01-01');
                 INSERT INTO waves VALUES ('{id}', 'T1', 1, '2016-01-01', '2016-03-01', NULL);
                 INSERT INTO waves VALUES ('{id}', 'T2', 2, '2017-01-01', '2017-03-01', NULL);"
            ));
            for (index, school) in study.schools.iter().enumerate() {
                study.execute(&format!(
                    "INSERT INTO schools VALUES ('{school}', 'School {index}', 'nl', 'primary',
                                                 '0{index}AB', NULL, '2016-01-01');
                     INSERT INTO enrolments VALUES ('{id}', '{school}', {index}, 'S0{}',
                                                    '2016-01-01');",
                    index + 1
                ));
            }
            study
        }

        fn execute(&self, sql: &str) {
            let connection = self.db.write_connection().expect("connects");
            connection.execute_batch(sql).expect("executes");
        }

        fn submit(
            &mut self,
            school: usize,
            wave: &str,
            respondent: &str,
            supersedes: Option<SubmissionId>,
        ) -> SubmissionId {
            let (wave, respondent) = (
                WaveLabel::parse(wave).expect("a label"),
                Pseudonym::parse(respondent).expect("a pseudonym"),
            );
            let school_id = self.schools[school];
            let submission_id = SubmissionId::new_random();
            let role = RespondentRole::ALL[self.draw.below(4) as usize];
            let answers = answers(&mut self.draw);
            self.log.push(Payload::Scan(ScanEvent::ScanSubmitted {
                response_id: ResponseId::derive(self.id, school_id, &wave, &respondent),
                submission_id,
                study_id: self.id,
                school_id,
                wave,
                respondent,
                role,
                instrument_version: Instrument::built_in().version,
                answered_on: parse_date("2016-02-01").expect("a date"),
                answers,
                supersedes,
            }));
            submission_id
        }

        fn retract(&mut self, submission_id: SubmissionId) {
            self.log.push(Payload::Scan(ScanEvent::ScanRetracted {
                submission_id,
                reason: None,
            }));
        }

        fn withdraw(&mut self, school: usize, respondent: &str) {
            let respondent = Pseudonym::parse(respondent).expect("a pseudonym");
            let school_id = self.schools[school];
            self.log
                .push(Payload::Consent(ConsentEvent::ConsentWithdrawn {
                    consent_id: ConsentId::derive(self.id, school_id, &respondent),
                    study_id: self.id,
                    school_id,
                    respondent,
                    reason: None,
                }));
        }

        /// Projects the events not projected yet, and moves every checkpoint to the log's end.
        fn apply(&mut self) {
            let all = all_projections();
            let mut connection = self.db.write_connection().expect("connects");
            let transaction = connection.transaction().expect("begins");
            for event in &self.log.events[self.applied..] {
                for projection in &all {
                    projection.apply(&transaction, event).expect("applies");
                }
            }
            self.applied = self.log.events.len();
            transaction
                .execute(
                    "UPDATE projection_checkpoints SET position = ?1",
                    [self.applied as i64],
                )
                .expect("moves the checkpoints");
            transaction.commit().expect("commits");
        }

        /// Releases `wave` at the log's end (again, if it was released before).
        fn release(&self, wave: &str) {
            self.execute(&format!(
                "UPDATE waves SET released_at = {} WHERE study_id = '{}' AND label = '{wave}'",
                self.applied, self.id
            ));
        }

        fn fresh(&self) -> ResearchView {
            ResearchView::new(self.db.clone())
        }

        /// Every query built on the cells, as text (`{:?}` of an f64 tells its bits apart).
        fn answers(&self, view: &ResearchView) -> String {
            let s01 = NamedSchool::Label("S01".into());
            let t1 = WaveLabel::parse("T1").expect("a label");
            let t2 = WaveLabel::parse("T2").expect("a label");
            let id = self.id;
            format!(
                "{:#?}",
                (
                    view.wave_scores(id, None, None).expect("answers").value,
                    view.wave_scores(id, Some(&s01), Some(&t2))
                        .expect("answers")
                        .value,
                    view.wave_scores(id, None, Some(&t1))
                        .expect("answers")
                        .value,
                    view.growth(id, None).expect("answers").value,
                    view.growth(id, Some(&s01)).expect("answers").value,
                    view.relations(id, Some(&t2)).expect("answers").value,
                    view.intervention_impact(id, None, None)
                        .expect("answers")
                        .value,
                    view.reliability(id, None).expect("answers").value,
                    view.reliability(id, Some(&t2)).expect("answers").value,
                    view.spider_chart(id, &s01, &[], true)
                        .expect("answers")
                        .value,
                    view.school_timeline(id, &s01).expect("answers").value,
                ),
            )
        }
    }

    /// Six to ten respondents in every school-wave, T1 released.
    fn study() -> (Study, Vec<SubmissionId>) {
        let mut study = Study::new();
        let mut submitted = Vec::new();
        for school in 0..SCHOOLS {
            for wave in ["T1", "T2"] {
                for respondent in 0..6 + school {
                    let respondent = format!("r{respondent:02}");
                    submitted.push(study.submit(school, wave, &respondent, None));
                }
            }
        }
        study.apply();
        study.release("T1");
        (study, submitted)
    }

    type Change = Box<dyn Fn(&mut Study, &[SubmissionId])>;

    #[test]
    fn kept_cells_answer_as_a_fresh_view_does_after_every_kind_of_change() {
        let (mut study, submitted) = study();
        let warm = study.fresh();
        let mut before = study.answers(&warm);
        // Compared with `assert!`: the answers run to thousands of lines.
        assert!(before == study.answers(&study.fresh()), "a cold view");
        assert!(before == study.answers(&warm), "a warm view, unchanged");
        // Changes to T1 move its release past them, so it stays released: only the
        // school-wave's last change tells its kept cells are stale.
        let changes: Vec<(&str, Change)> = vec![
            (
                "a new scan",
                Box::new(|study, _| {
                    study.submit(0, "T1", "r90", None);
                }),
            ),
            (
                "a resubmission",
                Box::new(|study, submitted| {
                    study.submit(1, "T1", "r01", Some(submitted[7]));
                }),
            ),
            (
                "a retraction",
                Box::new(|study, submitted| study.retract(submitted[2])),
            ),
            (
                "a consent withdrawal, in both waves",
                Box::new(|study, _| study.withdraw(3, "r02")),
            ),
            (
                "a scan in a wave not released",
                Box::new(|study, _| {
                    study.submit(4, "T2", "r91", None);
                }),
            ),
            ("a release", Box::new(|study, _| study.release("T2"))),
            (
                "a smaller minimum group size",
                Box::new(|study, _| {
                    study.execute("UPDATE studies SET min_group_size = 4");
                }),
            ),
        ];
        for (what, change) in changes {
            change(&mut study, &submitted);
            study.apply();
            if what != "a release" {
                study.release("T1");
            }
            let after = study.answers(&warm);
            assert!(after != before, "{what} changes what the view answers");
            assert!(after == study.answers(&study.fresh()), "after {what}");
            before = after;
        }
        // A change after its wave's release withholds the school-wave from then on.
        study.retract(submitted[0]);
        study.apply();
        let after = study.answers(&warm);
        assert!(after != before, "a change after the release withholds");
        assert!(after == study.answers(&study.fresh()), "after the release");
    }

    #[test]
    fn the_kept_cells_stay_within_their_limit_and_are_shared_by_clones() {
        let (study, _) = study();
        let all = study.fresh();
        let expected = study.answers(&all);
        let [cells, agreement] = all.cache_usage();
        assert_eq!(cells.0, 2 * SCHOOLS, "every school-wave's cells kept");
        assert_eq!(agreement.0, 2 * SCHOOLS, "and its figures for reliability");
        // Room for half of the figures for reliability, and less of the cells.
        let limit = agreement.1 / 2;
        let bounded = ResearchView::with_cache_limit(study.db.clone(), limit);
        let clone = bounded.clone();
        assert!(study.answers(&bounded) == expected);
        assert!(study.answers(&clone) == expected);
        for (entries, bytes) in bounded.cache_usage() {
            assert!(bytes <= limit, "{bytes} bytes kept");
            assert!(entries < 2 * SCHOOLS, "{entries} kept");
        }
        assert_eq!(
            clone.cache_usage(),
            bounded.cache_usage(),
            "one cache for both"
        );
    }

    #[test]
    fn warming_keeps_the_stale_released_school_waves_and_changes_no_answer() {
        let (mut study, submitted) = study();
        let warm = study.fresh();
        let go_on = |_| true;
        let only_t1 = crate::Warmed {
            studies: 1,
            school_waves: SCHOOLS,
        };
        assert_eq!(warm.warm(go_on).expect("warms"), only_t1, "T1 is released");
        let entries = warm.cache_usage().map(|(entries, _)| entries);
        assert_eq!(
            entries,
            [SCHOOLS, SCHOOLS],
            "cells and figures for reliability"
        );
        assert_eq!(
            warm.warm(go_on).expect("warms").school_waves,
            0,
            "nothing stale"
        );
        assert!(study.answers(&warm) == study.answers(&study.fresh()));

        // A retraction in T1 moves its release past it: one school-wave is stale.
        study.retract(submitted[0]);
        study.apply();
        study.release("T1");
        assert_eq!(warm.warm(go_on).expect("warms").school_waves, 1);
        assert!(study.answers(&warm) == study.answers(&study.fresh()));

        // A new minimum group size makes every released school-wave stale, T2's too now.
        study.release("T2");
        study.execute("UPDATE studies SET min_group_size = 4");
        assert_eq!(warm.warm(go_on).expect("warms").school_waves, 2 * SCHOOLS);
        assert!(study.answers(&warm) == study.answers(&study.fresh()));
    }

    /// A study that cannot be read (a damaged row) fails the pass, but does not keep the
    /// studies after it cold.
    #[test]
    fn warming_goes_past_a_study_it_cannot_read() {
        let (study, _) = study();
        // Listed before the readable study whichever order the view lists studies in.
        let damaged = "00000000-0000-4000-8000-000000000000";
        study.execute(&format!(
            "INSERT INTO studies VALUES ('{damaged}', 'Damaged', NULL, -1, 0, 'v1',
                                        '2016-01-01');
             UPDATE studies SET rowid = 0 WHERE study_id = '{damaged}';"
        ));
        let view = study.fresh();
        assert!(
            view.warm(|_| true).is_err(),
            "the damaged study is reported"
        );
        let entries = view.cache_usage().map(|(entries, _)| entries);
        assert_eq!(entries, [SCHOOLS, SCHOOLS], "the readable study is warm");
    }

    /// With the cache at its limit, warming settles: it does not recompute the school-waves
    /// the cache let go, which would push out others (what researchers use) on every pass.
    #[test]
    fn warming_a_full_cache_settles() {
        let (study, _) = study();
        let go_on = |_| true;
        // How much T1's nine released school-waves take, with room to spare for none.
        let probe = study.fresh();
        probe.warm(go_on).expect("warms");
        let [(_, cells), (_, figures)] = probe.cache_usage();
        // Room for about two thirds of them.
        let view = ResearchView::with_cache_limit(study.db.clone(), cells.max(figures) * 2 / 3);
        let first = view.warm(go_on).expect("warms").school_waves;
        assert_eq!(first, SCHOOLS, "the first pass computes them all");
        // Nothing changed in the view: a pass should find nothing to do.
        let again: Vec<usize> = (0..3)
            .map(|_| view.warm(go_on).expect("warms").school_waves)
            .collect();
        assert_eq!(again, [0, 0, 0], "passes over an unchanged view");
    }
}
