//! Intraclass correlations for respondents nested in groups (e.g. staff in schools).

/// The intraclass correlations of a one-way random-effects ANOVA of respondents in groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Icc {
    /// ICC(1): the share of the variance in individual answers that lies between groups, i.e.
    /// the reliability of one respondent's answer as an estimate of the group mean. May be
    /// negative (down to −1/(k₀ − 1) with equal group sizes) when groups differ less than
    /// chance would produce.
    pub icc1: f64,
    /// ICC(2): the reliability of the group means. `None` when MSB = 0.
    pub icc2: Option<f64>,
    /// J, the number of non-empty groups.
    pub groups: usize,
    /// N, the number of respondents over all non-empty groups.
    pub respondents: usize,
    /// N / J, the arithmetic mean group size (not k₀, the size used in the formula).
    pub mean_group_size: f64,
}

/// ICC(1) and ICC(2) of `groups`, each the values of the respondents in one group, from a
/// one-way random-effects ANOVA (Shrout & Fleiss 1979, "Intraclass correlations: uses in
/// assessing rater reliability", *Psychological Bulletin* 86, ICC(1,1) and ICC(1,k); for the
/// multilevel reading as ICC(1)/ICC(2), Bliese 2000, "Within-group agreement, non-independence,
/// and reliability", in Klein & Kozlowski (eds.), *Multilevel Theory, Research, and Methods in
/// Organizations*).
///
/// With J non-empty groups of sizes n_j, N = Σn_j, group means ȳ_j and grand mean ȳ:
///
/// - SSB = Σ_j n_j·(ȳ_j − ȳ)², MSB = SSB / (J − 1)
/// - SSW = Σ_j Σ_i (y_ij − ȳ_j)², MSW = SSW / (N − J)
/// - k₀ = (N − Σ_j n_j² / N) / (J − 1), the group size to use when sizes differ (Snedecor &
///   Cochran 1989, *Statistical Methods*, 8th ed., §13.7; equal to n when all groups have n)
/// - ICC(1) = (MSB − MSW) / (MSB + (k₀ − 1)·MSW)
/// - ICC(2) = (MSB − MSW) / MSB
///
/// ICC(1) is returned as computed, **not clamped at 0**: a negative value (MSB < MSW, groups
/// more alike than random assignment would make them) is a legitimate estimate that
/// researchers usually report as "≈ 0"; clamping would hide it. ICC(2) is likewise unclamped.
///
/// Empty groups are ignored. A group of one respondent contributes to SSB but nothing to SSW.
/// `None` when there are fewer than 2 non-empty groups, when N − J < 1 (no within-group
/// degrees of freedom, e.g. every group has one respondent), or when MSB + (k₀ − 1)·MSW = 0
/// (no variance at all). `icc2` is `None` when MSB = 0.
pub fn icc(groups: &[Vec<f64>]) -> Option<Icc> {
    let groups: Vec<&[f64]> = groups
        .iter()
        .map(Vec::as_slice)
        .filter(|g| !g.is_empty())
        .collect();
    let j = groups.len();
    let n: usize = groups.iter().map(|g| g.len()).sum();
    if j < 2 || n <= j {
        return None;
    }
    let (n_f, j_f) = (n as f64, j as f64);
    let grand_mean = groups.iter().flat_map(|g| g.iter()).sum::<f64>() / n_f;
    let (ssb, ssw) = groups.iter().fold((0.0, 0.0), |(ssb, ssw), g| {
        let size = g.len() as f64;
        let mean = g.iter().sum::<f64>() / size;
        let within: f64 = g.iter().map(|y| (y - mean) * (y - mean)).sum();
        (
            ssb + size * (mean - grand_mean) * (mean - grand_mean),
            ssw + within,
        )
    });
    let msb = ssb / (j_f - 1.0);
    let msw = ssw / (n_f - j_f);
    let sum_sq_sizes: f64 = groups.iter().map(|g| (g.len() * g.len()) as f64).sum();
    let k0 = (n_f - sum_sq_sizes / n_f) / (j_f - 1.0);
    let denominator = msb + (k0 - 1.0) * msw;
    if denominator == 0.0 {
        return None;
    }
    Some(Icc {
        icc1: (msb - msw) / denominator,
        icc2: (msb != 0.0).then(|| (msb - msw) / msb),
        groups: j,
        respondents: n,
        mean_group_size: n_f / j_f,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    #[test]
    fn equal_group_sizes_by_hand() {
        // Groups 1,2,3 | 4,5,6 | 7,8,9: means 2, 5, 8; grand mean 5.
        // SSB = 3·(9 + 0 + 9) = 54, MSB = 54/2 = 27; SSW = 2 + 2 + 2 = 6, MSW = 6/6 = 1;
        // k₀ = (9 − 27/9)/2 = 3. ICC(1) = 26/(27 + 2·1) = 26/29; ICC(2) = 26/27.
        // Check: scipy f_oneway F = 27 → ICC(1) = (F − 1)/(F + k₀ − 1) = 0.896551724137931,
        // ICC(2) = 1 − 1/F = 0.962962962962963.
        let icc = icc(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .unwrap();
        assert_close(icc.icc1, 26.0 / 29.0, 1e-12);
        assert_close(icc.icc2.unwrap(), 26.0 / 27.0, 1e-12);
        assert_eq!(icc.groups, 3);
        assert_eq!(icc.respondents, 9);
        assert_eq!(icc.mean_group_size, 3.0);
    }

    #[test]
    fn unequal_group_sizes_with_a_group_of_one_by_hand() {
        // Groups 2,4 | 3 | 5,6,7: n = 2, 1, 3; N = 6, J = 3; means 3, 3, 6; grand mean 27/6 = 4.5.
        // SSB = 2·1.5² + 1·1.5² + 3·1.5² = 13.5, MSB = 13.5/2 = 6.75 = 27/4.
        // SSW = (1 + 1) + 0 + (1 + 0 + 1) = 4, MSW = 4/3.
        // k₀ = (6 − (4 + 1 + 9)/6)/2 = (22/6)/2 = 11/6.
        // ICC(1) = (27/4 − 4/3)/(27/4 + (5/6)(4/3)) = (65/12)/(283/36) = 195/283;
        // ICC(2) = (65/12)/(27/4) = 65/81.
        // Check: scipy f_oneway F = 5.0625 → (F − 1)/(F + k₀ − 1) = 0.6890459363957597,
        // 1 − 1/F = 0.8024691358024691.
        let icc = icc(&[vec![2.0, 4.0], vec![3.0], vec![5.0, 6.0, 7.0]]).unwrap();
        assert_close(icc.icc1, 195.0 / 283.0, 1e-12);
        assert_close(icc.icc2.unwrap(), 65.0 / 81.0, 1e-12);
        assert_eq!(icc.groups, 3);
        assert_eq!(icc.respondents, 6);
        assert_eq!(icc.mean_group_size, 2.0);
    }

    #[test]
    fn schools_of_unequal_size_match_numpy_and_scipy() {
        // Five schools, sizes 5, 3, 7, 1, 4 (N = 20, J = 5, k₀ = 3.75), dimension scores.
        // Reference: numpy ANOVA by the same formulas: MSB = 1.8861904761904762,
        // MSW = 0.10968253968253967, ICC(1) = 0.8120000725518292, ICC(2) = 0.9418497012538921;
        // independently, scipy 1.17.1 f_oneway F = 17.19681620839363 gives the same
        // (F − 1)/(F + k₀ − 1) and 1 − 1/F.
        let icc = icc(&[
            vec![3.2, 3.6, 4.0, 3.8, 3.4],
            vec![2.4, 2.8, 3.0],
            vec![4.2, 4.6, 3.8, 4.4, 4.0, 4.8, 4.2],
            vec![3.0],
            vec![2.6, 3.4, 3.0, 2.8],
        ])
        .unwrap();
        assert_close(icc.icc1, 0.8120000725518292, 1e-9);
        assert_close(icc.icc2.unwrap(), 0.9418497012538921, 1e-9);
        assert_eq!(icc.groups, 5);
        assert_eq!(icc.respondents, 20);
        assert_eq!(icc.mean_group_size, 4.0);
    }

    #[test]
    fn icc1_can_be_negative_and_is_not_clamped() {
        // Groups 1,5 | 2,5 | 1,4: means 3, 3.5, 2.5; grand mean 3.
        // SSB = 2·(0 + 0.25 + 0.25) = 1, MSB = 1/2; SSW = 8 + 4.5 + 4.5 = 17, MSW = 17/3; k₀ = 2.
        // ICC(1) = (1/2 − 17/3)/(1/2 + 17/3) = (−31/6)/(37/6) = −31/37;
        // ICC(2) = (−31/6)/(1/2) = −31/3.
        // Check: scipy f_oneway F = 0.08823529411764705 → −0.8378378378378377, −10.333333333333334.
        let icc = icc(&[vec![1.0, 5.0], vec![2.0, 5.0], vec![1.0, 4.0]]).unwrap();
        assert_close(icc.icc1, -31.0 / 37.0, 1e-12);
        assert_close(icc.icc2.unwrap(), -31.0 / 3.0, 1e-12);
    }

    #[test]
    fn identical_group_means_give_the_minimum_icc1_and_no_icc2() {
        // Groups 1,5 | 1,5 | 1,5: MSB = 0; SSW = 3·8 = 24, MSW = 24/3 = 8; k₀ = 2.
        // ICC(1) = (0 − 8)/(0 + 1·8) = −1 = −1/(k₀ − 1); ICC(2) = −8/0, undefined.
        let icc = icc(&[vec![1.0, 5.0], vec![1.0, 5.0], vec![1.0, 5.0]]).unwrap();
        assert_close(icc.icc1, -1.0, 1e-12);
        assert_eq!(icc.icc2, None);
    }

    #[test]
    fn no_within_group_variance_gives_one() {
        // Groups 1,1 | 3,3: MSW = 0, MSB = 2·(1 + 1)/1 = 4 → ICC(1) = 4/4 = 1, ICC(2) = 1.
        let icc = icc(&[vec![1.0, 1.0], vec![3.0, 3.0]]).unwrap();
        assert_eq!(icc.icc1, 1.0);
        assert_eq!(icc.icc2, Some(1.0));
    }

    #[test]
    fn empty_groups_are_ignored() {
        let with_empty = icc(&[
            vec![],
            vec![2.0, 4.0],
            vec![3.0],
            vec![],
            vec![5.0, 6.0, 7.0],
        ])
        .unwrap();
        assert_close(with_empty.icc1, 195.0 / 283.0, 1e-12);
        assert_close(with_empty.icc2.unwrap(), 65.0 / 81.0, 1e-12);
        assert_eq!(with_empty.groups, 3);
        assert_eq!(with_empty.respondents, 6);
        assert_eq!(with_empty.mean_group_size, 2.0);
    }

    #[test]
    fn fewer_than_two_groups_is_none() {
        assert_eq!(icc(&[]), None);
        assert_eq!(icc(&[vec![1.0, 2.0, 3.0]]), None);
        assert_eq!(icc(&[vec![1.0, 2.0, 3.0], vec![]]), None);
        assert_eq!(icc(&[vec![], vec![]]), None);
    }

    #[test]
    fn one_respondent_per_group_is_none() {
        // N − J = 0: no within-group degrees of freedom.
        assert_eq!(icc(&[vec![1.0], vec![3.0], vec![4.0]]), None);
    }

    #[test]
    fn no_variance_at_all_is_none() {
        // MSB = MSW = 0: 0/0.
        assert_eq!(icc(&[vec![3.0, 3.0], vec![3.0], vec![3.0, 3.0, 3.0]]), None);
    }
}
