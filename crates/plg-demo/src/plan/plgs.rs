//! PLGs: who forms them around which theme, their phases, members, coaches and sessions.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use plg_proto::v1;
use rand::{RngExt as _, seq::IndexedRandom as _};

use super::{Generator, PlgAction, PlgPlan, PlgStep, SchoolPlan, SessionPlan};
use crate::model::{
    random::{days, random_date},
    schools::date,
    texts::{AGREEMENTS, GOALS, METHODS, THEMES, Theme, VLG_THEME},
};

impl Generator {
    /// The PLGs: one to three per school and one cross-school VLG, a few dissolved.
    pub(super) fn plgs(&mut self, schools: &[SchoolPlan], coaches: &[usize]) -> Vec<PlgPlan> {
        struct Draft {
            schools: Vec<usize>,
            kind: v1::PlgKind,
            theme: &'static Theme,
            members: Vec<usize>,
            pool: Vec<usize>,
        }
        let mut drafts = Vec::new();
        for (index, school) in schools.iter().enumerate() {
            let staff = &school.persons[1..];
            let count = self.rng.random_range(1..=3);
            for theme in THEMES.sample(&mut self.rng, count) {
                let size = self.rng.random_range(4..=6);
                let members = staff.sample(&mut self.rng, size).copied().collect();
                drafts.push(Draft {
                    schools: vec![index],
                    kind: v1::PlgKind::School,
                    theme,
                    members,
                    pool: staff.to_vec(),
                });
            }
        }
        // One cross-school VLG of three schools: Flemish secondary schools where there are three.
        let flemish: Vec<usize> = schools
            .iter()
            .enumerate()
            .filter(|(_, s)| s.country == v1::Country::Be && s.sector == v1::Sector::Secondary)
            .map(|(index, _)| index)
            .collect();
        let vlg_schools = if flemish.len() >= 3 {
            flemish[..3].to_vec()
        } else {
            vec![0, 1, 2]
        };
        let mut members = Vec::new();
        let mut pool = Vec::new();
        for &school in &vlg_schools {
            let staff = &schools[school].persons[1..];
            members.extend(staff.sample(&mut self.rng, 2).copied());
            pool.extend_from_slice(staff);
        }
        drafts.push(Draft {
            schools: vlg_schools,
            kind: v1::PlgKind::CrossSchool,
            theme: &VLG_THEME,
            members,
            pool,
        });
        let dissolve_count = if drafts.len() >= 4 { 2 } else { 1 };
        let dissolved: BTreeSet<usize> =
            rand::seq::index::sample(&mut self.rng, drafts.len(), dissolve_count)
                .into_iter()
                .collect();
        drafts
            .into_iter()
            .enumerate()
            .map(|(index, draft)| {
                let coach = coaches.choose(&mut self.rng).copied().unwrap_or_default();
                self.plg(
                    draft.schools,
                    draft.kind,
                    draft.theme,
                    draft.members,
                    &draft.pool,
                    coach,
                    dissolved.contains(&index),
                )
            })
            .collect()
    }

