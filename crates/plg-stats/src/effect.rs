//! Standardised mean differences: Cohen's d with a pooled standard deviation.

use crate::Summary;

/// The pooled standard deviation of two groups (Cohen 1988, *Statistical Power Analysis for the
/// Behavioral Sciences*, 2nd ed., §2.5):
///
/// s_pooled = √(((n₁ − 1)·s₁² + (n₂ − 1)·s₂²) / (n₁ + n₂ − 2))
///
/// `None` when either standard deviation is `None`, or either n < 2 (possible only for a
/// hand-built [`Summary`]).
pub fn pooled_sd(a: &Summary, b: &Summary) -> Option<f64> {
    let (va, vb) = (a.variance()?, b.variance()?);
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (dfa, dfb) = ((a.n - 1) as f64, (b.n - 1) as f64);
    Some(((dfa * va + dfb * vb) / (dfa + dfb)).sqrt())
}

/// Cohen's d for the change from `before` to `after` (Cohen 1988, eq. 2.5.1 with the pooled
/// SD of [`pooled_sd`]):
///
/// d = (x̄_after − x̄_before) / s_pooled
///
/// Positive when `after` is higher. Cohen's rough benchmarks are 0.2 small, 0.5 medium, 0.8
/// large. This is the uncorrected d (not Hedges' g). It treats the two summaries as independent
/// samples; for the same respondents measured twice it is still the conventional "d based on
/// the pooled pre/post SD".
///
/// `None` when either SD is `None` (n < 2) or the pooled SD is 0 (no variance at all).
pub fn cohens_d(before: &Summary, after: &Summary) -> Option<f64> {
    let pooled = pooled_sd(before, after)?;
    (pooled > 0.0).then(|| (after.mean - before.mean) / pooled)
}

/// Two groups compared: their summaries, the raw difference of means and its Cohen's d.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The group that had the treatment (e.g. schools with a given intervention).
    pub treated: Summary,
    /// The comparison group.
    pub untreated: Summary,
    /// x̄_treated − x̄_untreated.
    pub difference: f64,
    /// Cohen's d of untreated → treated, (x̄_treated − x̄_untreated) / s_pooled; see
    /// [`cohens_d`]. `None` when either group has fewer than 2 values or there is no variance.
    pub d: Option<f64>,
}

