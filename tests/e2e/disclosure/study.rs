//! The study under attack: who answered what, as the scan tool knows it.

use std::collections::BTreeMap;

use crate::kit::{Clients, day, days_ago, options, school_code};
use plg_proto::v1;

pub const MIN: usize = 5;
/// Label, opens and closes (days from today), and when its respondents answered (days ago).
pub const WAVES: [(&str, i64, i64, u64); 3] = [
    ("T1", -400, -300, 350),
    ("T2", -200, -100, 150),
    ("T3", -30, -1, 1),
];
pub const ROLES: [(v1::RespondentRole, &str); 4] = [
    (v1::RespondentRole::Teacher, "teacher"),
    (v1::RespondentRole::SchoolLeader, "school_leader"),
    (v1::RespondentRole::TeamLeader, "team_leader"),
    (v1::RespondentRole::SupportStaff, "support_staff"),
];
pub const CODES: [&str; 12] = [
    "E1", "E2", "E3", "E4", "E5", "C1", "C2", "C3", "C4", "C5", "C6", "C7",
];
/// Respondents per role (as in [`ROLES`]) of each school in each wave.
pub const SCHOOLS: [[[usize; 4]; 3]; 8] = [
    [[20, 1, 3, 2], [18, 2, 5, 0], [22, 1, 0, 6]],
    // A lone respondent in T1: the one school hidden there.
    [[1, 0, 0, 0], [12, 1, 1, 1], [10, 0, 0, 0]],
    // T1: one of five skips E2. T2: only three give a desired situation.
    [[5, 0, 0, 0], [8, 2, 0, 0], [6, 0, 0, 0]],
    // T1: the school leader skips C3, the support staff answer it.
    [[15, 1, 0, 4], [15, 1, 0, 4], [14, 0, 0, 0]],
    // School leaders hidden in T1 and T2, shown in T3: the same people.
    [[30, 3, 6, 5], [28, 3, 6, 6], [25, 5, 5, 5]],
    // T1: two of six school leaders give no desired situation.
    [[9, 6, 0, 0], [0, 0, 0, 0], [11, 0, 0, 0]],
    [[7, 1, 0, 0], [2, 0, 0, 0], [12, 3, 2, 0]],
    [[40, 4, 4, 4], [35, 4, 5, 4], [30, 2, 2, 2]],
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    Current,
    Desired,
}

pub const MEASURES: [Measure; 2] = [Measure::Current, Measure::Desired];

/// A respondent as the scan tool knows them: the ground truth the attacker is after.
#[derive(Debug, Clone)]
pub struct Truth {
    pub school: usize,
    pub wave: usize,
    pub pseudonym: String,
    pub role: usize,
    /// Item code → (current, desired).
    pub answers: BTreeMap<String, (u32, Option<u32>)>,
}

