//! What calls to make, in which order, with which request ids: everything the load writes,
//! generated from the seed before the first write. The same seed and size give the same plan.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use plg_proto::v1;
use rand::{SeedableRng as _, rngs::StdRng};

use crate::{
    DemoSize, DemoSummary,
    model::{
        ITEM_DIFFICULTY_SD,
        instrument::Item,
        levels::levels,
        people::COACHES,
        random::normal,
        schools::{WaveSpec, date, waves},
    },
};

mod devplans;
mod interventions;
mod plgs;
mod scans;
mod schools;
#[cfg(test)]
mod tests;

/// Mixes the seed and the size into the generator's seed, so different sizes of one seed make
/// different schools (and never collide on school codes).
fn generator_seed(seed: u64, size: DemoSize) -> u64 {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    for part in [
        size.schools as u64,
        u64::from(size.min_respondents),
        u64::from(size.max_respondents),
    ] {
        state = (state ^ part).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        state ^= state >> 31;
    }
    if size == DemoSize::FULL { seed } else { state }
}

/// Request ids derived from the seed, the size and a counter.
#[derive(Debug)]
struct RequestIds {
    prefix: String,
    next: u64,
}

impl RequestIds {
    fn new(seed: u64, size: DemoSize) -> Self {
        Self {
            prefix: format!("demo-{seed}-{}", size.tag()),
            next: 0,
        }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("{}-{:06}", self.prefix, self.next)
    }
}

/// Everything a load writes, each write with its request id. The load writes the schools, the
/// study and the persons first, then the scans, interventions, development plans and PLGs side
/// by side, and releases the waves last.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) seed: u64,
    pub(crate) schools: Vec<SchoolPlan>,
    pub(crate) study_rid: String,
    pub(crate) persons: Vec<PersonPlan>,
    pub(crate) scans: Vec<ScanPlan>,
    pub(crate) resubmissions: Vec<ScanPlan>,
    pub(crate) retractions: Vec<RetractionPlan>,
    pub(crate) interventions: Vec<InterventionPlan>,
    pub(crate) devplans: Vec<Vec<DevPlanStep>>,
    pub(crate) plgs: Vec<PlgPlan>,
    /// One per wave, released once everything is written.
    pub(crate) release_rids: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct SchoolPlan {
    pub(crate) register_rid: String,
    pub(crate) enrol_rid: String,
    pub(crate) name: &'static str,
    pub(crate) country: v1::Country,
    pub(crate) sector: v1::Sector,
    pub(crate) code: String,
    pub(crate) board: &'static str,
    /// Latent levels per wave and dimension.
    pub(crate) levels: [[f64; 12]; 3],
    /// Whether a working-and-learning-together intervention ran in each interval.
    pub(crate) working_together: [bool; 2],
    /// Whether a leadership-development intervention ran in each interval.
    pub(crate) leadership: [bool; 2],
    pub(crate) collaborative: bool,
    /// Persons (indices into `Plan::persons`): the school leader first, then staff.
    pub(crate) persons: Vec<usize>,
}

#[derive(Debug)]
pub(crate) struct PersonPlan {
    pub(crate) rid: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) registered_on: NaiveDate,
}

#[derive(Debug, Clone)]
pub(crate) struct ScanPlan {
    pub(crate) rid: String,
    pub(crate) school: usize,
    pub(crate) wave: usize,
    pub(crate) respondent: String,
    pub(crate) role: v1::RespondentRole,
    pub(crate) on: NaiveDate,
    pub(crate) answers: Vec<v1::ItemAnswer>,
}

#[derive(Debug)]
pub(crate) struct RetractionPlan {
    pub(crate) rid: String,
    /// Index into `Plan::scans`.
    pub(crate) scan: usize,
    pub(crate) on: NaiveDate,
    pub(crate) reason: &'static str,
}

#[derive(Debug)]
pub(crate) struct InterventionPlan {
    pub(crate) log_rid: String,
    pub(crate) school: usize,
    pub(crate) title: &'static str,
    pub(crate) description: String,
    pub(crate) categories: Vec<v1::InterventionCategory>,
    pub(crate) targets: Vec<usize>,
    pub(crate) level: v1::InterventionLevel,
    pub(crate) logged_on: NaiveDate,
    pub(crate) starts_on: NaiveDate,
    pub(crate) planned_end_on: NaiveDate,
    pub(crate) start_rid: String,
    pub(crate) end: InterventionEnd,
    pub(crate) assessments: Vec<AssessmentPlan>,
}

#[derive(Debug)]
pub(crate) enum InterventionEnd {
    Completed {
        rid: String,
        on: NaiveDate,
        notes: &'static str,
    },
    Abandoned {
        rid: String,
        on: NaiveDate,
        reason: &'static str,
    },
}

impl InterventionEnd {
    fn on(&self) -> NaiveDate {
        match self {
            Self::Completed { on, .. } | Self::Abandoned { on, .. } => *on,
        }
    }
}

#[derive(Debug)]
pub(crate) struct AssessmentPlan {
    pub(crate) rid: String,
    pub(crate) dimension: usize,
    pub(crate) intended: bool,
    pub(crate) realised: v1::ContributionDegree,
    pub(crate) on: NaiveDate,
}

#[derive(Debug)]
pub(crate) enum DevPlanStep {
    Revise {
        rid: String,
        school: usize,
        on: NaiveDate,
        summary: String,
        choices: Vec<String>,
        rationale: String,
    },
    Reflect {
        rid: String,
        school: usize,
        on: NaiveDate,
        participants: Vec<usize>,
        summary: String,
        agreements: Vec<String>,
    },
}

