//! `plgd migrate`: an embedded data directory, filled through plgd's API, copied into a
//! KurrentDB (a second plgd's KurrentDB listener with raw writes allowed) as it is, resumably,
//! verified; and a target that is not a copy of the source is refused.

use std::path::Path;
use std::process::{Command, Output};

use plg_eventstore::kurrentdb::KurrentDbEventStore;
use plg_eventstore::sqlite::SqliteEventStore;
use plg_eventstore::{
    AppendRequest, Direction, EventStore, ExpectedRevision, IdempotencyKey, NewEvent, ReadFrom,
    RecordedEvent, StoreError, StreamName,
};
use plg_proto::v1;
use plg_server::config::Config;
use plg_testkit::{
    TestServer, kurrentdb_node, one_answer_scan, options_waiting_for_view, school_code,
    without_budget,
};
use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;

/// More than any log here holds.
const ALL: usize = 10_000;

/// A stopped plgd's data directory with a school, a study, an enrolment, a scan, a person
/// and a released wave, each written with a request id, besides the keys.
async fn filled_data_dir() -> anyhow::Result<TempDir> {
    let server = TestServer::start().await?;
    let mut tool = server.clients().await?;
    let (study_id, school_id) = tool.enrolled_school().await?;
    tool.scans
        .submit_scan(one_answer_scan(&study_id, &school_id))
        .await?;
    tool.register_person("Anna de Vries").await?;
    // The study's second event, after others: a stream that an interrupted run leaves half
    // copied.
    tool.release_wave(&study_id, "T0").await?;
    server.stop().await
}

/// A plgd serving KurrentDB's protocol with raw writes, its log empty (insecure local mode:
/// no first operator key), and the connection string to it.
async fn kurrentdb() -> anyhow::Result<(TestServer, String)> {
    let server = TestServer::start_with(tempfile::tempdir()?, kurrentdb_node).await?;
    let address = server
        .kurrentdb_address()
        .ok_or_else(|| anyhow::anyhow!("no kurrentdb listener"))?;
    Ok((server, format!("kurrentdb://{address}?tls=false")))
}

/// Runs `plgd migrate` off the test's runtime, which serves the target meanwhile.
async fn migrate(data_dir: &Path, to: &str, more: &[&str]) -> anyhow::Result<Output> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plgd"));
    command
        .args(["--log-filter", "warn", "--data-dir"])
        .arg(data_dir)
        .args(["migrate", "--to", to])
        .args(more);
    Ok(tokio::task::spawn_blocking(move || command.output()).await??)
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Everything of an event but its position, which each store assigns its own way.
fn as_stored(mut events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
    for event in &mut events {
        event.position = Default::default();
    }
    events
}

async fn source_log(data_dir: &Path) -> anyhow::Result<(SqliteEventStore, Vec<RecordedEvent>)> {
    let source = SqliteEventStore::open(data_dir.join("events.db")).await?;
    let log = source
        .read_all(Direction::Forward, ReadFrom::Start, ALL)
        .await?;
    Ok((source, log))
}

async fn target_log(target: &KurrentDbEventStore) -> anyhow::Result<Vec<RecordedEvent>> {
    Ok(target
        .read_all(Direction::Forward, ReadFrom::Start, ALL)
        .await?)
}

fn another_event() -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "note-taken".into(),
        schema_version: 1,
        data: json!({"note": "not from the source"}),
        metadata: json!({}),
    }
}

