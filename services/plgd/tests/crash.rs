//! A plgd killed with SIGKILL in the middle of writing loses nothing it acknowledged.

mod support;

use std::time::Duration;

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::{Clients, TestServer, options};

#[tokio::test]
async fn a_killed_server_keeps_every_acknowledged_write() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    // The writers go as fast as they are answered, and stop at the first refusal.
    let mut plgd = support::spawn_plgd_with(
        data_dir.path(),
        &[
            ("PLG_BUDGET__REQUESTS_PER_SECOND", "1000000"),
            ("PLG_BUDGET__BURST", "1000000"),
        ],
    )?;
    let (clients, identity) = plgd.partner_tool("crash-tool").await?;

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
    plgd.child.kill()?;
    plgd.child.wait()?;
    for writer in writers {
        writer.await?;
    }
    while let Ok(ack) = received.try_recv() {
        acks.push(ack);
    }

    let server = TestServer::start_with(data_dir, plg_testkit::without_budget).await?;
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
