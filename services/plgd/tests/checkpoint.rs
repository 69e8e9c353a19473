//! A cleanly stopped plgd leaves every event in `events.db` itself, so a copy of that one file
//! is a complete copy of the log.

mod support;

use std::process::Command;

use plg_proto::v1;

#[tokio::test]
async fn after_a_clean_stop_events_db_alone_holds_every_event() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut plgd = support::spawn_plgd(data_dir.path())?;
    let mut operator = plgd.operator().await?;
    let tool_key = support::issue_key(&mut operator, v1::Role::PartnerTool).await?;
    let mut tool = plgd.clients(&tool_key).await?;
    for _ in 0..20 {
        tool.register_school().await?;
    }

    let stopped = Command::new("kill")
        .args(["-TERM", &plgd.child.id().to_string()])
        .status()?;
    anyhow::ensure!(stopped.success(), "SIGTERM sent");
    anyhow::ensure!(plgd.child.wait()?.success(), "plgd stopped cleanly");

    let copy = tempfile::tempdir()?;
    std::fs::copy(
        data_dir.path().join("events.db"),
        copy.path().join("events.db"),
    )?;
    let events: i64 = rusqlite::Connection::open(copy.path().join("events.db"))?.query_row(
        "SELECT COUNT(*) FROM events",
        [],
        |row| row.get(0),
    )?;
    // The operator key, the tool's key and twenty schools.
    assert_eq!(events, 22);
    Ok(())
}