/// A new stream on the target, with one event the source does not have.
async fn write_not_from_the_source(
    target: &KurrentDbEventStore,
    stream: &StreamName,
) -> anyhow::Result<()> {
    target
        .append(AppendRequest {
            stream: stream.clone(),
            expected: ExpectedRevision::NoStream,
            events: vec![another_event()],
            idempotency: None,
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn every_event_and_request_record_is_copied_as_it_is_and_a_retried_request_replays()
-> anyhow::Result<()> {
    let data_dir = filled_data_dir().await?;
    let (_target_plgd, to) = kurrentdb().await?;

    let output = migrate(data_dir.path(), &to, &[]).await?;
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("migrate: events "), "progress: {stderr}");

    let (source, log) = source_log(data_dir.path()).await?;
    let records = source.request_records(None, ALL).await?;
    let (_, streams) = source.size().await?;
    let lines = stdout_lines(&output);
    assert_eq!(
        lines[..2],
        [
            format!(
                "copied {0} of {0} events (0 already there) in {1} streams from {2} to kurrentdb",
                log.len(),
                streams,
                data_dir.path().display()
            ),
            format!(
                "copied {0} of {0} request records (0 already there)",
                records.len()
            ),
        ]
    );
    assert!(lines[2].starts_with("verified: "), "{lines:?}");
    assert!(lines[3].contains("research view"), "{lines:?}");

    let target = KurrentDbEventStore::connect(&to).await?;
    let copied = target_log(&target).await?;
    assert_eq!(as_stored(copied.clone()), as_stored(log.clone()));
    let kinds: Vec<&str> = log.iter().map(|event| event.stream.category()).collect();
    for category in ["school", "study", "scan"] {
        assert!(kinds.contains(&category), "{category} in {kinds:?}");
    }

    // The scan, the school, the study... each request id retried against KurrentDB answers
    // the original outcome and writes nothing.
    assert!(records.len() >= 5, "{records:?}");
    for record in &records {
        let retried = target
            .append(AppendRequest {
                stream: record.outcome.stream.clone(),
                expected: ExpectedRevision::Any,
                events: vec![another_event()],
                idempotency: Some(record.key.clone()),
            })
            .await?;
        assert!(retried.replayed, "{retried:?}");
        assert_eq!(
            (retried.stream, retried.first_revision, retried.revision),
            (
                record.outcome.stream.clone(),
                record.outcome.first_revision,
                record.outcome.revision
            )
        );
        let reused = target
            .append(AppendRequest {
                stream: record.outcome.stream.clone(),
                expected: ExpectedRevision::Any,
                events: vec![another_event()],
                idempotency: Some(IdempotencyKey {
                    fingerprint: "another request".into(),
                    ..record.key.clone()
                }),
            })
            .await;
        assert!(
            matches!(reused, Err(StoreError::IdempotencyKeyReused(_))),
            "{reused:?}"
        );
    }
    assert_eq!(
        target_log(&target).await?,
        copied,
        "the retries wrote nothing"
    );
    source.close().await;
    Ok(())
}

#[tokio::test]
async fn an_interrupted_migration_continues_where_it_stopped_without_duplicates()
-> anyhow::Result<()> {
    let data_dir = filled_data_dir().await?;
    let (_target_plgd, to) = kurrentdb().await?;

    let stopped = migrate(data_dir.path(), &to, &["--stop-after-events", "4"]).await?;
    assert!(stopped.status.success(), "{stopped:?}");
    assert!(stdout_lines(&stopped)[1].starts_with("stopped as asked"));
    let target = KurrentDbEventStore::connect(&to).await?;
    assert_eq!(target_log(&target).await?.len(), 4);

    let resumed = migrate(data_dir.path(), &to, &[]).await?;
    assert!(resumed.status.success(), "{resumed:?}");
    let (source, log) = source_log(data_dir.path()).await?;
    let records = source.request_records(None, ALL).await?.len();
    let (_, streams) = source.size().await?;
    source.close().await;
    assert!(
        stdout_lines(&resumed)[0].starts_with(&format!(
            "copied {} of {} events (4 already there)",
            log.len() - 4,
            log.len()
        )),
        "{resumed:?}"
    );
    assert_eq!(
        as_stored(target_log(&target).await?),
        as_stored(log.clone())
    );

    // Once more: nothing left to copy, and the copy still verifies.
    let again = migrate(data_dir.path(), &to, &[]).await?;
    assert!(again.status.success(), "{again:?}");
    assert_eq!(
        stdout_lines(&again)[..2],
        [
            format!(
                "copied 0 of {0} events ({0} already there) in {1} streams from {2} to kurrentdb",
                log.len(),
                streams,
                data_dir.path().display()
            ),
            format!("copied 0 of {records} request records ({records} already there)"),
        ]
    );
    assert_eq!(target_log(&target).await?.len(), log.len());
    Ok(())
}

#[tokio::test]
async fn a_target_whose_stream_differs_from_the_source_is_refused() -> anyhow::Result<()> {
    let data_dir = filled_data_dir().await?;
    let (_target_plgd, to) = kurrentdb().await?;
    let (source, log) = source_log(data_dir.path()).await?;
    source.close().await;
    let stream = log[0].stream.clone();
    let target = KurrentDbEventStore::connect(&to).await?;
    write_not_from_the_source(&target, &stream).await?;

    let output = migrate(data_dir.path(), &to, &[]).await?;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "the target's stream {stream} differs from the source's at revision 0"
        )),
        "{stderr}"
    );
    assert_eq!(target_log(&target).await?.len(), 1, "nothing copied");
    Ok(())
}

