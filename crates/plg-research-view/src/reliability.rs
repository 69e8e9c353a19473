//! How much respondents agree within schools, and how much schools differ.

use std::collections::{BTreeMap, BTreeSet};

use plg_domain::dimension::Dimension;
use plg_stats::{Icc, icc, rwg_j};

use rusqlite::Transaction;

use crate::{
    ResearchError,
    context::{SchoolRef, StudyContext, WaveInfo},
    scores::{ItemAnswer, Response, Scored, Shown, load_answers, load_scored, wave_scores},
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

/// Per dimension at `wave`: the ICC over the schools whose pooled cell is shown, from the
/// respondents' kept scores, and rwg(j) of each shown school, from its answers, read one
/// school at a time.
pub fn reliability(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    wave: &WaveInfo,
) -> Result<Vec<DimensionReliability>, ResearchError> {
    let in_wave = load_scored(transaction, context, None, Some(&wave.label))?;
    let scores = wave_scores(context, &in_wave);
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
    let mut per_school: Vec<Vec<&Scored>> = vec![Vec::new(); context.schools.len()];
    for respondent in &in_wave {
        per_school[respondent.school].push(respondent);
    }
    let mut agreement_of: BTreeMap<(usize, Dimension), f64> = BTreeMap::new();
    for (index, school) in context.schools.iter().enumerate() {
        let shown: Vec<Dimension> = Dimension::ALL
            .into_iter()
            .filter(|dimension| is_shown(school, *dimension))
            .collect();
        if shown.is_empty() {
            continue;
        }
        let responses = load_answers(
            transaction,
            &context.study_id,
            &school.school_id,
            &wave.label,
        )?;
        for dimension in shown {
            let answered: Vec<&Response> = responses
                .iter()
                .filter(|response| answered_current(response, dimension))
                .collect();
            if let Some(rwg_j) = rwg_j(&item_matrix(&answered, dimension), SCALE_POINTS) {
                agreement_of.insert((index, dimension), rwg_j);
            }
        }
    }
    Ok(Dimension::ALL
        .into_iter()
        .map(|dimension| {
            let groups: Vec<Vec<f64>> = context
                .schools
                .iter()
                .zip(&per_school)
                .filter(|(school, _)| is_shown(school, dimension))
                .map(|(_, respondents)| {
                    respondents
                        .iter()
                        .filter_map(|respondent| respondent.scores.current(dimension))
                        .collect()
                })
                .collect();
            // One row per school with a pooled cell, saying what that cell says: a school-wave
            // shown only by its size gives that size, not who answered this dimension.
            let agreement = context
                .schools
                .iter()
                .enumerate()
                .filter_map(|(index, school)| {
                    let pooled = pooled_cells.get(&(school.school_id.as_str(), dimension))?;
                    Some(SchoolAgreement {
                        school: school.clone(),
                        respondents: pooled.n,
                        rwg_j: agreement_of.get(&(index, dimension)).copied(),
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

/// Whether a respondent answered any item of the dimension about the current situation: the
/// respondents who have a current score on it.
fn answered_current(response: &Response, dimension: Dimension) -> bool {
    response
        .dimensions
        .get(&dimension)
        .is_some_and(|items| items.iter().any(|item| item.current.is_some()))
}

/// Respondents × items of one dimension, columns keyed by item code: a respondent who left an
/// item out has no answer in that column, rather than shifting the others.
fn item_matrix(respondents: &[&Response], dimension: Dimension) -> Vec<Vec<Option<f64>>> {
    let codes: BTreeSet<&str> = respondents
        .iter()
        .flat_map(|response| items(response, dimension))
        .map(|item| item.item_code.as_str())
        .collect();
    respondents
        .iter()
        .map(|response| {
            let answered = items(response, dimension);
            codes
                .iter()
                .map(|code| {
                    answered
                        .iter()
                        .find(|item| item.item_code == *code)
                        .and_then(|item| item.current)
                })
                .collect()
        })
        .collect()
}

/// The respondent's answers to a dimension's items, in item-code order.
fn items(response: &Response, dimension: Dimension) -> &[ItemAnswer] {
    response
        .dimensions
        .get(&dimension)
        .map(Vec::as_slice)
        .unwrap_or_default()
}
