//! The projection runner: every event takes effect exactly once, across restarts, and a
//! rebuilt view equals the live one.

use std::{sync::Arc, time::Duration};

use plg_domain::{
    Aggregate, DomainEvent,
    consent::{Consent, ConsentEvent},
    dimension::Dimension,
    event::encode,
    ids::{ConsentId, ResponseId, SchoolId, StudyId, SubmissionId},
    instrument::Instrument,
    scan::{RecordedAnswer, RespondentRole, ScanEvent, ScanResponse},
    school::{School, SchoolEvent},
    study::{Confidentiality, Study, StudyEvent, Wave},
    values::{
        Country, ItemCode, Label, Pseudonym, SchoolCode, Score, Sector, WaveLabel, parse_date,
    },
};
use plg_eventstore::{
    AppendOutcome, AppendRequest, Direction, EventStore, ExpectedRevision, IdempotencyKey, Log,
    NewEvent, Position, ReadFrom, RecordedEvent, StoreError, StoredEvent, StoredSubscription,
    StreamName, StreamRevision, Subscription, sqlite::SqliteEventStore,
};
use plg_projections::{
    Projection, Projections, ResearchDb, all_projections, decode_answers, rebuild,
};
use rusqlite::Connection;
use tokio::sync::watch;

async fn append<A: Aggregate>(
    store: &SqliteEventStore,
    id: impl std::fmt::Display,
    events: &[A::Event],
) -> Position {
    let events = events
        .iter()
        .map(|event| {
            let encoded = encode(event).expect("encodes");
            NewEvent {
                id: uuid::Uuid::new_v4(),
                event_type: encoded.event_type,
                schema_version: event.schema_version(),
                data: encoded.data,
                metadata: serde_json::json!({ "occurred_at": "2016-02-01T10:00:00Z" }),
            }
        })
        .collect();
    let request = AppendRequest {
        stream: StreamName::for_entity(A::CATEGORY, id),
        expected: ExpectedRevision::Any,
        events,
        idempotency: None,
    };
    store.append(request).await.expect("appends").position
}

struct Study1 {
    study_id: StudyId,
    school_id: SchoolId,
}

async fn registry(store: &SqliteEventStore) -> Study1 {
    let code = SchoolCode::parse(Country::Netherlands, "12AB").expect("code");
    let school_id = SchoolId::derive(Country::Netherlands, &code);
    append::<School>(
        store,
        school_id,
        &[SchoolEvent::SchoolRegistered {
            school_id,
            name: Label::parse("Het Baken").expect("name"),
            country: Country::Netherlands,
            sector: Sector::Secondary,
            school_code: code,
            board: None,
        }],
    )
    .await;
    let study_id = StudyId::new_random();
    let wave = |label: &str, opens: &str, closes: &str| {
        Wave::new(
            WaveLabel::parse(label).expect("label"),
            parse_date(opens).expect("date"),
            parse_date(closes).expect("date"),
        )
        .expect("wave")
    };
    append::<Study>(
        store,
        study_id,
        &[
            StudyEvent::StudyDefined {
                study_id,
                title: Label::parse("De school als PLG").expect("title"),
                description: None,
                // Out of order on purpose: ordinals follow the opening dates.
                waves: vec![
                    wave("T2", "2017-01-01", "2017-03-31"),
                    wave("T1", "2016-01-01", "2016-03-31"),
                ],
                instrument: Instrument::built_in(),
                confidentiality: Confidentiality::default(),
            },
            StudyEvent::SchoolEnrolled { school_id },
        ],
    )
    .await;
    Study1 {
        study_id,
        school_id,
    }
}

fn submitted(
    study: &Study1,
    respondent: &str,
    score: u32,
    supersedes: Option<SubmissionId>,
) -> (ResponseId, SubmissionId, ScanEvent) {
    submitted_in(study, "T1", respondent, score, supersedes)
}

