//! How much respondents agree within schools, and how much schools differ.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use plg_domain::dimension::Dimension;
use plg_projections::StoredAnswer;
use plg_stats::{Icc, icc, rwg_j};

use rusqlite::Transaction;

use crate::{
    ResearchError,
    cache::{SchoolWaveCache, Weigh, load_stale, read_whole_range, stamps},
    context::{SchoolRef, StudyContext, WaveInfo},
    scores::{DIMENSIONS, Shown, WaveScore, each_school_answers, school_waves, stored_answers},
};

/// Points on the scan's answer scale.
const SCALE_POINTS: u32 = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct SchoolAgreement {
    pub school: SchoolRef,
    pub respondents: usize,
    /// Absent when suppressed or not computable.
    pub rwg_j: Option<f64>,
    pub suppressed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DimensionReliability {
    pub dimension: Dimension,
    /// Over the schools whose pooled cell is shown: computed from nothing a researcher may not
    /// see, so it cannot be solved for a suppressed school's scores.
    pub icc: Option<Icc>,
    /// The schools and respondents the ICC is computed over, also when it is undefined.
    pub schools: usize,
    pub respondents: usize,
    pub agreement: Vec<SchoolAgreement>,
}

impl DimensionReliability {
    /// Mean rwg(j) over the schools shown.
    pub fn mean_rwg_j(&self) -> Option<f64> {
        let shown: Vec<f64> = self
            .agreement
            .iter()
            .filter_map(|school| school.rwg_j)
            .collect();
        (!shown.is_empty()).then(|| shown.iter().sum::<f64>() / shown.len() as f64)
    }
}

/// What reliability needs of one school-wave, per dimension in [`Dimension::ALL`] order where
/// its pooled cell is shown (nothing elsewhere): its respondents' current scores in respondent
/// order, and its rwg(j). Kept between queries ([`SchoolWaveCache`]): it depends on nothing but
/// what the school-wave's cells depend on.
#[derive(Debug)]
pub struct Agreement {
    scores: [Box<[f64]>; DIMENSIONS],
    rwg_j: [Option<f64>; DIMENSIONS],
}

impl Weigh for Agreement {
    fn bytes(&self) -> usize {
        self.scores
            .iter()
            .map(|scores| size_of_val(&**scores))
            .sum()
    }
}

/// Per dimension at `wave`: the ICC over the schools whose pooled cell is shown, from the
/// respondents' kept scores, and rwg(j) of each shown school, from its answers. `scores` are
/// the wave's cells ([`crate::scores::wave_scores`], the pooled ones at least), which say
/// what is shown; each
/// school-wave's [`Agreement`] comes from `kept` where its stamp is current, else from its
/// rows, the wave's answers read in one pass when many are stale.
pub fn reliability(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    wave: &WaveInfo,
    scores: &[WaveScore],
    kept: &SchoolWaveCache<Agreement>,
) -> Result<Vec<DimensionReliability>, ResearchError> {
    let pooled_cells: BTreeMap<(&str, Dimension), &Shown> = scores
        .iter()
        .filter(|score| score.role.is_none())
        .map(|score| {
            (
                (score.school.school_id.as_str(), score.dimension),
                &score.current,
            )
        })
        .collect();
    let is_shown = |school: &SchoolRef, dimension| {
        pooled_cells
            .get(&(school.school_id.as_str(), dimension))
            .is_some_and(|pooled| !pooled.suppressed)
    };
    let stamped = stamps(transaction, context, None, Some(&wave.label))?;
    let figures = kept.values(context, &stamped, |stale| {
        let whole_range = read_whole_range(stale.len(), stamped.len());
        let is_shown = |school, dimension| is_shown(&context.schools[school], dimension);
        agreements(transaction, context, wave, stale, whole_range, &is_shown)
    })?;
    let mut per_school: Vec<Option<&Agreement>> = vec![None; context.schools.len()];
    for (stamped, figures) in stamped.iter().zip(&figures) {
        per_school[stamped.at.0] = Some(figures);
    }
    Ok(Dimension::ALL
        .into_iter()
        .enumerate()
        .map(|(at, dimension)| {
            let groups: Vec<Vec<f64>> = context
                .schools
                .iter()
                .zip(&per_school)
                .filter(|(school, _)| is_shown(school, dimension))
                .map(|(_, figures)| figures.map_or_else(Vec::new, |f| f.scores[at].to_vec()))
                .collect();
            // One row per school with a pooled cell, saying what that cell says: a school-wave
            // shown only by its size gives that size, not who answered this dimension.
            let agreement = context
                .schools
                .iter()
                .zip(&per_school)
                .filter_map(|(school, figures)| {
                    let pooled = pooled_cells.get(&(school.school_id.as_str(), dimension))?;
                    Some(SchoolAgreement {
                        school: school.clone(),
                        respondents: pooled.n,
                        rwg_j: figures.and_then(|figures| figures.rwg_j[at]),
                        suppressed: pooled.suppressed,
                    })
                })
                .collect();
            DimensionReliability {
                dimension,
                icc: icc(&groups),
                schools: groups.iter().filter(|group| !group.is_empty()).count(),
                respondents: groups.iter().map(Vec::len).sum(),
                agreement,
            }
        })
        .collect())
}

/// The [`Agreement`] of the `stale` school-waves at `wave` from their rows: the wave's in one
/// read when `whole_range`, else each school's on its own. `is_shown` tells, by the index of a
/// school, whether its pooled cell on a dimension is shown.
pub(crate) fn agreements(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    wave: &WaveInfo,
    stale: &[(usize, usize)],
    whole_range: bool,
    is_shown: &impl Fn(usize, Dimension) -> bool,
) -> Result<Vec<Agreement>, ResearchError> {
    let scored = load_stale(
        transaction,
        context,
        (None, Some(&wave.label)),
        stale,
        whole_range,
    )?;
    let groups = school_waves(&scored);
    let stale_schools: HashMap<&str, usize> = stale
        .iter()
        .map(|&(school, _)| (context.schools[school].school_id.as_str(), school))
        .collect();
    let mut rwg_of: HashMap<usize, [Option<f64>; DIMENSIONS]> = HashMap::new();
    let mut each = |school_id: &str, blobs: &[Vec<u8>]| -> Result<(), ResearchError> {
        if let Some(&school) = stale_schools.get(school_id) {
            let shown = |dimension| is_shown(school, dimension);
            rwg_of.insert(school, school_rwg_j(blobs, shown)?);
        }
        Ok(())
    };
    let study_id = &context.study_id;
    if whole_range {
        each_school_answers(transaction, study_id, &wave.label, None, &mut each)?;
    } else {
        for school in stale_schools.keys() {
            each_school_answers(transaction, study_id, &wave.label, Some(school), &mut each)?;
        }
    }
    Ok(stale
        .iter()
        .map(|&(school, at_wave)| {
            let group = groups
                .get(&(school, at_wave))
                .map_or(&[][..], Vec::as_slice);
            let scores = std::array::from_fn(|at| {
                let dimension = Dimension::ALL[at];
                if !is_shown(school, dimension) {
                    return Box::default();
                }
                group
                    .iter()
                    .filter_map(|respondent| respondent.scores.current(dimension))
                    .collect()
            });
            Agreement {
                scores,
                rwg_j: rwg_of.get(&school).copied().unwrap_or([None; DIMENSIONS]),
            }
        })
        .collect())
}

/// rwg(j) of a school's responses (their answers, see [`stored_answers`]) on each dimension
/// `shown`.
fn school_rwg_j(
    blobs: &[Vec<u8>],
    shown: impl Fn(Dimension) -> bool,
) -> Result<[Option<f64>; DIMENSIONS], ResearchError> {
    let mut agreement = [None; DIMENSIONS];
    if !Dimension::ALL.into_iter().any(&shown) {
        return Ok(agreement);
    }
    let responses = blobs
        .iter()
        .map(|blob| stored_answers(blob))
        .collect::<Result<Vec<_>, _>>()?;
    for (at, dimension) in Dimension::ALL.into_iter().enumerate() {
        if !shown(dimension) {
            continue;
        }
        let answered: Vec<&[StoredAnswer<'_>]> = responses
            .iter()
            .map(Vec::as_slice)
            .filter(|answers| answered_current(answers, dimension))
            .collect();
        agreement[at] = rwg_j(&item_matrix(&answered, dimension), SCALE_POINTS);
    }
    Ok(agreement)
}

/// Whether a respondent answered any item of the dimension about the current situation: the
/// respondents who have a current score on it.
fn answered_current(answers: &[StoredAnswer<'_>], dimension: Dimension) -> bool {
    items(answers, dimension).any(|item| item.current.is_some())
}

/// Respondents × items of one dimension, columns keyed by item code: a respondent who left an
/// item out has no answer in that column, rather than shifting the others.
fn item_matrix(respondents: &[&[StoredAnswer<'_>]], dimension: Dimension) -> Vec<Vec<Option<f64>>> {
    let codes: BTreeSet<&str> = respondents
        .iter()
        .flat_map(|answers| items(answers, dimension))
        .map(|item| item.item_code)
        .collect();
    respondents
        .iter()
        .map(|answers| {
            codes
                .iter()
                .map(|code| {
                    items(answers, dimension)
                        .find(|item| item.item_code == *code)
                        .and_then(|item| item.current.map(f64::from))
                })
                .collect()
        })
        .collect()
}

/// The respondent's answers to a dimension's items, in item-code order.
fn items<'a>(
    answers: &'a [StoredAnswer<'a>],
    dimension: Dimension,
) -> impl Iterator<Item = &'a StoredAnswer<'a>> {
    answers
        .iter()
        .filter(move |answer| answer.dimension == dimension)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};
    use plg_domain::{
        consent::ConsentEvent,
        ids::{ConsentId, ResponseId, SchoolId, StudyId, SubmissionId},
        instrument::Instrument,
        scan::{RecordedAnswer, RespondentRole, ScanEvent},
        values::{ItemCode, Pseudonym, Score, WaveLabel, parse_date},
    };
    use plg_eventstore::Position;
    use plg_projections::{LogEvent, Payload, Projection, ResearchDb, all_projections};
    use plg_stats::mean_of_answered;
    use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

    use super::*;

    /// A submission as the log says it stands: who, where, what, and whether it counts.
    struct Submitted {
        school: usize,
        wave: &'static str,
        respondent: String,
        answers: Vec<RecordedAnswer>,
        counts: bool,
    }

    /// The built-in items, now and then an extra one whose code sorts between them, some left
    /// out or unanswered, in a shuffled order.
    fn answers(rng: &mut StdRng) -> Vec<RecordedAnswer> {
        let score = |rng: &mut StdRng| {
            (rng.random_range(0..6) > 0)
                .then(|| Score::new(rng.random_range(1..=5)).expect("a score"))
        };
        let mut items: Vec<(String, Dimension)> = Instrument::built_in()
            .items
            .iter()
            .map(|item| (item.code.as_str().to_owned(), item.dimension))
            .collect();
        for dimension in Dimension::ALL {
            if rng.random_range(0..4) == 0 {
                items.push((format!("{}.10", dimension.code()), dimension));
            }
        }
        let mut answers = Vec::new();
        for (code, dimension) in items {
            if rng.random_range(0..10) == 0 {
                continue;
            }
            answers.push(RecordedAnswer {
                item_code: ItemCode::parse(&code).expect("a code"),
                dimension,
                current: score(rng),
                desired: score(rng),
            });
        }
        for index in (1..answers.len()).rev() {
            answers.swap(index, rng.random_range(0..=index));
        }
        answers
    }

    /// rwg(j) as it was computed from one row per answer: each respondent's items of the
    /// dimension in item-code order, columns keyed by code.
    fn direct_rwg_j(respondents: &[&Submitted], dimension: Dimension) -> Option<f64> {
        let items = |submitted: &Submitted| -> BTreeMap<String, Option<f64>> {
            submitted
                .answers
                .iter()
                .filter(|answer| answer.dimension == dimension)
                .map(|answer| {
                    let current = answer.current.map(|score| f64::from(score.value()));
                    (answer.item_code.as_str().to_owned(), current)
                })
                .collect()
        };
        let answered: Vec<BTreeMap<String, Option<f64>>> = respondents
            .iter()
            .map(|submitted| items(submitted))
            .filter(|items| items.values().any(Option::is_some))
            .collect();
        let codes: BTreeSet<&String> = answered.iter().flat_map(BTreeMap::keys).collect();
        let matrix: Vec<Vec<Option<f64>>> = answered
            .iter()
            .map(|items| {
                codes
                    .iter()
                    .map(|code| items.get(*code).copied().flatten())
                    .collect()
            })
            .collect();
        rwg_j(&matrix, SCALE_POINTS)
    }

    /// A respondent's current score on a dimension, from their answers in item-code order.
    fn direct_score(submitted: &Submitted, dimension: Dimension) -> Option<f64> {
        let mut items: Vec<&RecordedAnswer> = submitted
            .answers
            .iter()
            .filter(|answer| answer.dimension == dimension)
            .collect();
        items.sort_by(|a, b| a.item_code.as_str().cmp(b.item_code.as_str()));
        let current: Vec<Option<f64>> = items
            .iter()
            .map(|answer| answer.current.map(|score| f64::from(score.value())))
            .collect();
        mean_of_answered(&current)
    }

    #[test]
    fn reliability_equals_the_direct_computation_from_the_answers_bit_for_bit() {
        let mut rng = StdRng::seed_from_u64(7);
        let study_id = StudyId::new_random();
        let schools: Vec<SchoolId> = (0..8).map(|_| SchoolId::new_random()).collect();
        let mut events: Vec<Payload> = Vec::new();
        let mut log: BTreeMap<SubmissionId, Submitted> = BTreeMap::new();
        let mut current: BTreeMap<(usize, &str, String), SubmissionId> = BTreeMap::new();
        let mut withdrawn: BTreeSet<(usize, String)> = BTreeSet::new();
        for step in 0..400 {
            let school = rng.random_range(0..schools.len());
            let wave = if rng.random_range(0..8) == 0 {
                "T2"
            } else {
                "T1"
            };
            let respondent = format!("r{:02}", rng.random_range(0..12));
            let key = (school, wave, respondent.clone());
            match rng.random_range(0..20) {
                // A retraction of the respondent's submission that counts.
                0 => {
                    if let Some(submission_id) = current.remove(&key) {
                        events.push(Payload::Scan(ScanEvent::ScanRetracted {
                            submission_id,
                            reason: None,
                        }));
                        if let Some(submitted) = log.get_mut(&submission_id) {
                            submitted.counts = false;
                        }
                    }
                }
                // A withdrawal: none of the respondent's submissions at the school counts,
                // not even those that land later.
                1 if step % 3 == 0 => {
                    let pseudonym = Pseudonym::parse(&respondent).expect("a pseudonym");
                    events.push(Payload::Consent(ConsentEvent::ConsentWithdrawn {
                        consent_id: ConsentId::derive(study_id, schools[school], &pseudonym),
                        study_id,
                        school_id: schools[school],
                        respondent: pseudonym,
                        reason: None,
                    }));
                    for submitted in log.values_mut() {
                        if submitted.school == school && submitted.respondent == respondent {
                            submitted.counts = false;
                        }
                    }
                    withdrawn.insert((school, respondent));
                }
                // A (re)submission: the one before it no longer counts.
                _ => {
                    let submission_id = SubmissionId::new_random();
                    let supersedes = current.insert(key, submission_id);
                    if let Some(superseded) = supersedes.and_then(|id| log.get_mut(&id)) {
                        superseded.counts = false;
                    }
                    let wave_label = WaveLabel::parse(wave).expect("a label");
                    let pseudonym = Pseudonym::parse(&respondent).expect("a pseudonym");
                    let submitted = Submitted {
                        school,
                        wave,
                        counts: !withdrawn.contains(&(school, respondent.clone())),
                        respondent,
                        answers: answers(&mut rng),
                    };
                    events.push(Payload::Scan(ScanEvent::ScanSubmitted {
                        response_id: ResponseId::derive(
                            study_id,
                            schools[school],
                            &wave_label,
                            &pseudonym,
                        ),
                        submission_id,
                        study_id,
                        school_id: schools[school],
                        wave: wave_label,
                        respondent: pseudonym,
                        role: RespondentRole::ALL[rng.random_range(0..4)],
                        instrument_version: Instrument::built_in().version,
                        answered_on: parse_date("2016-02-01").expect("a date"),
                        answers: submitted.answers.clone(),
                        supersedes,
                    }));
                    log.insert(submission_id, submitted);
                }
            }
        }

        let dir = tempfile::tempdir().expect("temp dir");
        let all = all_projections();
        let projections: Vec<&dyn Projection> = all.iter().map(AsRef::as_ref).collect();
        let db = ResearchDb::open(dir.path().join("research.db"), &projections).expect("opens");
        let mut connection = db.write_connection().expect("connects");
        let transaction = connection.transaction().expect("begins");
        for (index, payload) in events.into_iter().enumerate() {
            let event = LogEvent {
                position: Position(index as u64 + 1),
                stream: String::new(),
                revision: 0,
                entity_id: String::new(),
                occurred_at: Utc.with_ymd_and_hms(2016, 2, 1, 10, 0, 0).unwrap(),
                traceparent: None,
                payload,
            };
            for projection in &projections {
                projection.apply(&transaction, &event).expect("applies");
            }
        }
        transaction.commit().expect("commits");

        let context = StudyContext::released(study_id, &["T1", "T2"], &schools);
        let mut connection = db.read_connection().expect("connects");
        let transaction = connection.transaction().expect("begins");
        let (mut rwg_compared, mut hidden) = (0, 0);
        for wave in &context.waves {
            let in_wave =
                crate::scores::load_scored(&transaction, &context, None, Some(&wave.label))
                    .expect("loads");
            let scores = crate::scores::wave_scores(&context, &in_wave);
            let computed = reliability(
                &transaction,
                &context,
                wave,
                &scores,
                &SchoolWaveCache::new(0),
            )
            .expect("computes");
            let counted = |school: usize| -> Vec<&Submitted> {
                let mut counted: Vec<&Submitted> = log
                    .values()
                    .filter(|s| s.counts && s.school == school && s.wave == wave.label)
                    .collect();
                counted.sort_by(|a, b| a.respondent.cmp(&b.respondent));
                counted
            };
            for dimension in &computed {
                let mut groups = Vec::new();
                for agreement in &dimension.agreement {
                    let school = context
                        .schools
                        .iter()
                        .position(|school| *school == agreement.school)
                        .expect("a school of the study");
                    let respondents = counted(school);
                    let bits = |value: Option<f64>| value.map(f64::to_bits);
                    if agreement.suppressed {
                        hidden += 1;
                        assert_eq!(agreement.rwg_j, None);
                        continue;
                    }
                    rwg_compared += usize::from(agreement.rwg_j.is_some());
                    assert_eq!(
                        bits(agreement.rwg_j),
                        bits(direct_rwg_j(&respondents, dimension.dimension)),
                        "rwg(j) of school {school} in {} on {:?}",
                        wave.label,
                        dimension.dimension
                    );
                    groups.push(
                        respondents
                            .iter()
                            .filter_map(|submitted| direct_score(submitted, dimension.dimension))
                            .collect::<Vec<f64>>(),
                    );
                }
                let icc_bits = |icc: Option<Icc>| {
                    icc.map(|icc| (icc.icc1.to_bits(), icc.icc2.map(f64::to_bits)))
                };
                assert_eq!(
                    icc_bits(dimension.icc),
                    icc_bits(icc(&groups)),
                    "ICC on {:?}",
                    dimension.dimension
                );
            }
        }
        assert!(
            rwg_compared > 50,
            "a varied data set: {rwg_compared} rwg(j) compared"
        );
        assert!(hidden > 0, "some school-waves too small to show");
    }
}
