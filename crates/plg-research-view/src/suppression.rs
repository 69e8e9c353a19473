//! Confidentiality: no group of respondents smaller than the study's minimum is shown, and no
//! combination of replies and exports computes one back (`docs/disclosure-control.md`).
//!
//! The decision is made once per school and wave, for every dimension and for both the current
//! and the desired situation together, and every query and both exports follow it. Deciding per
//! dimension would let the item export (which labels respondents with their role across all
//! their answers) be differenced against a role cell shown in one dimension but hidden in
//! another.
//!
//! - **Primary suppression**: a pooled cell (a dimension's current or desired scores over all
//!   roles) with fewer respondents than the minimum is hidden; so is everything of a school-wave
//!   with fewer respondents than the minimum.
//! - **Hidden roles**: a role with a small group in any shown cell is hidden in every cell of
//!   the school-wave, and its members carry no role label in the item export.
//! - **Secondary suppression**: a pooled cell is the sum of its role cells, so the hidden roles
//!   together must hold no respondents or at least the minimum in every shown cell; until they
//!   do, the smallest shown role of an offending cell is hidden as well.
//! - **One value**: where the hidden roles' scores in a cell are all the same value, the shown
//!   cells give it away (their sums and sums of squares leave the hidden ones no variance), so
//!   that cell is hidden too.

use std::collections::BTreeSet;

use plg_domain::{dimension::Dimension, scan::RespondentRole};

/// The two situations a respondent scores on each dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    Current,
    Desired,
}

impl Measure {
    pub const BOTH: [Measure; 2] = [Measure::Current, Measure::Desired];
}

/// What a disclosure decision reads of one counted respondent.
pub trait Respondent {
    fn role(&self) -> RespondentRole;
    /// Their score on a dimension in a situation: `None` when they answered none of its items.
    fn score(&self, measure: Measure, dimension: Dimension) -> Option<f64>;
}

/// What may be shown of one school's respondents in one wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// Respondents per role, in [`RespondentRole::ALL`] order.
    role_sizes: [usize; RespondentRole::ALL.len()],
    /// Roles whose cells and labels are hidden, in [`RespondentRole::ALL`] order.
    hidden_roles: [bool; RespondentRole::ALL.len()],
    /// Pooled cells below the minimum.
    hidden_cells: BTreeSet<(Dimension, Measure)>,
    /// The school-wave as a whole is below the minimum.
    group_hidden: bool,
}