impl Truth {
    pub fn score(&self, code: &str, measure: Measure) -> Option<f64> {
        let values: Vec<f64> = self
            .answers
            .iter()
            .filter(|(item, _)| item.split('.').next() == Some(code))
            .filter_map(|(_, (current, desired))| match measure {
                Measure::Current => Some(f64::from(*current)),
                Measure::Desired => desired.map(f64::from),
            })
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// xorshift64: reproducible answers without a dependency.
pub struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub fn generate() -> Vec<Truth> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut truths = Vec::new();
    for (school, waves) in SCHOOLS.iter().enumerate() {
        let climate: Vec<u64> = CODES.iter().map(|_| 1 + rng.below(3)).collect();
        for (wave, roles) in waves.iter().enumerate() {
            let mut in_wave = 0;
            for (role, count) in roles.iter().enumerate() {
                for index in 0..*count {
                    let scripted_skip = |code: &str| {
                        (school, wave, role, index, code) == (2, 0, 0, 0, "E2")
                            || (school, wave, role, code) == (3, 0, 1, "C3")
                    };
                    let no_desired = (school == 5 && wave == 0 && role == 1 && index < 2)
                        || (school == 2 && wave == 1 && in_wave >= 3);
                    let mut answers = BTreeMap::new();
                    for (dimension, code) in CODES.iter().enumerate() {
                        if scripted_skip(code) || rng.chance(3) {
                            continue;
                        }
                        let desired_given = !no_desired && rng.chance(90);
                        for item in 1..=2 {
                            // T3's C7 has no variance at all: the ICC is undefined there.
                            let current = if wave == 2 && *code == "C7" {
                                3
                            } else {
                                (climate[dimension] + rng.below(3)).min(5) as u32
                            };
                            let desired = desired_given.then(|| (current + 1).min(5));
                            answers.insert(format!("{code}.{item}"), (current, desired));
                        }
                    }
                    truths.push(Truth {
                        school,
                        wave,
                        pseudonym: format!("s{school}-{}-{index:02}", ROLES[role].1),
                        role,
                        answers,
                    });
                    in_wave += 1;
                }
            }
        }
    }
    truths
}

pub fn label(school: usize) -> String {
    format!("S{:02}", school + 1)
}

pub fn code_of(dimension: i32) -> &'static str {
    let index = if dimension <= 5 {
        dimension - 1
    } else {
        dimension - 11 + 5
    };
    CODES[usize::try_from(index).expect("a dimension")]
}

pub fn role_of(role: i32) -> Option<usize> {
    ROLES.iter().position(|(r, _)| i32::from(*r) == role)
}

/// The study, loaded through the scan tool's API; returns its id and its schools' ids. Its
/// waves have closed but are not released yet.
pub async fn load(
    clients: &mut Clients,
    truths: &[Truth],
) -> anyhow::Result<(String, Vec<String>)> {
    let study_id = clients
        .registry
        .define_study(v1::DefineStudyRequest {
            options: options(),
            title: "Disclosure".into(),
            description: String::new(),
            waves: WAVES
                .iter()
                .map(|(label, opens, closes, _)| v1::Wave {
                    label: (*label).into(),
                    opens_on: day(*opens),
                    closes_on: day(*closes),
                })
                .collect(),
            min_group_size: Some(MIN as u32),
            identify_schools: false,
        })
        .await?
        .into_inner()
        .study_id;
    let mut schools = Vec::new();
    for school in 0..SCHOOLS.len() {
        let school_id = clients
            .registry
            .register_school(v1::RegisterSchoolRequest {
                options: options(),
                name: format!("School {school}"),
                country: v1::Country::Nl.into(),
                sector: v1::Sector::Secondary.into(),
                school_code: school_code(),
                board: String::new(),
            })
            .await?
            .into_inner()
            .school_id;
        clients.enrol(&study_id, &school_id).await?;
        schools.push(school_id);
    }
    for (index, truth) in truths.iter().enumerate() {
        let mut write_options = options();
        if let Some(options) = write_options.as_mut() {
            options.occurred_at = days_ago(WAVES[truth.wave].3);
            options.wait_for_research_view = index + 1 == truths.len();
        }
        clients
            .scans
            .submit_scan(v1::SubmitScanRequest {
                options: write_options,
                study_id: study_id.clone(),
                school_id: schools[truth.school].clone(),
                wave: WAVES[truth.wave].0.into(),
                respondent: truth.pseudonym.clone(),
                role: ROLES[truth.role].0.into(),
                answers: truth
                    .answers
                    .iter()
                    .map(|(code, (current, desired))| v1::ItemAnswer {
                        item_code: code.clone(),
                        current: Some(*current),
                        desired: *desired,
                    })
                    .collect(),
                instrument_version: String::new(),
            })
            .await?;
    }
    Ok((study_id, schools))
}

/// Releases every wave to researchers, waiting for the view to show them.
pub async fn release(clients: &mut Clients, study_id: &str) -> anyhow::Result<()> {
    for (wave, ..) in WAVES {
        clients.release_wave(study_id, wave).await?;
    }
    Ok(())
}
