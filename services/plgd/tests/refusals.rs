//! Every refused call is logged, with the RPC, the reason and, where one was sent, the key.

mod support;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::{Clients, Identity};
use tonic::Code;

/// The next `request refused` entry of the log, within a few seconds.
fn next_refusal(
    log: &std::sync::mpsc::Receiver<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let entry = log.recv_timeout(left).context("no refusal logged")?;
        if entry["message"] == "request refused" {
            return Ok(entry);
        }
    }
}

#[tokio::test]
async fn refusals_are_logged_with_the_rpc_the_key_and_the_reason() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let mut plgd = support::spawn_plgd(data_dir.path())?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", plgd.address))?
        .connect()
        .await?;

    let mut anonymous = Clients::new(channel.clone(), Identity::anonymous());
    let status = anonymous
        .admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await
        .expect_err("no key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let entry = next_refusal(&plgd.log)?;
    assert_eq!(entry["rpc"], "/plg.v1.AdminService/ListApiKeys");
    assert_eq!(entry["code"], "Unauthenticated");
    assert!(
        entry["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("API key is required"))
    );

    // The operator reaches no data: refused after authentication, with its key named.
    let operator_key = plgd.operator_key.clone().context("first start")?;
    let mut operator = Clients::new(channel, Identity::bearer(&operator_key)?);
    let status = operator
        .registry
        .register_person(v1::RegisterPersonRequest {
            options: plg_testkit::options(),
            name: "Anna".into(),
            email: String::new(),
        })
        .await
        .expect_err("an operator writes no data");
    assert_eq!(status.code(), Code::PermissionDenied);
    let entry = next_refusal(&plgd.log)?;
    assert_eq!(entry["rpc"], "/plg.v1.RegistryService/RegisterPerson");
    assert_eq!(entry["code"], "PermissionDenied");
    assert_eq!(entry["identity"], "operator (created on first start)");
    let key_id = operator_key.get(4..36).context("key id")?;
    assert_eq!(
        entry["key_id"].as_str().map(|id| id.replace('-', "")),
        Some(key_id.to_owned())
    );

    plgd.child.kill()?;
    plgd.child.wait()?;
    Ok(())
}

/// The next log entry with `message`, within a few seconds.
fn next_entry(
    log: &std::sync::mpsc::Receiver<serde_json::Value>,
    message: &str,
) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let entry = log
            .recv_timeout(left)
            .with_context(|| format!("no {message:?} logged"))?;
        if entry["message"] == message {
            return Ok(entry);
        }
    }
}

#[tokio::test]
async fn what_a_call_logs_carries_its_rpc_key_and_correlation_id() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    // Each append is logged at debug level.
    let mut plgd = support::spawn_plgd_with(
        data_dir.path(),
        &[("PLG_LOG_FILTER", "info,plg_ledger=debug")],
    )?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", plgd.address))?
        .connect()
        .await?;
    let operator_key = plgd.operator_key.clone().context("first start")?;
    let mut operator = Clients::new(channel, Identity::bearer(&operator_key)?);
    let mut request = tonic::Request::new(v1::IssueApiKeyRequest {
        options: plg_testkit::options(),
        identity: "scan tool".into(),
        role: v1::Role::PartnerTool.into(),
        scope: Some(v1::Scope {
            everything: true,
            ..Default::default()
        }),
    });
    request
        .metadata_mut()
        .insert("plg-correlation-id", "onboarding-42".parse()?);
    operator.admin.issue_api_key(request).await?;

    // Logged by the write core, which knows nothing of gRPC: the span says which call it was.
    let entry = next_entry(&plgd.log, "events appended")?;
    let span = &entry["span"];
    assert_eq!(span["name"], "rpc");
    assert_eq!(span["rpc.service"], "plg.v1.AdminService");
    assert_eq!(span["rpc.method"], "IssueApiKey");
    assert_eq!(span["correlation_id"], "onboarding-42");
    let key_id = operator_key.get(4..36).context("key id")?;
    assert_eq!(
        span["key_id"].as_str().map(|id| id.replace('-', "")),
        Some(key_id.to_owned())
    );

    plgd.child.kill()?;
    plgd.child.wait()?;
    Ok(())
}
