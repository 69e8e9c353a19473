//! The schools, with their codes and staff.

use std::collections::BTreeSet;

use plg_proto::v1;
use rand::{RngExt as _, rngs::StdRng, seq::SliceRandom as _};

use super::{Generator, PersonPlan, SchoolPlan};
use crate::model::{
    COLLABORATIVE_SHARE,
    people::person_name,
    random::random_date,
    schools::{SCHOOLS, date},
};

impl Generator {
    /// The schools and their staff (added to `persons`), the school leader first.
    pub(super) fn schools(&mut self, persons: &mut Vec<PersonPlan>) -> Vec<SchoolPlan> {
        let mut codes = BTreeSet::new();
        let collaborative_count = (self.size.schools as f64 * COLLABORATIVE_SHARE).round() as usize;
        let mut collaborative: Vec<bool> = (0..self.size.schools)
            .map(|index| index < collaborative_count)
            .collect();
        collaborative.shuffle(&mut self.rng);
        let mut schools = Vec::new();
        for (index, spec) in SCHOOLS.iter().take(self.size.schools).enumerate() {
            let code = loop {
                let code = match spec.country {
                    v1::Country::Be => format!("{:06}", self.rng.random_range(10_000..=130_000)),
                    _ => {
                        let letter =
                            |rng: &mut StdRng| char::from(b'A' + rng.random_range(0..26u8));
                        let digits = self.rng.random_range(0..100);
                        let first = letter(&mut self.rng);
                        let second = letter(&mut self.rng);
                        format!("{digits:02}{first}{second}")
                    }
                };
                if codes.insert(code.clone()) {
                    break code;
                }
            };
            let mut staff = Vec::new();
            let mut names = BTreeSet::new();
            for position in 0..13 {
                let name = loop {
                    let name = person_name(&mut self.rng, spec.country);
                    if names.insert(name.clone()) {
                        break name;
                    }
                };
                let email = if position == 0 || self.rng.random_bool(0.3) {
                    format!(
                        "{}@example.org",
                        name.to_lowercase()
                            .replace(' ', ".")
                            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "")
                    )
                } else {
                    String::new()
                };
                persons.push(PersonPlan {
                    rid: self.ids.next(),
                    name,
                    email,
                    registered_on: random_date(&mut self.rng, date(2015, 1, 5), date(2015, 4, 30)),
                });
                staff.push(persons.len() - 1);
            }
            schools.push(SchoolPlan {
                register_rid: self.ids.next(),
                enrol_rid: self.ids.next(),
                name: spec.name,
                country: spec.country,
                sector: spec.sector,
                code,
                board: spec.board,
                levels: [[0.0; 12]; 3],
                working_together: [false; 2],
                leadership: [false; 2],
                collaborative: collaborative[index],
                persons: staff,
            });
        }
        schools
    }
}
