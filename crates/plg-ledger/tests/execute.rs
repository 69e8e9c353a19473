//! The write core on its own, without any transport: erasure outlives a caller that gives up,
//! and a retry racing its original gets the original's result.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use plg_domain::{
    Aggregate,
    ids::{PersonId, SchoolId},
    person::{Person, PersonCommand, PersonDetails, RegisterPerson},
    school::{RegisterSchool, School},
    values::{Country, Label, Personal, SchoolCode, Sector},
};
use plg_eventstore::{Direction, EventStore as _, Position, ReadFrom, sqlite::SqliteEventStore};
use plg_ledger::{
    Caller, Command, CommandContext, Delivery, Ledger, ServiceError, Subject, SubjectOf,
};
use plg_vault::Vault;
use tokio::sync::watch;

/// A domain command addressed straight at an aggregate, open to anyone.
struct Direct<A: Aggregate> {
    id: String,
    command: A::Command,
}

impl<A> Command for Direct<A>
where
    A: Aggregate<Command: Send + Sync, Event: Send> + Send + Sync,
{
    type Aggregate = A;

    fn target(&self) -> String {
        self.id.clone()
    }

    fn subject(&self) -> SubjectOf<A> {
        SubjectOf::Request(Subject::Anyone)
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<A::Command, ServiceError> {
        Ok(self.command)
    }
}

fn context(request_id: &str, wait_for_research_view: bool) -> CommandContext {
    let now = Utc::now();
    CommandContext::new(
        Caller::insecure_local(),
        Delivery {
            request_id: request_id.into(),
            expected_revision: None,
            wait_for_research_view,
            occurred_at: now,
            received_at: now,
            tool: String::new(),
            correlation_id: "c-1".into(),
            fingerprint: format!("fingerprint of {request_id}"),
        },
    )
}

fn register_school() -> Direct<School> {
    let code = SchoolCode::parse(Country::Netherlands, "12AB").expect("valid code");
    let school_id = SchoolId::derive(Country::Netherlands, &code);
    Direct {
        id: school_id.to_string(),
        command: RegisterSchool {
            school_id,
            name: Label::parse("Het Baken").expect("valid name"),
            country: Country::Netherlands,
            sector: Sector::Secondary,
            school_code: code,
            board: None,
        },
    }
}

#[tokio::test]
async fn an_erasure_destroys_the_key_even_when_the_caller_gives_up_waiting() {
    let store = SqliteEventStore::open_temporary()
        .await
        .expect("store opens");
    let dir = tempfile::tempdir().expect("temp dir");
    let vault = Arc::new(Vault::open(dir.path().join(plg_vault::VAULT_FILE)).expect("opens"));
    // A research view that never catches up: a write that waits for it waits in full.
    let (_progress, view) = watch::channel(Position(0));
    let ledger = Ledger::new(Arc::new(store))
        .with_vault(Arc::clone(&vault))
        .with_research_view(view);
    let person_id = PersonId::new_random();
    let register = Direct::<Person> {
        id: person_id.to_string(),
        command: PersonCommand::Register(RegisterPerson {
            person_id,
            details: Personal::new(PersonDetails {
                name: Label::parse("Anna de Vries").expect("valid name"),
                email: None,
            }),
        }),
    };
    ledger
        .execute(&context("r-1", false), Ok(register))
        .await
        .expect("registers");
    assert_eq!(vault.subjects().expect("lists").len(), 1);

    let erase = Direct::<Person> {
        id: person_id.to_string(),
        command: PersonCommand::ErasePersonalData,
    };
    let erase_context = context("r-2", true);
    let erasing = ledger.execute(&erase_context, Ok(erase));
    // The client's deadline passes while the reply waits for the view: tonic drops the
    // handler's future.
    tokio::time::timeout(Duration::from_millis(300), erasing)
        .await
        .expect_err("still waiting for the research view");
    let (state, _) = ledger
        .load::<Person>(&Ledger::stream::<Person>(person_id))
        .await
        .expect("loads");
    assert!(state.erased, "the erasure is recorded");
    // Give a slow disk time to finish the destruction the dropped future started.
    for _ in 0..50 {
        if vault.subjects().expect("lists").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        vault.subjects().expect("lists"),
        Vec::<String>::new(),
        "and the key destroyed"
    );
}

/// On a runtime with one thread: sealing waits for the new key's commit off that thread, so
/// the runtime goes on meanwhile (here, to let the key store go).
#[tokio::test(flavor = "current_thread")]
async fn sealing_waits_for_the_key_store_without_holding_up_the_runtime() {
    let store = SqliteEventStore::open_temporary()
        .await
        .expect("store opens");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(plg_vault::VAULT_FILE);
    let vault = Arc::new(Vault::open(&path).expect("opens"));
    let ledger = Ledger::new(Arc::new(store)).with_vault(Arc::clone(&vault));
    // Another process holds the key store's write lock.
    let other = rusqlite::Connection::open(&path).expect("opens");
    other.execute_batch("BEGIN IMMEDIATE").expect("locks");
    let person_id = PersonId::new_random();
    let registering = tokio::spawn(async move {
        ledger
            .execute(&context("r-1", false), Ok(register_person(person_id)))
            .await
            .map(|_| ())
    });
    // Had the sealing blocked this runtime's one thread, the lock would be let go only after
    // the key's write had given up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    other.execute_batch("ROLLBACK").expect("unlocks");
    registering
        .await
        .expect("joins")
        .expect("registers once the lock is free");
    assert_eq!(vault.subjects().expect("lists").len(), 1);
}

/// Registers the school again from inside its own preparation: the original lands while the
/// retry is still preparing.
struct RacedByItsOriginal {
    retry: Direct<School>,
}

impl Command for RacedByItsOriginal {
    type Aggregate = School;

    fn target(&self) -> String {
        self.retry.target()
    }

    fn subject(&self) -> SubjectOf<School> {
        SubjectOf::Request(Subject::Anyone)
    }

    async fn prepare(
        self,
        ledger: &Ledger,
        context: &CommandContext,
    ) -> Result<RegisterSchool, ServiceError> {
        let original = ledger.execute(context, Ok(register_school())).await?;
        assert!(!original.outcome.replayed);
        Ok(self.retry.command)
    }
}

#[tokio::test]
async fn a_retry_that_races_its_original_returns_the_original_result() {
    let store = SqliteEventStore::open_temporary()
        .await
        .expect("store opens");
    let ledger = Ledger::new(Arc::new(store.clone()));
    let context = context("r-1", false);
    let retry = RacedByItsOriginal {
        retry: register_school(),
    };
    let retried = ledger
        .execute(&context, Ok(retry))
        .await
        .expect("the retry answers with the original result");
    assert!(retried.outcome.replayed);
    let written = store
        .read_stream(
            &retried.outcome.stream,
            Direction::Forward,
            ReadFrom::Start,
            10,
        )
        .await
        .expect("reads");
    assert_eq!(written.len(), 1);
}

/// Two ledgers on one store, as two processes: each keeps states of its own.
async fn two_writers() -> (tempfile::TempDir, std::path::PathBuf, Ledger, Ledger) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = Arc::new(SqliteEventStore::open(&path).await.expect("store opens"));
    let vault = Arc::new(Vault::open(dir.path().join(plg_vault::VAULT_FILE)).expect("opens"));
    let first = Ledger::new(store.clone()).with_vault(Arc::clone(&vault));
    let second = Ledger::new(store).with_vault(vault);
    (dir, path, first, second)
}

