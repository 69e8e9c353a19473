//! Development plans: each school's plan revisions and reflection conversations.

use rand::{RngExt as _, rngs::StdRng, seq::IndexedRandom as _};

use super::{DevPlanStep, Generator, SchoolPlan};
use crate::model::{
    instrument::{DIMENSION_NAMES, ELEMENTS},
    random::random_date,
    schools::date,
    texts::{AGREEMENTS, PLAN_CHOICES},
};

impl Generator {
    /// A school's development plan revisions and reflection conversations, in date order.
    pub(super) fn devplan(&mut self, index: usize, schools: &[SchoolPlan]) -> Vec<DevPlanStep> {
        let school = &schools[index];
        let weakest = |levels: &[f64; 12]| {
            ELEMENTS
                .min_by(|a, b| levels[*a].total_cmp(&levels[*b]))
                .map_or("", |element| DIMENSION_NAMES[element])
        };
        let choices = |rng: &mut StdRng| {
            PLAN_CHOICES
                .sample(rng, 3)
                .map(|choice| (*choice).to_owned())
                .collect::<Vec<_>>()
        };
        let participants = |rng: &mut StdRng| {
            let mut chosen = vec![school.persons[0]];
            let others = rng.random_range(1..=2);
            chosen.extend(school.persons[1..].sample(rng, others).copied());
            chosen
        };
        let mut steps = vec![DevPlanStep::Revise {
            rid: self.ids.next(),
            school: index,
            on: random_date(&mut self.rng, date(2015, 6, 1), date(2015, 6, 30)),
            summary: format!(
                "Ontwikkelplan {}: de school als professionele leergemeenschap. Na de eerste scan \
                 (T1) werken we vooral aan {}.",
                school.name,
                weakest(&school.levels[0])
            ),
            choices: choices(&mut self.rng),
            rationale: String::new(),
        }];
        let reflection = |generator: &mut Self, year: i32, from: (u32, u32), to: (u32, u32)| {
            DevPlanStep::Reflect {
                rid: generator.ids.next(),
                school: index,
                on: random_date(
                    &mut generator.rng,
                    date(year, from.0, from.1),
                    date(year, to.0, to.1),
                ),
                participants: participants(&mut generator.rng),
                summary: format!(
                    "Reflectiegesprek {year}: de scanresultaten, de lopende interventies en de \
                     leerteams besproken met de schoolleiding."
                ),
                agreements: AGREEMENTS
                    .sample(&mut generator.rng, 2)
                    .map(|agreement| (*agreement).to_owned())
                    .collect(),
            }
        };
        steps.push(reflection(self, 2015, (10, 1), (11, 30)));
        steps.push(DevPlanStep::Revise {
            rid: self.ids.next(),
            school: index,
            on: random_date(&mut self.rng, date(2016, 6, 1), date(2016, 6, 30)),
            summary: format!(
                "Bijgesteld ontwikkelplan {}: meer ruimte voor samen leren in leerteams.",
                school.name
            ),
            choices: choices(&mut self.rng),
            rationale: format!(
                "De tweede scan (T2) laat zien dat {} achterblijft; daarom verleggen we de focus.",
                weakest(&school.levels[1])
            ),
        });
        steps.push(reflection(self, 2016, (10, 1), (11, 30)));
        steps.push(reflection(self, 2017, (5, 15), (6, 30)));
        steps
    }
}
