//! plgd running on KurrentDB (`store = "kurrentdb://…"`): a second plgd whose store is the
//! first one's KurrentDB listener, written to and read through its own gRPC API, its keys and
//! its research view surviving a restart, and the first one's log holding the events in the
//! backend's envelope.

use kurrentdb::{Client, ClientSettings, ReadStreamOptions};
use plg_eventstore::{
    AppendRequest, EventStore, ExpectedRevision, NewEvent, StreamName,
    kurrentdb::KurrentDbEventStore,
};
use plg_proto::v1;
use plg_server::{
    config::{Config, TlsConfig},
    store::StoreChoice,
};
use plg_testkit::{
    TestServer, health, kurrentdb_node, options_waiting_for_view, school_code, without_budget,
};
use serde_json::Value;

mod kurrentdb_support;
use kurrentdb_support::{WAIT, all_of, insecure_plgd};

fn connection_string(kurrentdb: &TestServer) -> anyhow::Result<String> {
    let address = kurrentdb
        .kurrentdb_address()
        .ok_or_else(|| anyhow::anyhow!("no kurrentdb listener"))?;
    Ok(format!("kurrentdb://{address}?tls=false"))
}

fn on_kurrentdb(kurrentdb: &TestServer) -> anyhow::Result<StoreChoice> {
    connection_string(kurrentdb)?
        .parse()
        .map_err(anyhow::Error::msg)
}

fn register(request_id: &str) -> v1::RegisterSchoolRequest {
    v1::RegisterSchoolRequest {
        options: Some(v1::WriteOptions {
            request_id: request_id.into(),
            ..Default::default()
        }),
        name: "De Verre Opslag".into(),
        country: v1::Country::Nl.into(),
        sector: v1::Sector::Primary.into(),
        school_code: school_code(),
        board: "Stichting Elders".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plgd_runs_on_another_plgds_kurrentdb_listener_and_survives_a_restart() -> anyhow::Result<()>
{
    let kurrentdb = insecure_plgd().await?;
    let store = on_kurrentdb(&kurrentdb)?;
    let on_store = |config| Config {
        store: store.clone(),
        ..without_budget(config)
    };
    let plgd = TestServer::start_with(tempfile::tempdir()?, &on_store).await?;
    assert!(
        plgd.operator_key().is_ok(),
        "the first operator key is issued into KurrentDB"
    );
    let mut tool = plgd.clients().await?;

    // A retried request id writes once.
    let request = register(&uuid::Uuid::new_v4().to_string());
    let first = tool
        .registry
        .register_school(request.clone())
        .await?
        .into_inner();
    let again = tool.registry.register_school(request).await?.into_inner();
    assert_eq!(again.school_id, first.school_id);
    let result = |response: &v1::RegisterSchoolResponse| {
        response
            .result
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no write result"))
    };
    assert_eq!(result(&again)?.position, result(&first)?.position);
    assert!(result(&again)?.replayed);
    let school_stream = format!("school-{}", first.school_id);
    assert_eq!(
        tool.event_types(&school_stream).await?,
        ["SchoolRegistered"]
    );

    // A study, the school enrolled, and the research view answering about it.
    let study_id = tool.define_study().await?;
    let enrolled = tool
        .registry
        .enrol_school(v1::EnrolSchoolRequest {
            options: options_waiting_for_view(),
            study_id: study_id.clone(),
            school_id: first.school_id.clone(),
        })
        .await?
        .into_inner();
    let enrolled = enrolled
        .result
        .ok_or_else(|| anyhow::anyhow!("no write result"))?;
    assert!(enrolled.research_view_position >= enrolled.position);
    let researcher = plgd.researcher().await?;
    let timeline = |mut researcher: plg_testkit::Clients, study_id: String| async move {
        anyhow::Ok(
            researcher
                .research
                .get_school_timeline(v1::GetSchoolTimelineRequest {
                    study_id,
                    school: "S01".into(),
                })
                .await?
                .into_inner(),
        )
    };
    assert_eq!(
        timeline(researcher.clone(), study_id.clone()).await?.school,
        "S01"
    );

    // The KurrentDB side's log holds the events, each in the backend's envelope.
    let registered = tool.read_stream(&school_stream).await?;
    let on_kurrentdb = raw_events(&kurrentdb, &school_stream).await?;
    assert_eq!(on_kurrentdb.len(), registered.len());
    for (raw, event) in on_kurrentdb.iter().zip(&registered) {
        assert_eq!(raw.id.to_string(), event.event_id);
        assert_eq!(raw.event_type, event.event_type);
        let envelope: Value = serde_json::from_slice(&raw.custom_metadata)?;
        assert_eq!(envelope["hash"], event.hash.as_str(), "{envelope}");
        assert_eq!(envelope["schema_version"], event.schema_version);
        assert!(envelope["recorded_at"].is_string(), "{envelope}");
    }

    // Restarted on the same data directory and store: the keys still open, the view still
    // answers, and it follows on from its checkpoint.
    let plgd = TestServer::start_with(plgd.stop().await?, &on_store).await?;
    let mut tool = plgd.clients().await?;
    let later = tool
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: options_waiting_for_view(),
            ..register("unused")
        })
        .await?
        .into_inner();
    let later = later
        .result
        .ok_or_else(|| anyhow::anyhow!("no write result"))?;
    assert!(later.research_view_position >= later.position);
    assert_eq!(
        timeline(plgd.researcher().await?, study_id).await?.school,
        "S01"
    );

    plgd.stop().await?;
    kurrentdb.stop().await?;
    Ok(())
}

