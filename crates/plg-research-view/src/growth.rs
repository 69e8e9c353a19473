//! Change between waves per school and dimension, and how it relates to conditions.

use plg_domain::dimension::{Dimension, DimensionKind};
use plg_stats::{Correlation, cohens_d, pearson};

use crate::{
    context::{SchoolRef, StudyContext},
    scores::{PooledCells, Shown},
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
pub fn growth(context: &StudyContext, pooled: &PooledCells) -> Vec<Growth> {
    let mut rows = Vec::new();
    for (at, school) in context.schools.iter().enumerate() {
        for dimension in Dimension::ALL {
            for (index, from) in context.waves.iter().enumerate() {
                for (later, to) in context.waves.iter().enumerate().skip(index + 1) {
                    let (Some(before), Some(after)) = (
                        pooled.get(at, index, dimension),
                        pooled.get(at, later, dimension),
                    ) else {
                        continue;
                    };
                    rows.push(Growth {
                        school: school.clone(),
                        dimension,
                        from_wave: from.label.clone(),
                        to_wave: to.label.clone(),
                        from: *before,
                        to: *after,
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

/// School-level correlations of each condition with each element at `wave` (an index into
/// the study's waves), over the schools whose pooled cells may be shown.
pub fn relations(context: &StudyContext, pooled: &PooledCells, wave: usize) -> Vec<Relation> {
    let mut rows = Vec::new();
    for condition in conditions() {
        for element in elements() {
            let pairs: Vec<(f64, f64)> = (0..context.schools.len())
                .filter_map(|school| {
                    Some((
                        pooled.shown_mean(school, wave, condition)?,
                        pooled.shown_mean(school, wave, element)?,
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
pub fn growth_relations(context: &StudyContext, pooled: &PooledCells) -> Vec<Relation> {
    let Some((_, later)) = context.waves.split_first() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for (to_at, to) in later.iter().enumerate().map(|(at, to)| (at + 1, to)) {
        for condition in conditions() {
            for element in elements() {
                let pairs: Vec<(f64, f64)> = (0..context.schools.len())
                    .filter_map(|school| {
                        let mean = |wave, dimension| pooled.shown_mean(school, wave, dimension);
                        let level = mean(0, condition)?;
                        Some((level, mean(to_at, element)? - mean(0, element)?))
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
