//! How much respondents agree within schools, and how much schools differ.

use std::collections::{BTreeMap, BTreeSet};

use plg_domain::dimension::Dimension;
use plg_stats::{Icc, icc, rwg_j};

use crate::{
    context::{SchoolRef, StudyContext, WaveInfo},
    scores::{Response, Shown, pooled_means, wave_scores},
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

pub fn reliability(
    context: &StudyContext,
    responses: &[Response],
    wave: &WaveInfo,
) -> Vec<DimensionReliability> {
    let in_wave: Vec<Response> = responses
        .iter()
        .filter(|response| response.wave == wave.label)
        .cloned()
        .collect();
    let scores = wave_scores(context, &in_wave);
    let shown = pooled_means(&scores);
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
    Dimension::ALL
        .into_iter()
        .map(|dimension| {
            let per_school: Vec<(&SchoolRef, Vec<&Response>)> = context
                .schools
                .iter()
                .map(|school| {
                    let answered = in_wave
                        .iter()
                        .filter(|response| {
                            response.school_id == school.school_id
                                && response.current(dimension).is_some()
                        })
                        .collect();
                    (school, answered)
                })
                .collect();
            let is_shown = |school: &SchoolRef| {
                shown.contains_key(&(school.school_id.clone(), wave.label.clone(), dimension))
            };
            let groups: Vec<Vec<f64>> = per_school
                .iter()
                .filter(|(school, _)| is_shown(school))
                .map(|(_, answered)| {
                    answered
                        .iter()
                        .filter_map(|response| response.current(dimension))
                        .collect()
                })
                .collect();
            // One row per school with a pooled cell, saying what that cell says: a school-wave
            // shown only by its size gives that size, not who answered this dimension.
            let agreement = per_school
                .iter()
                .filter_map(|(school, answered)| {
                    let pooled = pooled_cells.get(&(school.school_id.as_str(), dimension))?;
                    let rwg_j = (!pooled.suppressed)
                        .then(|| rwg_j(&item_matrix(answered, dimension), SCALE_POINTS))
                        .flatten();
                    Some(SchoolAgreement {
                        school: (*school).clone(),
                        respondents: pooled.n,
                        rwg_j,
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
        .collect()
}

/// Respondents × items of one dimension, columns keyed by item code: a respondent who left an
/// item out has no answer in that column, rather than shifting the others.
fn item_matrix(respondents: &[&Response], dimension: Dimension) -> Vec<Vec<Option<f64>>> {
    let answers = |response: &Response| {
        response
            .dimensions
            .get(&dimension)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .to_vec()
    };
    let codes: BTreeSet<String> = respondents
        .iter()
        .flat_map(|response| answers(response))
        .map(|item| item.item_code)
        .collect();
    respondents
        .iter()
        .map(|response| {
            let answered = answers(response);
            codes
                .iter()
                .map(|code| {
                    answered
                        .iter()
                        .find(|item| &item.item_code == code)
                        .and_then(|item| item.current)
                })
                .collect()
        })
        .collect()
}
