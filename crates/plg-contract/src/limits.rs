//! What a request may hold, so no caller can make the server parse more than these bounds
//! (what an error reply may carry is bounded at the gRPC edge).
//!
//! Text fields are bounded where they parse (`plg_domain::values`): a name, title or label
//! 1 to 200 characters, a free text 1 to 10,000, wave labels and item codes 32, pseudonyms and
//! instrument versions 64, request ids 128; ids are UUIDs.

/// The most elements a repeated request field may hold, by its field path. A longer list is
/// one violation on the list, found before any element is parsed.
const MAX_ITEMS: &[(&str, usize)] = &[
    ("answers", 500),
    ("items", 500),
    ("attendance", 1_000),
    ("participant_ids", 1_000),
    ("member_ids", 1_000),
    ("school_ids", 1_000),
    ("scope.school_ids", 1_000),
    ("scope.boards", 1_000),
    ("scope.study_ids", 1_000),
];

/// Every other repeated field: categories, targets, theme phases, goals, methods, agreements,
/// choices, waves, event types.
const DEFAULT_MAX_ITEMS: usize = 100;

/// The most elements the repeated request field `field` may hold.
pub fn max_items(field: &str) -> usize {
    MAX_ITEMS
        .iter()
        .find(|(name, _)| *name == field)
        .map_or(DEFAULT_MAX_ITEMS, |(_, max)| *max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_fields_have_their_own_bound_and_others_the_default() {
        assert_eq!(max_items("answers"), 500);
        assert_eq!(max_items("categories"), DEFAULT_MAX_ITEMS);
    }
}