    /// One PLG's history, its steps in date order.
    #[allow(clippy::too_many_arguments)]
    fn plg(
        &mut self,
        schools: Vec<usize>,
        kind: v1::PlgKind,
        theme: &'static Theme,
        members: Vec<usize>,
        pool: &[usize],
        coach: usize,
        dissolve: bool,
    ) -> PlgPlan {
        let form_rid = self.ids.next();
        let formed_on = random_date(&mut self.rng, date(2015, 5, 1), date(2016, 9, 30));
        let mut actions: Vec<(NaiveDate, PlgAction)> =
            vec![(formed_on, PlgAction::AssignCoach { coach })];
        // Schelfhout's phases, in order.
        let mut reached = formed_on;
        let mut choosing_themes = formed_on;
        for (phase, gap) in [
            (v1::PlgPhase::EngagingSchoolLeaders, 0..=0),
            (v1::PlgPhase::MotivatingTeachers, 20..=60),
            (v1::PlgPhase::ChoosingThemes, 40..=80),
            (v1::PlgPhase::LearningToDevelopTogether, 90..=150),
            (v1::PlgPhase::StableOperation, 120..=200),
        ] {
            if phase == v1::PlgPhase::StableOperation && !self.rng.random_bool(0.8) {
                break;
            }
            reached += days(self.rng.random_range(gap));
            if phase == v1::PlgPhase::ChoosingThemes {
                choosing_themes = reached;
            }
            actions.push((reached, PlgAction::Phase(phase)));
        }
        if self.rng.random_bool(0.5) {
            actions.push((
                choosing_themes,
                PlgAction::Refine {
                    question: theme.refined,
                },
            ));
        }
        let end = formed_on + days(self.rng.random_range(540..=720));
        // A member joins later now and then.
        let mut joined: Vec<(usize, NaiveDate)> =
            members.iter().map(|member| (*member, formed_on)).collect();
        if self.rng.random_bool(0.3) {
            let outsiders: Vec<usize> = pool
                .iter()
                .copied()
                .filter(|person| !members.contains(person))
                .collect();
            if let Some(person) = outsiders.choose(&mut self.rng).copied() {
                let on = formed_on + days(self.rng.random_range(60..=300));
                joined.push((person, on));
                actions.push((on, PlgAction::AddMember { person }));
            }
        }
        // The external coach hands over to a member about a year later, in most PLGs.
        let handover = self.rng.random_bool(0.75).then(|| {
            let on = formed_on + days(self.rng.random_range(330..=420));
            let to = members.choose(&mut self.rng).copied().unwrap_or_default();
            (on, to)
        });
        if let Some((on, to)) = handover {
            actions.push((on, PlgAction::HandOver { from: coach, to }));
        }
        // Sessions spread over the PLG's active period.
        let count = self.rng.random_range(4..=10);
        let mut dates = BTreeSet::new();
        while dates.len() < count {
            dates.insert(random_date(&mut self.rng, formed_on + days(7), end));
        }
        let dates: Vec<NaiveDate> = dates.into_iter().collect();
        let last = dates.len().saturating_sub(1).max(1) as f64;
        for (n, on) in dates.iter().copied().enumerate() {
            let progress = n as f64 / last;
            let facilitator = match handover {
                Some((handed_over_on, internal)) if on >= handed_over_on => internal,
                _ => coach,
            };
            let session = self.session(progress, on, &joined, facilitator, theme);
            actions.push((on, PlgAction::Session(Box::new(session))));
        }
        if dissolve {
            let last = actions.iter().map(|(on, _)| *on).max().unwrap_or(formed_on);
            actions.push((
                last + days(self.rng.random_range(14..=45)),
                PlgAction::Dissolve,
            ));
        }
        actions.sort_by_key(|(on, action)| (*on, action.rank()));
        let steps = actions
            .into_iter()
            .map(|(on, action)| PlgStep {
                rid: self.ids.next(),
                on,
                action,
            })
            .collect();
        PlgPlan {
            form_rid,
            name: theme.name.to_owned(),
            schools,
            kind,
            need: theme.need,
            question: theme.question,
            members,
            formed_on,
            steps,
        }
    }

    /// A PLG session `progress` of the way through its sessions (0 to 1).
    fn session(
        &mut self,
        progress: f64,
        on: NaiveDate,
        joined: &[(usize, NaiveDate)],
        facilitator: usize,
        theme: &'static Theme,
    ) -> SessionPlan {
        let rng = &mut self.rng;
        let attendance = joined
            .iter()
            .filter(|(_, since)| *since <= on)
            .map(|(person, _)| (*person, rng.random_bool(0.85)))
            .collect();
        let mut theme_phases = Vec::new();
        if progress < 0.34 {
            theme_phases.push(v1::ThemePhase::Explore);
        } else if progress < 0.67 {
            if rng.random_bool(0.3) {
                theme_phases.push(v1::ThemePhase::Explore);
            }
            theme_phases.push(v1::ThemePhase::Condense);
        } else {
            if rng.random_bool(0.4) {
                theme_phases.push(v1::ThemePhase::Condense);
            }
            theme_phases.push(v1::ThemePhase::Product);
        }
        let producing = theme_phases.contains(&v1::ThemePhase::Product);
        let goal_count = rng.random_range(1..=3);
        let picked: Vec<&'static str> = GOALS.sample(rng, goal_count).copied().collect();
        let goals = picked
            .into_iter()
            .map(|goal| (goal, rng.random_bool(0.7)))
            .collect();
        let method_count = rng.random_range(1..=2);
        let methods = METHODS.sample(rng, method_count).copied().collect();
        let agreement_count = rng.random_range(1..=2);
        let agreements = AGREEMENTS.sample(rng, agreement_count).copied().collect();
        SessionPlan {
            minutes: [60, 75, 90, 90, 120].choose(rng).copied().unwrap_or(90),
            attendance,
            facilitator,
            theme_phases,
            goals,
            check_in: rng.random_bool(0.95),
            check_out: rng.random_bool(0.9),
            methods,
            product: (producing && (progress >= 1.0 || rng.random_bool(0.5)))
                .then_some(theme.product),
            external_input: rng.random_bool(0.2).then_some(if producing {
                "Feedback van een expert van de lerarenopleiding op het concept"
            } else {
                "Inbreng van een onderwijsadviseur over wat de literatuur zegt"
            }),
            agreements,
        }
    }
}