impl Disclosure {
    /// Decides for the counted responses of one school in one wave; a school-wave not
    /// `released` shows nothing but its size.
    pub fn decide<R: Respondent>(group: &[&R], min_group_size: usize, released: bool) -> Self {
        let role_index = |response: &R| {
            RespondentRole::ALL
                .iter()
                .position(|role| *role == response.role())
        };
        let mut role_sizes = [0; RespondentRole::ALL.len()];
        for index in group.iter().filter_map(|response| role_index(response)) {
            role_sizes[index] += 1;
        }
        let group_hidden = group.len() < min_group_size || !released;
        if group_hidden {
            return Self {
                role_sizes,
                hidden_roles: role_sizes.map(|size| size > 0),
                hidden_cells: Dimension::ALL
                    .into_iter()
                    .flat_map(|dimension| Measure::BOTH.map(|measure| (dimension, measure)))
                    .collect(),
                group_hidden,
            };
        }
        // Respondents with a score, per shown cell and role.
        let mut hidden_cells = BTreeSet::new();
        let mut shown_cells: Vec<[usize; RespondentRole::ALL.len()]> = Vec::new();
        for dimension in Dimension::ALL {
            for measure in Measure::BOTH {
                let mut counts = [0; RespondentRole::ALL.len()];
                for response in group {
                    if let Some(index) = role_index(response)
                        && response.score(measure, dimension).is_some()
                    {
                        counts[index] += 1;
                    }
                }
                match counts.iter().sum::<usize>() {
                    0 => {}
                    pooled if pooled < min_group_size => {
                        hidden_cells.insert((dimension, measure));
                    }
                    _ => shown_cells.push(counts),
                }
            }
        }
        let small = |count: usize| (1..min_group_size).contains(&count);
        let mut hidden_roles = [false; RespondentRole::ALL.len()];
        for counts in &shown_cells {
            for (hidden, count) in hidden_roles.iter_mut().zip(counts) {
                *hidden |= small(*count);
            }
        }
        while let Some(counts) = shown_cells.iter().find(|counts| {
            small(
                counts
                    .iter()
                    .zip(&hidden_roles)
                    .filter(|(_, hidden)| **hidden)
                    .map(|(count, _)| count)
                    .sum(),
            )
        }) {
            // Hiding a shown role of this cell always makes progress: the pooled cell holds at
            // least the minimum, so the shown roles hold the rest.
            let Some(smallest_shown) = (0..RespondentRole::ALL.len())
                .filter(|index| !hidden_roles[*index] && counts[*index] > 0)
                .min_by_key(|index| counts[*index])
            else {
                break;
            };
            hidden_roles[smallest_shown] = true;
        }
        // Shown cells give the hidden roles' sum and sum of squares together: where all their
        // scores are one value, that value is every hidden respondent's.
        for dimension in Dimension::ALL {
            for measure in Measure::BOTH {
                let hidden_scores: Vec<f64> = group
                    .iter()
                    .filter(|response| role_index(response).is_none_or(|index| hidden_roles[index]))
                    .filter_map(|response| response.score(measure, dimension))
                    .collect();
                if hidden_scores
                    .first()
                    .is_some_and(|first| hidden_scores.iter().all(|score| score == first))
                {
                    hidden_cells.insert((dimension, measure));
                }
            }
        }
        Self {
            role_sizes,
            hidden_roles,
            hidden_cells,
            group_hidden,
        }
    }

    /// Whether nothing of the school-wave but its size may be shown: too few respondents, or
    /// not released.
    pub fn group_hidden(&self) -> bool {
        self.group_hidden
    }

    /// Whether a pooled cell's scores are hidden.
    pub fn cell_hidden(&self, dimension: Dimension, measure: Measure) -> bool {
        self.hidden_cells.contains(&(dimension, measure))
    }

    /// Whether the role at `index` of [`RespondentRole::ALL`] is hidden: its cells and its members' labels.
    pub fn role_hidden(&self, index: usize) -> bool {
        self.hidden_roles[index]
    }

