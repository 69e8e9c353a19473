//! Event ids on raw writes through plgd's KurrentDB listener, with KurrentDB's official Rust
//! client: ids are unique across plgd's store, so an id it already holds is a conflict, the
//! caller's mistake, or a racing copy of the same append, and never a storage failure.

use kurrentdb::{AppendToStreamOptions, Client, EventData, StreamState};
use serde_json::json;
use uuid::Uuid;

mod kurrentdb_support;
use kurrentdb_support::{client, never_written, start_serving_kurrentdb};

fn new_stream() -> String {
    format!("raw-{}", Uuid::new_v4().simple())
}

fn event(id: Uuid) -> anyhow::Result<EventData> {
    Ok(EventData::json("Noted", &json!({"id": id}))?.id(id))
}

fn any() -> AppendToStreamOptions {
    AppendToStreamOptions::default().stream_state(StreamState::Any)
}

/// The status code of a refused append, by name (the client's tonic is not the workspace's).
fn refused_code(written: &kurrentdb::Result<kurrentdb::WriteResult>) -> Option<String> {
    match written {
        Err(kurrentdb::Error::Grpc { code, .. }) => Some(format!("{code:?}")),
        _ => None,
    }
}

async fn append(
    client: &Client,
    stream: &str,
    ids: &[Uuid],
) -> anyhow::Result<kurrentdb::Result<kurrentdb::WriteResult>> {
    let events = ids
        .iter()
        .map(|id| event(*id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(client.append_to_stream(stream, &any(), events).await)
}

/// `written` was `INVALID_ARGUMENT` naming `id`, and nothing reached `stream`.
async fn assert_refused_naming(
    client: &Client,
    stream: &str,
    written: &kurrentdb::Result<kurrentdb::WriteResult>,
    id: Uuid,
) -> anyhow::Result<()> {
    assert_eq!(
        refused_code(written).as_deref(),
        Some("InvalidArgument"),
        "{written:?}"
    );
    let message = format!("{written:?}");
    assert!(message.contains(&id.to_string()), "names the id: {message}");
    assert!(never_written(client, stream).await?, "nothing written");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_twice_in_an_append_or_held_by_another_stream_is_the_callers_mistake()
-> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;

    let (stream, twice) = (new_stream(), Uuid::new_v4());
    let written = append(&operator, &stream, &[twice, twice]).await?;
    assert_refused_naming(&operator, &stream, &written, twice).await?;

    let (first, second, held) = (new_stream(), new_stream(), Uuid::new_v4());
    append(&operator, &first, &[held]).await??;
    let written = append(&operator, &second, &[Uuid::new_v4(), held]).await?;
    assert_refused_naming(&operator, &second, &written, held).await?;
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_deeper_in_the_stream_than_an_any_append_looks_is_a_conflict() -> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let (stream, early) = (new_stream(), Uuid::new_v4());
    append(&operator, &stream, &[early]).await??;
    append(&operator, &stream, &[Uuid::new_v4()]).await??;
    let written = append(&operator, &stream, &[early]).await?;
    assert!(
        matches!(written, Err(kurrentdb::Error::WrongExpectedVersion { .. })),
        "{written:?}"
    );
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_any_appends_of_the_same_events_both_succeed_at_one_position() -> anyhow::Result<()>
{
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let other = client(&server, server.operator_key()?)?;
    for _ in 0..20 {
        let (stream, ids) = (new_stream(), [Uuid::new_v4(), Uuid::new_v4()]);
        let (one, two) = tokio::join!(
            append(&operator, &stream, &ids),
            append(&other, &stream, &ids)
        );
        let (one, two) = (one??, two??);
        assert_eq!(one.position, two.position);
        assert_eq!(one.next_expected_version, 1);
        assert_eq!(two.next_expected_version, 1);
    }
    server.stop().await?;
    Ok(())
}
