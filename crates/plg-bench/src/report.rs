//! The report: the machine and commit, then every figure beside its ceiling from the same run,
//! the ratio, the target and the errors the server answered; plgd's memory per phase.

use std::{fmt, process::Command};

use crate::load::Outcome;

/// One line of the table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub ceiling: String,
    pub ratio: Option<f64>,
    pub target: String,
    pub errors: String,
}

impl Row {
    pub fn new(figure: impl Into<String>, measured: impl Into<String>) -> Self {
        Self {
            figure: figure.into(),
            measured: measured.into(),
            errors: "none".to_owned(),
            ..Self::default()
        }
    }

    pub fn ceiling(self, ceiling: impl Into<String>) -> Self {
        Self {
            ceiling: ceiling.into(),
            ..self
        }
    }

    /// `measured / ceiling`, when the ceiling is not zero.
    pub fn ratio(self, measured: f64, ceiling: f64) -> Self {
        Self {
            ratio: (ceiling > 0.0).then(|| measured / ceiling),
            ..self
        }
    }

    pub fn target(self, target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            ..self
        }
    }

    pub fn errors(self, outcome: &Outcome) -> Self {
        Self {
            errors: outcome.errors_text(),
            ..self
        }
    }
}

/// Everything measured, to print.
#[derive(Debug, Default)]
pub struct Report {
    /// What was run: sizes and durations.
    pub settings: String,
    pub rows: Vec<Row>,
    /// plgd's resident memory after each phase, in bytes (none when not local).
    pub memory: Vec<(String, Option<u64>)>,
    /// The first error of each load that had any, and what could not be measured.
    pub notes: Vec<String>,
    /// Tables of their own (the soak's), each under its title.
    pub sections: Vec<(String, String)>,
}

impl Report {
    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Adds the row of a load: its errors counted, the first one noted.
    pub fn load(&mut self, row: Row, outcome: &Outcome) {
        if let Some(first) = &outcome.first_error {
            self.notes.push(format!(
                "{}: {} error(s), the first: {first}",
                row.figure,
                outcome.error_count()
            ));
        }
        self.rows.push(row.errors(outcome));
    }

    /// How many figures' calls met an error.
    pub fn errors(&self) -> usize {
        self.rows.iter().filter(|row| row.errors != "none").count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "## plg-bench")?;
        writeln!(f)?;
        writeln!(f, "- machine: {}", machine())?;
        writeln!(f, "- commit: {}", commit())?;
        writeln!(f, "- run: {}", self.settings)?;
        writeln!(f)?;
        writeln!(
            f,
            "| figure | measured | ceiling (same run) | ratio | issue 11's target | errors |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|")?;
        for row in &self.rows {
            let ratio = row
                .ratio
                .map(|ratio| format!("{ratio:.2}"))
                .unwrap_or_default();
            writeln!(
                f,
                "| {} | {} | {} | {ratio} | {} | {} |",
                row.figure, row.measured, row.ceiling, row.target, row.errors
            )?;
        }
        writeln!(f)?;
        writeln!(f, "| plgd resident memory (VmRSS) after | MiB |")?;
        writeln!(f, "|---|---|")?;
        for (phase, bytes) in &self.memory {
            let mib = bytes.map_or("not local".to_owned(), |bytes| {
                format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
            });
            writeln!(f, "| {phase} | {mib} |")?;
        }
        for (title, table) in &self.sections {
            writeln!(f)?;
            writeln!(f, "### {title}")?;
            writeln!(f)?;
            write!(f, "{table}")?;
        }
        if !self.notes.is_empty() {
            writeln!(f)?;
            for note in &self.notes {
                writeln!(f, "- {note}")?;
            }
        }
        Ok(())
    }
}

/// `1,234/s`.
pub fn rate(per_second: f64) -> String {
    format!("{}/s", thousands(per_second.round() as u64))
}

/// `12.3 ms`.
pub fn millis(millis: f64) -> String {
    if millis >= 100.0 {
        format!("{millis:.0} ms")
    } else {
        format!("{millis:.1} ms")
    }
}

/// `p50 1.2 ms, p99 3.4 ms`.
pub fn latency(outcome: &Outcome) -> String {
    format!(
        "p50 {}, p99 {}",
        millis(outcome.millis(0.5)),
        millis(outcome.millis(0.99))
    )
}

/// `1 client`, `16 clients`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Cores, CPU model and memory, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or("unknown memory".to_owned(), |kilobytes| {
            format!("{:.1} GiB memory", kilobytes / (1024.0 * 1024.0))
        });
    format!("{cores} cores, {model}, {memory}")
}

/// The checked-out commit, and whether the work tree differs from it.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => format!("{commit} (with uncommitted changes)"),
            _ => commit,
        },
        None => "unknown (not run in a git work tree)".to_owned(),
    }
}
