//! `plgd backup` copies a serving plgd's event store and key store consistently, and
//! `plgd restore` brings them back into a fresh data directory.

mod support;

use std::{path::Path, process::Command};

use plg_testkit::Clients;

/// Runs `plgd <command> <flag> <dir>` over `data_dir`, successfully.
fn plgd(data_dir: &Path, command: &str, flag: &str, dir: &Path) -> anyhow::Result<()> {
    let output = Command::new(env!("CARGO_BIN_EXE_plgd"))
        .args(["--log-filter", "warn", "--data-dir"])
        .arg(data_dir)
        .args([command, flag])
        .arg(dir)
        .output()?;
    anyhow::ensure!(output.status.success(), "plgd {command}: {output:?}");
    Ok(())
}

async fn connect(plgd: &support::Plgd, identity: plg_testkit::Identity) -> anyhow::Result<Clients> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", plgd.address))?
        .connect()
        .await?;
    Ok(Clients::new(channel, identity))
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_what_existed_then() -> anyhow::Result<()> {
    let (data_dir, backup_dir, restored_dir) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let backup_dir = backup_dir.path().join("backup");
    let server = support::spawn_plgd(data_dir.path())?;
    let (mut tool, identity) = server.partner_tool("backup-tool").await?;
    tool.enrolled_school().await?;
    let anna = tool.register_person("Anna de Vries").await?;
    let (_, at_backup) = tool.read_all().await?;

    plgd(data_dir.path(), "backup", "--to", &backup_dir)?;
    tool.register_person("Bram Peeters").await?;
    drop(server);

    plgd(restored_dir.path(), "restore", "--from", &backup_dir)?;
    let restored = support::respawn_plgd(restored_dir.path())?;
    assert_eq!(restored.operator_key, None, "the restored keys still hold");
    let mut tool = connect(&restored, identity).await?;
    let (_, events) = tool.read_all().await?;
    assert_eq!(events, at_backup, "exactly what existed at backup time");
    // The sealed name opens: its key was backed up with the log.
    let person = tool.read_stream(&format!("person-{anna}")).await?;
    assert!(person[0].data_json.contains("Anna de Vries"), "{person:?}");
    Ok(())
}
