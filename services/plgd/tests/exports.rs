//! Exports are bounded: per key and in all, and a client that stops reading loses its export
//! after the idle timeout, while writes and queries go on.

use std::time::Duration;

use anyhow::Context as _;
use plg_demo::{self as demo, DemoSize};
use plg_proto::v1::{self, research_service_client::ResearchServiceClient};
use plg_server::streams::StreamLimits;
use plg_testkit::{Identity, TestServer, everything, once_ok, stream_end};
use tonic::{Code, Streaming, transport::Endpoint};

const IDLE_SECONDS: u64 = 2;
const GENEROUS: Duration = Duration::from_secs(5);

fn export(study_id: &str) -> v1::ExportStudyRequest {
    v1::ExportStudyRequest {
        study_id: study_id.into(),
        format: v1::ExportFormat::Items.into(),
    }
}

/// An export whose client never reads: its HTTP/2 window stays at the protocol's minimum
/// default and is never released.
async fn stalled(
    server: &TestServer,
    key: &str,
    study_id: &str,
) -> Result<Streaming<v1::ExportStudyResponse>, tonic::Status> {
    let channel = Endpoint::from_shared(format!("http://{}", server.address()))
        .map_err(|error| tonic::Status::internal(error.to_string()))?
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .map_err(|error| tonic::Status::internal(error.to_string()))?;
    let identity =
        Identity::bearer(key).map_err(|error| tonic::Status::internal(error.to_string()))?;
    let mut research = ResearchServiceClient::with_interceptor(channel, identity);
    Ok(research.export_study(export(study_id)).await?.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_exports_are_bounded_and_stopped_while_writes_and_queries_go_on()
-> anyhow::Result<()> {
    let server = TestServer::start_with(tempfile::tempdir()?, |mut config| {
        config.streams = StreamLimits {
            export_concurrency: 2,
            streams_per_key: 2,
            stream_idle_seconds: IDLE_SECONDS,
            ..StreamLimits::default()
        };
        config
    })
    .await?;
    let summary = demo::load_sized(
        server.channel().await?,
        Some(server.partner_tool_key().await?),
        7,
        DemoSize::SMALL,
    )
    .await?;
    let study_id = summary.study_id;
    let scope = v1::Scope {
        respondent_data: true,
        ..everything()
    };
    let first = server
        .issue_key("first", v1::Role::Researcher, scope.clone())
        .await?
        .api_key;
    let second = server
        .issue_key("second", v1::Role::Researcher, scope)
        .await?
        .api_key;
    let researcher = server.clients_with(Identity::bearer(&second)?).await?;

    // Large enough that a client that does not read stalls it.
    let mut whole = researcher.research.clone();
    let mut chunks = whole.export_study(export(&study_id)).await?.into_inner();
    let mut count = 0;
    while chunks.message().await?.is_some() {
        count += 1;
    }
    assert!(count >= 20, "the export has {count} chunks");

    let mut held = [
        stalled(&server, &first, &study_id).await?,
        stalled(&server, &first, &study_id).await?,
    ];
    let over_key = stalled(&server, &first, &study_id)
        .await
        .expect_err("a third stream of one key");
    assert_eq!(over_key.code(), Code::ResourceExhausted, "{over_key:?}");
    let over_all = stalled(&server, &second, &study_id)
        .await
        .expect_err("a third export in all");
    assert_eq!(over_all.code(), Code::ResourceExhausted, "{over_all:?}");
    assert!(
        over_all.message().contains("exports are running"),
        "{over_all:?}"
    );

    // Writes and queries are not held up by the stalled exports.
    let mut tool = server.clients().await?;
    tokio::time::timeout(GENEROUS, tool.register_school())
        .await
        .context("a write took too long")??;
    let mut query = researcher.research.clone();
    tokio::time::timeout(
        GENEROUS,
        query.get_relations(v1::GetRelationsRequest {
            study_id: study_id.clone(),
            ..Default::default()
        }),
    )
    .await
    .context("a query took too long")??;

    // Once idle, the stalled exports stop and free their slots.
    let freed = once_ok(|| stalled(&server, &second, &study_id)).await;
    assert!(freed.is_some(), "a slot is freed after the idle timeout");
    let ended = stream_end(&mut held[0]).await;
    assert_eq!(
        ended.map(|status| status.code()),
        Some(Code::DeadlineExceeded),
        "a stopped export ends with an error, not as if complete"
    );
    Ok(())
}
