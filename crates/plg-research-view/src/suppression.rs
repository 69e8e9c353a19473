//! Confidentiality: no group of respondents smaller than the study's minimum is shown.
//!
//! Primary suppression hides every cell with fewer respondents than the minimum. Because a
//! pooled cell is the sum of its role cells, hiding only the small role cells is not enough:
//! with the pooled cell and the other role cells shown, a hidden cell could be computed back.
//! Secondary suppression therefore also hides the smallest shown role cells until the hidden
//! role cells together hold at least the minimum number of respondents (or all are hidden).

/// Decides which of a pooled cell's role cells may be shown, given each role cell's size and
/// the pooled cell's. Returns, per role cell, whether it is suppressed, and whether the pooled
/// cell is suppressed.
pub fn suppress(
    role_sizes: &[usize],
    pooled_size: usize,
    min_group_size: usize,
) -> (Vec<bool>, bool) {
    let pooled_suppressed = pooled_size < min_group_size;
    let mut suppressed: Vec<bool> = role_sizes.iter().map(|&n| n < min_group_size).collect();
    if pooled_suppressed {
        return (vec![true; role_sizes.len()], true);
    }
    let hidden = |suppressed: &[bool]| -> usize {
        role_sizes
            .iter()
            .zip(suppressed)
            .filter(|(_, hidden)| **hidden)
            .map(|(n, _)| n)
            .sum()
    };
    while (1..min_group_size).contains(&hidden(&suppressed)) {
        let smallest_shown = role_sizes
            .iter()
            .enumerate()
            .filter(|(index, n)| !suppressed[*index] && **n > 0)
            .min_by_key(|(_, n)| **n)
            .map(|(index, _)| index);
        match smallest_shown {
            Some(index) => suppressed[index] = true,
            None => break,
        }
    }
    (suppressed, false)
}

#[cfg(test)]
mod tests {
    use super::suppress;

    #[test]
    fn groups_at_or_above_the_minimum_are_shown() {
        assert_eq!(
            suppress(&[30, 5, 6], 41, 5),
            (vec![false, false, false], false)
        );
    }

    #[test]
    fn a_small_group_is_hidden_together_with_the_smallest_other_group() {
        // 2 school leaders alone could be computed from the pooled cell and the other roles.
        assert_eq!(
            suppress(&[30, 2, 6, 5], 43, 5),
            (vec![false, true, false, true], false)
        );
    }

    #[test]
    fn small_groups_that_together_reach_the_minimum_need_no_more_hiding() {
        assert_eq!(
            suppress(&[30, 2, 3], 35, 5),
            (vec![false, true, true], false)
        );
    }

    #[test]
    fn a_small_pooled_group_hides_everything() {
        assert_eq!(suppress(&[3, 1], 4, 5), (vec![true, true], true));
    }

    #[test]
    fn empty_roles_do_not_count_as_hidden_respondents() {
        assert_eq!(
            suppress(&[30, 0, 6], 36, 5),
            (vec![false, true, false], false)
        );
    }

    #[test]
    fn one_respondent_is_never_shown() {
        assert_eq!(suppress(&[1], 1, 3), (vec![true], true));
    }
}
