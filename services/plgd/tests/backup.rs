//! `plgd backup` copies a serving plgd's event store and key store consistently, and
//! `plgd restore` brings them back into a fresh data directory.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use plg_testkit::Clients;

/// Runs `plgd <command> <flag> <dir>` over `data_dir`, successfully.
fn plgd(data_dir: &Path, command: &str, flag: &str, dir: &Path) -> anyhow::Result<()> {
    let output = run(data_dir, command, flag, dir)?;
    anyhow::ensure!(output.status.success(), "plgd {command}: {output:?}");
    Ok(())
}

/// Runs `plgd <command> <flag> <dir>` over `data_dir`.
fn run(data_dir: &Path, command: &str, flag: &str, dir: &Path) -> anyhow::Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_plgd"))
        .args(["--log-filter", "warn", "--data-dir"])
        .arg(data_dir)
        .args([command, flag])
        .arg(dir)
        .output()?)
}

/// Every file directly in `dir`, by name, with its bytes.
fn files(dir: &Path) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.insert(name, std::fs::read(entry.path())?);
        }
    }
    Ok(files)
}

/// Spoils a copy of a backup directory.
type Damage = fn(&Path) -> std::io::Result<()>;

/// A serving plgd's data directory with one person in it, and a backup of it.
async fn backed_up(root: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (data_dir, backup_dir) = (root.join("data"), root.join("backup"));
    let server = support::spawn_plgd(&data_dir)?;
    let (mut tool, _) = server.partner_tool("backup-tool").await?;
    tool.register_person("Anna de Vries").await?;
    plgd(&data_dir, "backup", "--to", &backup_dir)?;
    drop(server);
    Ok((data_dir, backup_dir))
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

#[tokio::test]
async fn restore_refuses_an_incomplete_or_damaged_backup_and_never_writes_to_one()
-> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let (_, backup_dir) = backed_up(root.path()).await?;
    let backup = files(&backup_dir)?;
    anyhow::ensure!(backup.contains_key("manifest.json"), "{:?}", backup.keys());

    // What an interrupted backup used to leave: both files and a hot journal, no manifest.
    let damages: [(&str, Damage, &str); 4] = [
        (
            "no manifest",
            |dir| {
                std::fs::remove_file(dir.join("manifest.json"))?;
                std::fs::write(dir.join("keys.db-journal"), b"hot journal")
            },
            "has no manifest.json, so it is not a complete backup",
        ),
        (
            "a changed byte",
            |dir| {
                let mut keys = std::fs::read(dir.join("keys.db"))?;
                let last = keys.len() - 1;
                keys[last] ^= 0xff;
                std::fs::write(dir.join("keys.db"), keys)
            },
            "keys.db does not match the manifest",
        ),
        (
            "a missing file",
            |dir| std::fs::remove_file(dir.join("keys.db")),
            "the file is missing",
        ),
        (
            "a corrupt manifest",
            |dir| std::fs::write(dir.join("manifest.json"), b"{\"format\": 1"),
            "unreadable manifest",
        ),
    ];
    for (what, damage, message) in damages {
        let damaged = root.path().join(what);
        std::fs::create_dir(&damaged)?;
        for (name, bytes) in &backup {
            std::fs::write(damaged.join(name), bytes)?;
        }
        damage(&damaged)?;
        let before = files(&damaged)?;
        let restored = root.path().join(format!("restored from {what}"));
        let output = run(&restored, "restore", "--from", &damaged)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::ensure!(!output.status.success(), "{what}: restored anyway");
        anyhow::ensure!(stderr.contains(message), "{what}: {stderr}");
        anyhow::ensure!(!restored.join("events.db").exists(), "{what}: wrote a log");
        anyhow::ensure!(files(&damaged)? == before, "{what}: the backup was changed");
    }

    let restored = root.path().join("restored");
    plgd(&restored, "restore", "--from", &backup_dir)?;
    anyhow::ensure!(files(&backup_dir)? == backup, "restore changed the backup");
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn data_directories_and_backups_are_readable_by_their_owner_only() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;

    let mode = |path: &Path| -> anyhow::Result<u32> {
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
    };
    let private = |dir: &Path| -> anyhow::Result<()> {
        anyhow::ensure!(mode(dir)? == 0o700, "{}: {:o}", dir.display(), mode(dir)?);
        for name in files(dir)?.keys() {
            let file = dir.join(name);
            anyhow::ensure!(
                mode(&file)? == 0o600,
                "{}: {:o}",
                file.display(),
                mode(&file)?
            );
        }
        Ok(())
    };
    let root = tempfile::tempdir()?;
    let data_dir = root.path().join("data");
    let server = support::spawn_plgd(&data_dir)?;
    // Served, with the log's write-ahead files and the research view open.
    private(&data_dir)?;
    anyhow::ensure!(files(&data_dir)?.contains_key("events.db-wal"));
    let backup_dir = root.path().join("backup");
    plgd(&data_dir, "backup", "--to", &backup_dir)?;
    private(&backup_dir)?;
    drop(server);
    let restored = root.path().join("restored");
    plgd(&restored, "restore", "--from", &backup_dir)?;
    private(&restored)
}