fn submitted_in(
    study: &Study1,
    wave: &str,
    respondent: &str,
    score: u32,
    supersedes: Option<SubmissionId>,
) -> (ResponseId, SubmissionId, ScanEvent) {
    let wave = WaveLabel::parse(wave).expect("label");
    let respondent = Pseudonym::parse(respondent).expect("pseudonym");
    let response_id = ResponseId::derive(study.study_id, study.school_id, &wave, &respondent);
    let submission_id = SubmissionId::new_random();
    let event = ScanEvent::ScanSubmitted {
        response_id,
        submission_id,
        study_id: study.study_id,
        school_id: study.school_id,
        wave,
        respondent,
        role: RespondentRole::Teacher,
        instrument_version: Instrument::built_in().version,
        answered_on: parse_date("2016-02-01").expect("date"),
        answers: vec![RecordedAnswer {
            item_code: ItemCode::parse("E1.1").expect("code"),
            dimension: Dimension::InternalProfessionalisation,
            current: Some(Score::new(score).expect("score")),
            desired: None,
        }],
        supersedes,
    };
    (response_id, submission_id, event)
}

/// A temporary data directory with an event store in which one study is registered, and the
/// path its research view goes to.
struct Fixture {
    dir: tempfile::TempDir,
    db: std::path::PathBuf,
    store: SqliteEventStore,
    study: Study1,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("research.db");
        let store = SqliteEventStore::open(dir.path().join("events.db"))
            .await
            .expect("store");
        let study = registry(&store).await;
        Self {
            dir,
            db,
            store,
            study,
        }
    }
}

