//! KurrentDB's official Rust client against plgd's KurrentDB listener: reads of a stream and
//! of `$all` show what the event log shows, a catch-up subscription goes live, raw writes are
//! refused unless allowed (`kurrentdb_writes.rs`), and only operator and administrator keys
//! read, within their scope.

use std::{net::SocketAddr, time::Duration};

use kurrentdb::{
    AppendToStreamOptions, Client, DeleteStreamOptions, EventData, ReadAllOptions,
    ReadStreamOptions, ResolvedEvent, StreamPosition, SubscribeToAllOptions,
    SubscribeToStreamOptions, SubscriptionEvent, SubscriptionFilter,
};
use plg_proto::v1;
use plg_server::{app::AppError, config::Config};
use plg_testkit::TestServer;

mod kurrentdb_support;
use kurrentdb_support::{
    WAIT, all_of, client, start_serving_kurrentdb, start_with_one_request_in_flight,
};

async fn start() -> anyhow::Result<TestServer> {
    start_serving_kurrentdb(false).await
}

/// `(id, stream, revision, type)` of each event, as the event log and the client show them.
fn summary(events: &[ResolvedEvent]) -> Vec<(String, String, u64, String)> {
    events
        .iter()
        .map(|event| {
            let event = event.get_original_event();
            (
                event.id.to_string(),
                event.stream_id().to_owned(),
                event.revision,
                event.event_type.clone(),
            )
        })
        .collect()
}

fn log_summary(events: &[v1::Event]) -> Vec<(String, String, u64, String)> {
    events
        .iter()
        .map(|event| {
            (
                event.event_id.clone(),
                event.stream.clone(),
                event.revision,
                event.event_type.clone(),
            )
        })
        .collect()
}