fn register_person(person_id: PersonId) -> Direct<Person> {
    Direct {
        id: person_id.to_string(),
        command: PersonCommand::Register(RegisterPerson {
            person_id,
            details: Personal::new(PersonDetails {
                name: Label::parse("Anna de Vries").expect("valid name"),
                email: None,
            }),
        }),
    }
}

#[tokio::test]
async fn a_kept_state_takes_in_what_another_writer_appended_since() {
    let (_dir, _, first, second) = two_writers().await;
    the_first_sees_what_the_second_erased(&first, &second).await;
}

/// Two processes sharing one data directory (single-service binaries) open the store shared,
/// and the next load of one takes in what the other appended, however recently it read.
#[tokio::test]
async fn a_load_takes_in_what_another_process_appended_since() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let vault = Arc::new(Vault::open(dir.path().join(plg_vault::VAULT_FILE)).expect("opens"));
    let process = || async {
        let store = SqliteEventStore::open(&path).await.expect("store opens");
        Ledger::new(Arc::new(store)).with_vault(Arc::clone(&vault))
    };
    let (first, second) = (process().await, process().await);
    the_first_sees_what_the_second_erased(&first, &second).await;
}

/// The first registers a person and keeps the state, the second erases them, and the
/// first's next load has the erasure.
async fn the_first_sees_what_the_second_erased(first: &Ledger, second: &Ledger) {
    let person_id = PersonId::new_random();
    let stream = Ledger::stream::<Person>(person_id);
    first
        .execute(&context("r-1", false), Ok(register_person(person_id)))
        .await
        .expect("registers");
    let (kept, revision) = first.load::<Person>(&stream).await.expect("loads");
    assert!(!kept.erased);
    assert_eq!(revision.map(|revision| revision.0), Some(0));

    let erase = Direct::<Person> {
        id: person_id.to_string(),
        command: PersonCommand::ErasePersonalData,
    };
    second
        .execute(&context("r-2", false), Ok(erase))
        .await
        .expect("the other writer erases");

    let (state, revision) = first.load::<Person>(&stream).await.expect("loads");
    assert!(state.erased, "the first writer sees the other's erasure");
    assert_eq!(revision.map(|revision| revision.0), Some(1));
}

#[tokio::test]
async fn a_load_reads_only_what_its_stream_gained_since_it_was_kept() {
    let (_dir, path, first, second) = two_writers().await;
    let person_id = PersonId::new_random();
    let stream = Ledger::stream::<Person>(person_id);
    first
        .execute(&context("r-1", false), Ok(register_person(person_id)))
        .await
        .expect("registers");
    first
        .load::<Person>(&stream)
        .await
        .expect("loads and keeps");
    // Damage the event the first writer already folded: only a full replay reads it again.
    rusqlite::Connection::open(&path)
        .expect("opens")
        .execute(
            "UPDATE events SET data = '{not json' WHERE stream = ?1 AND revision = 0",
            [stream.as_str()],
        )
        .expect("damages");
    let (_, revision) = first.load::<Person>(&stream).await.expect("the kept state");
    assert_eq!(revision.map(|revision| revision.0), Some(0));
    second
        .load::<Person>(&stream)
        .await
        .expect_err("a writer without the state replays the damaged event");
}
