//! A school's history streams with bounded memory: readers that take nothing hold little,
//! a key's streams are limited, and a stream whose client takes nothing is stopped.

mod support;

use std::time::Duration;

use anyhow::Context as _;
use plg_proto::v1::{self, audit_service_client::AuditServiceClient};
use plg_testkit::{
    Clients, Identity, large_intervention, once_ok, options_waiting_for_view, stream_end,
};
use tonic::{Code, Streaming, transport::Endpoint};

use support::{Plgd, issue_key, resident, spawn_plgd_with};

/// A school with `count` large interventions logged, a few at a time; returns its id once the
/// audit index includes them all.
async fn large_history(tool: &Clients, count: usize) -> anyhow::Result<String> {
    let school_id = tool.clone().register_school().await?;
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..4 {
        let mut interventions = tool.interventions.clone();
        let school_id = school_id.clone();
        writers.spawn(async move {
            for n in (writer..count).step_by(4) {
                interventions
                    .log_intervention(large_intervention(&school_id, n))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(written) = writers.join_next().await {
        written??;
    }
    // Waits for the audit index to include everything before it.
    tool.interventions
        .clone()
        .log_intervention(v1::LogInterventionRequest {
            options: options_waiting_for_view(),
            ..large_intervention(&school_id, count)
        })
        .await?;
    Ok(school_id)
}

fn history(school_id: &str) -> v1::GetSchoolHistoryRequest {
    v1::GetSchoolHistoryRequest {
        school_id: school_id.into(),
        ..Default::default()
    }
}

/// A history whose client never reads, on a connection of its own whose HTTP/2 windows stay
/// at the protocol's default and are never released.
async fn stalled(
    plgd: &Plgd,
    key: &str,
    school_id: &str,
) -> Result<Streaming<v1::GetSchoolHistoryResponse>, tonic::Status> {
    let internal = |error: &dyn std::fmt::Display| tonic::Status::internal(error.to_string());
    let channel = Endpoint::from_shared(format!("http://{}", plgd.address))
        .map_err(|error| internal(&error))?
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .map_err(|error| internal(&error))?;
    let identity = Identity::bearer(key).map_err(|error| internal(&error))?;
    let mut audit = AuditServiceClient::with_interceptor(channel, identity);
    Ok(audit
        .get_school_history(history(school_id))
        .await?
        .into_inner())
}

/// Reads a whole history, counting its events.
async fn read_all(clients: &Clients, school_id: &str) -> anyhow::Result<usize> {
    let mut stream = clients
        .audit
        .clone()
        .get_school_history(history(school_id))
        .await?
        .into_inner();
    let mut count = 0;
    while let Some(message) = stream.message().await? {
        count += usize::from(message.event.is_some());
    }
    Ok(count)
}

// The histories are written as fast as plgd answers: that is set-up, not what is tested.
const UNLIMITED_RATE: (&str, &str) = ("PLG_BUDGET__REQUESTS_PER_SECOND", "1000000");
const UNLIMITED_BURST: (&str, &str) = ("PLG_BUDGET__BURST", "1000000");

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_take_nothing_hold_little_memory() -> anyhow::Result<()> {
    // About 4 MB of events. Before histories streamed, each reader held the whole history,
    // several times over, until it finished: 20 readers grew plgd by some 120 MiB. Now
    // each holds a few events and its HTTP/2 buffers: some 20 MiB in all.
    const EVENTS: usize = 400;
    const READERS: usize = 20;
    const CEILING: u64 = 64 * MIB;
    let data_dir = tempfile::tempdir()?;
    let plgd = spawn_plgd_with(
        data_dir.path(),
        &[
            ("PLG_STREAMS__STREAMS_PER_KEY", "64"),
            UNLIMITED_RATE,
            UNLIMITED_BURST,
        ],
    )?;
    let (tool, _) = plgd.partner_tool("tool").await?;
    let school_id = large_history(&tool, EVENTS).await?;
    let mut operator = plgd.operator().await?;
    let admin = issue_key(&mut operator, v1::Role::Administrator).await?;
    let reader = plgd.clients(&admin).await?;
    // Warms up what a history allocates once, and checks the history is whole.
    assert!(read_all(&reader, &school_id).await? > EVENTS);
    let pid = plgd.child.id();
    let before = resident(pid)?;

    let mut held = Vec::new();
    for _ in 0..READERS {
        held.push(stalled(&plgd, &admin, &school_id).await?);
    }
    // A well-behaved client is served meanwhile.
    let whole = tokio::time::timeout(Duration::from_secs(10), read_all(&reader, &school_id))
        .await
        .context("a well-behaved reader took too long")??;
    assert!(whole > EVENTS, "{whole} events");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = resident(pid)?;
    let grown = after.saturating_sub(before);
    eprintln!(
        "plgd resident memory: {} MiB before, {} MiB with {READERS} stalled readers of a {} MB \
         history",
        before / MIB,
        after / MIB,
        EVENTS * 10_000 / 1_000_000,
    );
    assert!(
        grown < CEILING,
        "{READERS} stalled readers grew plgd by {} MiB, more than {} MiB",
        grown / MIB,
        CEILING / MIB
    );
    drop(held);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_histories_are_limited_and_a_stalled_one_is_stopped() -> anyhow::Result<()> {
    // About 1.5 MB: more than a stalled client's windows and the server's buffers hold.
    const EVENTS: usize = 150;
    let data_dir = tempfile::tempdir()?;
    let plgd = spawn_plgd_with(
        data_dir.path(),
        &[
            ("PLG_STREAMS__STREAMS_PER_KEY", "2"),
            ("PLG_STREAMS__STREAM_IDLE_SECONDS", "2"),
            UNLIMITED_RATE,
            UNLIMITED_BURST,
        ],
    )?;
    let (tool, _) = plgd.partner_tool("tool").await?;
    let school_id = large_history(&tool, EVENTS).await?;
    let mut operator = plgd.operator().await?;
    let first = issue_key(&mut operator, v1::Role::Administrator).await?;
    let second = issue_key(&mut operator, v1::Role::Administrator).await?;

    let mut held = [
        stalled(&plgd, &first, &school_id).await?,
        stalled(&plgd, &first, &school_id).await?,
    ];
    let over = stalled(&plgd, &first, &school_id)
        .await
        .expect_err("a third stream of one key");
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");
    // A store verification is a stream of the key too.
    let mut audit = plgd.clients(&first).await?.audit;
    let verify = audit
        .verify_store(v1::VerifyStoreRequest {})
        .await
        .expect_err("a store verification beyond the key's streams");
    assert_eq!(verify.code(), Code::ResourceExhausted, "{verify:?}");
    // Another key is not held up.
    let other = plgd.clients(&second).await?;
    assert!(read_all(&other, &school_id).await? > EVENTS);

    // Once idle, the stalled histories stop and free their slots.
    let freed = once_ok(|| stalled(&plgd, &first, &school_id)).await;
    assert!(freed.is_some(), "a slot is freed after the idle timeout");
    let ended = stream_end(&mut held[0]).await;
    assert_eq!(
        ended.map(|status| status.code()),
        Some(Code::DeadlineExceeded),
        "a stopped history ends with an error, not as if complete"
    );
    Ok(())
}
