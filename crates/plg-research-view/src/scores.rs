//! Respondents' scores per dimension, and their summaries per school, wave and role with the
//! study's suppression applied.

use std::collections::BTreeMap;

use plg_domain::{dimension::Dimension, scan::RespondentRole};
use plg_stats::{Summary, mean_of_answered};
use rusqlite::Transaction;

use crate::{
    ResearchError,
    context::{SchoolRef, StudyContext, parse_name},
    suppression::{Disclosure, Measure},
};

/// One respondent's counted submission for a wave: only current submissions count, so
/// superseded and retracted ones never reach a statistic.
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

impl Response {
    /// The respondent's score on a dimension: the mean of the items they answered.
    pub fn current(&self, dimension: Dimension) -> Option<f64> {
        let items = self.dimensions.get(&dimension)?;
        mean_of_answered(&items.iter().map(|item| item.current).collect::<Vec<_>>())
    }

    pub fn desired(&self, dimension: Dimension) -> Option<f64> {
        let items = self.dimensions.get(&dimension)?;
        mean_of_answered(&items.iter().map(|item| item.desired).collect::<Vec<_>>())
    }
}

/// Every counted response of a study, optionally of one school and one wave.
pub fn load_responses(
    transaction: &Transaction<'_>,
    study_id: &str,
    school_id: Option<&str>,
    wave: Option<&str>,
) -> Result<Vec<Response>, ResearchError> {
    let mut statement = transaction.prepare(
        "SELECT s.submission_id, s.school_id, s.wave, s.respondent, s.role, a.dimension, a.item_code, a.current, a.desired
         FROM scan_submissions s JOIN scan_answers a USING (submission_id)
         WHERE s.study_id = ?1 AND s.status = 'current'
           AND (?2 IS NULL OR s.school_id = ?2) AND (?3 IS NULL OR s.wave = ?3)
         ORDER BY s.school_id, s.wave, s.respondent, a.item_code",
    )?;
    let mut rows = statement.query((study_id, school_id, wave))?;
    let mut responses: Vec<(String, Response)> = Vec::new();
    while let Some(row) = rows.next()? {
        let submission_id: String = row.get(0)?;
        if responses
            .last()
            .is_none_or(|(last, _)| *last != submission_id)
        {
            let role: String = row.get(4)?;
            let response = Response {
                submission_id: submission_id.clone(),
                school_id: row.get(1)?,
                wave: row.get(2)?,
                respondent: row.get(3)?,
                role: parse_name(&role)?,
                dimensions: BTreeMap::new(),
            };
            responses.push((submission_id, response));
        }
        let dimension: String = row.get(5)?;
        let answer = ItemAnswer {
            item_code: row.get(6)?,
            current: row.get::<_, Option<i64>>(7)?.map(|score| score as f64),
            desired: row.get::<_, Option<i64>>(8)?.map(|score| score as f64),
        };
        if let Some((_, response)) = responses.last_mut() {
            response
                .dimensions
                .entry(parse_name(&dimension)?)
                .or_default()
                .push(answer);
        }
    }
    Ok(responses
        .into_iter()
        .map(|(_, response)| response)
        .collect())
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

/// Counted responses per school and wave (indexes into the study's schools and waves).
pub fn school_waves<'a>(
    context: &StudyContext,
    responses: &'a [Response],
) -> BTreeMap<(usize, usize), Vec<&'a Response>> {
    let mut groups: BTreeMap<(usize, usize), Vec<&Response>> = BTreeMap::new();
    for response in responses {
        let school = context
            .schools
            .iter()
            .position(|school| school.school_id == response.school_id);
        let wave = context
            .waves
            .iter()
            .position(|wave| wave.label == response.wave);
        if let (Some(school), Some(wave)) = (school, wave) {
            groups.entry((school, wave)).or_default().push(response);
        }
    }
    groups
}

/// Summaries per school × wave × dimension, pooled (first) and per role that answered, as the
/// school-wave's [`Disclosure`] allows. A hidden role has a row in every dimension, with its
/// size in the school-wave as `n`: rows or counts that differ by dimension would tell which
/// dimensions its few members skipped, and single them out in the item export. A school-wave
/// too small to show has only pooled rows, all with its size as `n`.
pub fn wave_scores(context: &StudyContext, responses: &[Response]) -> Vec<WaveScore> {
    let min = context.min_group_size as usize;
    let mut scores = Vec::new();
    for ((school, wave), group) in school_waves(context, responses) {
        let disclosure = Disclosure::decide(&group, min, context.is_released(school, wave));
        for dimension in Dimension::ALL {
            let row = |role, current: Shown, desired: Shown| WaveScore {
                school: context.schools[school].clone(),
                wave: context.waves[wave].label.clone(),
                role,
                dimension,
                current,
                desired,
            };
            if disclosure.group_hidden() {
                let size = Shown::hidden(group.len());
                scores.push(row(None, size, size));
                continue;
            }
            let values = |role: Option<RespondentRole>, measure: Measure| -> Vec<f64> {
                group
                    .iter()
                    .filter(|response| role.is_none_or(|role| response.role == role))
                    .filter_map(|response| measure.score(response, dimension))
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
            scores.push(row(
                None,
                shown(None, Measure::Current),
                shown(None, Measure::Desired),
            ));
            for (index, role) in RespondentRole::ALL.iter().enumerate() {
                if disclosure.role_hidden(index) {
                    let hidden = Shown::hidden(disclosure.role_size(index));
                    scores.push(row(Some(*role), hidden, hidden));
                } else if !values(Some(*role), Measure::Current).is_empty() {
                    scores.push(row(
                        Some(*role),
                        shown(Some(*role), Measure::Current),
                        shown(Some(*role), Measure::Desired),
                    ));
                }
            }
        }
    }
    scores
}

/// The pooled current score of each school, wave and dimension, for statistics across schools
/// and waves: only cells that may be shown.
pub fn pooled_means(scores: &[WaveScore]) -> BTreeMap<(String, String, Dimension), Shown> {
    scores
        .iter()
        .filter(|score| score.role.is_none() && !score.current.suppressed)
        .map(|score| {
            (
                (
                    score.school.school_id.clone(),
                    score.wave.clone(),
                    score.dimension,
                ),
                score.current,
            )
        })
        .collect()
}
