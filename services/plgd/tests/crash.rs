//! A plgd killed with SIGKILL in the middle of writing loses nothing it acknowledged.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::{Clients, Identity, TestServer, everything, options};

/// Starts the real binary on a free port and returns it with the address it logged and the
/// operator key it printed on its first start.
fn spawn_plgd(data_dir: &std::path::Path) -> anyhow::Result<(Child, String, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plgd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut operator_key = None;
    let address = loop {
        let line = lines.next().context("plgd exited before serving")??;
        if line.trim().starts_with("plg_") {
            operator_key = Some(line.trim().to_owned());
        }
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["message"] == "serving" {
            break entry["address"]
                .as_str()
                .context("no address logged")?
                .to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let operator_key = operator_key.context("no operator key printed on the first start")?;
    Ok((child, address, operator_key))
}

#[tokio::test]
async fn a_killed_server_keeps_every_acknowledged_write() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let (mut child, address, operator_key) = spawn_plgd(data_dir.path())?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let mut operator = Clients::new(channel.clone(), Identity::bearer(&operator_key)?);
    let partner_key = operator
        .admin
        .issue_api_key(v1::IssueApiKeyRequest {
            options: options(),
            identity: "crash-tool".into(),
            role: v1::Role::PartnerTool.into(),
            scope: Some(everything()),
        })
        .await?
        .into_inner()
        .api_key;
    let identity = Identity::bearer(&partner_key)?;
    let clients = Clients::new(channel, identity.clone());

    // Writers keep going until the kill; every acknowledged write is remembered.
    let (acknowledged, mut received) = tokio::sync::mpsc::unbounded_channel();
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let mut registry = clients.registry.clone();
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                loop {
                    let request = v1::RegisterPersonRequest {
                        options: options(),
                        name: "Member".into(),
                        email: String::new(),
                    };
                    match registry.register_person(request.clone()).await {
                        Ok(response) => {
                            let _ = acknowledged.send((request, response.into_inner()));
                        }
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    drop(acknowledged);
    let mut acks = Vec::new();
    while acks.len() < 200 {
        acks.push(received.recv().await.context("writers stopped early")?);
    }
    child.kill()?;
    child.wait()?;
    for writer in writers {
        writer.await?;
    }
    while let Ok(ack) = received.try_recv() {
        acks.push(ack);
    }

    let server = TestServer::start_in(data_dir).await?;
    // Request ids are scoped by key: the retry comes with the same key as the original.
    let mut clients = Clients::new(server.channel().await?, identity);
    for (request, response) in &acks {
        let result = response.result.clone().context("no result")?;
        let events = clients.read_stream(&result.stream).await?;
        assert_eq!(
            events.len(),
            1,
            "acknowledged write to {} survived",
            result.stream
        );
        assert_eq!(events[0].position, result.position);
        // The request id survived too: a retry is answered, not written again.
        let retried = tokio::time::timeout(
            Duration::from_secs(10),
            clients.registry.register_person(request.clone()),
        )
        .await??
        .into_inner();
        assert_eq!(retried.person_id, response.person_id);
    }
    Ok(())
}
