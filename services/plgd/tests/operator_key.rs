//! `plgd issue-operator-key`: the way back in when every operator key is lost or revoked.

use std::process::Command;

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::{Identity, TestServer};

#[tokio::test]
async fn a_stopped_plgd_can_issue_another_operator_key() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let data_dir = server.stop().await?;

    let output = Command::new(env!("CARGO_BIN_EXE_plgd"))
        .args(["--log-filter", "warn", "--data-dir"])
        .arg(data_dir.path())
        .args(["issue-operator-key", "--identity", "second operator"])
        .output()?;
    anyhow::ensure!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout)?;
    let key = stdout
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("plg_"))
        .context("no key printed")?;

    let server = TestServer::start_in(data_dir).await?;
    let mut operator = server.clients_with(Identity::bearer(key)?).await?;
    let identities: Vec<_> = operator
        .admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await?
        .into_inner()
        .keys
        .into_iter()
        .map(|key| key.identity)
        .collect();
    assert_eq!(
        identities,
        ["operator (created on first start)", "second operator"]
    );
    Ok(())
}
