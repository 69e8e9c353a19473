//! Statistics across schools must be functions of the shown cells alone.

use std::collections::BTreeMap;

use plg_proto::v1;

use super::{
    replies::{CellKey, Replies, close, mean_sd, part},
    study::{Measure, SCHOOLS, WAVES, code_of, label},
};

/// ICC(1) and ICC(2) from cells' n, mean and SD (a one-way ANOVA needs nothing more).
pub fn icc(groups: &[(f64, f64, f64)]) -> Option<(f64, Option<f64>)> {
    let j = groups.len() as f64;
    let n: f64 = groups.iter().map(|(n, ..)| n).sum();
    if j < 2.0 || n <= j {
        return None;
    }
    let grand = groups.iter().map(|(n, mean, _)| n * mean).sum::<f64>() / n;
    let ssb: f64 = groups
        .iter()
        .map(|(n, mean, _)| n * (mean - grand).powi(2))
        .sum();
    let ssw: f64 = groups.iter().map(|(n, _, sd)| (n - 1.0) * sd * sd).sum();
    let (msb, msw) = (ssb / (j - 1.0), ssw / (n - j));
    let k0 = (n - groups.iter().map(|(n, ..)| n * n).sum::<f64>() / n) / (j - 1.0);
    let denominator = msb + (k0 - 1.0) * msw;
    (denominator != 0.0).then(|| {
        (
            (msb - msw) / denominator,
            (msb != 0.0).then(|| (msb - msw) / msb),
        )
    })
}

pub fn check_reliability(replies: &Replies, cells: &BTreeMap<CellKey, &v1::WaveScore>) {
    for reply in &replies.reliability {
        for dimension in &reply.dimensions {
            let code = code_of(dimension.dimension);
            let pooled: Vec<&v1::ScoreSummary> = cells
                .iter()
                .filter(|((_, wave, role, c), _)| {
                    *wave == reply.wave && role.is_none() && *c == code
                })
                .map(|(_, score)| part(score, Measure::Current))
                .collect();
            let shown: Vec<(f64, f64, f64)> = pooled
                .iter()
                .filter(|s| !s.suppressed)
                .map(|s| {
                    (
                        f64::from(s.n),
                        s.mean.unwrap_or_default(),
                        s.sd.unwrap_or_default(),
                    )
                })
                .collect();
            let context = format!("{} {code}", reply.wave);
            // The attack on a lone hidden respondent: every score they might have given must
            // still fit the reported ICC(2), or the reply has narrowed it down.
            let lone: Vec<&&v1::ScoreSummary> =
                pooled.iter().filter(|s| s.suppressed && s.n == 1).collect();
            if let ([_], Some(reported)) = (&lone[..], dimension.icc2) {
                let fitting = (2..=10)
                    .map(|half| f64::from(half) / 2.0)
                    .filter(|x| {
                        let mut with = shown.clone();
                        with.push((1.0, *x, 0.0));
                        icc(&with)
                            .and_then(|(_, icc2)| icc2)
                            .is_some_and(|v| close(v, reported))
                    })
                    .count();
                assert_eq!(
                    fitting, 0,
                    "{context}: ICC(2) solves the lone respondent's score"
                );
            }
            assert_eq!(dimension.schools as usize, shown.len(), "{context}");
            assert_eq!(
                f64::from(dimension.respondents),
                shown.iter().map(|(n, ..)| n).sum::<f64>(),
                "{context}"
            );
            let expected = icc(&shown);
            assert_eq!(expected.is_some(), dimension.icc1.is_some(), "{context}");
            if let Some((icc1, icc2)) = expected {
                assert!(dimension.icc1.is_some_and(|v| close(v, icc1)), "{context}");
                assert_eq!(icc2.is_some(), dimension.icc2.is_some(), "{context}");
                assert!(
                    icc2.zip(dimension.icc2).is_none_or(|(a, b)| close(a, b)),
                    "{context}"
                );
            }
            for school in &dimension.agreement {
                let cell = cells
                    .get(&(school.school.clone(), reply.wave.clone(), None, code))
                    .map(|score| part(score, Measure::Current));
                assert_eq!(
                    Some(school.suppressed),
                    cell.map(|c| c.suppressed),
                    "{context}"
                );
                assert!(!school.suppressed || school.rwg_j.is_none(), "{context}");
                // Counts say what the pooled cell says, no more (not who answered what).
                assert_eq!(Some(school.respondents), cell.map(|c| c.n), "{context}");
            }
            assert_eq!(
                dimension.agreement.len(),
                pooled.len(),
                "{context}: a school listed where it has no pooled cell, or missing"
            );
        }
    }
}

pub fn check_relations_growth_and_impact(
    replies: &Replies,
    cells: &BTreeMap<CellKey, &v1::WaveScore>,
) {
    let shown_mean = |school: &str, wave: &str, code: &'static str| {
        cells
            .get(&(school.to_owned(), wave.to_owned(), None, code))
            .map(|score| part(score, Measure::Current))
            .filter(|s| !s.suppressed)
            .and_then(|s| s.mean)
    };
    let schools: Vec<String> = (0..SCHOOLS.len()).map(label).collect();
    let pearson = |pairs: &[(f64, f64)]| -> Option<f64> {
        let n = pairs.len() as f64;
        if pairs.len() < 3 {
            return None;
        }
        let (mx, my) = (
            pairs.iter().map(|p| p.0).sum::<f64>() / n,
            pairs.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let syy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum();
        let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        (sxx > 0.0 && syy > 0.0).then(|| (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
    };
    for reply in &replies.relations {
        for relation in &reply.correlations {
            let pairs: Vec<(f64, f64)> = schools
                .iter()
                .filter_map(|s| {
                    Some((
                        shown_mean(s, &reply.wave, code_of(relation.condition))?,
                        shown_mean(s, &reply.wave, code_of(relation.element))?,
                    ))
                })
                .collect();
            assert_eq!(relation.schools as usize, pairs.len());
            let r = pearson(&pairs);
            assert_eq!(r.is_some(), relation.r.is_some());
            assert!(r.zip(relation.r).is_none_or(|(a, b)| close(a, b)));
        }
    }
    for growth in &replies.growth {
        let cell = |wave: &str| {
            cells
                .get(&(
                    growth.school.clone(),
                    wave.to_owned(),
                    None,
                    code_of(growth.dimension),
                ))
                .map(|score| *part(score, Measure::Current))
        };
        assert_eq!(growth.from, cell(&growth.from_wave));
        assert_eq!(growth.to, cell(&growth.to_wave));
    }
    for (from, to, reply) in &replies.impact {
        for impact in &reply.impacts {
            let changes: Vec<f64> = schools
                .iter()
                .filter_map(|s| {
                    let code = code_of(impact.dimension);
                    Some(shown_mean(s, WAVES[*to].0, code)? - shown_mean(s, WAVES[*from].0, code)?)
                })
                .collect();
            // No interventions: every school with both cells shown is in the comparison group.
            let without = impact.without_category.unwrap_or_default();
            assert_eq!(without.schools as usize, changes.len());
            if !changes.is_empty() {
                let (mean, _) = mean_sd(&changes);
                // Summaries come with a comparison, which needs schools on both sides.
                assert!(without.mean.is_none_or(|m| close(m, mean)));
            }
        }
    }
}