/// Runs the projections until they have covered `position`, then stops them.
async fn project_until(store: &SqliteEventStore, db: &std::path::Path, position: Position) {
    let projections = Projections::open(Arc::new(store.clone()), db).expect("opens");
    let mut progress = projections.progress();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(projections.run(async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    tokio::time::timeout(
        Duration::from_secs(10),
        progress.wait_for(|reached| *reached >= position),
    )
    .await
    .expect("the view catches up")
    .expect("progress is published");
    stop.send(true).expect("runner listens");
    running.await.expect("runner stops");
}

fn rows(db: &std::path::Path, sql: &str) -> Vec<String> {
    let connection = Connection::open(db).expect("opens");
    let mut statement = connection.prepare(sql).expect("prepares");
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|index| {
                    row.get::<_, rusqlite::types::Value>(index)
                        .map(|value| format!("{value:?}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|values| values.join("|"))
        })
        .expect("queries")
        .collect::<Result<_, _>>()
        .expect("reads")
}

/// Each submission's respondent, status and current score of its first answer, in log order.
fn first_answers(db: &std::path::Path) -> Vec<String> {
    let connection = Connection::open(db).expect("opens");
    let mut statement = connection
        .prepare(
            "SELECT s.respondent, s.status, a.answers FROM scan_submissions s
             LEFT JOIN scan_answers a USING (submission_id) ORDER BY s.position",
        )
        .expect("prepares");
    statement
        .query_map([], |row| {
            let answers: Option<Vec<u8>> = row.get(2)?;
            let current = answers
                .as_deref()
                .and_then(decode_answers)
                .and_then(|answers| answers.first().and_then(|answer| answer.current));
            Ok(format!(
                "Text({:?})|Text({:?})|{}",
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                current.map_or("Null".to_owned(), |score| format!("Integer({score})"))
            ))
        })
        .expect("queries")
        .collect::<Result<_, _>>()
        .expect("reads")
}

/// Every table of the view, every row, in a stable order.
fn dump(db: &std::path::Path) -> Vec<String> {
    let tables = rows(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'projection_checkpoints' ORDER BY name",
    );
    let mut all: Vec<String> = tables
        .iter()
        .flat_map(|table| {
            let table = table.trim_start_matches("Text(\"").trim_end_matches("\")");
            rows(db, &format!("SELECT '{table}', * FROM {table}"))
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn every_event_takes_effect_once_across_restarts_and_a_rebuild_equals_the_live_view() {
    let Fixture {
        dir: _dir,
        db,
        store,
        study,
    } = Fixture::new().await;
    let (response_a, first_a, event) = submitted(&study, "r-a", 2, None);
    let mut last = append::<ScanResponse>(&store, response_a, &[event]).await;
    project_until(&store, &db, last).await;

    // After a restart, the projections continue from their checkpoints: a second application
    // of an earlier event would violate a primary key and stop the projection.
    let (_, _, resubmitted) = submitted(&study, "r-a", 4, Some(first_a));
    append::<ScanResponse>(&store, response_a, &[resubmitted]).await;
    let (response_b, second_b, event) = submitted(&study, "r-b", 3, None);
    append::<ScanResponse>(&store, response_b, &[event]).await;
    last = append::<ScanResponse>(
        &store,
        response_b,
        &[ScanEvent::ScanRetracted {
            submission_id: second_b,
            reason: None,
        }],
    )
    .await;
    project_until(&store, &db, last).await;

    assert_eq!(
        first_answers(&db),
        [
            "Text(\"r-a\")|Text(\"superseded\")|Integer(2)",
            "Text(\"r-a\")|Text(\"current\")|Integer(4)",
            "Text(\"r-b\")|Text(\"retracted\")|Integer(3)"
        ]
        .map(String::from)
        .to_vec(),
        "history keeps both submissions; only the latest counts; the retracted one does not"
    );
    assert_eq!(
        rows(&db, "SELECT label, ordinal FROM waves ORDER BY ordinal"),
        ["Text(\"T1\")|Integer(1)", "Text(\"T2\")|Integer(2)"]
    );
    assert_eq!(
        rows(&db, "SELECT pseudonym FROM enrolments"),
        ["Text(\"S01\")"]
    );
    assert_eq!(
        rows(&db, "SELECT DISTINCT position FROM projection_checkpoints"),
        [format!("Integer({})", last.0)]
    );

    let live = dump(&db);
    let rebuilt_to = rebuild(Arc::new(store.clone()), &db, &[])
        .await
        .expect("rebuilds");
    assert_eq!(rebuilt_to.position, last);
    assert!(rebuilt_to.skipped.is_empty());
    assert_eq!(
        dump(&db),
        live,
        "a rebuilt view is identical to the live one"
    );
    assert!(
        live.len() > 40,
        "the dump covers the view: {} rows",
        live.len()
    );

    let unknown = rebuild(Arc::new(store.clone()), &db, &["nonsense".to_owned()]).await;
    assert!(unknown.is_err());
    store.close().await;
}

fn withdrawn(study: &Study1, respondent: &str) -> (ConsentId, ConsentEvent) {
    let respondent = Pseudonym::parse(respondent).expect("pseudonym");
    let consent_id = ConsentId::derive(study.study_id, study.school_id, &respondent);
    let event = ConsentEvent::ConsentWithdrawn {
        consent_id,
        study_id: study.study_id,
        school_id: study.school_id,
        respondent,
        reason: None,
    };
    (consent_id, event)
}

/// Respondents and statuses of every submission, in log order.
fn statuses(db: &std::path::Path) -> Vec<String> {
    rows(
        db,
        "SELECT respondent, wave, status FROM scan_submissions ORDER BY position",
    )
}

#[tokio::test]
async fn a_withdrawal_of_consent_takes_all_the_respondents_submissions_out_even_one_that_raced_it()
{
    let Fixture {
        dir: _dir,
        db,
        store,
        study,
    } = Fixture::new().await;
    let (response_t1, _, event) = submitted_in(&study, "T1", "r-a", 2, None);
    append::<ScanResponse>(&store, response_t1, &[event]).await;
    let (response_t2, first_t2, event) = submitted_in(&study, "T2", "r-a", 3, None);
    append::<ScanResponse>(&store, response_t2, &[event]).await;
    let (response_b, _, event) = submitted_in(&study, "T1", "r-b", 4, None);
    append::<ScanResponse>(&store, response_b, &[event]).await;
    let (consent_id, event) = withdrawn(&study, "r-a");
    let mut last = append::<Consent>(&store, consent_id, &[event]).await;
    project_until(&store, &db, last).await;
    assert_eq!(
        statuses(&db),
        [
            "Text(\"r-a\")|Text(\"T1\")|Text(\"withdrawn\")",
            "Text(\"r-a\")|Text(\"T2\")|Text(\"withdrawn\")",
            "Text(\"r-b\")|Text(\"T1\")|Text(\"current\")",
        ]
    );

    // A resubmission that passed ScanService's check before the withdrawal landed, and a
    // retraction after it: neither brings anything back, and the withdrawal stays the reason.
    let (_, raced, event) = submitted_in(&study, "T2", "r-a", 5, Some(first_t2));
    append::<ScanResponse>(&store, response_t2, &[event]).await;
    last = append::<ScanResponse>(
        &store,
        response_t2,
        &[ScanEvent::ScanRetracted {
            submission_id: raced,
            reason: None,
        }],
    )
    .await;
    project_until(&store, &db, last).await;
    assert_eq!(
        statuses(&db),
        [
            "Text(\"r-a\")|Text(\"T1\")|Text(\"withdrawn\")",
            "Text(\"r-a\")|Text(\"T2\")|Text(\"withdrawn\")",
            "Text(\"r-b\")|Text(\"T1\")|Text(\"current\")",
            "Text(\"r-a\")|Text(\"T2\")|Text(\"withdrawn\")",
        ]
    );
    assert_eq!(
        rows(&db, "SELECT respondent FROM consent_withdrawals"),
        ["Text(\"r-a\")"]
    );

    let live = dump(&db);
    rebuild(Arc::new(store.clone()), &db, &[])
        .await
        .expect("rebuilds");
    assert_eq!(
        dump(&db),
        live,
        "a rebuilt view is identical to the live one"
    );
    store.close().await;
}

/// The `scans` projection's schema before consent could be withdrawn.
const SCANS_SCHEMA_BEFORE_CONSENT: &str = "CREATE TABLE scan_submissions (
    submission_id      TEXT PRIMARY KEY,
    response_id        TEXT NOT NULL,
    study_id           TEXT NOT NULL,
    school_id          TEXT NOT NULL,
    wave               TEXT NOT NULL,
    respondent         TEXT NOT NULL,
    role               TEXT NOT NULL,
    instrument_version TEXT NOT NULL,
    answered_on        TEXT NOT NULL,
    position           INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('current', 'superseded', 'retracted'))
) STRICT;
CREATE TABLE scan_answers (
    submission_id TEXT NOT NULL,
    item_code     TEXT NOT NULL,
    dimension     TEXT NOT NULL,
    current       INTEGER,
    desired       INTEGER,
    PRIMARY KEY (submission_id, item_code)
) STRICT;";

fn checkpoints(db: &std::path::Path) -> Vec<String> {
    rows(
        db,
        "SELECT projection, position FROM projection_checkpoints ORDER BY projection",
    )
}

/// Checkpoints count in the log they were taken from: a view opened to follow another log
/// (plgd moved from the embedded store to KurrentDB, or back) starts again from its start,
/// and one opened to follow the same log keeps its place.
#[tokio::test]
async fn a_view_built_on_another_log_rebuilds_every_projection_on_open() {
    let Fixture {
        dir: _dir,
        db,
        store,
        study,
    } = Fixture::new().await;
    let (response_id, _, event) = submitted(&study, "r-a", 2, None);
    let last = append::<ScanResponse>(&store, response_id, &[event]).await;
    project_until(&store, &db, last).await;
    let all = all_projections();
    let projections: Vec<&dyn Projection> = all.iter().map(AsRef::as_ref).collect();
    let at_last = [format!("Integer({})", last.0)];
    let positions = || rows(&db, "SELECT DISTINCT position FROM projection_checkpoints");

    ResearchDb::open_following(&db, &projections, Log::Embedded).expect("opens");
    assert_eq!(
        positions(),
        at_last,
        "the same log: the view keeps its place"
    );
    let live = dump(&db);
    ResearchDb::open_following(&db, &projections, Log::KurrentDb).expect("opens");
    assert_eq!(positions(), ["Integer(0)"], "another log: from the start");
    assert!(statuses(&db).is_empty(), "the scans' tables start empty");
    ResearchDb::open_following(&db, &projections, Log::KurrentDb).expect("opens");
    assert_eq!(
        rows(&db, "SELECT log FROM followed_log"),
        ["Text(\"kurrentdb\")"]
    );
    // Back on the embedded store (this test's): from the start again, to the same view.
    project_until(&store, &db, last).await;
    assert_eq!(positions(), at_last);
    assert_eq!(dump(&db), live);

    // A view from before the log was recorded followed the embedded store.
    Connection::open(&db)
        .expect("opens")
        .execute_batch("DROP TABLE followed_log")
        .expect("drops");
    ResearchDb::open_following(&db, &projections, Log::Embedded).expect("opens");
    assert_eq!(positions(), at_last);
    Connection::open(&db)
        .expect("opens")
        .execute_batch("DROP TABLE followed_log")
        .expect("drops");
    ResearchDb::open_following(&db, &projections, Log::KurrentDb).expect("opens");
    assert_eq!(positions(), ["Integer(0)"]);
    store.close().await;
}

#[tokio::test]
async fn a_view_built_with_another_schema_rebuilds_every_projection_from_the_log_on_open() {
    let Fixture {
        dir: _dir,
        db,
        store,
        study,
    } = Fixture::new().await;
    let (response_id, _, event) = submitted(&study, "r-a", 2, None);
    append::<ScanResponse>(&store, response_id, &[event]).await;
    let (consent_id, event) = withdrawn(&study, "r-a");
    let last = append::<Consent>(&store, consent_id, &[event]).await;
    project_until(&store, &db, last).await;
    let live = dump(&db);
    let all = all_projections();
    let projections: Vec<&dyn Projection> = all.iter().map(AsRef::as_ref).collect();

    // As an older build left it: the scans' tables with the old CHECK, and its schema on
    // record. Opening resets every projection, not only that one: scans replaying behind a
    // current registry would show a released school-wave with part of its respondents.
    let connection = Connection::open(&db).expect("opens");
    connection
        .execute_batch("DROP TABLE scan_submissions; DROP TABLE scan_answers;")
        .expect("drops");
    connection
        .execute_batch(SCANS_SCHEMA_BEFORE_CONSENT)
        .expect("creates the old tables");
    connection
        .execute(
            "UPDATE projection_schemas SET schema = ?1 WHERE projection = 'scans'",
            [SCANS_SCHEMA_BEFORE_CONSENT],
        )
        .expect("records the old schema");
    drop(connection);
    ResearchDb::open(&db, &projections).expect("opens");
    assert_eq!(
        rows(&db, "SELECT DISTINCT position FROM projection_checkpoints"),
        ["Integer(0)"]
    );
    assert!(statuses(&db).is_empty(), "the scans' tables start empty");
    assert!(
        rows(&db, "SELECT label FROM waves").is_empty(),
        "the registry's tables start empty too"
    );
    project_until(&store, &db, last).await;
    assert_eq!(
        dump(&db),
        live,
        "the projection rebuilt itself from the log"
    );

    // A file from before schemas were recorded: every projection rebuilds once.
    Connection::open(&db)
        .expect("opens")
        .execute_batch("DROP TABLE projection_schemas")
        .expect("drops");
    ResearchDb::open(&db, &projections).expect("opens");
    assert_eq!(
        rows(&db, "SELECT DISTINCT position FROM projection_checkpoints"),
        ["Integer(0)"]
    );
    project_until(&store, &db, last).await;
    assert_eq!(dump(&db), live);

    // Opening a view that is up to date changes nothing.
    ResearchDb::open(&db, &projections).expect("opens");
    assert_eq!(
        rows(&db, "SELECT DISTINCT position FROM projection_checkpoints"),
        [format!("Integer({})", last.0)]
    );
    store.close().await;
}

/// The projections' checkpoints, read until `done` holds of them (or 10 s pass).
async fn checkpoints_until(db: &std::path::Path, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let read = checkpoints(db);
        if done(&read) || tokio::time::Instant::now() >= deadline {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_projection_that_fails_mid_batch_keeps_its_rows_and_checkpoint_and_the_others_go_on() {
    let Fixture {
        dir: _dir,
        db,
        store,
        study,
    } = Fixture::new().await;
    let (response_a, _, event) = submitted(&study, "r-a", 2, None);
    let before = append::<ScanResponse>(&store, response_a, &[event]).await;
    project_until(&store, &db, before).await;
    let rows_before = statuses(&db);

    // The scans projection fails on its second statement for the next scan, after its first
    // has written a row: the batch's other projections apply it all the same.
    Connection::open(&db)
        .expect("opens")
        .execute_batch(
            "CREATE TRIGGER simulated_failure BEFORE INSERT ON scan_answers
             BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;",
        )
        .expect("creates the trigger");
    let (response_b, _, event) = submitted(&study, "r-b", 3, None);
    append::<ScanResponse>(&store, response_b, &[event]).await;
    let (consent_id, event) = withdrawn(&study, "r-b");
    let after = append::<Consent>(&store, consent_id, &[event]).await;
    let projections = Projections::open(Arc::new(store.clone()), &db).expect("opens");
    let progress = projections.progress();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(projections.run(async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    let at = |name: &str, position: Position| format!("Text(\"{name}\")|Integer({})", position.0);
    let expected = [
        at("audit", after),
        at("interventions", after),
        at("plgs", after),
        at("registry", after),
        at("scans", before),
    ];
    assert_eq!(
        checkpoints_until(&db, |read| read == expected).await,
        expected,
        "the failed projection stays where it was, the others move past the batch"
    );
    assert_eq!(
        statuses(&db),
        rows_before,
        "the failed projection's rows are as before the batch: none of the batch's is there"
    );
    assert_eq!(
        rows(&db, "SELECT COUNT(*) FROM audit_school_streams"),
        ["Integer(4)"],
        "the school's, the two scans' and the consent's streams"
    );
    assert_eq!(
        *progress.borrow(),
        before,
        "the view is current only up to the failed projection"
    );
    stop.send(true).expect("runner listens");
    running.await.expect("runner stops");

    // Once the cause is gone, the projection goes on from its checkpoint on the next start.
    Connection::open(&db)
        .expect("opens")
        .execute_batch("DROP TRIGGER simulated_failure")
        .expect("drops the trigger");
    project_until(&store, &db, after).await;
    let live = dump(&db);
    rebuild(Arc::new(store.clone()), &db, &[])
        .await
        .expect("rebuilds");
    assert_eq!(dump(&db), live, "every event took effect once");
    store.close().await;
}

#[tokio::test]
async fn a_log_of_many_batches_is_followed_and_rebuilt_alike_and_one_projection_alone() {
    let Fixture {
        dir,
        db,
        store,
        study,
    } = Fixture::new().await;
    // More events than a batch of following, and than a page of rebuilding.
    let mut last = Position(0);
    for round in 0..9 {
        let scans: Vec<_> = (0..600)
            .map(|n| submitted(&study, &format!("r-{round}-{n}"), 1 + n % 5, None))
            .collect();
        for (response_id, _, event) in scans.into_iter().step_by(150) {
            append::<ScanResponse>(&store, response_id, &[event]).await;
        }
        let (response_id, _, _) = submitted(&study, &format!("r-{round}-0"), 1, None);
        let events: Vec<_> = (0..600)
            .map(|n| submitted(&study, &format!("r-{round}-0"), 1 + n % 5, None).2)
            .collect();
        last = append::<ScanResponse>(&store, response_id, &events).await;
    }
    assert!(last.0 > 5_000, "the log holds {} events", last.0);
    project_until(&store, &db, last).await;
    let live = dump(&db);
    assert_eq!(
        rows(&db, "SELECT COUNT(*) FROM scan_submissions"),
        [format!("Integer({})", 9 * 604)]
    );

    let rebuilt = rebuild(Arc::new(store.clone()), &db, &[])
        .await
        .expect("rebuilds");
    assert_eq!(rebuilt.position, last);
    assert_eq!(
        dump(&db),
        live,
        "a rebuilt view is identical to the followed one"
    );
    assert!(
        !dir.path().join("research.db-wal").exists(),
        "the rebuilt file holds everything, without a write-ahead log beside it"
    );

    // Rebuilding one projection leaves the others' rows and checkpoints as they were.
    let before = checkpoints(&db);
    rebuild(Arc::new(store.clone()), &db, &["scans".to_owned()])
        .await
        .expect("rebuilds one");
    assert_eq!(dump(&db), live);
    assert_eq!(checkpoints(&db), before);
    store.close().await;
}

/// Submits one scan in its response's stream: its response and submission ids.
async fn submit(
    store: &SqliteEventStore,
    study: &Study1,
    respondent: &str,
    supersedes: Option<SubmissionId>,
) -> (ResponseId, SubmissionId) {
    let (response_id, submission_id, event) = submitted(study, respondent, 2, supersedes);
    append::<ScanResponse>(store, response_id, &[event]).await;
    (response_id, submission_id)
}

#[tokio::test]
async fn a_rebuild_changes_the_status_of_submissions_still_waiting_from_earlier_pages() {
    let fixture = Fixture::new().await;
    let (store, study, db) = (&fixture.store, &fixture.study, &fixture.db);
    // Submissions on the rebuild's first page, changed only after more than a page of others.
    let (_, first) = submit(store, study, "r-resubmits", None).await;
    let (retracted, second) = submit(store, study, "r-retracts", None).await;
    submit(store, study, "r-withdraws", None).await;
    for round in 0..8 {
        let respondent = format!("r-{round}");
        let (response_id, _, _) = submitted(study, &respondent, 1, None);
        let events: Vec<_> = (0..600)
            .map(|n| submitted(study, &respondent, 1 + n % 5, None).2)
            .collect();
        append::<ScanResponse>(store, response_id, &events).await;
    }
    submit(store, study, "r-resubmits", Some(first)).await;
    let retraction = ScanEvent::ScanRetracted {
        submission_id: second,
        reason: None,
    };
    append::<ScanResponse>(store, retracted, &[retraction]).await;
    let (consent_id, event) = withdrawn(study, "r-withdraws");
    let last = append::<Consent>(store, consent_id, &[event]).await;
    assert!(last.0 > 4_096, "the log holds {} events", last.0);
    project_until(store, db, last).await;
    let live = dump(db);
    assert_eq!(
        rows(
            db,
            "SELECT respondent, status FROM scan_scores
             WHERE respondent NOT LIKE 'r-_' ORDER BY respondent, status"
        ),
        [
            "Text(\"r-resubmits\")|Text(\"current\")",
            "Text(\"r-resubmits\")|Text(\"superseded\")",
            "Text(\"r-retracts\")|Text(\"retracted\")",
            "Text(\"r-withdraws\")|Text(\"withdrawn\")",
        ]
    );

    rebuild(Arc::new(store.clone()), db, &[])
        .await
        .expect("rebuilds");
    assert_eq!(
        dump(db),
        live,
        "a rebuilt view is identical to the live one"
    );
    store.close().await;
}

/// The store, counting the events the global log's reads return.
#[derive(Debug)]
struct CountingReads {
    store: SqliteEventStore,
    read: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl EventStore for CountingReads {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.store.append(request).await
    }

    async fn find_idempotent_outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        self.store.find_idempotent_outcome(key).await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store
            .read_stream(stream, direction, from, max_count)
            .await
    }

    async fn read_all(
        &self,
        direction: Direction,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.store.read_all(direction, from, max_count).await?;
        self.read
            .fetch_add(events.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(events)
    }

    async fn read_all_stored(
        &self,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let events = self.store.read_all_stored(from, max_count).await?;
        self.read
            .fetch_add(events.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(events)
    }

    async fn stream_revision(
        &self,
        stream: &StreamName,
    ) -> Result<Option<StreamRevision>, StoreError> {
        self.store.stream_revision(stream).await
    }

    async fn streams_in_category(&self, category: &str) -> Result<Vec<StreamName>, StoreError> {
        self.store.streams_in_category(category).await
    }

    fn subscribe_to_all(&self, after: Option<Position>) -> Subscription {
        self.store.subscribe_to_all(after)
    }

    fn subscribe_to_all_stored(&self, after: Option<Position>) -> StoredSubscription {
        self.store.subscribe_to_all_stored(after)
    }

    fn subscribe_to_stream(
        &self,
        stream: StreamName,
        after: Option<StreamRevision>,
    ) -> Subscription {
        self.store.subscribe_to_stream(stream, after)
    }

    fn log(&self) -> Log {
        self.store.log()
    }
}

#[tokio::test]
async fn a_rebuild_reads_the_log_once_for_every_projection() {
    let Fixture {
        dir: _dir,
        db,
        store,
        study,
    } = Fixture::new().await;
    let (response_id, _, event) = submitted(&study, "r-a", 2, None);
    let last = append::<ScanResponse>(&store, response_id, &[event]).await;
    let counting = Arc::new(CountingReads {
        store: store.clone(),
        read: 0.into(),
    });
    let rebuilt = rebuild(counting.clone(), &db, &[]).await.expect("rebuilds");
    assert_eq!(rebuilt.position, last);
    assert_eq!(
        counting.read.load(std::sync::atomic::Ordering::Relaxed),
        usize::try_from(last.0).expect("fits"),
        "every event of the log read once, for all five projections"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_views_wal_stays_short_while_it_follows_a_steady_stream_of_scans() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let projections = Projections::open(Arc::new(store.clone()), &fixture.db).expect("opens");
    let mut progress = projections.progress();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(projections.run(async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    // One scan at a time, each committed to the view on its own: the follower commits during
    // nearly every one of the view's regular checkpoints, so unless it starts the WAL afresh
    // itself, the WAL grows on to the backstop.
    let wal = fixture.dir.path().join("research.db-wal");
    let mut longest = 0;
    for n in 0..2_000 {
        let (response_id, _, event) = submitted(&fixture.study, &format!("r-{n}"), 1 + n % 5, None);
        let last = append::<ScanResponse>(store, response_id, &[event]).await;
        progress
            .wait_for(|reached| *reached >= last)
            .await
            .expect("progress is published");
        longest = longest.max(std::fs::metadata(&wal).map_or(0, |wal| wal.len()));
    }
    stop.send(true).expect("runner listens");
    running.await.expect("runner stops");
    // The view's writer checkpoints inside a commit only at the backstop.
    let backstop = u64::try_from(plg_eventstore::wal::BACKSTOP_PAGES).expect("positive") * 4096;
    assert!(longest < backstop / 2, "the WAL reached {longest} bytes");
    store.close().await;
}
