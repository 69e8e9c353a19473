//! Erasure of personal data: sealed in the log from the start, unreadable everywhere once the
//! person's key is destroyed, while the rest of the history and every statistic stay intact.

use crate::kit::{Clients, TestServer, options, payload, violated_rule};
use plg_proto::v1;
use tonic::Code;

/// The raw bytes of every stored event's payload, as someone opening the file would see them.
fn stored_payloads(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let file = rusqlite::Connection::open_with_flags(
        crate::kit::event_log_file(data_dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut statement = file.prepare("SELECT data FROM events ORDER BY position")?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows.join("\n"))
}

fn erase(person_id: &str, options: Option<v1::WriteOptions>) -> v1::ErasePersonalDataRequest {
    v1::ErasePersonalDataRequest {
        options,
        person_id: person_id.into(),
    }
}

async fn wave_scores(server: &TestServer, study_id: &str) -> anyhow::Result<Vec<v1::WaveScore>> {
    let mut research = server.researcher().await?.research;
    let reply = research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: study_id.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(reply.scores)
}

async fn scans(clients: &mut Clients, study_id: &str, school_id: &str) -> anyhow::Result<()> {
    for (index, score) in [2, 3, 4, 4, 5].into_iter().enumerate() {
        let mut write = options();
        if let Some(options) = write.as_mut() {
            options.wait_for_research_view = true;
        }
        clients
            .scans
            .submit_scan(v1::SubmitScanRequest {
                options: write,
                study_id: study_id.into(),
                school_id: school_id.into(),
                wave: "T1".into(),
                respondent: format!("r-{index}"),
                role: v1::RespondentRole::Teacher.into(),
                answers: vec![v1::ItemAnswer {
                    item_code: "C1.1".into(),
                    current: Some(score),
                    desired: None,
                }],
                instrument_version: String::new(),
            })
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn erased_personal_data_is_unreadable_everywhere_and_the_numbers_stay() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    // People belong to no school: erasure takes an administrator whose scope is everything.
    let mut administrator = server.administrator().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let person_id = clients
        .registry
        .register_person(v1::RegisterPersonRequest {
            options: options(),
            name: "Anna de Vries".into(),
            email: "anna@example.org".into(),
        })
        .await?
        .into_inner()
        .person_id;
    clients
        .form_plg(&school_id, std::slice::from_ref(&person_id))
        .await?;
    scans(&mut clients, &study_id, &school_id).await?;

    // Sealed from the start: the file never holds the name, the API shows it.
    let stored = stored_payloads(server.data_dir())?;
    assert!(
        !stored.contains("Anna") && !stored.contains("anna@example.org"),
        "no plaintext in the store"
    );
    let stream = format!("person-{person_id}");
    let events = administrator.read_stream(&stream).await?;
    assert_eq!(
        payload(&events[0])?["details"]["personal"]["revealed"]["email"],
        "anna@example.org"
    );
    let scores_before = wave_scores(&server, &study_id).await?;

    let request = erase(&person_id, options());
    let erased = administrator
        .registry
        .erase_personal_data(request.clone())
        .await?
        .into_inner();
    let events = administrator.read_stream(&stream).await?;
    assert_eq!(
        events
            .iter()
            .map(|event| event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["PersonRegistered", "PersonalDataErased"]
    );
    assert_eq!(payload(&events[0])?["details"]["personal"], "erased");
    assert_eq!(
        payload(&events[1])?,
        serde_json::json!({ "person_id": person_id }),
        "the erasure records no data"
    );
    assert!(!events.iter().any(|event| event.data_json.contains("Anna")));

    // The key is gone from the key store, and so the sealed bytes can never be opened.
    let keys = rusqlite::Connection::open_with_flags(
        server.data_dir().join("keys.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let remaining: i64 = keys.query_row(
        "SELECT COUNT(*) FROM subject_keys WHERE subject = ?1",
        [&stream],
        |row| row.get(0),
    )?;
    assert_eq!(remaining, 0);
    drop(keys);
    let (_, all) = administrator.read_all().await?;
    assert!(!all.iter().any(|event| event.data_json.contains("Anna")));

    // The rest of the history and every statistic are unchanged.
    assert_eq!(wave_scores(&server, &study_id).await?, scores_before);

    // Retried, the same request answers as before; a new request is refused.
    let retried = administrator
        .registry
        .erase_personal_data(request)
        .await?
        .into_inner();
    assert_eq!(
        retried.result.map(|r| (r.position, r.replayed)),
        erased.result.map(|r| (r.position, true))
    );
    let again = administrator
        .registry
        .erase_personal_data(erase(&person_id, options()))
        .await
        .expect_err("erased already");
    assert_eq!(violated_rule(&again).as_deref(), Some("already_erased"));
    let unknown = administrator
        .registry
        .erase_personal_data(erase("00000000-0000-4000-8000-000000000000", options()))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);

    // It stays erased across a restart.
    let server = server.restart().await?;
    let mut administrator = server.administrator().await?;
    let events = administrator.read_stream(&stream).await?;
    assert_eq!(payload(&events[0])?["details"]["personal"], "erased");
    Ok(())
}

/// A crash after the erasure was recorded but before the key was destroyed: the next start
/// destroys it.
#[tokio::test]
async fn an_erasure_recorded_before_a_crash_is_finished_on_the_next_start() -> anyhow::Result<()> {
    use plg_eventstore::{AppendRequest, ExpectedRevision, NewEvent, StreamName};

    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let person = clients.register_person("Anna de Vries").await?;
    let data_dir = server.stop().await?;

    let stream = format!("person-{person}");
    TestServer::append_while_stopped(
        data_dir.path(),
        AppendRequest {
            stream: StreamName::new(stream.as_str())?,
            expected: ExpectedRevision::Exact(plg_eventstore::StreamRevision(0)),
            events: vec![NewEvent {
                id: uuid::Uuid::new_v4(),
                event_type: "PersonalDataErased".into(),
                schema_version: 1,
                data: serde_json::json!({ "person_id": person }),
                metadata: serde_json::json!({}),
            }],
            idempotency: None,
        },
    )
    .await?;

    let server = TestServer::start_in(data_dir).await?;
    let mut clients = server.clients().await?;
    let events = clients.read_stream(&stream).await?;
    assert_eq!(payload(&events[0])?["details"]["personal"], "erased");
    let keys = rusqlite::Connection::open(server.data_dir().join("keys.db"))?;
    let left: i64 = keys.query_row(
        "SELECT COUNT(*) FROM subject_keys WHERE subject = ?1",
        [&stream],
        |row| row.get(0),
    )?;
    assert_eq!(left, 0, "the key is destroyed");
    Ok(())
}

/// The key of `stream` in the key store, if it still has one.
fn stored_key(data_dir: &std::path::Path, stream: &str) -> anyhow::Result<Option<Vec<u8>>> {
    use rusqlite::OptionalExtension;
    let keys = rusqlite::Connection::open(data_dir.join("keys.db"))?;
    Ok(keys
        .query_row(
            "SELECT key FROM subject_keys WHERE subject = ?1",
            [stream],
            |row| row.get(0),
        )
        .optional()?)
}

/// An erasure recorded while the key survived (its destruction failed, or the caller gave up
/// before it ran): asking again, with a new request id or the same one, destroys it.
#[tokio::test]
async fn asking_again_destroys_a_key_that_survived_its_recorded_erasure() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let mut administrator = server.administrator().await?;
    let person = clients.register_person("Anna de Vries").await?;
    let stream = format!("person-{person}");
    let key = stored_key(server.data_dir(), &stream)?.expect("a key");
    let request = erase(&person, options());
    administrator
        .registry
        .erase_personal_data(request.clone())
        .await?;
    assert_eq!(stored_key(server.data_dir(), &stream)?, None);

    let survive = || -> anyhow::Result<()> {
        let keys = rusqlite::Connection::open(server.data_dir().join("keys.db"))?;
        keys.execute(
            "INSERT INTO subject_keys (subject, key) VALUES (?1, ?2)",
            rusqlite::params![stream, key],
        )?;
        Ok(())
    };
    survive()?;
    let events = administrator.read_stream(&stream).await?;
    assert_eq!(
        payload(&events[0])?["details"]["personal"]["revealed"]["name"],
        "Anna de Vries",
        "the key survived"
    );
    let again = administrator
        .registry
        .erase_personal_data(erase(&person, options()))
        .await
        .expect_err("erased already");
    assert_eq!(violated_rule(&again).as_deref(), Some("already_erased"));
    assert_eq!(stored_key(server.data_dir(), &stream)?, None);
    let events = administrator.read_stream(&stream).await?;
    assert_eq!(payload(&events[0])?["details"]["personal"], "erased");

    // A retry of the original request destroys it too.
    survive()?;
    let retried = administrator
        .registry
        .erase_personal_data(request)
        .await?
        .into_inner();
    assert_eq!(retried.result.map(|r| r.replayed), Some(true));
    assert_eq!(stored_key(server.data_dir(), &stream)?, None);
    Ok(())
}

/// The request's fingerprint stays in `events.db` after an erasure: it must not let anyone
/// with the file (an old backup) confirm a guessed name or email.
#[tokio::test]
async fn the_stored_fingerprint_of_a_registration_leaves_out_the_personal_data()
-> anyhow::Result<()> {
    use prost::Message;
    use sha2::{Digest, Sha256};

    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let request = v1::RegisterPersonRequest {
        options: options(),
        name: "Anna de Vries".into(),
        email: "anna@example.org".into(),
    };
    clients.registry.register_person(request.clone()).await?;

    // What an attacker computes for a guess, knowing the request id from the stored key.
    let digest = |message: &v1::RegisterPersonRequest| -> String {
        Sha256::new()
            .chain_update(b"RegisterPersonRequest")
            .chain_update([0])
            .chain_update(message.encode_to_vec())
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    };
    let fingerprints = crate::kit::stored_fingerprints(server.data_dir())?;
    assert!(
        !fingerprints.contains(&digest(&request)),
        "a guessed name is confirmed"
    );
    let without_personal_data = v1::RegisterPersonRequest {
        name: String::new(),
        email: String::new(),
        ..request
    };
    assert!(fingerprints.contains(&digest(&without_personal_data)));
    Ok(())
}