/// The events of `stream` as the KurrentDB side stores them, read with KurrentDB's client.
async fn raw_events(
    kurrentdb: &TestServer,
    stream: &str,
) -> anyhow::Result<Vec<kurrentdb::RecordedEvent>> {
    let settings: ClientSettings = connection_string(kurrentdb)?.parse()?;
    let client = Client::new(settings).map_err(|error| anyhow::anyhow!("{error}"))?;
    let read = client
        .read_stream(stream, &ReadStreamOptions::default())
        .await?;
    Ok(all_of(read)
        .await?
        .into_iter()
        .filter_map(|resolved| resolved.event)
        .collect())
}

/// A self-signed certificate for 127.0.0.1 and localhost, and the config naming it.
fn certificate(dir: &std::path::Path) -> anyhow::Result<TlsConfig> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    Ok(TlsConfig { cert, key })
}

/// TLS on both sides: KurrentDB's client (built with aws-lc) and plgd's listener (ring) in
/// one process, neither panicking for want of a chosen crypto provider.
#[tokio::test(flavor = "multi_thread")]
async fn plgd_on_kurrentdb_over_tls_serves_over_tls() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    let tls = certificate(certs.path())?;
    let kurrentdb = TestServer::start_with(tempfile::tempdir()?, |config| Config {
        tls: Some(tls.clone()),
        ..kurrentdb_node(config)
    })
    .await?;
    let address = kurrentdb
        .kurrentdb_address()
        .ok_or_else(|| anyhow::anyhow!("no kurrentdb listener"))?;
    let store: StoreChoice = format!(
        "kurrentdb://localhost:{}?tls=true&tlsCAFile={}",
        address.port(),
        tls.cert.display()
    )
    .parse()
    .map_err(anyhow::Error::msg)?;
    let plgd = TestServer::start_with(tempfile::tempdir()?, |config| Config {
        store,
        tls: Some(tls.clone()),
        ..without_budget(config)
    })
    .await?;
    assert!(plgd.operator_key().is_ok(), "written to KurrentDB over TLS");
    let channel = plg_demo::connect(
        &format!("https://localhost:{}", plgd.address().port()),
        Some(&tls.cert),
    )
    .await?;
    assert_eq!(
        health(channel, "").await?,
        1,
        "serving, over TLS, on KurrentDB"
    );
    plgd.stop().await?;
    kurrentdb.stop().await?;
    Ok(())
}

/// KurrentDB's client (1.1.0) spins on a subscription the server ends cleanly. plgd's
/// listener never does: at shutdown it waits out the grace period and then drops the
/// connection, which the client reports as an error. So a subscription to a plgd that
/// stops ends, with an error, and the research view following it stops rather than spins.
#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_to_a_plgd_that_stops_ends_with_an_error() -> anyhow::Result<()> {
    let kurrentdb = insecure_plgd().await?;
    let store = KurrentDbEventStore::connect(&connection_string(&kurrentdb)?).await?;
    store
        .append(AppendRequest {
            stream: StreamName::new("order-1")?,
            expected: ExpectedRevision::NoStream,
            events: vec![NewEvent {
                id: uuid::Uuid::new_v4(),
                event_type: "order-placed".into(),
                schema_version: 1,
                data: serde_json::json!({"n": 1}),
                metadata: serde_json::json!({}),
            }],
            idempotency: None,
        })
        .await?;
    // On a thread and runtime of its own: a subscription that spins never yields, and would
    // hold this test's runtime with it.
    let (ended, end) = std::sync::mpsc::channel();
    let (live, following) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(runtime) = runtime {
            let last = runtime.block_on(async move {
                let mut subscription = store.subscribe_to_all(None);
                let mut last = None;
                while let Some(item) = futures::StreamExt::next(&mut subscription).await {
                    let _ = live.send(());
                    last = Some(item.map(|_| ()));
                }
                last
            });
            let _ = ended.send(last);
        }
    });
    // Stopped only once the subscription is under way.
    tokio::task::spawn_blocking(move || following.recv_timeout(WAIT)).await??;
    kurrentdb.stop().await?;
    let last = tokio::task::spawn_blocking(move || end.recv_timeout(WAIT)).await?;
    let Ok(Some(Err(error))) = last else {
        panic!("the subscription did not end with an error: {last:?}");
    };
    assert!(error.to_string().contains("kurrentdb"), "{error}");
    Ok(())
}
