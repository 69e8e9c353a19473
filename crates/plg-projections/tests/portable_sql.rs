//! Every SQL statement of the research view is one text that SQLite and PostgreSQL both accept
//! (docs/postgresql.md, §1.4). This reads the string literals of the non-test code of this
//! crate and of plg-research-view and fails on the SQLite-only forms: `OR IGNORE`,
//! `OR REPLACE`, `printf(`, `group_concat`, `NOCASE`, scalar `max(a, b)`/`min(a, b)`, and a
//! parameter whose first use is `?N IS NULL` (PostgreSQL cannot type it: write
//! `CAST(?N AS TEXT) IS NULL`).

use std::path::{Path, PathBuf};

/// The source trees checked.
fn roots() -> [PathBuf; 2] {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crates directory")
        .to_owned();
    [
        crates.join("plg-projections/src"),
        crates.join("plg-research-view/src"),
    ]
}

#[test]
fn the_views_sql_is_portable() {
    let mut found = Vec::new();
    let mut literals = 0;
    for root in roots() {
        let (files, test_only) = rust_files(&root);
        for file in files.iter().filter(|file| !test_only.contains(file)) {
            let source = std::fs::read_to_string(file).expect("reads the source");
            for (line, literal) in non_test_literals(&source) {
                literals += 1;
                for rule in violations(&literal) {
                    found.push(format!(
                        "{}:{line}: {rule}: {}",
                        file.display(),
                        literal.split_whitespace().collect::<Vec<_>>().join(" ")
                    ));
                }
            }
        }
    }
    assert!(literals > 100, "only {literals} string literals read");
    assert!(found.is_empty(), "SQLite-only SQL:\n{}", found.join("\n"));
}

/// The checker finds each form, in any case and spacing, and passes their rewrites.
#[test]
fn each_sqlite_only_form_is_found_and_its_rewrite_passes() {
    let refused = [
        ("INSERT OR IGNORE INTO t VALUES (?1)", "OR IGNORE"),
        ("insert or\n   replace into t values (?1)", "OR REPLACE"),
        ("SELECT printf('S%02d', n) FROM t", "printf("),
        ("SELECT group_concat(category) FROM t", "group_concat"),
        ("SELECT 1 WHERE a = ?2 COLLATE nocase", "NOCASE"),
        ("UPDATE t SET c = max(c, excluded.c)", "scalar max(a, b)"),
        ("SELECT MIN ( a, (b) ) FROM t", "scalar min(a, b)"),
        ("WHERE (?2 IS NULL OR school_id = ?2)", "?N IS NULL"),
        ("WHERE ?12 is  not null", "?N IS NULL"),
    ];
    for (sql, rule) in refused {
        assert_eq!(violations(sql), [rule], "{sql}");
    }
    let accepted = [
        "INSERT INTO t VALUES (?1) ON CONFLICT DO NOTHING",
        "SELECT 'S' || CASE WHEN e.n < 10 THEN '0' ELSE '' END || e.n FROM t e",
        "SELECT string_agg(c.category, ',' ORDER BY c.category) FROM c",
        "SELECT MAX(position), min(position), max(f(a, b)) FROM t",
        "WHERE lower(e.pseudonym) = lower(?2) AND (CAST(?3 AS TEXT) IS NULL OR wave = ?3)",
        "WHERE ended_on IS NULL",
    ];
    for sql in accepted {
        assert!(violations(sql).is_empty(), "{sql}: {:?}", violations(sql));
    }
}

