//! Raw events and plgd's own readers of the log: the research view's projections follow the
//! same log the KurrentDB listener appends to, so an event they cannot decode (a type they
//! do not know, or a known type with garbage data) must be skipped, not stop them.

use kurrentdb::{AppendToStreamOptions, EventData, StreamState};
use plg_eventstore::Position;
use plg_proto::v1;
use plg_server::config::Config;
use plg_testkit::{options_waiting_for_view, school_code};
use serde_json::json;
use uuid::Uuid;

mod kurrentdb_support;
use kurrentdb_support::{client, start_serving_kurrentdb};

#[tokio::test(flavor = "multi_thread")]
async fn the_research_view_skips_raw_events_it_cannot_decode_and_follows_on() -> anyhow::Result<()>
{
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let school_stream = || format!("school-{}", Uuid::new_v4());
    let raw = [
        // A category the view projects, a type it does not know.
        (school_stream(), "NoSuchEvent", json!({"anything": 1})),
        // A type it knows, with data that is not that event.
        (
            school_stream(),
            "SchoolRegistered",
            json!({"garbage": true}),
        ),
        // A category it does not project at all.
        (format!("forged-{}", Uuid::new_v4()), "Forged", json!([])),
    ];
    let mut positions = Vec::new();
    for (stream, event_type, data) in raw {
        let written = operator
            .append_to_stream(
                stream,
                &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
                EventData::json(event_type, &data)?,
            )
            .await?;
        positions.push(Position(written.position.commit));
    }

    // A write after them is seen by the view: the follower went past all three.
    let mut tool = server.clients().await?;
    let registered = tool
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: options_waiting_for_view(),
            name: "Na de ruis".into(),
            country: v1::Country::Nl.into(),
            sector: v1::Sector::Primary.into(),
            school_code: school_code(),
            board: "Stichting Proef".into(),
        })
        .await?
        .into_inner();
    let result = registered
        .result
        .ok_or_else(|| anyhow::anyhow!("no write result"))?;
    assert!(
        result.research_view_position >= result.position,
        "the view reached {} of {}",
        result.research_view_position,
        result.position
    );
    assert!(positions.iter().all(|raw| raw.0 < result.position));

    // A rebuild from the start skips them too, and names them.
    let data_dir = server.stop().await?;
    let config = Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    };
    let rebuilt = plgd::rebuild(&config, &[]).await?;
    assert_eq!(rebuilt.position.0, result.position);
    // The two in projected categories are named; the forged category is not projected at
    // all, so its event is not among them.
    positions.pop();
    assert_eq!(rebuilt.skipped.into_iter().collect::<Vec<_>>(), positions);
    Ok(())
}
