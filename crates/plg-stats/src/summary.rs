//! Descriptive statistics: n, mean, sample standard deviation.

/// The size, mean and sample standard deviation of a set of values.
///
/// Built by [`Summary::of`] from raw values, or by [`Summary::from_moments`] from published
/// figures (e.g. a table in a report).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The number of values; at least 1.
    pub n: usize,
    /// The arithmetic mean, x̄ = Σx / n.
    pub mean: f64,
    /// The sample standard deviation s = √(Σ(x − x̄)² / (n − 1)); `None` when n < 2, where it
    /// is undefined.
    pub sd: Option<f64>,
}

impl Summary {
    /// Summarises `values`; `None` when there are none.
    ///
    /// The mean is x̄ = Σx / n. The standard deviation is the sample (Bessel-corrected) one,
    /// s = √(Σ(x − x̄)² / (n − 1)), computed in two passes (first the mean, then the squared
    /// deviations from it), which stays accurate when the values share a large offset, unlike
    /// the one-pass Σx² − n·x̄² (Chan, Golub & LeVeque 1983, "Algorithms for computing the
    /// sample variance"). It is `None` when n < 2.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mean = mean(values)?;
        Some(Self {
            n: values.len(),
            mean,
            sd: sum_of_squares(values, mean).map(|ss| (ss / (values.len() - 1) as f64).sqrt()),
        })
    }

    /// A summary from already known moments, such as those published in a table.
    ///
    /// `None` when `n` is 0, when `mean` is not finite, or when `sd` is given but is negative,
    /// not finite, or given for n < 2 (where no sample SD exists). An `sd` of `None` with
    /// n ≥ 2 is accepted and means "not known".
    pub fn from_moments(n: usize, mean: f64, sd: Option<f64>) -> Option<Self> {
        if n == 0 || !mean.is_finite() {
            return None;
        }
        if let Some(sd) = sd
            && (n < 2 || !sd.is_finite() || sd < 0.0)
        {
            return None;
        }
        Some(Self { n, mean, sd })
    }

    /// The sample variance s², `None` when the standard deviation is.
    pub fn variance(&self) -> Option<f64> {
        self.sd.map(|sd| sd * sd)
    }
}

/// The mean of the values that are present: a respondent's score on a dimension from the items
/// they answered (`None` = no answer). `None` when no value is present.
///
/// Averaging over the answered items only ("person-mean" or "prorated" scale scores) is the
/// usual treatment of item non-response in scale scores (Schafer & Graham 2002, "Missing data:
/// our view of the state of the art"); whether a respondent answered enough items to be scored
/// at all is the caller's rule.
pub fn mean_of_answered(values: &[Option<f64>]) -> Option<f64> {
    let (sum, count) = values
        .iter()
        .flatten()
        .fold((0.0, 0_usize), |(sum, count), value| {
            (sum + value, count + 1)
        });
    (count > 0).then(|| sum / count as f64)
}

/// Σx / n, `None` for no values.
pub(crate) fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Σ(x − mean)², `None` when there are fewer than two values.
fn sum_of_squares(values: &[f64], mean: f64) -> Option<f64> {
    (values.len() >= 2).then(|| values.iter().map(|x| (x - mean) * (x - mean)).sum())
}