async fn next_event(
    subscription: &mut kurrentdb::Subscription,
) -> anyhow::Result<SubscriptionEvent> {
    Ok(tokio::time::timeout(WAIT, subscription.next_subscription_event()).await??)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_reads_streams_and_all_and_follows_a_subscription_live() -> anyhow::Result<()> {
    let server = start().await?;
    let mut tool = server.clients().await?;
    let (study, _) = tool.enrolled_school().await?;
    let stream = format!("study-{study}");
    let logged = tool.read_stream(&stream).await?;
    assert!(logged.len() >= 2, "the study stream has events to page");
    let operator = client(&server, server.operator_key()?)?;

    // Forwards from the start, and backwards from the end.
    let forwards = all_of(
        operator
            .read_stream(stream.as_str(), &ReadStreamOptions::default())
            .await?,
    )
    .await?;
    assert_eq!(summary(&forwards), log_summary(&logged));
    let backwards = all_of(
        operator
            .read_stream(
                stream.as_str(),
                &ReadStreamOptions::default()
                    .backwards()
                    .position(StreamPosition::End),
            )
            .await?,
    )
    .await?;
    let mut reversed = log_summary(&logged);
    reversed.reverse();
    assert_eq!(summary(&backwards), reversed);
    let from_second = all_of(
        operator
            .read_stream(
                stream.as_str(),
                &ReadStreamOptions::default()
                    .position(StreamPosition::Position(1))
                    .max_count(1),
            )
            .await?,
    )
    .await?;
    assert_eq!(summary(&from_second), log_summary(&logged[1..2]));

    // Each event as stored: its payload, metadata, position and when it was recorded.
    let first = forwards[0].get_original_event();
    let data: serde_json::Value = serde_json::from_slice(&first.data)?;
    assert_eq!(
        data,
        serde_json::from_str::<serde_json::Value>(&logged[0].data_json)?
    );
    assert!(first.is_json);
    let metadata: serde_json::Value = serde_json::from_slice(&first.custom_metadata)?;
    assert!(metadata.is_object(), "{metadata}");
    assert_eq!(first.position.commit, logged[0].position);
    assert_eq!(first.position.prepare, logged[0].position);
    let age = chrono::Utc::now() - first.created;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::minutes(5),
        "created {} is when the event was recorded",
        first.created
    );

    // $all, forwards as the event log reads it for an administrator of everything, and
    // backwards.
    let (_, log) = server.administrator().await?.read_all().await?;
    let all = all_of(operator.read_all(&ReadAllOptions::default()).await?).await?;
    assert_eq!(summary(&all), log_summary(&log));
    let last_two = all_of(
        operator
            .read_all(
                &ReadAllOptions::default()
                    .backwards()
                    .position(StreamPosition::End)
                    .max_count(2),
            )
            .await?,
    )
    .await?;
    let mut newest = log_summary(&log[log.len() - 2..]);
    newest.reverse();
    assert_eq!(summary(&last_two), newest);
    let studies = all_of(
        operator
            .read_all(
                &ReadAllOptions::default()
                    .filter(SubscriptionFilter::on_stream_name().add_prefix("study-")),
            )
            .await?,
    )
    .await?;
    let studies_logged: Vec<_> = log
        .iter()
        .filter(|event| event.stream.starts_with("study-"))
        .cloned()
        .collect();
    assert_eq!(summary(&studies), log_summary(&studies_logged));

    // A stream never written is not found.
    let missing = operator
        .read_stream(
            "study-00000000000000000000000000000000",
            &ReadStreamOptions::default(),
        )
        .await?
        .next()
        .await;
    assert!(
        matches!(missing, Err(kurrentdb::Error::ResourceNotFound)),
        "{missing:?}"
    );

    // A catch-up subscription: confirmed, the stored events, caught up, then a new one.
    let mut subscription = operator
        .subscribe_to_stream(
            stream.as_str(),
            &SubscribeToStreamOptions::default().start_from(StreamPosition::Start),
        )
        .await;
    assert!(matches!(
        next_event(&mut subscription).await?,
        SubscriptionEvent::Confirmed(_)
    ));
    let mut caught_up = Vec::new();
    loop {
        match next_event(&mut subscription).await? {
            SubscriptionEvent::EventAppeared(event) => caught_up.push(event),
            SubscriptionEvent::CaughtUp(_) => break,
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(summary(&caught_up), log_summary(&logged));
    tool.release_wave(&study, "T0").await?;
    let live = match next_event(&mut subscription).await? {
        SubscriptionEvent::EventAppeared(event) => event,
        other => anyhow::bail!("unexpected {other:?}"),
    };
    let logged = tool.read_stream(&stream).await?;
    assert_eq!(summary(&[live]), log_summary(&logged[logged.len() - 1..]));

    // And one to $all from its end, which is caught up at once and sees the next write.
    let mut everything = operator
        .subscribe_to_all(&SubscribeToAllOptions::default().position(StreamPosition::End))
        .await;
    assert!(matches!(
        next_event(&mut everything).await?,
        SubscriptionEvent::Confirmed(_)
    ));
    assert!(matches!(
        next_event(&mut everything).await?,
        SubscriptionEvent::CaughtUp(_)
    ));
    let school = tool.register_school().await?;
    let appeared = loop {
        match next_event(&mut everything).await? {
            SubscriptionEvent::EventAppeared(event) => break event,
            SubscriptionEvent::Checkpoint(_) => continue,
            other => anyhow::bail!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        appeared.get_original_event().stream_id(),
        format!("school-{school}")
    );

    // Raw writes are refused: the ledger's services are the only writers.
    let append = operator
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default(),
            EventData::json("Forged", &serde_json::json!({}))?,
        )
        .await;
    assert!(
        matches!(append, Err(kurrentdb::Error::AccessDenied)),
        "{append:?}"
    );
    let delete = operator
        .delete_stream(stream.as_str(), &DeleteStreamOptions::default())
        .await;
    // The client's tonic is not the workspace's: its code by name.
    assert!(
        matches!(&delete, Err(kurrentdb::Error::Grpc { code, .. }) if format!("{code:?}") == "FailedPrecondition"),
        "{delete:?}"
    );
    assert_eq!(tool.read_stream(&stream).await?.len(), logged.len());
    server.stop().await?;
    Ok(())
}

async fn refused(client: &Client, stream: &str) -> bool {
    let read = match client
        .read_stream(stream, &ReadStreamOptions::default())
        .await
    {
        Ok(mut read) => read.next().await,
        Err(error) => Err(error),
    };
    matches!(read, Err(kurrentdb::Error::AccessDenied))
}

async fn refused_all(client: &Client) -> bool {
    let read = match client.read_all(&ReadAllOptions::default()).await {
        Ok(mut read) => read.next().await,
        Err(error) => Err(error),
    };
    matches!(read, Err(kurrentdb::Error::AccessDenied))
}

#[tokio::test(flavor = "multi_thread")]
async fn only_operators_and_administrators_within_their_scope_read() -> anyhow::Result<()> {
    let server = start().await?;
    let mut tool = server.clients().await?;
    let inside = tool.register_school().await?;
    let outside = tool.register_school().await?;
    let (inside_stream, outside_stream) = (format!("school-{inside}"), format!("school-{outside}"));

    let scoped = server
        .issue_key(
            "scoped administrator",
            v1::Role::Administrator,
            v1::Scope {
                school_ids: vec![inside.clone()],
                ..Default::default()
            },
        )
        .await?
        .api_key;
    let administrator = client(&server, &scoped)?;
    let read = all_of(
        administrator
            .read_stream(inside_stream.as_str(), &ReadStreamOptions::default())
            .await?,
    )
    .await?;
    assert_eq!(read.len(), 1);
    assert!(refused(&administrator, &outside_stream).await);
    assert!(refused_all(&administrator).await, "$all is for operators");

    let partner_tool = client(&server, server.partner_tool_key().await?)?;
    assert!(refused(&partner_tool, &inside_stream).await);
    assert!(refused_all(&partner_tool).await);

    let operator = server.operator_key()?;
    let (id, _) = operator
        .rsplit_once('_')
        .ok_or_else(|| anyhow::anyhow!("not an api key"))?;
    let wrong_secret = client(&server, &format!("{id}_not-the-secret"))?;
    assert!(refused(&wrong_secret, &inside_stream).await);
    assert!(refused_all(&wrong_secret).await);
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_counts_against_its_keys_requests_in_flight_on_both_listeners()
-> anyhow::Result<()> {
    let server = start_with_one_request_in_flight(false).await?;
    let operator = client(&server, server.operator_key()?)?;
    let mut admin = server.operator().await?.admin;
    let mut subscription = operator
        .subscribe_to_all(&SubscribeToAllOptions::default())
        .await;
    assert!(matches!(
        next_event(&mut subscription).await?,
        SubscriptionEvent::Confirmed(_)
    ));
    let listed = admin.list_api_keys(v1::ListApiKeysRequest {}).await;
    assert_eq!(
        listed.map(|_| ()).map_err(|status| status.code()),
        Err(tonic::Code::ResourceExhausted),
        "the subscription is the key's one request in flight"
    );
    let read = operator.read_all(&ReadAllOptions::default()).await;
    assert!(
        matches!(&read, Err(kurrentdb::Error::Grpc { code, .. }) if format!("{code:?}") == "ResourceExhausted"),
        "{read:?}"
    );
    drop(subscription);
    drop(operator);
    let freed = tokio::time::timeout(WAIT, async {
        loop {
            match admin.list_api_keys(v1::ListApiKeysRequest {}).await {
                Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other,
            }
        }
    })
    .await?;
    assert!(freed.is_ok(), "{freed:?}");
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn insecure_local_mode_serves_kurrentdb_on_loopback_only() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let address = SocketAddr::from(([0, 0, 0, 0], 0));
    let built = plgd::build(Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        kurrentdb_listen: Some(address),
        data_dir: data_dir.path().to_owned(),
        insecure_local: true,
        ..Config::default()
    })
    .await;
    assert!(
        matches!(built, Err(AppError::InsecureNotLocal(refused)) if refused == address),
        "{built:?}"
    );
    Ok(())
}