#[tokio::test]
async fn a_target_holding_streams_the_source_lacks_fails_the_verification() -> anyhow::Result<()> {
    let data_dir = TestServer::start().await?.stop().await?;
    let (_target_plgd, to) = kurrentdb().await?;
    let target = KurrentDbEventStore::connect(&to).await?;
    let extra = StreamName::new("note-1")?;
    write_not_from_the_source(&target, &extra).await?;

    let output = migrate(data_dir.path(), &to, &[]).await?;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the copy does not verify"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "stream {extra}: 1 events on the target, none in the source"
        )),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn migrate_refuses_while_plgd_serves_the_data_directory() -> anyhow::Result<()> {
    let serving = TestServer::start().await?;
    let (_target_plgd, to) = kurrentdb().await?;
    let output = migrate(serving.data_dir(), &to, &[]).await?;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is in use by another process"), "{stderr}");
    let target = KurrentDbEventStore::connect(&to).await?;
    assert_eq!(target_log(&target).await?, [], "nothing copied");
    serving.stop().await?;
    Ok(())
}

/// The whole study of a research export, `format`, as its chunks' bytes.
async fn exported(
    server: &TestServer,
    study_id: &str,
    format: v1::ExportFormat,
) -> anyhow::Result<Vec<u8>> {
    let mut research = server.respondent_data_researcher().await?.research;
    let mut chunks = research
        .export_study(v1::ExportStudyRequest {
            study_id: study_id.into(),
            format: format.into(),
        })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(message) = chunks.message().await? {
        bytes.extend(message.chunk);
    }
    Ok(bytes)
}

/// The demo study (`plgd demo`: 15 schools, 3 waves, some 2,900 writes) moves into KurrentDB
/// and verifies, and plgd on the copy, with the same data directory, rebuilds a research view
/// that exports byte for byte what the embedded store's did.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_study_migrates_verifies_and_exports_as_before() -> anyhow::Result<()> {
    let server = TestServer::start_without_budget().await?;
    let study_id = plg_demo::load(
        server.channel().await?,
        Some(server.partner_tool_key().await?),
        7,
    )
    .await?
    .study_id;
    let formats = [v1::ExportFormat::Long, v1::ExportFormat::Items];
    let mut before = Vec::new();
    for format in formats {
        before.push(exported(&server, &study_id, format).await?);
    }
    let data_dir = server.stop().await?;

    let (_kurrentdb, to) = kurrentdb().await?;
    let output = migrate(data_dir.path(), &to, &[]).await?;
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout_lines(&output)
            .iter()
            .any(|line| line.starts_with("verified: ")),
        "{output:?}"
    );

    // Its checkpoints are the embedded store's positions, which mean other events on KurrentDB.
    assert!(
        !data_dir.path().join("research.db").exists(),
        "the research view is removed, to be built anew"
    );

    let store = to.parse().map_err(anyhow::Error::msg)?;
    let on_kurrentdb = TestServer::start_with(data_dir, |config| Config {
        store,
        ..without_budget(config)
    })
    .await?;
    // The view is built anew as plgd starts following KurrentDB: a write that waits for it
    // comes after every migrated event.
    let written = on_kurrentdb
        .clients()
        .await?
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: options_waiting_for_view(),
            name: "De Nieuwe Opslag".into(),
            country: v1::Country::Nl.into(),
            sector: v1::Sector::Primary.into(),
            school_code: school_code(),
            board: "Stichting Elders".into(),
        })
        .await?
        .into_inner()
        .result
        .ok_or_else(|| anyhow::anyhow!("no write result"))?;
    assert!(
        written.research_view_position >= written.position,
        "the view caught up: {written:?}"
    );
    let mut after = Vec::new();
    for format in formats {
        after.push(exported(&on_kurrentdb, &study_id, format).await?);
    }
    assert!(
        before.iter().all(|export| export.len() > 1_000),
        "real exports"
    );
    assert!(before == after, "the exports differ after the migration");
    Ok(())
}