/// Compares the mean of `treated` with that of `untreated`: the difference x̄_treated −
/// x̄_untreated and Cohen's d (Cohen 1988) of untreated → treated. `None` when either side is
/// empty.
pub fn difference_of_means(treated: &[f64], untreated: &[f64]) -> Option<Comparison> {
    let treated = Summary::of(treated)?;
    let untreated = Summary::of(untreated)?;
    Some(Comparison {
        treated,
        untreated,
        difference: treated.mean - untreated.mean,
        d: cohens_d(&untreated, &treated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    fn summary(values: &[f64]) -> Summary {
        Summary::of(values).unwrap()
    }

    #[test]
    fn d_by_hand_with_equal_variances() {
        // before 1,2,3: x̄ = 2, s² = 1; after 3,4,5: x̄ = 4, s² = 1.
        // s_pooled = √((2·1 + 2·1) / 4) = 1; d = (4 − 2) / 1 = 2.
        let d = cohens_d(&summary(&[1.0, 2.0, 3.0]), &summary(&[3.0, 4.0, 5.0])).unwrap();
        assert_close(d, 2.0, 1e-12);
    }

    #[test]
    fn d_is_negative_when_scores_fall() {
        let d = cohens_d(&summary(&[3.0, 4.0, 5.0]), &summary(&[1.0, 2.0, 3.0])).unwrap();
        assert_close(d, -2.0, 1e-12);
    }

    #[test]
    fn d_with_unequal_sizes_and_variances_matches_pingouin() {
        // before n = 6, x̄ = 3.0, deviations −.5,0,.5,−1,1,0, Σd² = 2.5, s² = 2.5/5 = 0.5;
        // after n = 7, x̄ = 3.9285714285714284, s = 0.6725927091345493 (numpy, ddof=1).
        // Reference: pingouin 0.7.0
        // compute_effsize(after, before, paired=False, eftype="cohen") = 1.3486965512951894.
        let before = summary(&[2.5, 3.0, 3.5, 2.0, 4.0, 3.0]);
        let after = summary(&[3.5, 4.0, 3.0, 4.5, 4.0, 5.0, 3.5]);
        assert_close(before.variance().unwrap(), 0.5, 1e-12);
        assert_close(after.sd.unwrap(), 0.6725927091345493, 1e-12);
        assert_close(cohens_d(&before, &after).unwrap(), 1.3486965512951894, 1e-9);
    }

    #[test]
    fn d_from_published_moments() {
        // n₁ = 10, x̄₁ = 3.0, s₁ = 0.5; n₂ = 20, x̄₂ = 3.4, s₂ = 0.6.
        // s_pooled = √((9·0.25 + 19·0.36) / 28) = √(9.09 / 28) = √0.324642857…;
        // d = 0.4 / s_pooled = 0.702032253481628 (numpy, same formula).
        let before = Summary::from_moments(10, 3.0, Some(0.5)).unwrap();
        let after = Summary::from_moments(20, 3.4, Some(0.6)).unwrap();
        assert_close(
            pooled_sd(&before, &after).unwrap(),
            (9.09_f64 / 28.0).sqrt(),
            1e-12,
        );
        assert_close(cohens_d(&before, &after).unwrap(), 0.702032253481628, 1e-9);
    }

    #[test]
    fn d_needs_an_sd_on_both_sides() {
        let one = summary(&[4.0]);
        let three = summary(&[1.0, 2.0, 3.0]);
        assert_eq!(cohens_d(&one, &three), None);
        assert_eq!(cohens_d(&three, &one), None);
        assert_eq!(pooled_sd(&one, &three), None);
    }

    #[test]
    fn d_is_none_without_any_variance() {
        // Both groups constant: s_pooled = 0, d undefined (even though the means differ).
        assert_eq!(
            cohens_d(&summary(&[2.0, 2.0]), &summary(&[4.0, 4.0, 4.0])),
            None
        );
    }

    #[test]
    fn d_with_one_constant_group() {
        // before 2,2: s² = 0; after 3,4,5: s² = 1. s_pooled = √((1·0 + 2·1) / 3) = √(2/3);
        // d = (4 − 2) / √(2/3) = 2·√1.5.
        let d = cohens_d(&summary(&[2.0, 2.0]), &summary(&[3.0, 4.0, 5.0])).unwrap();
        assert_close(d, 2.0 * 1.5_f64.sqrt(), 1e-12);
    }

    #[test]
    fn difference_of_means_by_hand() {
        // treated 3,4,5 (x̄ 4, s² 1), untreated 1,2,3 (x̄ 2, s² 1): difference 2, d = 2/1 = 2.
        let comparison = difference_of_means(&[3.0, 4.0, 5.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(comparison.treated, summary(&[3.0, 4.0, 5.0]));
        assert_eq!(comparison.untreated, summary(&[1.0, 2.0, 3.0]));
        assert_close(comparison.difference, 2.0, 1e-12);
        assert_close(comparison.d.unwrap(), 2.0, 1e-12);
    }

    #[test]
    fn difference_of_means_matches_pingouin() {
        // Reference: numpy mean difference 0.7124999999999999; pingouin 0.7.0
        // compute_effsize(treated, untreated, paired=False, eftype="cohen") = 2.3765007900391883.
        let treated = [3.8, 4.2, 3.6, 4.4, 4.0];
        let untreated = [3.1, 3.5, 2.9, 3.7, 3.3, 3.0, 3.6, 3.2];
        let comparison = difference_of_means(&treated, &untreated).unwrap();
        assert_eq!(comparison.treated.n, 5);
        assert_eq!(comparison.untreated.n, 8);
        assert_close(comparison.difference, 0.7125, 1e-12);
        assert_close(comparison.d.unwrap(), 2.3765007900391883, 1e-9);
    }

    #[test]
    fn difference_of_means_with_a_single_treated_value_has_no_d() {
        // 5 − x̄(1,2,3) = 5 − 2 = 3; d needs an SD on both sides.
        let comparison = difference_of_means(&[5.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(comparison.difference, 3.0);
        assert_eq!(comparison.d, None);
    }

    #[test]
    fn difference_of_means_needs_both_sides() {
        assert_eq!(difference_of_means(&[], &[1.0, 2.0]), None);
        assert_eq!(difference_of_means(&[1.0, 2.0], &[]), None);
        assert_eq!(difference_of_means(&[], &[]), None);
    }
}
