//! Whether schools that ran interventions of a category grew more than schools that did not.

use std::collections::{BTreeMap, BTreeSet};

use plg_domain::{dimension::Dimension, intervention::InterventionCategory};
use plg_stats::{Comparison, difference_of_means};
use rusqlite::Transaction;

use crate::{
    ResearchError,
    context::{StudyContext, WaveInfo, parse_name},
    scores::PooledCells,
};

#[derive(Debug, Clone, PartialEq)]
pub struct InterventionRecord {
    pub school_id: String,
    pub categories: BTreeSet<InterventionCategory>,
    pub started_on: Option<String>,
    pub ended_on: Option<String>,
}

impl InterventionRecord {
    /// Whether it ran between two waves: started (a planned one never ran) before the later
    /// wave opened, and not ended before the earlier wave opened.
    pub fn ran_between(&self, from: &WaveInfo, to: &WaveInfo) -> bool {
        let Some(started_on) = &self.started_on else {
            return false;
        };
        *started_on < to.opens_on
            && self
                .ended_on
                .as_ref()
                .is_none_or(|ended_on| *ended_on >= from.opens_on)
    }
}

pub fn load_interventions(
    transaction: &Transaction<'_>,
    context: &StudyContext,
) -> Result<Vec<InterventionRecord>, ResearchError> {
    let mut statement = transaction.prepare(
        "SELECT i.intervention_id, i.school_id, i.started_on, i.ended_on, c.category
         FROM interventions i JOIN intervention_categories c USING (intervention_id)
         WHERE i.school_id IN (SELECT school_id FROM enrolments WHERE study_id = ?1)",
    )?;
    let mut rows = statement.query([&context.study_id])?;
    let mut records: BTreeMap<String, InterventionRecord> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let category: String = row.get(4)?;
        let record = match records.entry(row.get(0)?) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => entry.insert(InterventionRecord {
                school_id: row.get(1)?,
                categories: BTreeSet::new(),
                started_on: row.get(2)?,
                ended_on: row.get(3)?,
            }),
        };
        record.categories.insert(parse_name(&category)?);
    }
    Ok(records.into_values().collect())
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryImpact {
    pub category: InterventionCategory,
    pub dimension: Dimension,
    pub comparison: Option<Comparison>,
    pub with_schools: usize,
    pub without_schools: usize,
}

/// For each category and dimension: the growth from wave `from` to wave `to` (indexes into the
/// study's waves) of the schools that ran an intervention of the category between them, against
/// that of the schools that did not.
pub fn impact(
    context: &StudyContext,
    pooled: &PooledCells,
    interventions: &[InterventionRecord],
    (from, to): (usize, usize),
) -> Vec<CategoryImpact> {
    let growth = |school: usize, dimension| -> Option<f64> {
        Some(
            pooled.shown_mean(school, to, dimension)?
                - pooled.shown_mean(school, from, dimension)?,
        )
    };
    let schools = context.school_indexes();
    let (from_wave, to_wave) = (&context.waves[from], &context.waves[to]);
    let mut rows = Vec::new();
    for category in InterventionCategory::ALL {
        let mut ran = vec![false; context.schools.len()];
        for record in interventions {
            if record.categories.contains(&category)
                && record.ran_between(from_wave, to_wave)
                && let Some(&school) = schools.get(record.school_id.as_str())
            {
                ran[school] = true;
            }
        }
        for dimension in Dimension::ALL {
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for (school, ran) in ran.iter().enumerate() {
                if let Some(change) = growth(school, dimension) {
                    if *ran {
                        with.push(change)
                    } else {
                        without.push(change)
                    }
                }
            }
            rows.push(CategoryImpact {
                category,
                dimension,
                comparison: difference_of_means(&with, &without),
                with_schools: with.len(),
                without_schools: without.len(),
            });
        }
    }
    rows
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combination {
    pub categories: BTreeSet<InterventionCategory>,
    pub interventions: usize,
    pub schools: usize,
}

/// How often each combination of categories occurred, most frequent first.
pub fn combinations(interventions: &[InterventionRecord]) -> Vec<Combination> {
    let mut counted: BTreeMap<&BTreeSet<InterventionCategory>, (usize, BTreeSet<&str>)> =
        BTreeMap::new();
    for record in interventions {
        let entry = counted.entry(&record.categories).or_default();
        entry.0 += 1;
        entry.1.insert(&record.school_id);
    }
    let mut rows: Vec<Combination> = counted
        .into_iter()
        .map(|(categories, (interventions, schools))| Combination {
            categories: categories.clone(),
            interventions,
            schools: schools.len(),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.interventions
            .cmp(&a.interventions)
            .then_with(|| a.categories.cmp(&b.categories))
    });
    rows
}