#[derive(Debug)]
pub(crate) struct PlgPlan {
    pub(crate) form_rid: String,
    pub(crate) schools: Vec<usize>,
    pub(crate) kind: v1::PlgKind,
    pub(crate) name: String,
    pub(crate) need: &'static str,
    pub(crate) question: &'static str,
    pub(crate) members: Vec<usize>,
    pub(crate) formed_on: NaiveDate,
    pub(crate) steps: Vec<PlgStep>,
}

#[derive(Debug)]
pub(crate) struct PlgStep {
    pub(crate) rid: String,
    pub(crate) on: NaiveDate,
    pub(crate) action: PlgAction,
}

#[derive(Debug)]
pub(crate) enum PlgAction {
    AssignCoach { coach: usize },
    Phase(v1::PlgPhase),
    AddMember { person: usize },
    Refine { question: &'static str },
    Session(Box<SessionPlan>),
    HandOver { from: usize, to: usize },
    Dissolve,
}

impl PlgAction {
    /// The order of actions on the same day.
    fn rank(&self) -> u8 {
        match self {
            Self::AssignCoach { .. } => 0,
            Self::Phase(_) => 1,
            Self::AddMember { .. } => 2,
            Self::Refine { .. } => 3,
            Self::Session(_) => 4,
            Self::HandOver { .. } => 5,
            Self::Dissolve => 9,
        }
    }
}

#[derive(Debug)]
pub(crate) struct SessionPlan {
    pub(crate) minutes: u32,
    pub(crate) attendance: Vec<(usize, bool)>,
    pub(crate) facilitator: usize,
    pub(crate) theme_phases: Vec<v1::ThemePhase>,
    pub(crate) goals: Vec<(&'static str, bool)>,
    pub(crate) check_in: bool,
    pub(crate) check_out: bool,
    pub(crate) methods: Vec<&'static str>,
    pub(crate) product: Option<&'static str>,
    pub(crate) external_input: Option<&'static str>,
    pub(crate) agreements: Vec<&'static str>,
}

/// Draws the plan: every random draw and request id in the order earlier builds drew them.
struct Generator {
    rng: StdRng,
    ids: RequestIds,
    size: DemoSize,
    waves: [WaveSpec; 3],
}

impl Plan {
    /// The plan for a seed and size, answering `items`.
    pub(crate) fn generate(seed: u64, size: DemoSize, items: &[Item]) -> Self {
        let mut generator = Generator {
            rng: StdRng::seed_from_u64(generator_seed(seed, size)),
            ids: RequestIds::new(seed, size),
            size,
            waves: waves(),
        };
        generator.plan(seed, items)
    }

    /// What loading the plan wrote, with `writes` sent of which the server `replayed` some.
    pub(crate) fn summary(&self, study_id: String, writes: u64, replayed: u64) -> DemoSummary {
        let respondents: BTreeSet<&str> = self
            .scans
            .iter()
            .map(|scan| scan.respondent.as_str())
            .collect();
        let steps = || self.plgs.iter().flat_map(|plg| &plg.steps);
        let count_steps =
            |matches: fn(&PlgAction) -> bool| steps().filter(|step| matches(&step.action)).count();
        let devplan_steps = || self.devplans.iter().flatten();
        DemoSummary {
            seed: self.seed,
            study_id,
            schools: self.schools.len(),
            respondents: respondents.len(),
            scans: self.scans.len() + self.resubmissions.len(),
            resubmissions: self.resubmissions.len(),
            retractions: self.retractions.len(),
            interventions: self.interventions.len(),
            abandoned_interventions: self
                .interventions
                .iter()
                .filter(|i| matches!(i.end, InterventionEnd::Abandoned { .. }))
                .count(),
            persons: self.persons.len(),
            plgs: self.plgs.len(),
            dissolved_plgs: count_steps(|action| matches!(action, PlgAction::Dissolve)),
            sessions: count_steps(|action| matches!(action, PlgAction::Session(_))),
            handovers: count_steps(|action| matches!(action, PlgAction::HandOver { .. })),
            plan_revisions: devplan_steps()
                .filter(|step| matches!(step, DevPlanStep::Revise { .. }))
                .count(),
            reflections: devplan_steps()
                .filter(|step| matches!(step, DevPlanStep::Reflect { .. }))
                .count(),
            writes,
            replayed,
        }
    }
}

impl Generator {
    fn plan(&mut self, seed: u64, items: &[Item]) -> Plan {
        let mut persons = Vec::new();
        let coaches: Vec<usize> = COACHES
            .iter()
            .map(|(name, email)| {
                persons.push(PersonPlan {
                    rid: self.ids.next(),
                    name: (*name).to_owned(),
                    email: (*email).to_owned(),
                    registered_on: date(2015, 1, 15),
                });
                persons.len() - 1
            })
            .collect();
        let study_rid = self.ids.next();
        let mut schools = self.schools(&mut persons);
        let interventions = self.interventions(&mut schools);
        for school in &mut schools {
            school.levels = levels(&mut self.rng, school.working_together, school.leadership);
        }
        let item_difficulty: Vec<f64> = items
            .iter()
            .map(|_| normal(&mut self.rng, 0.0, ITEM_DIFFICULTY_SD))
            .collect();
        let scans = self.scans(&schools, items, &item_difficulty);
        let (resubmissions, retractions) = self.corrections(&scans, items);
        let devplans = (0..schools.len())
            .map(|school| self.devplan(school, &schools))
            .collect();
        let plgs = self.plgs(&schools, &coaches);
        // Drawn last, so the other request ids stay what earlier builds drew.
        let release_rids = waves().iter().map(|_| self.ids.next()).collect();
        Plan {
            seed,
            schools,
            study_rid,
            persons,
            scans,
            resubmissions,
            retractions,
            interventions,
            devplans,
            plgs,
            release_rids,
        }
    }
}
