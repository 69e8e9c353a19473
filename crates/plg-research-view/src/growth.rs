//! Change between waves per school and dimension, and how it relates to conditions.

use std::collections::HashMap;

use plg_domain::dimension::{Dimension, DimensionKind};
use plg_stats::{Correlation, cohens_d, pearson};

use crate::{
    context::{SchoolRef, StudyContext, WaveInfo},
    scores::{Shown, WaveScore, pooled_means},
};

#[derive(Debug, Clone, PartialEq)]
pub struct Growth {
    pub school: SchoolRef,
    pub dimension: Dimension,
    pub from_wave: String,
    pub to_wave: String,
    pub from: Shown,
    pub to: Shown,
}

impl Growth {
    pub fn change(&self) -> Option<f64> {
        Some(self.to.mean? - self.from.mean?)
    }

    /// Cohen's d over respondents' scores in the two waves.
    pub fn effect_size(&self) -> Option<f64> {
        cohens_d(&self.from.summary()?, &self.to.summary()?)
    }
}

/// Growth from each wave to every later wave, pooled over roles. A school that skipped a wave
/// has no rows involving it.
pub fn growth(context: &StudyContext, scores: &[WaveScore]) -> Vec<Growth> {
    let pooled: HashMap<(&str, &str, Dimension), &WaveScore> = scores
        .iter()
        .filter(|score| score.role.is_none())
        .map(|score| {
            (
                (
                    score.school.school_id.as_str(),
                    score.wave.as_str(),
                    score.dimension,
                ),
                score,
            )
        })
        .collect();
    let mut rows = Vec::new();
    for school in &context.schools {
        for dimension in Dimension::ALL {
            for (index, from) in context.waves.iter().enumerate() {
                for to in &context.waves[index + 1..] {
                    let (Some(before), Some(after)) = (
                        pooled.get(&(school.school_id.as_str(), from.label.as_str(), dimension)),
                        pooled.get(&(school.school_id.as_str(), to.label.as_str(), dimension)),
                    ) else {
                        continue;
                    };
                    rows.push(Growth {
                        school: school.clone(),
                        dimension,
                        from_wave: from.label.clone(),
                        to_wave: to.label.clone(),
                        from: before.current,
                        to: after.current,
                    });
                }
            }
        }
    }
    rows
}

#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub condition: Dimension,
    pub element: Dimension,
    /// For growth relations: the wave the element's growth runs to.
    pub to_wave: Option<String>,
    pub schools: usize,
    pub correlation: Option<Correlation>,
}

fn conditions() -> impl Iterator<Item = Dimension> {
    Dimension::ALL
        .into_iter()
        .filter(|d| d.kind() == DimensionKind::Condition)
}

fn elements() -> impl Iterator<Item = Dimension> {
    Dimension::ALL
        .into_iter()
        .filter(|d| d.kind() == DimensionKind::Element)
}

/// School-level correlations of each condition with each element at `wave`, over the schools
/// whose pooled cells may be shown.
pub fn relations(context: &StudyContext, scores: &[WaveScore], wave: &WaveInfo) -> Vec<Relation> {
    let means = pooled_means(scores);
    let mut rows = Vec::new();
    for condition in conditions() {
        for element in elements() {
            let pairs: Vec<(f64, f64)> = context
                .schools
                .iter()
                .filter_map(|school| {
                    let key =
                        |dimension| (school.school_id.as_str(), wave.label.as_str(), dimension);
                    Some((
                        means.get(&key(condition))?.mean?,
                        means.get(&key(element))?.mean?,
                    ))
                })
                .collect();
            rows.push(Relation {
                condition,
                element,
                to_wave: None,
                schools: pairs.len(),
                correlation: pearson(&pairs),
            });
        }
    }
    rows
}

/// Correlations of each condition at the first wave with each element's growth from the first
/// wave to every later wave.
pub fn growth_relations(context: &StudyContext, scores: &[WaveScore]) -> Vec<Relation> {
    let means = pooled_means(scores);
    let Some((first, later)) = context.waves.split_first() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for to in later {
        for condition in conditions() {
            for element in elements() {
                let pairs: Vec<(f64, f64)> = context
                    .schools
                    .iter()
                    .filter_map(|school| {
                        let mean = |wave: &WaveInfo, dimension| {
                            means
                                .get(&(school.school_id.as_str(), wave.label.as_str(), dimension))?
                                .mean
                        };
                        let level = mean(first, condition)?;
                        Some((level, mean(to, element)? - mean(first, element)?))
                    })
                    .collect();
                rows.push(Relation {
                    condition,
                    element,
                    to_wave: Some(to.label.clone()),
                    schools: pairs.len(),
                    correlation: pearson(&pairs),
                });
            }
        }
    }
    rows
}