    /// Respondents of the role at `index` of [`RespondentRole::ALL`] in the school-wave.
    pub fn role_size(&self, index: usize) -> usize {
        self.role_sizes[index]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use plg_domain::{dimension::Dimension, scan::RespondentRole};

    use super::{Disclosure, Measure};
    use crate::scores::{ItemAnswer, Response};

    const MIN: usize = 5;

    /// A respondent who scored `dimensions` (current and desired), or every dimension.
    fn respondent(role: RespondentRole, dimensions: &[Dimension]) -> Response {
        let dimensions = if dimensions.is_empty() {
            &Dimension::ALL[..]
        } else {
            dimensions
        };
        Response {
            submission_id: format!("{role:?}"),
            school_id: "school".into(),
            wave: "T1".into(),
            respondent: format!("{role:?}"),
            role,
            dimensions: dimensions
                .iter()
                .map(|dimension| {
                    let answer = ItemAnswer {
                        item_code: format!("{}.1", dimension.code()),
                        current: Some(3.0),
                        desired: Some(4.0),
                    };
                    (*dimension, vec![answer])
                })
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn group(sizes: [usize; 4]) -> Vec<Response> {
        RespondentRole::ALL
            .iter()
            .zip(sizes)
            .flat_map(|(role, size)| (0..size).map(|_| respondent(*role, &[])))
            .collect()
    }

    fn decide(responses: &[Response]) -> Disclosure {
        Disclosure::decide(&responses.iter().collect::<Vec<_>>(), MIN, true)
    }

    fn hidden_roles(disclosure: &Disclosure) -> Vec<bool> {
        (0..RespondentRole::ALL.len())
            .map(|index| disclosure.role_hidden(index))
            .collect()
    }

    #[test]
    fn groups_at_or_above_the_minimum_are_shown() {
        let disclosure = decide(&group([30, 5, 6, 0]));
        assert_eq!(hidden_roles(&disclosure), [false; 4]);
        assert!(!disclosure.cell_hidden(Dimension::ALL[0], Measure::Current));
    }

    #[test]
    fn a_small_role_is_hidden_together_with_the_smallest_other_role() {
        // 2 school leaders alone could be computed from the pooled cell and the other roles.
        let disclosure = decide(&group([30, 2, 6, 5]));
        assert_eq!(hidden_roles(&disclosure), [false, true, false, true]);
    }

    #[test]
    fn small_roles_that_together_reach_the_minimum_need_no_more_hiding() {
        let disclosure = decide(&group([30, 2, 3, 0]));
        assert_eq!(hidden_roles(&disclosure), [false, true, true, false]);
    }

    #[test]
    fn a_small_school_wave_hides_everything() {
        let disclosure = decide(&group([3, 1, 0, 0]));
        assert!(disclosure.group_hidden());
        assert_eq!(hidden_roles(&disclosure), [true, true, false, false]);
        assert!(disclosure.cell_hidden(Dimension::ALL[0], Measure::Desired));
    }

    #[test]
    fn a_role_small_in_one_dimension_is_hidden_in_every_dimension() {
        // 6 team leaders, but only 4 scored the first dimension: their label would give away
        // that dimension's hidden team-leader cell in the item export.
        let mut responses = group([20, 0, 4, 0]);
        responses
            .extend((0..2).map(|_| respondent(RespondentRole::TeamLeader, &Dimension::ALL[1..])));
        let disclosure = decide(&responses);
        assert_eq!(hidden_roles(&disclosure), [true, false, true, false]);
    }

    #[test]
    fn a_pooled_cell_below_the_minimum_is_hidden_on_its_own() {
        // 5 respondents, one of whom skipped the first dimension.
        let mut responses = group([4, 0, 0, 0]);
        responses.push(respondent(RespondentRole::Teacher, &Dimension::ALL[1..]));
        let disclosure = decide(&responses);
        assert!(!disclosure.group_hidden());
        assert!(disclosure.cell_hidden(Dimension::ALL[0], Measure::Current));
        assert!(disclosure.cell_hidden(Dimension::ALL[0], Measure::Desired));
        assert!(!disclosure.cell_hidden(Dimension::ALL[1], Measure::Current));
        assert_eq!(hidden_roles(&disclosure), [false; 4]);
    }

    #[test]
    fn a_cell_where_the_hidden_roles_all_gave_one_value_is_hidden() {
        // 20 teachers, 1 school leader and 4 support staff: the leader and support staff are
        // hidden together. In the first dimension all five scored 3: the pooled and teacher
        // cells would give that 3 away.
        let mut responses = group([20, 0, 0, 0]);
        for (index, mut response) in group([0, 1, 0, 4]).into_iter().enumerate() {
            for answers in response.dimensions.values_mut().skip(1) {
                answers[0].current = Some(1.0 + index as f64);
            }
            responses.push(response);
        }
        let disclosure = decide(&responses);
        assert_eq!(hidden_roles(&disclosure), [false, true, false, true]);
        assert!(disclosure.cell_hidden(Dimension::ALL[0], Measure::Current));
        assert!(disclosure.cell_hidden(Dimension::ALL[0], Measure::Desired));
        assert!(!disclosure.cell_hidden(Dimension::ALL[1], Measure::Current));
    }

    #[test]
    fn one_respondent_is_never_shown() {
        let disclosure = Disclosure::decide(&[&respondent(RespondentRole::Teacher, &[])], 3, true);
        assert!(disclosure.group_hidden());
        assert!(disclosure.role_hidden(0));
    }

    #[test]
    fn a_school_wave_not_released_shows_nothing_but_its_size() {
        let responses = group([30, 5, 6, 0]);
        let disclosure = Disclosure::decide(&responses.iter().collect::<Vec<_>>(), MIN, false);
        assert!(disclosure.group_hidden());
        assert!(disclosure.cell_hidden(Dimension::ALL[0], Measure::Current));
    }
}
