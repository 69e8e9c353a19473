//! What a request may hold and what an error reply may carry, in one table, so no caller can
//! make the server parse, or a client receive, more than these bounds.
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

/// Field violations listed in one reply; the rest are counted in one last entry.
pub const MAX_VIOLATIONS: usize = 20;
/// Characters of a caller's value an error repeats.
pub const MAX_ECHO_CHARS: usize = 64;
/// Bytes of a violation's field path and description, and of a status message, so that a
/// whole error reply stays well under the 8 KiB of metadata any gRPC client accepts.
pub const MAX_FIELD_BYTES: usize = 64;
pub const MAX_DESCRIPTION_BYTES: usize = 128;
pub const MAX_MESSAGE_BYTES: usize = 512;

/// A caller's value as an error repeats it: quoted, and cut after [`MAX_ECHO_CHARS`].
pub fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO_CHARS) {
        Some((end, _)) => format!("{:?}…", &value[..end]),
        None => format!("{value:?}"),
    }
}

/// `text` cut to at most `max_bytes` (on a character boundary), marked with `…` when cut.
pub fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let ellipsis = '…'.len_utf8();
    let mut end = max_bytes.saturating_sub(ellipsis);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_and_truncations_stay_within_their_bounds() {
        assert_eq!(echo("T1"), "\"T1\"");
        let long = "é".repeat(6_000);
        assert_eq!(echo(&long).chars().count(), MAX_ECHO_CHARS + 3);
        let cut = truncate(&long, MAX_DESCRIPTION_BYTES);
        assert!(cut.len() <= MAX_DESCRIPTION_BYTES && cut.ends_with('…'));
        assert_eq!(truncate("short", MAX_DESCRIPTION_BYTES), "short");
    }

    #[test]
    fn listed_fields_have_their_own_bound_and_others_the_default() {
        assert_eq!(max_items("answers"), 500);
        assert_eq!(max_items("categories"), DEFAULT_MAX_ITEMS);
    }
}
