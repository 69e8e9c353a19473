//! Respondents: a school's staff who may answer the scan, and their answers.

use plg_proto::v1;
use rand::{RngExt as _, rngs::StdRng, seq::SliceRandom as _};

use super::{
    DESIRED_GAP, ITEM_NOISE_SD, MISSING, MISSING_DESIRED, RESPONDENT_SD, ROLE_OFFSETS,
    instrument::Item,
    random::{normal, weighted_f64},
};

/// One member of a school's staff who may answer the scan.
pub(crate) struct Staff {
    pub(crate) pseudonym: String,
    pub(crate) role: v1::RespondentRole,
    pub(crate) offset: f64,
}

/// A school's staff who may answer: 2 school leaders, 2..4 team leaders, 2..4 support
/// staff and a pool of `teachers`, numbered in random order.
pub(crate) fn staff(rng: &mut StdRng, school: usize, teachers: usize) -> Vec<Staff> {
    let (leader, team_leader, support) = ROLE_OFFSETS;
    let mut roles = vec![(v1::RespondentRole::SchoolLeader, leader); 2];
    roles.extend(vec![
        (v1::RespondentRole::TeamLeader, team_leader);
        rng.random_range(2..=4)
    ]);
    roles.extend(vec![
        (v1::RespondentRole::SupportStaff, support);
        rng.random_range(2..=4)
    ]);
    roles.extend(vec![(v1::RespondentRole::Teacher, 0.0); teachers]);
    roles.shuffle(rng);
    roles
        .into_iter()
        .enumerate()
        .map(|(number, (role, role_offset))| Staff {
            pseudonym: format!("s{:02}-r{:03}", school + 1, number + 1),
            role,
            offset: role_offset + normal(rng, 0.0, RESPONDENT_SD),
        })
        .collect()
}

/// A respondent's answers to the `items` (of the given difficulty) at a school's `levels`,
/// with the respondent's `offset`.
pub(crate) fn answers(
    rng: &mut StdRng,
    levels: &[f64; 12],
    offset: f64,
    items: &[Item],
    difficulty: &[f64],
) -> Vec<v1::ItemAnswer> {
    let mut answers = Vec::with_capacity(items.len());
    for (item, difficulty) in items.iter().zip(difficulty) {
        if rng.random_bool(MISSING) {
            continue;
        }
        let latent = levels[item.dimension] + offset + difficulty + normal(rng, 0.0, ITEM_NOISE_SD);
        let current = latent.clamp(1.0, 5.0).round() as u32;
        let desired = (!rng.random_bool(MISSING_DESIRED)).then(|| {
            let gap = weighted_f64(rng, &DESIRED_GAP) as u32;
            (current + gap).min(5)
        });
        answers.push(v1::ItemAnswer {
            item_code: item.code.clone(),
            current: Some(current),
            desired,
        });
    }
    if answers.is_empty() {
        answers.push(v1::ItemAnswer {
            item_code: items[0].code.clone(),
            current: Some(3),
            desired: Some(4),
        });
    }
    answers
}
