//! What an error reply may carry, so that no client receives more than these bounds (what a
//! request may hold is bounded where it parses, `plg_contract::limits`).

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
}
