//! Interventions: what each school ran, how it ended and what it contributed.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use plg_proto::v1;
use rand::{
    RngExt as _,
    seq::{IndexedRandom as _, SliceRandom as _},
};

use super::{AssessmentPlan, Generator, InterventionEnd, InterventionPlan, SchoolPlan};
use crate::model::{
    instrument::{DIMENSION_NAMES, DIMENSIONS},
    interventions::{
        Combination, DEGREES, LEADERSHIP, OTHER_COMBINATIONS, TOGETHER_COMBINATIONS,
        WORKING_TOGETHER, category_targets, deal,
    },
    random::{days, random_date, weighted},
    schools::{WaveSpec, date},
};

/// Runs only when the school ran it between the waves, by the research view's rule.
fn ran_between(start: NaiveDate, end: NaiveDate, from: &WaveSpec, to: &WaveSpec) -> bool {
    start < to.opens && end >= from.opens
}

impl Generator {
    /// The schools' interventions, in school and start order, and which ones each school ran
    /// between the waves (set on `schools`).
    pub(super) fn interventions(&mut self, schools: &mut [SchoolPlan]) -> Vec<InterventionPlan> {
        // Per school 2..5 interventions. In collaborative schools all but one (of three or
        // more) include working and learning together; in the others none does.
        let slots: Vec<(usize, bool)> = schools
            .iter()
            .enumerate()
            .flat_map(|(index, school)| {
                let count = self.rng.random_range(2..=5);
                (0..count).map(move |n| (index, school.collaborative && (count < 3 || n > 0)))
            })
            .collect();
        let together_slots = slots.iter().filter(|(_, together)| *together).count();
        let mut together = deal(&mut self.rng, &TOGETHER_COMBINATIONS, together_slots);
        let mut other = deal(
            &mut self.rng,
            &OTHER_COMBINATIONS,
            slots.len() - together_slots,
        );
        let mut interventions: Vec<InterventionPlan> = slots
            .into_iter()
            .filter_map(|(school, with_together)| {
                let dealt = if with_together {
                    together.pop()
                } else {
                    other.pop()
                };
                dealt.map(|combination| self.intervention(school, combination))
            })
            .collect();
        // One or two are abandoned.
        let abandon = if interventions.len() >= 10 { 2 } else { 1 };
        let mut order: Vec<usize> = (0..interventions.len()).collect();
        order.shuffle(&mut self.rng);
        const REASONS: [&str; 2] = [
            "Te weinig draagvlak in het team na de reorganisatie",
            "De trekker is vertrokken en niemand kon het overnemen",
        ];
        for (n, index) in order.into_iter().take(abandon).enumerate() {
            let intervention = &mut interventions[index];
            let on = intervention.starts_on + days(self.rng.random_range(45..=150));
            let rid = match &intervention.end {
                InterventionEnd::Completed { rid, .. } | InterventionEnd::Abandoned { rid, .. } => {
                    rid.clone()
                }
            };
            intervention.end = InterventionEnd::Abandoned {
                rid,
                on,
                reason: REASONS[n % REASONS.len()],
            };
        }
        // Contribution assessments, after the end.
        for intervention in &mut interventions {
            let abandoned = matches!(intervention.end, InterventionEnd::Abandoned { .. });
            let together = intervention.categories.contains(&WORKING_TOGETHER);
            let after = intervention.end.on();
            for dimension in intervention.targets.clone() {
                let weights: &[u32] = match (abandoned, together) {
                    (true, _) => &[6, 3, 1, 0],
                    (false, true) => &[1, 2, 4, 3],
                    (false, false) => &[1, 4, 4, 1],
                };
                let realised = DEGREES[weighted(&mut self.rng, weights)];
                intervention.assessments.push(AssessmentPlan {
                    rid: self.ids.next(),
                    dimension,
                    intended: true,
                    realised,
                    on: after + days(self.rng.random_range(14..=60)),
                });
            }
            // Now and then a contribution nobody intended.
            if !abandoned && self.rng.random_bool(0.2) {
                let dimension = self.rng.random_range(0..DIMENSIONS.len());
                if !intervention.targets.contains(&dimension) {
                    intervention.assessments.push(AssessmentPlan {
                        rid: self.ids.next(),
                        dimension,
                        intended: false,
                        realised: DEGREES[weighted(&mut self.rng, &[0, 3, 1, 0])],
                        on: after + days(self.rng.random_range(14..=60)),
                    });
                }
            }
        }
        // Which schools ran working and learning together (and leadership development) when.
        let waves = self.waves;
        let ran = |school: usize, category, interval: usize| {
            interventions.iter().any(|i| {
                i.school == school
                    && i.categories.contains(&category)
                    && matches!(i.end, InterventionEnd::Completed { .. })
                    && ran_between(
                        i.starts_on,
                        i.end.on(),
                        &waves[interval],
                        &waves[interval + 1],
                    )
            })
        };
        for (index, school) in schools.iter_mut().enumerate() {
            school.working_together = [0, 1].map(|interval| ran(index, WORKING_TOGETHER, interval));
            school.leadership = [0, 1].map(|interval| ran(index, LEADERSHIP, interval));
        }
        interventions.sort_by_key(|i| (i.school, i.starts_on));
        interventions
    }

    /// A school's intervention of the given combination, completed (for now).
    fn intervention(&mut self, school: usize, combination: &Combination) -> InterventionPlan {
        let title = combination
            .titles
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("Interventie");
        let mut candidates: Vec<usize> = combination
            .categories
            .iter()
            .flat_map(|category| category_targets(*category).iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        candidates.shuffle(&mut self.rng);
        let target_count = self.rng.random_range(1..=3).min(candidates.len());
        let mut targets = candidates[..target_count].to_vec();
        targets.sort_unstable();
        let level = [
            v1::InterventionLevel::School,
            v1::InterventionLevel::Team,
            v1::InterventionLevel::Section,
            v1::InterventionLevel::Network,
        ][weighted(&mut self.rng, &[7, 6, 6, 1])];
        let starts_on = random_date(&mut self.rng, date(2015, 5, 1), date(2016, 12, 31));
        let planned = self.rng.random_range(120..=400);
        let completed_on = starts_on + days((planned + self.rng.random_range(-30..=45)).max(30));
        let logged_on = starts_on - days(self.rng.random_range(14..=60));
        let description = format!(
            "{title}: bedoeld om bij te dragen aan {}.",
            targets
                .iter()
                .map(|dimension| DIMENSION_NAMES[*dimension])
                .collect::<Vec<_>>()
                .join(", ")
        );
        InterventionPlan {
            log_rid: self.ids.next(),
            school,
            title,
            description,
            categories: combination.categories.to_vec(),
            targets,
            level,
            logged_on,
            starts_on,
            planned_end_on: starts_on + days(planned),
            start_rid: self.ids.next(),
            end: InterventionEnd::Completed {
                rid: self.ids.next(),
                on: completed_on,
                notes: "Afgerond volgens plan; de opbrengst is besproken in het team.",
            },
            assessments: Vec::new(),
        }
    }
}
