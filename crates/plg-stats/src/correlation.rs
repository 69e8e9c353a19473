//! The Pearson correlation with a Fisher-z confidence interval.

/// The 0.975 quantile of the standard normal distribution, Φ⁻¹(0.975), for two-sided 95%
/// intervals (scipy: `norm.ppf(0.975)` = 1.959963984540054).
pub const Z_975: f64 = 1.959963984540054;

/// A Pearson correlation with its sample size and 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correlation {
    /// The correlation coefficient r, in [−1, 1].
    pub r: f64,
    /// The number of pairs.
    pub n: usize,
    /// The 95% confidence interval (lower, upper) by the Fisher z-transform; `None` when n < 4.
    pub ci: Option<(f64, f64)>,
}

/// The Pearson product-moment correlation of `pairs` (Pearson 1896), with a 95% confidence
/// interval by Fisher's z-transform (Fisher 1921, "On the 'probable error' of a coefficient of
/// correlation deduced from a small sample", *Metron* 1, 3–32).
///
/// r = Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² · Σ(y − ȳ)²), computed from deviations (two passes) and
/// clamped to [−1, 1] against rounding.
///
/// The interval: z = atanh(r) = ½·ln((1 + r)/(1 − r)) is approximately normal with standard
/// error 1/√(n − 3), so the interval is tanh(z ± 1.959963984540054/√(n − 3)) (the same interval
/// as scipy's `pearsonr(x, y).confidence_interval(0.95)`). At |r| = 1 exactly, atanh is infinite
/// and the interval degenerates to (r, r): a perfect sample correlation carries no sampling
/// spread under this model.
///
/// `None` when n < 3 (two points always correlate ±1) or when x or y has zero variance (r is
/// 0/0). `ci` is `None` when n < 4 (the standard error 1/√(n − 3) needs n > 3).
pub fn pearson(pairs: &[(f64, f64)]) -> Option<Correlation> {
    let n = pairs.len();
    if n < 3 {
        return None;
    }
    let mean_x = pairs.iter().map(|&(x, _)| x).sum::<f64>() / n as f64;
    let mean_y = pairs.iter().map(|&(_, y)| y).sum::<f64>() / n as f64;
    let (sxx, syy, sxy) = pairs
        .iter()
        .fold((0.0, 0.0, 0.0), |(sxx, syy, sxy), &(x, y)| {
            let (dx, dy) = (x - mean_x, y - mean_y);
            (sxx + dx * dx, syy + dy * dy, sxy + dx * dy)
        });
    if !(sxx > 0.0 && syy > 0.0) {
        return None;
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    Some(Correlation {
        r,
        n,
        ci: fisher_ci(r, n),
    })
}

/// tanh(atanh(r) ± Z_975/√(n − 3)); `None` when n < 4; (r, r) when |r| = 1.
fn fisher_ci(r: f64, n: usize) -> Option<(f64, f64)> {
    if n < 4 {
        return None;
    }
    if r.abs() >= 1.0 {
        return Some((r, r));
    }
    let z = r.atanh();
    let half_width = Z_975 / ((n - 3) as f64).sqrt();
    Some(((z - half_width).tanh(), (z + half_width).tanh()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    fn zip(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
        x.iter().copied().zip(y.iter().copied()).collect()
    }

    #[test]
    fn fewer_than_three_pairs_is_none() {
        assert_eq!(pearson(&[]), None);
        assert_eq!(pearson(&[(1.0, 2.0)]), None);
        assert_eq!(pearson(&[(1.0, 2.0), (2.0, 3.0)]), None);
    }

    #[test]
    fn no_variance_in_either_variable_is_none() {
        assert_eq!(
            pearson(&zip(&[3.0, 3.0, 3.0, 3.0], &[1.0, 2.0, 3.0, 4.0])),
            None
        );
        assert_eq!(
            pearson(&zip(&[1.0, 2.0, 3.0, 4.0], &[2.0, 2.0, 2.0, 2.0])),
            None
        );
        assert_eq!(pearson(&zip(&[5.0, 5.0, 5.0], &[5.0, 5.0, 5.0])), None);
    }

    #[test]
    fn three_pairs_give_r_but_no_ci() {
        // (1,1), (2,3), (3,2): x̄ = ȳ = 2; dx = −1,0,1; dy = −1,1,0;
        // Σdx·dy = 1, Σdx² = 2, Σdy² = 2; r = 1/√4 = 0.5. n − 3 = 0: no interval.
        let c = pearson(&[(1.0, 1.0), (2.0, 3.0), (3.0, 2.0)]).unwrap();
        assert_eq!(c.n, 3);
        assert_close(c.r, 0.5, 1e-12);
        assert_eq!(c.ci, None);
    }

    #[test]
    fn four_pairs_give_the_widest_interval() {
        // x = 1,2,3,4; y = 2,1,4,3: x̄ = ȳ = 2.5; dx = −1.5,−.5,.5,1.5; dy = −.5,−1.5,1.5,.5;
        // Σdx·dy = .75+.75+.75+.75 = 3, Σdx² = Σdy² = 5; r = 3/√25 = 0.6.
        // se = 1/√1 = 1; CI = tanh(atanh(0.6) ± 1.959963984540054).
        // Reference: scipy 1.17.1 pearsonr(x, y) → r = 0.6,
        // confidence_interval(0.95) = (-0.8529325646947181, 0.9901277107996944).
        let c = pearson(&zip(&[1.0, 2.0, 3.0, 4.0], &[2.0, 1.0, 4.0, 3.0])).unwrap();
        assert_close(c.r, 0.6, 1e-12);
        let (low, high) = c.ci.unwrap();
        assert_close(low, (0.6_f64.atanh() - Z_975).tanh(), 1e-12);
        assert_close(high, (0.6_f64.atanh() + Z_975).tanh(), 1e-12);
        assert_close(low, -0.8529325646947181, 1e-6);
        assert_close(high, 0.9901277107996944, 1e-6);
    }

    #[test]
    fn positive_correlation_matches_scipy() {
        // Reference: scipy 1.17.1 pearsonr(x, y) → r = 0.8879392701212415,
        // confidence_interval(0.95) = (0.585836576030941, 0.9733787775407493)
        // (pingouin 0.7.0 corr agrees: r = 0.887939, CI95% [0.59, 0.97]).
        let x = [2.1, 3.4, 2.8, 4.0, 3.1, 2.5, 3.9, 4.4, 3.0, 2.2];
        let y = [2.6, 3.1, 3.3, 3.8, 2.9, 2.4, 4.1, 4.0, 3.5, 2.0];
        let c = pearson(&zip(&x, &y)).unwrap();
        assert_eq!(c.n, 10);
        assert_close(c.r, 0.8879392701212415, 1e-9);
        let (low, high) = c.ci.unwrap();
        assert_close(low, 0.585836576030941, 1e-6);
        assert_close(high, 0.9733787775407493, 1e-6);
    }

    #[test]
    fn negative_correlation_matches_scipy() {
        // Reference: scipy 1.17.1 pearsonr → r = -0.8856124390867561,
        // confidence_interval(0.95) = (-0.9874587275241804, -0.26327313611560926).
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y = [3.2, 2.9, 3.1, 2.2, 2.5, 1.8];
        let c = pearson(&zip(&x, &y)).unwrap();
        assert_close(c.r, -0.8856124390867561, 1e-9);
        let (low, high) = c.ci.unwrap();
        assert_close(low, -0.9874587275241804, 1e-6);
        assert_close(high, -0.26327313611560926, 1e-6);
    }

    #[test]
    fn r_is_symmetric_in_x_and_y() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y = [3.2, 2.9, 3.1, 2.2, 2.5, 1.8];
        let xy = pearson(&zip(&x, &y)).unwrap();
        let yx = pearson(&zip(&y, &x)).unwrap();
        assert_close(xy.r, yx.r, 1e-15);
    }

    #[test]
    fn perfect_correlation_has_a_degenerate_interval() {
        // y = 2x: dx = −1.5,−.5,.5,1.5, dy = 2·dx; Σdx·dy = 10, Σdx² = 5, Σdy² = 20;
        // r = 10/√100 = 1 exactly; atanh(1) = ∞, so the interval is (1, 1).
        let c = pearson(&zip(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0])).unwrap();
        assert_eq!(c.r, 1.0);
        assert_eq!(c.ci, Some((1.0, 1.0)));
    }

    #[test]
    fn perfect_negative_correlation_has_a_degenerate_interval() {
        // y = 10 − 2x: r = −10/√100 = −1 exactly.
        let c = pearson(&zip(&[1.0, 2.0, 3.0, 4.0], &[8.0, 6.0, 4.0, 2.0])).unwrap();
        assert_eq!(c.r, -1.0);
        assert_eq!(c.ci, Some((-1.0, -1.0)));
    }

    #[test]
    fn perfect_correlation_with_three_pairs_has_no_interval() {
        let c = pearson(&zip(&[1.0, 2.0, 3.0], &[3.0, 5.0, 7.0])).unwrap();
        assert_eq!(c.r, 1.0);
        assert_eq!(c.ci, None);
    }

    #[test]
    fn rounding_cannot_push_r_past_one() {
        // y = 0.1·x is exactly linear, but in f64 Σdx·dy / √(Σdx²·Σdy²) comes out as
        // 1.0000000000000002 for these x (found by a brute-force search in Python, whose floats
        // are the same IEEE doubles summed in the same order). r is clamped to 1, and the
        // interval is then the degenerate (1, 1).
        let pairs: Vec<(f64, f64)> = [2.8, 3.0, 4.1, 3.1, 2.6]
            .iter()
            .map(|&x| (x, x * 0.1))
            .collect();
        let c = pearson(&pairs).unwrap();
        assert_eq!(c.r, 1.0);
        assert_eq!(c.ci, Some((1.0, 1.0)));
    }
}
