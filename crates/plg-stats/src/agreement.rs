//! Within-group agreement: rwg(j) for a multi-item scale.

use crate::summary::sample_variance;

/// The variance of the uniform ("no agreement") null distribution on an A-point scale,
/// σ²_EU = (A² − 1) / 12 (James, Demaree & Wolf 1984; the variance of a discrete uniform
/// distribution on 1..A). For A = 5 it is 2. `None` when A < 2, where it is 0.
pub fn uniform_null_variance(scale_points: u32) -> Option<f64> {
    let a = f64::from(scale_points);
    (scale_points >= 2).then(|| (a * a - 1.0) / 12.0)
}

/// rwg(j), the within-group agreement of one group's answers on a J-item scale (James,
/// Demaree & Wolf 1984, "Estimating within-group interrater reliability with and without
/// response bias", *Journal of Applied Psychology* 69, 85–98; truncation per LeBreton &
/// Senter 2008, "Answers to 20 questions about interrater reliability and interrater
/// agreement", *Organizational Research Methods* 11, 815–852).
///
/// `responses` is respondents × items, `None` for an unanswered item; a row shorter than
/// the longest counts as unanswered for the missing items. `scale_points` is A, the number of
/// answer options (5 for the Scan School als PLG).
///
/// - For each item, s²_item is the sample variance (n − 1) over the respondents who answered
///   it. Items answered by fewer than 2 respondents are skipped; J is the number of items used.
/// - s̄² is the mean of those J item variances.
/// - σ²_EU = (A² − 1)/12, the variance expected if everyone answered at random
///   ([`uniform_null_variance`]).
/// - rwg(j) = J·(1 − s̄²/σ²_EU) / (J·(1 − s̄²/σ²_EU) + s̄²/σ²_EU).
///
/// 1 is perfect agreement, 0 is agreement no better than random answering. When s̄² > σ²_EU
/// (more disagreement than random, e.g. a split group) the formula leaves [0, 1]; as LeBreton
/// & Senter (2008, question 9) recommend, the result is then truncated to 0.
///
/// `None` when no item has at least 2 answers (this includes no respondents or one
/// respondent) or when A < 2.
pub fn rwg_j(responses: &[Vec<Option<f64>>], scale_points: u32) -> Option<f64> {
    let null_variance = uniform_null_variance(scale_points)?;
    let items = responses.iter().map(Vec::len).max().unwrap_or(0);
    let item_variances: Vec<f64> = (0..items)
        .filter_map(|item| {
            let answers: Vec<f64> = responses
                .iter()
                .filter_map(|row| row.get(item).copied().flatten())
                .collect();
            sample_variance(&answers)
        })
        .collect();
    if item_variances.is_empty() {
        return None;
    }
    let j = item_variances.len() as f64;
    let mean_variance = item_variances.iter().sum::<f64>() / j;
    if mean_variance > null_variance {
        return Some(0.0);
    }
    let ratio = mean_variance / null_variance;
    let agreement = j * (1.0 - ratio);
    Some(agreement / (agreement + ratio))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::assert_close;

    fn rows(rows: &[&[Option<f64>]]) -> Vec<Vec<Option<f64>>> {
        rows.iter().map(|row| row.to_vec()).collect()
    }

    fn complete(rows: &[&[f64]]) -> Vec<Vec<Option<f64>>> {
        rows.iter()
            .map(|row| row.iter().copied().map(Some).collect())
            .collect()
    }

    #[test]
    fn null_variance_of_common_scales() {
        // (A² − 1)/12: A = 5 → 24/12 = 2; A = 7 → 48/12 = 4; A = 2 → 3/12 = 0.25.
        assert_eq!(uniform_null_variance(5), Some(2.0));
        assert_eq!(uniform_null_variance(7), Some(4.0));
        assert_eq!(uniform_null_variance(2), Some(0.25));
        assert_eq!(uniform_null_variance(1), None);
        assert_eq!(uniform_null_variance(0), None);
    }

    #[test]
    fn two_items_by_hand() {
        // Item 1: 4,4,5 → x̄ = 13/3, Σ(x − x̄)² = 1/9 + 1/9 + 4/9 = 2/3, s² = 1/3.
        // Item 2: 3,4,5 → s² = 2/2 = 1. s̄² = (1/3 + 1)/2 = 2/3; σ²_EU = 2; ratio = 1/3.
        // rwg(2) = 2·(2/3) / (2·(2/3) + 1/3) = (4/3)/(5/3) = 0.8.
        let responses = complete(&[&[4.0, 3.0], &[4.0, 4.0], &[5.0, 5.0]]);
        assert_close(rwg_j(&responses, 5).unwrap(), 0.8, 1e-12);
    }

    #[test]
    fn the_same_answers_on_a_seven_point_scale() {
        // As above with σ²_EU = 4: ratio = (2/3)/4 = 1/6;
        // rwg(2) = 2·(5/6) / (2·(5/6) + 1/6) = (10/6)/(11/6) = 10/11.
        let responses = complete(&[&[4.0, 3.0], &[4.0, 4.0], &[5.0, 5.0]]);
        assert_close(rwg_j(&responses, 7).unwrap(), 10.0 / 11.0, 1e-12);
    }

    #[test]
    fn missing_answers_by_hand_and_numpy() {
        // Six respondents × four items, five-point scale, three missing answers.
        // Item variances over the answers given (n − 1):
        //   item 1: 4,5,4,4,3   → x̄ = 4,   Σd² = 0+1+0+0+1 = 2,          s² = 2/4 = 0.5
        //   item 2: 4,4,3,4,5,4 → x̄ = 4,   Σd² = 0+0+1+0+1+0 = 2,        s² = 2/5 = 0.4
        //   item 3: 5,4,5,4,5   → x̄ = 4.6, Σd² = .16+.36+.16+.36+.16 = 1.2, s² = 1.2/4 = 0.3
        //   item 4: 3,4,3,4,4   → x̄ = 3.6, Σd² = .36+.16+.36+.16+.16 = 1.2, s² = 0.3
        // s̄² = 1.5/4 = 3/8; ratio = 3/16; rwg(4) = 4·(13/16) / (4·(13/16) + 3/16) = 52/55.
        // numpy: np.nanvar(R, axis=0, ddof=1) = [0.5, 0.4, 0.3, 0.3] → 0.9454545454545454.
        let responses = rows(&[
            &[Some(4.0), Some(4.0), Some(5.0), Some(3.0)],
            &[Some(5.0), Some(4.0), Some(4.0), None],
            &[Some(4.0), Some(3.0), Some(5.0), Some(4.0)],
            &[None, Some(4.0), Some(4.0), Some(3.0)],
            &[Some(4.0), Some(5.0), None, Some(4.0)],
            &[Some(3.0), Some(4.0), Some(5.0), Some(4.0)],
        ]);
        let rwg = rwg_j(&responses, 5).unwrap();
        assert_close(rwg, 52.0 / 55.0, 1e-12);
        assert_close(rwg, 0.9454545454545454, 1e-9);
    }

    #[test]
    fn items_with_fewer_than_two_answers_do_not_count_in_j() {
        // Item 3 has one answer and is skipped, so J = 2 (not 3) and the result is the 0.8 of
        // `two_items_by_hand`; with J = 3 it would be 3·(2/3)/(3·(2/3) + 1/3) = 6/7.
        let responses = rows(&[
            &[Some(4.0), Some(3.0), None],
            &[Some(4.0), Some(4.0), Some(1.0)],
            &[Some(5.0), Some(5.0), None],
        ]);
        assert_close(rwg_j(&responses, 5).unwrap(), 0.8, 1e-12);
    }

    #[test]
    fn short_rows_count_as_missing_answers() {
        // The first respondent skipped the last item by sending a shorter row (the number of
        // items is that of the longest row): item 2 is then 3,4 → s² = 0.5; item 1: 5,4,4 →
        // s² = 1/3. s̄² = 5/12; ratio = 5/24; rwg(2) = 2·(19/24) / (2·(19/24) + 5/24) = 38/43.
        let responses = rows(&[
            &[Some(5.0)],
            &[Some(4.0), Some(3.0)],
            &[Some(4.0), Some(4.0)],
        ]);
        assert_close(rwg_j(&responses, 5).unwrap(), 38.0 / 43.0, 1e-12);
    }

    #[test]
    fn perfect_agreement_is_one() {
        // All item variances 0: ratio 0, rwg = J/J = 1.
        let responses = complete(&[&[4.0, 2.0, 5.0], &[4.0, 2.0, 5.0], &[4.0, 2.0, 5.0]]);
        assert_eq!(rwg_j(&responses, 5), Some(1.0));
    }

    #[test]
    fn variance_equal_to_the_null_is_zero() {
        // Item 1,3 → s² = 2 = σ²_EU: ratio 1, rwg = 0/(0 + 1) = 0 (no truncation involved).
        let responses = complete(&[&[1.0], &[3.0]]);
        assert_eq!(rwg_j(&responses, 5), Some(0.0));
    }

    #[test]
    fn more_disagreement_than_random_is_truncated_to_zero() {
        // A split group: 1,5 on both items → s² = 8 each, s̄² = 8 > σ²_EU = 2; ratio 4.
        // Untruncated: 2·(1 − 4)/(2·(1 − 4) + 4) = −6/−2 = 3, outside [0, 1]; truncated to 0.
        let responses = complete(&[&[1.0, 5.0], &[5.0, 1.0]]);
        assert_eq!(rwg_j(&responses, 5), Some(0.0));
        // Just above the null: 1,1,4,4 → x̄ 2.5, Σd² = 9, s² = 3 > 2; untruncated with J = 1:
        // (1 − 1.5)/((1 − 1.5) + 1.5) = −0.5; truncated to 0.
        let responses = complete(&[&[1.0], &[1.0], &[4.0], &[4.0]]);
        assert_eq!(rwg_j(&responses, 5), Some(0.0));
    }

    #[test]
    fn one_respondent_is_none() {
        assert_eq!(rwg_j(&complete(&[&[4.0, 3.0, 5.0]]), 5), None);
    }

    #[test]
    fn no_item_with_two_answers_is_none() {
        let responses = rows(&[&[Some(4.0), None], &[None, Some(3.0)], &[None, None]]);
        assert_eq!(rwg_j(&responses, 5), None);
    }

    #[test]
    fn empty_input_is_none() {
        assert_eq!(rwg_j(&[], 5), None);
        assert_eq!(rwg_j(&[vec![], vec![]], 5), None);
    }

    #[test]
    fn a_scale_without_two_points_is_none() {
        let responses = complete(&[&[4.0, 3.0], &[4.0, 4.0], &[5.0, 5.0]]);
        assert_eq!(rwg_j(&responses, 1), None);
        assert_eq!(rwg_j(&responses, 0), None);
    }
}
