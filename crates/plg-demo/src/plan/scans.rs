//! Scans: who answers in each wave and when, and the corrections that follow.

use plg_proto::v1;
use rand::{RngExt as _, seq::IndexedRandom as _};

use super::{Generator, RetractionPlan, ScanPlan, SchoolPlan};
use crate::model::{
    instrument::Item,
    random::days,
    respondents::{self, Staff},
};

impl Generator {
    /// Every wave's scans of every school's staff, school by school, wave by wave.
    pub(super) fn scans(
        &mut self,
        schools: &[SchoolPlan],
        items: &[Item],
        difficulty: &[f64],
    ) -> Vec<ScanPlan> {
        let mut scans = Vec::new();
        for (index, school) in schools.iter().enumerate() {
            let staff =
                respondents::staff(&mut self.rng, index, self.size.max_respondents as usize);
            for (wave, spec) in self.waves.into_iter().enumerate() {
                let wanted = self
                    .rng
                    .random_range(self.size.min_respondents..=self.size.max_respondents)
                    as usize;
                let mut answering: Vec<&Staff> = Vec::new();
                for member in staff
                    .iter()
                    .filter(|member| member.role != v1::RespondentRole::Teacher)
                {
                    if member.role == v1::RespondentRole::SchoolLeader || self.rng.random_bool(0.9)
                    {
                        answering.push(member);
                    }
                }
                let teachers: Vec<&Staff> = staff
                    .iter()
                    .filter(|member| member.role == v1::RespondentRole::Teacher)
                    .collect();
                let needed = wanted
                    .saturating_sub(answering.len())
                    .clamp(3, teachers.len());
                answering.extend(teachers.sample(&mut self.rng, needed).copied());
                answering.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym));
                let span = (spec.closes - spec.opens).num_days() as f64;
                for member in answering {
                    // Most answer early in the window.
                    let day = (span * self.rng.random::<f64>().powf(1.6)).floor() as i64;
                    let answers = respondents::answers(
                        &mut self.rng,
                        &school.levels[wave],
                        member.offset,
                        items,
                        difficulty,
                    );
                    scans.push(ScanPlan {
                        rid: self.ids.next(),
                        school: index,
                        wave,
                        respondent: member.pseudonym.clone(),
                        role: member.role,
                        on: spec.opens + days(day),
                        answers,
                    });
                }
            }
        }
        scans
    }

    /// A handful of resubmissions (a respondent corrects a few answers a few days later) and
    /// one or two retractions.
    pub(super) fn corrections(
        &mut self,
        scans: &[ScanPlan],
        items: &[Item],
    ) -> (Vec<ScanPlan>, Vec<RetractionPlan>) {
        let resubmit = (scans.len() / 300).max(2);
        let retract = 2;
        let chosen: Vec<usize> =
            rand::seq::index::sample(&mut self.rng, scans.len(), resubmit + retract).into_vec();
        let mut resubmissions = Vec::new();
        for &index in &chosen[..resubmit] {
            let original = &scans[index];
            let closes = self.waves[original.wave].closes;
            let mut answers = original.answers.clone();
            for _ in 0..self.rng.random_range(2..=5) {
                let position = self.rng.random_range(0..answers.len());
                let answer = &mut answers[position];
                let current = answer.current.unwrap_or(3);
                let changed = if self.rng.random_bool(0.5) {
                    current.saturating_sub(1).max(1)
                } else {
                    (current + 1).min(5)
                };
                answer.current = Some(changed);
                answer.desired = answer.desired.map(|desired| desired.max(changed));
            }
            // A forgotten item answered after all.
            if let Some(missing) = items
                .iter()
                .find(|item| answers.iter().all(|answer| answer.item_code != item.code))
            {
                answers.push(v1::ItemAnswer {
                    item_code: missing.code.clone(),
                    current: Some(3),
                    desired: Some(4),
                });
            }
            resubmissions.push(ScanPlan {
                rid: self.ids.next(),
                answers,
                on: (original.on + days(self.rng.random_range(1..=10))).min(closes),
                ..original.clone()
            });
        }
        const REASONS: [&str; 2] = [
            "De respondent trok de deelname in",
            "Ingevuld voor de verkeerde school",
        ];
        let retractions = chosen[resubmit..]
            .iter()
            .enumerate()
            .map(|(n, &scan)| {
                let original = &scans[scan];
                RetractionPlan {
                    rid: self.ids.next(),
                    scan,
                    on: (original.on + days(self.rng.random_range(2..=20)))
                        .min(self.waves[original.wave].closes),
                    reason: REASONS[n % REASONS.len()],
                }
            })
            .collect();
        (resubmissions, retractions)
    }
}
