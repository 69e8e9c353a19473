//! Erasure leaves no copy of the erased person's key in any file of the data directory: not
//! when the reply arrives, not after a kill, not after the restart that follows.

mod support;

use std::path::Path;

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::options;
use support::issue_key;

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle)?);
        } else if std::fs::read(&path)?
            .windows(needle.len())
            .any(|window| window == needle)
        {
            found.push(path.display().to_string());
        }
    }
    Ok(found)
}

fn key_bytes(data_dir: &Path, subject: &str) -> anyhow::Result<Vec<u8>> {
    let keys = rusqlite::Connection::open_with_flags(
        data_dir.join("keys.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    Ok(keys.query_row(
        "SELECT key FROM subject_keys WHERE subject = ?1",
        [subject],
        |row| row.get(0),
    )?)
}

#[tokio::test]
async fn an_erased_key_is_in_no_file_after_the_reply_a_kill_and_a_restart() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut plgd = support::spawn_plgd(data_dir.path())?;
    let mut operator = plgd.operator().await?;
    let tool_key = issue_key(&mut operator, v1::Role::PartnerTool).await?;
    let mut tool = plgd.clients(&tool_key).await?;
    let administrator_key = issue_key(&mut operator, v1::Role::Administrator).await?;
    let mut administrator = plgd.clients(&administrator_key).await?;
    let person = tool.register_person("Anna de Vries").await?;
    let key = key_bytes(data_dir.path(), &format!("person-{person}"))?;
    anyhow::ensure!(key.len() == 32, "a 32-byte key");
    anyhow::ensure!(
        !files_holding(data_dir.path(), &key)?.is_empty(),
        "the key is found while it exists"
    );

    administrator
        .registry
        .erase_personal_data(v1::ErasePersonalDataRequest {
            options: options(),
            person_id: person.clone(),
        })
        .await?;
    assert_eq!(
        files_holding(data_dir.path(), &key)?,
        Vec::<String>::new(),
        "right after the reply"
    );

    plgd.child.kill()?;
    plgd.child.wait()?;
    assert_eq!(
        files_holding(data_dir.path(), &key)?,
        Vec::<String>::new(),
        "after a kill"
    );

    let mut plgd = support::respawn_plgd(data_dir.path())?;
    let mut tool = plgd.clients(&tool_key).await?;
    assert_eq!(
        files_holding(data_dir.path(), &key)?,
        Vec::<String>::new(),
        "after the restart"
    );
    let registered = tool
        .read_stream(&format!("person-{person}"))
        .await?
        .into_iter()
        .next()
        .context("the registration is still there")?;
    assert_eq!(
        plg_testkit::payload(&registered)?["details"]["personal"],
        "erased"
    );
    plgd.child.kill()?;
    plgd.child.wait()?;
    Ok(())
}
