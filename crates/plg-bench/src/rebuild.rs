//! The projection rebuild: `plgd backup` copies the spawned plgd's store while it serves, then
//! `plgd rebuild` rebuilds the whole research view from the copy's log, timed from start to
//! exit. The copy keeps the rebuild off the served view and its data directory's lock.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Context as _;

/// A timed rebuild of every projection.
#[derive(Debug, Clone, Copy)]
pub struct Rebuilt {
    /// Events in the copied log, every one of which the rebuild read.
    pub events: u64,
    /// From starting `plgd rebuild` to its exit.
    pub elapsed: Duration,
}

impl Rebuilt {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Copies the store of the plgd serving `data_dir` beside it, then times `plgd rebuild` on the
/// copy, which is removed afterwards.
pub fn measure(plgd: &Path, data_dir: &Path) -> anyhow::Result<Rebuilt> {
    // Beside the data directory: the same filesystem as the view plgd keeps.
    let copy = match data_dir.parent() {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    let backup_to = copy
        .path()
        .to_str()
        .context("a temporary path that is not UTF-8")?;
    run(plgd, data_dir, &["backup", "--to", backup_to])?;
    let events: i64 = rusqlite::Connection::open(copy.path().join("events.db"))?.query_row(
        "SELECT COUNT(*) FROM events",
        [],
        |row| row.get(0),
    )?;
    let started = Instant::now();
    run(plgd, copy.path(), &["rebuild"])?;
    Ok(Rebuilt {
        events: u64::try_from(events).unwrap_or(0),
        elapsed: started.elapsed(),
    })
}

/// Runs `plgd --data-dir <data_dir> <args>`, failing with its output when it fails.
fn run(plgd: &Path, data_dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(plgd)
        .args(["--log-filter", "warn", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .output()
        .with_context(|| format!("starting {}", plgd.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "plgd {}: {}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