/// The sample variance Σ(x − x̄)² / (n − 1), `None` when n < 2.
pub(crate) fn sample_variance(values: &[f64]) -> Option<f64> {
    let mean = mean(values)?;
    sum_of_squares(values, mean).map(|ss| ss / (values.len() - 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn nothing_to_summarise_is_none() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn one_value_has_a_mean_but_no_sd() {
        assert_eq!(
            Summary::of(&[3.5]),
            Some(Summary {
                n: 1,
                mean: 3.5,
                sd: None
            })
        );
    }

    #[test]
    fn textbook_example() {
        // x = 2,4,4,4,5,5,7,9: Σx = 40, x̄ = 5; deviations −3,−1,−1,−1,0,0,2,4;
        // Σ(x − x̄)² = 9+1+1+1+0+0+4+16 = 32; s² = 32/7; s = √(32/7) = 2.138089935299395
        // (numpy: np.std(x, ddof=1) = 2.138089935299395).
        let summary = Summary::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(summary.n, 8);
        assert_close(summary.mean, 5.0, 1e-12);
        assert_close(summary.sd.unwrap(), (32.0_f64 / 7.0).sqrt(), 1e-12);
        assert_close(summary.sd.unwrap(), 2.138089935299395, 1e-12);
        assert_close(summary.variance().unwrap(), 32.0 / 7.0, 1e-12);
    }

    #[test]
    fn all_equal_values_have_sd_zero() {
        let summary = Summary::of(&[4.0, 4.0, 4.0]).unwrap();
        assert_eq!(summary.mean, 4.0);
        assert_eq!(summary.sd, Some(0.0));
    }

    #[test]
    fn two_values() {
        // x = 1, 4: x̄ = 2.5; Σ(x − x̄)² = 2.25 + 2.25 = 4.5; s² = 4.5/1; s = √4.5.
        let summary = Summary::of(&[1.0, 4.0]).unwrap();
        assert_eq!(summary.mean, 2.5);
        assert_close(summary.sd.unwrap(), 4.5_f64.sqrt(), 1e-12);
    }

    #[test]
    fn sd_is_accurate_with_a_large_offset() {
        // 1e9+1, 1e9+2, 1e9+3: x̄ = 1e9+2, deviations −1,0,1, s² = 2/2 = 1. The one-pass
        // Σx² − n·x̄² loses this entirely (Σx² ≈ 3e18 is far beyond 2⁵³).
        let summary = Summary::of(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]).unwrap();
        assert_eq!(summary.mean, 1e9 + 2.0);
        assert_eq!(summary.sd, Some(1.0));
    }

    #[test]
    fn from_moments_accepts_published_figures() {
        assert_eq!(
            Summary::from_moments(10, 3.0, Some(0.5)),
            Some(Summary {
                n: 10,
                mean: 3.0,
                sd: Some(0.5)
            })
        );
        assert_eq!(
            Summary::from_moments(1, 3.0, None),
            Some(Summary {
                n: 1,
                mean: 3.0,
                sd: None
            })
        );
        assert_eq!(
            Summary::from_moments(5, 3.0, None).map(|s| s.sd),
            Some(None)
        );
    }

    #[test]
    fn from_moments_rejects_impossible_figures() {
        assert_eq!(Summary::from_moments(0, 3.0, None), None);
        assert_eq!(Summary::from_moments(1, 3.0, Some(0.5)), None);
        assert_eq!(Summary::from_moments(10, 3.0, Some(-0.5)), None);
        assert_eq!(Summary::from_moments(10, 3.0, Some(f64::NAN)), None);
        assert_eq!(Summary::from_moments(10, f64::INFINITY, Some(0.5)), None);
    }

    #[test]
    fn mean_of_answered_skips_missing_answers() {
        // (1 + 4) / 2 = 2.5: the missing answer neither counts as 0 nor in the denominator.
        assert_eq!(mean_of_answered(&[Some(1.0), None, Some(4.0)]), Some(2.5));
        assert_eq!(
            mean_of_answered(&[Some(3.0), Some(4.0), Some(4.0), None]),
            Some(11.0 / 3.0)
        );
        assert_eq!(mean_of_answered(&[None, Some(5.0), None]), Some(5.0));
    }

    #[test]
    fn mean_of_answered_is_none_without_answers() {
        assert_eq!(mean_of_answered(&[None, None]), None);
        assert_eq!(mean_of_answered(&[]), None);
    }

    #[test]
    fn sample_variance_helper() {
        assert_eq!(sample_variance(&[]), None);
        assert_eq!(sample_variance(&[2.0]), None);
        // 3, 4, 5: x̄ = 4, Σ(x − x̄)² = 2, s² = 2/2 = 1.
        assert_eq!(sample_variance(&[3.0, 4.0, 5.0]), Some(1.0));
    }
}