/// Only the code outside `#[cfg(test)]` items is read, and no comment.
#[test]
fn test_modules_and_comments_are_left_out() {
    let source = r##"
        // "INSERT OR IGNORE in a comment"
        /* "printf(" /* nested */ "NOCASE" */
        fn kept<'a>(x: &'a str) -> char { let _ = r#"SELECT "1" {"#; '"' }
        const B: u8 = b'{';
        #[cfg(test)]
        mod tests { fn f() { let _ = "}"; let _ = "OR IGNORE"; } }
        const C: &str = "after";
    "##;
    let literals: Vec<String> = non_test_literals(source)
        .into_iter()
        .map(|(_, literal)| literal)
        .collect();
    assert_eq!(literals, [r#"SELECT "1" {"#, "after"]);
}

/// The rules a literal breaks.
fn violations(literal: &str) -> Vec<&'static str> {
    let sql = literal
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let mut broken = Vec::new();
    for (form, rule) in [("OR IGNORE", "OR IGNORE"), ("OR REPLACE", "OR REPLACE")] {
        if words_at(&sql, form).next().is_some() {
            broken.push(rule);
        }
    }
    if calls(&sql, "PRINTF").next().is_some() {
        broken.push("printf(");
    }
    if words_at(&sql, "GROUP_CONCAT").next().is_some() {
        broken.push("group_concat");
    }
    if words_at(&sql, "NOCASE").next().is_some() {
        broken.push("NOCASE");
    }
    for (function, rule) in [("MAX", "scalar max(a, b)"), ("MIN", "scalar min(a, b)")] {
        if calls(&sql, function).any(|arguments| top_level_commas(arguments) > 0) {
            broken.push(rule);
        }
    }
    if untyped_null_test(&sql) {
        broken.push("?N IS NULL");
    }
    broken
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Where `word` (upper case) stands as whole words in `sql`.
fn words_at<'s>(sql: &'s str, word: &'s str) -> impl Iterator<Item = usize> + 's {
    let bytes = sql.as_bytes();
    sql.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            let end = at + word.len();
            (at == 0 || !is_word(bytes[at - 1])) && (end == bytes.len() || !is_word(bytes[end]))
        })
}

/// The text after `function(` of each call of it, up to the end of `sql`.
fn calls<'s>(sql: &'s str, function: &'s str) -> impl Iterator<Item = &'s str> + 's {
    words_at(sql, function).filter_map(move |at| {
        let rest = sql[at + function.len()..].trim_start();
        rest.strip_prefix('(')
    })
}

/// Commas outside nested parentheses before the call's closing one.
fn top_level_commas(arguments: &str) -> usize {
    let (mut depth, mut commas) = (0usize, 0);
    for character in arguments.chars() {
        match character {
            '(' => depth += 1,
            ')' if depth == 0 => break,
            ')' => depth -= 1,
            ',' if depth == 0 => commas += 1,
            _ => {}
        }
    }
    commas
}

/// Whether some `?N` is tested for NULL without a type (`?N IS NULL`, `?N IS NOT NULL`).
fn untyped_null_test(sql: &str) -> bool {
    sql.match_indices('?').any(|(at, _)| {
        let rest = &sql[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let after = rest[digits..].trim_start();
        digits > 0 && (after.starts_with("IS NULL") || after.starts_with("IS NOT NULL"))
    })
}

/// Every `.rs` file under `root`, and those a `#[cfg(test)] mod name;` declares.
fn rust_files(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut files, mut test_only) = (Vec::new(), Vec::new());
    let mut directories = vec![root.to_owned()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).expect("reads the directory") {
            let path = entry.expect("lists the directory").path();
            if path.is_dir() {
                directories.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let source = std::fs::read_to_string(&path).expect("reads the source");
                let lexed = lex(&source);
                for name in test_modules_declared(&lexed.code) {
                    let parent = if path.ends_with("mod.rs") || path.ends_with("lib.rs") {
                        directory.clone()
                    } else {
                        directory.join(path.file_stem().expect("a file name"))
                    };
                    test_only.push(parent.join(format!("{name}.rs")));
                    test_only.push(parent.join(name).join("mod.rs"));
                }
                files.push(path);
            }
        }
    }
    files.sort();
    (files, test_only)
}

const CFG_TEST: &str = "#[cfg(test)]";

