//! A data directory has one owner: while plgd serves, `rebuild`, `issue-operator-key` and a
//! second plgd refuse; a rebuild that fails half-way leaves the previous view intact; and one
//! that meets events it cannot read skips them and says which.

mod support;

use std::{
    path::Path,
    process::{Command, Output},
};

/// Runs the plgd binary over `data_dir` with `args` after the global flags.
fn plgd(data_dir: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_plgd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-filter",
            "warn",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(args)
        .output()?)
}

fn refused_as_in_use(output: &Output) -> bool {
    !output.status.success()
        && String::from_utf8_lossy(&output.stderr).contains("is in use by another process")
}

/// Every row of every table of the research view, in a stable order.
fn view_rows(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let connection = rusqlite::Connection::open(data_dir.join("research.db"))?;
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for table in tables {
        let mut statement = connection.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let columns = statement.column_count();
        let mut table_rows = statement
            .query_map([], |row| {
                (0..columns)
                    .map(|column| row.get::<_, rusqlite::types::Value>(column))
                    .collect::<Result<Vec<_>, _>>()
            })?
            .map(|row| row.map(|values| format!("{table}: {values:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        table_rows.sort();
        rows.extend(table_rows);
    }
    Ok(rows)
}

#[tokio::test]
async fn a_serving_plgd_owns_its_data_directory_and_a_failed_rebuild_changes_nothing()
-> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut server = support::spawn_plgd(data_dir.path())?;
    let (mut tool, _) = server.partner_tool("ownership-tool").await?;
    tool.enrolled_school().await?;

    for args in [&["rebuild"][..], &["issue-operator-key"], &["serve"]] {
        let output = plgd(data_dir.path(), args)?;
        assert!(refused_as_in_use(&output), "plgd {args:?}: {output:?}");
    }

    // Killed, not stopped: the OS releases the lock all the same.
    server.child.kill()?;
    server.child.wait()?;
    let output = plgd(data_dir.path(), &["rebuild"])?;
    assert!(output.status.success(), "{output:?}");
    let before = view_rows(data_dir.path())?;
    assert!(before.iter().any(|row| row.starts_with("enrolments")));

    // A write to the view that fails half-way (after the first projections are rebuilt, as
    // a full disk would) makes the rebuild fail.
    rusqlite::Connection::open(data_dir.path().join("research.db"))?.execute_batch(
        "CREATE TRIGGER simulated_failure BEFORE UPDATE ON projection_checkpoints
         WHEN NEW.projection = 'audit' AND NEW.position > 0
         BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;",
    )?;
    let output = plgd(data_dir.path(), &["rebuild"])?;
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("simulated write failure"),
        "{output:?}"
    );
    assert_eq!(view_rows(data_dir.path())?, before);
    Ok(())
}

/// Events the projections cannot read (a payload that is no longer JSON, or JSON that is not
/// the event) are skipped, logged and listed: the rebuild completes.
#[tokio::test]
async fn a_rebuild_skips_events_it_cannot_read_and_says_which() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut server = support::spawn_plgd(data_dir.path())?;
    let (mut tool, _) = server.partner_tool("rebuild-tool").await?;
    tool.enrolled_school().await?;
    server.child.kill()?;
    server.child.wait()?;

    let file = rusqlite::Connection::open(data_dir.path().join("events.db"))?;
    let mut skipped = Vec::new();
    for (data, category) in [("{not json", "school"), ("{}", "study")] {
        let position: i64 = file.query_row(
            "SELECT MAX(position) FROM events WHERE stream LIKE ?1",
            [format!("{category}-%")],
            |row| row.get(0),
        )?;
        file.execute(
            "UPDATE events SET data = ?1 WHERE position = ?2",
            (data, position),
        )?;
        skipped.push(position);
    }
    drop(file);
    skipped.sort_unstable();

    let output = plgd(data_dir.path(), &["rebuild"])?;
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "skipped 2 unreadable event(s) at log position(s) {}, {}",
            skipped[0], skipped[1]
        )),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("event skipped"), "{stderr}");
    Ok(())
}