/// The names `#[cfg(test)] mod name;` declares in `code`.
fn test_modules_declared(code: &str) -> Vec<String> {
    code.match_indices(CFG_TEST)
        .filter_map(|(at, _)| {
            let item = code[at + CFG_TEST.len()..].trim_start();
            let declared = item.strip_prefix("mod ")?.split(';').next()?.trim();
            declared.bytes().all(is_word).then(|| declared.to_owned())
        })
        .collect()
}

/// The string literals of `source` outside comments and `#[cfg(test)]` items, with the line
/// each starts on.
fn non_test_literals(source: &str) -> Vec<(usize, String)> {
    let lexed = lex(source);
    let test_items = test_items(&lexed.code);
    lexed
        .literals
        .into_iter()
        .filter(|(at, _)| !test_items.iter().any(|item| item.contains(at)))
        .map(|(at, literal)| (source[..at].matches('\n').count() + 1, literal))
        .collect()
}

/// The byte ranges of `#[cfg(test)]` items in `code`: to the end of their first `{ … }`
/// block, or to their `;`.
fn test_items(code: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = code.as_bytes();
    code.match_indices(CFG_TEST)
        .map(|(start, _)| {
            let mut depth = 0usize;
            let mut at = start + CFG_TEST.len();
            while at < bytes.len() {
                match bytes[at] {
                    b';' if depth == 0 => break,
                    b'{' => depth += 1,
                    b'}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            start..at + 1
        })
        .collect()
}

/// A source with its comments and literals blanked out of `code` (same byte offsets), and its
/// string literals' contents by where they start.
struct Lexed {
    code: String,
    literals: Vec<(usize, String)>,
}

fn lex(source: &str) -> Lexed {
    let bytes = source.as_bytes();
    let mut code = bytes.to_vec();
    let mut literals = Vec::new();
    let blank = |code: &mut Vec<u8>, range: std::ops::Range<usize>| {
        for byte in &mut code[range] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let previous_is_word = at > 0 && is_word(bytes[at - 1]);
        match bytes[at] {
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
                blank(&mut code, start..at);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                let mut depth = 0;
                while at < bytes.len() {
                    if bytes[at..].starts_with(b"/*") {
                        depth += 1;
                        at += 2;
                    } else if bytes[at..].starts_with(b"*/") {
                        depth -= 1;
                        at += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        at += 1;
                    }
                }
                blank(&mut code, start..at);
            }
            b'r' if !previous_is_word
                || (at >= 1 && bytes[at - 1] == b'b' && (at < 2 || !is_word(bytes[at - 2]))) =>
            {
                let hashes = bytes[at + 1..].iter().take_while(|&&b| b == b'#').count();
                if bytes.get(at + 1 + hashes) != Some(&b'"') {
                    at += 1;
                    continue;
                }
                let open = at + 2 + hashes;
                let mut close = vec![b'"'];
                close.extend(std::iter::repeat_n(b'#', hashes));
                let end = open
                    + bytes[open..]
                        .windows(close.len())
                        .position(|window| window == close.as_slice())
                        .expect("a raw string ends");
                literals.push((start, source[open..end].to_owned()));
                at = end + close.len();
                blank(&mut code, start..at);
            }
            b'"' => {
                at += 1;
                while bytes[at] != b'"' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                literals.push((start, source[start + 1..at].to_owned()));
                at += 1;
                blank(&mut code, start..at);
            }
            b'\'' => {
                // A character literal, or a lifetime (`'a`), which is left alone.
                let rest = &source[at + 1..];
                let length = if rest.starts_with('\\') {
                    // The escaped character, then up to the closing quote.
                    rest.get(2..)
                        .and_then(|after| after.find('\''))
                        .map(|end| end + 2)
                } else {
                    rest.chars()
                        .next()
                        .filter(|_| rest.chars().nth(1) == Some('\''))
                        .map(char::len_utf8)
                };
                at += 1;
                if let Some(length) = length {
                    at += length + 1;
                    blank(&mut code, start..at);
                }
            }
            _ => at += 1,
        }
    }
    Lexed {
        code: String::from_utf8(code).expect("blanked ASCII only"),
        literals,
    }
}
