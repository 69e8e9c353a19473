//! Crypto-shredding of personal data. Each data subject has its own AES-256-GCM key; personal
//! values are sealed with it before they reach the event log, so the log never holds them in
//! the clear. Destroying the key erases the data everywhere it was written, while every event
//! stays in place.
//!
//! A personal value appears in an event's JSON as `{"personal": {"revealed": …}}`. Sealing turns
//! it into `{"personal": {"sealed": {"subject", "nonce", "ciphertext"}}}`; unsealing turns it back,
//! or into `{"personal": "erased"}` once the subject's key is gone.
//!
//! The keys live in their own SQLite file (`keys.db`), with `secure_delete` on, so a destroyed
//! key's bytes are overwritten rather than left in free pages. The file has no write-ahead log:
//! a WAL keeps earlier versions of pages (a destroyed key among them) until it is checkpointed
//! and reset, while a rollback journal (`journal_mode=DELETE`) is unlinked as each transaction
//! commits, so once [`Vault::erase`] returns no file holds the key. A crash before that commit
//! leaves a hot journal that rolls the erasure back: the key is then still there, as if the
//! erasure had not started. Backups of the file must expire, or an erased subject's key would
//! survive in them.
//!
//! # Concurrency
//!
//! One writer thread owns the only write connection of the process (`writer`). It takes
//! every key creation queued at that moment (up to 256), writes them in one transaction and
//! commits once, so a batch pays one commit's syncs (journal, file, directory) where one
//! transaction per key paid them per key, one after another. Each caller is answered only
//! after that commit: a key is durable before [`Vault::seal`] returns, so before any event
//! sealed with it can be appended. When the transaction fails, every caller in it gets the
//! error and none of its keys is stored. The queue holds 1,024 jobs; callers beyond that wait
//! for room. Erasures go through the same queue, each in a transaction of its own, after the
//! creations queued before them.
//!
//! Reads (unsealing, listing subjects) take one of a few kept read connections (`readers`),
//! never the writer's queue. A rollback journal allows no more: a reader still waits while a
//! commit holds the file's exclusive lock (its writes and syncs), and a commit waits for the
//! readers inside it to finish. WAL would let them pass each other, and is what this file
//! must not use. A reader that followed the file into WAL mode (another tool switched it) is
//! closed after its read, so that it cannot keep the file there.
//!
//! Crash cases: a crash before a batch commits leaves a hot journal that the next connection
//! rolls back, so none of the batch's keys exists, and none of their callers was answered, so
//! no event refers to them. A crash after the commit leaves keys whose events may never be
//! appended: harmless, as a key alone holds no personal data (a retry sealing for the same
//! subject finds and uses it). Several processes sharing the file each have a writer;
//! SQLite's lock serialises their commits.

use std::{path::Path, sync::Arc, time::Duration};

use aes_gcm::{
    Aes256Gcm, Key, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value, json};

mod readers;
mod writer;

use readers::ReadPool;
use writer::Writer;

/// The file of the key store inside the data directory.
pub const VAULT_FILE: &str = "keys.db";

/// How long a connection waits for another (or another process) holding the file's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const MARKER: &str = "personal";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("key store: {0}")]
    Store(#[from] rusqlite::Error),
    /// The transaction that was to hold the key failed: no key of its batch was stored.
    #[error("key store: keys not stored: {0}")]
    NotStored(Arc<rusqlite::Error>),
    #[error("key store: its writer has stopped")]
    WriterStopped,
    #[error("sealed personal data is malformed: {0}")]
    Malformed(&'static str),
    #[error("sealed personal data does not open with its subject's key")]
    Tampered,
    #[error(
        "key store stays in journal mode {0}, which can keep erased keys (another process holds it open in wal mode?)"
    )]
    JournalMode(String),
}

/// The key store. Its methods block (on SQLite, and on the writer for creations and
/// erasures): async callers run them on a blocking thread.
#[derive(Debug)]
pub struct Vault {
    /// Creates and destroys keys, creations queued together in one transaction.
    writer: Writer,
    /// Reads keys alongside the writer's queue.
    readers: ReadPool,
}

impl Vault {
    /// Opens (creating if needed) the key store. A store kept in WAL mode by an earlier build
    /// is switched to a rollback journal, which checkpoints and deletes its WAL, and with it
    /// any erased key the WAL still held.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, VaultError> {
        let path = path.as_ref();
        Ok(Self {
            writer: Writer::start(open_writer_connection(path)?)?,
            readers: ReadPool::new(path),
        })
    }

    fn key(&self, subject: &str) -> Result<Option<Aes256Gcm>, VaultError> {
        let key: Option<Vec<u8>> = self.readers.read(|connection| {
            connection
                .prepare_cached("SELECT key FROM subject_keys WHERE subject = ?1")?
                .query_row([subject], |row| row.get(0))
                .optional()
        })?;
        key.map(cipher).transpose()
    }

    /// The subject's key, created on first use: durable before this returns, so no event
    /// sealed with it can outlive it. An erased subject gets no new key: what is written
    /// about them afterwards is erased from the start.
    fn key_or_create(&self, subject: &str) -> Result<Option<Aes256Gcm>, VaultError> {
        let key = Aes256Gcm::generate_key(OsRng);
        self.writer
            .create(subject, key.to_vec())?
            .map(cipher)
            .transpose()
    }

    /// Seals every revealed personal value in `document` with `subject`'s key.
    pub fn seal(&self, subject: &str, document: &mut Value) -> Result<(), VaultError> {
        let mut revealed: Vec<&mut Value> = personal_values(document)
            .into_iter()
            .filter(|value| value.get("revealed").is_some())
            .collect();
        if revealed.is_empty() {
            return Ok(());
        }
        let key = self.key_or_create(subject)?;
        for value in &mut revealed {
            let plaintext = serde_json::to_vec(&value["revealed"])
                .map_err(|_| VaultError::Malformed("unencodable value"))?;
            **value = match &key {
                Some(key) => {
                    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
                    let ciphertext = key
                        .encrypt(&nonce, plaintext.as_slice())
                        .map_err(|_| VaultError::Tampered)?;
                    json!({ "sealed": {
                        "subject": subject,
                        "nonce": STANDARD.encode(nonce),
                        "ciphertext": STANDARD.encode(ciphertext),
                    }})
                }
                None => Value::String("erased".to_owned()),
            };
        }
        Ok(())
    }

    /// Opens every sealed personal value in `document`, or marks it erased.
    pub fn unseal(&self, document: &mut Value) -> Result<(), VaultError> {
        for value in personal_values(document) {
            let Some(sealed) = value.get("sealed") else {
                continue;
            };
            let field = |name: &'static str| {
                sealed
                    .get(name)
                    .and_then(Value::as_str)
                    .ok_or(VaultError::Malformed(name))
            };
            let subject = field("subject")?;
            let Some(key) = self.key(subject)? else {
                *value = Value::String("erased".to_owned());
                continue;
            };
            let nonce = STANDARD
                .decode(field("nonce")?)
                .map_err(|_| VaultError::Malformed("nonce"))?;
            let ciphertext = STANDARD
                .decode(field("ciphertext")?)
                .map_err(|_| VaultError::Malformed("ciphertext"))?;
            if nonce.len() != 12 {
                return Err(VaultError::Malformed("nonce"));
            }
            let plaintext = key
                .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
                .map_err(|_| VaultError::Tampered)?;
            let revealed: Value = serde_json::from_slice(&plaintext)
                .map_err(|_| VaultError::Malformed("plaintext"))?;
            *value = json!({ "revealed": revealed });
        }
        Ok(())
    }

    /// Destroys `subject`'s key and remembers that it was erased. Idempotent.
    pub fn erase(&self, subject: &str) -> Result<(), VaultError> {
        self.writer.erase(subject)
    }

    /// Every subject that still has a key.
    pub fn subjects(&self) -> Result<Vec<String>, VaultError> {
        self.readers.read(|connection| {
            connection
                .prepare_cached("SELECT subject FROM subject_keys")?
                .query_map([], |row| row.get(0))?
                .collect()
        })
    }

    pub fn is_erased(&self, subject: &str) -> Result<bool, VaultError> {
        self.readers.read(|connection| {
            Ok(connection
                .prepare_cached("SELECT 1 FROM erased_subjects WHERE subject = ?1")?
                .query_row([subject], |_| Ok(true))
                .optional()?
                .unwrap_or(false))
        })
    }
}

/// Whether `document` holds a personal value, sealed, revealed or erased: only such a
/// document needs the vault (and a blocking thread for it).
pub fn holds_personal_data(document: &Value) -> bool {
    match document {
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key == MARKER || holds_personal_data(value)),
        Value::Array(items) => items.iter().any(holds_personal_data),
        _ => false,
    }
}

fn cipher(bytes: Vec<u8>) -> Result<Aes256Gcm, VaultError> {
    if bytes.len() == 32 {
        Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))
    } else {
        Err(VaultError::Malformed("a stored key is not 32 bytes"))
    }
}

/// The write connection, the file's schema in place.
fn open_writer_connection(path: &Path) -> Result<Connection, VaultError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "secure_delete", "ON")?;
    rollback_journal(&connection)?;
    // In a rollback journal a commit is the journal's unlink; only EXTRA syncs the
    // directory after it, so a committed key (or erasure) survives a power loss.
    connection.pragma_update(None, "synchronous", "EXTRA")?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS subject_keys (
            subject TEXT PRIMARY KEY,
            key     BLOB NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS erased_subjects (
            subject TEXT PRIMARY KEY
        ) STRICT;",
    )?;
    Ok(connection)
}

/// Puts the store in rollback-journal mode (from WAL, this checkpoints and deletes the WAL),
/// or refuses when it cannot: another connection still holds the file open in WAL mode.
fn rollback_journal(connection: &Connection) -> Result<(), VaultError> {
    // A connection learns that another switched the file to WAL only when it next reads it.
    connection.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(()))?;
    let journal_mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "delete", |row| row.get(0))?;
    if journal_mode.eq_ignore_ascii_case("delete") {
        Ok(())
    } else {
        Err(VaultError::JournalMode(journal_mode))
    }
}

/// Every personal value (the value under a `"personal"` key) in a JSON document.
fn personal_values(document: &mut Value) -> Vec<&mut Value> {
    let mut found = Vec::new();
    collect(document, &mut found);
    found
}

fn collect<'a>(value: &'a mut Value, found: &mut Vec<&'a mut Value>) {
    match value {
        Value::Object(map) => collect_object(map, found),
        Value::Array(items) => items.iter_mut().for_each(|item| collect(item, found)),
        _ => {}
    }
}

fn collect_object<'a>(map: &'a mut Map<String, Value>, found: &mut Vec<&'a mut Value>) {
    for (key, value) in map.iter_mut() {
        if key == MARKER {
            found.push(value);
        } else {
            collect(value, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Vault {
        /// A connection of its own to the vault's file, to look at what is stored.
        fn connection(&self) -> Connection {
            Connection::open(self.readers.path()).expect("opens")
        }
    }

    fn document() -> Value {
        json!({ "person_id": "p-1", "details": { "personal": { "revealed": { "name": "Anna de Vries", "email": "anna@example.org" } } } })
    }

    #[test]
    fn sealed_data_holds_no_plaintext_and_opens_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let mut sealed = document();
        vault.seal("person-p-1", &mut sealed).expect("seals");
        let text = sealed.to_string();
        assert!(
            !text.contains("Anna") && !text.contains("example.org"),
            "{text}"
        );
        assert_eq!(
            sealed["person_id"], "p-1",
            "only the personal value is sealed"
        );
        let mut opened = sealed.clone();
        vault.unseal(&mut opened).expect("opens");
        assert_eq!(opened, document());
    }

    #[test]
    fn erasing_the_key_leaves_a_marked_placeholder_and_stays_erased() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let mut sealed = document();
        vault.seal("person-p-1", &mut sealed).expect("seals");
        vault.erase("person-p-1").expect("erases");
        vault.erase("person-p-1").expect("erasing again is fine");
        let mut opened = sealed.clone();
        vault.unseal(&mut opened).expect("opens");
        assert_eq!(opened["details"]["personal"], "erased");
        // Data written about an erased subject later is erased from the start.
        let mut later = document();
        vault.seal("person-p-1", &mut later).expect("seals");
        assert_eq!(later["details"]["personal"], "erased");
        assert!(vault.is_erased("person-p-1").expect("reads"));
        let keys: i64 = vault
            .connection()
            .query_row("SELECT COUNT(*) FROM subject_keys", [], |row| row.get(0))
            .expect("counts");
        assert_eq!(keys, 0);
    }

    /// Every file in `dir` that holds `bytes`.
    fn files_holding(dir: &Path, bytes: &[u8]) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .expect("lists")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| {
                std::fs::read(path)
                    .expect("reads")
                    .windows(bytes.len())
                    .any(|window| window == bytes)
            })
            .collect()
    }

    #[test]
    fn an_erased_key_left_in_an_old_write_ahead_log_is_gone_once_opened() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A store as earlier builds kept it: WAL mode, the key inserted and deleted, and the
        // process gone without closing it, so the WAL still holds the key's page.
        let old = Connection::open(dir.path().join(VAULT_FILE)).expect("opens");
        old.pragma_update(None, "journal_mode", "wal").expect("wal");
        old.pragma_update(None, "secure_delete", "ON").expect("on");
        old.pragma_update(None, "wal_autocheckpoint", 0)
            .expect("off");
        old.execute_batch(
            "CREATE TABLE subject_keys (subject TEXT PRIMARY KEY, key BLOB NOT NULL) STRICT;
             CREATE TABLE erased_subjects (subject TEXT PRIMARY KEY) STRICT;",
        )
        .expect("creates");
        let key = [7u8; 32];
        old.execute(
            "INSERT INTO subject_keys (subject, key) VALUES ('person-p-1', ?1)",
            [key.as_slice()],
        )
        .expect("inserts");
        old.execute_batch(
            "DELETE FROM subject_keys; INSERT INTO erased_subjects VALUES ('person-p-1');",
        )
        .expect("erases");
        // The files as a crash leaves them: copied while the connection is still open.
        let crashed = tempfile::tempdir().expect("temp dir");
        for file in [VAULT_FILE.to_owned(), format!("{VAULT_FILE}-wal")] {
            std::fs::copy(dir.path().join(&file), crashed.path().join(&file)).expect("copies");
        }
        drop(old);
        assert!(
            !files_holding(crashed.path(), &key).is_empty(),
            "the WAL holds it"
        );

        let vault = Vault::open(crashed.path().join(VAULT_FILE)).expect("opens");
        assert!(vault.is_erased("person-p-1").expect("reads"));
        assert_eq!(
            files_holding(crashed.path(), &key),
            Vec::<std::path::PathBuf>::new()
        );
    }

    #[test]
    fn commits_sync_the_directory_that_unlinks_the_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The connection the vault's writer commits on.
        let writer = open_writer_connection(&dir.path().join(VAULT_FILE)).expect("opens");
        let synchronous: i64 = writer
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .expect("reads");
        assert_eq!(synchronous, 3, "EXTRA");
    }

    #[test]
    fn a_subject_erased_by_another_process_gets_no_new_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let creator = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let eraser = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let subjects: Vec<String> = (0..300).map(|n| format!("person-p-{n}")).collect();
        // Each subject is sealed and erased at the same moment, on two connections.
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for subject in &subjects {
                    start.wait();
                    creator.seal(subject, &mut document()).expect("seals");
                }
            });
            for subject in &subjects {
                start.wait();
                eraser.erase(subject).expect("erases");
            }
        });
        let orphans: i64 = eraser
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM subject_keys JOIN erased_subjects USING (subject)",
                [],
                |row| row.get(0),
            )
            .expect("counts");
        assert_eq!(orphans, 0);
    }

    #[test]
    fn erasing_switches_a_store_put_back_in_wal_mode_to_a_rollback_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let mut sealed = document();
        vault.seal("person-p-1", &mut sealed).expect("seals");
        let key: Vec<u8> = vault
            .connection()
            .query_row("SELECT key FROM subject_keys", [], |row| row.get(0))
            .expect("reads");
        // Some other tool switches the file to WAL and goes away.
        let other = Connection::open(dir.path().join(VAULT_FILE)).expect("opens");
        other
            .pragma_update(None, "journal_mode", "wal")
            .expect("wal");
        drop(other);

        vault.erase("person-p-1").expect("erases");
        assert_eq!(
            files_holding(dir.path(), &key),
            Vec::<std::path::PathBuf>::new()
        );

        // While another connection reads it in WAL mode, it cannot switch back: refused
        // (busy, or still in WAL), never erased in WAL mode.
        vault.seal("person-p-2", &mut document()).expect("seals");
        let other = Connection::open(dir.path().join(VAULT_FILE)).expect("opens");
        other
            .pragma_update(None, "journal_mode", "wal")
            .expect("wal");
        other
            .execute_batch("BEGIN; SELECT COUNT(*) FROM subject_keys;")
            .expect("reads");
        let refused = vault.erase("person-p-2");
        assert!(refused.is_err(), "{refused:?}");
    }

    #[test]
    fn an_erasure_waits_for_a_read_in_wal_mode_to_finish_rather_than_failing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        vault.seal("person-p-1", &mut document()).expect("seals");
        // Another tool switched the file to WAL; a read of it is under way for a moment, as
        // one of the vault's own readers can be when it followed the file there.
        let other = Connection::open(dir.path().join(VAULT_FILE)).expect("opens");
        other
            .pragma_update(None, "journal_mode", "wal")
            .expect("wal");
        other
            .execute_batch("BEGIN; SELECT COUNT(*) FROM subject_keys;")
            .expect("reads");
        std::thread::scope(|scope| {
            scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                other.execute_batch("COMMIT").expect("ends the read");
                drop(other);
            });
            vault
                .erase("person-p-1")
                .expect("erased once the read is over");
        });
        assert!(vault.is_erased("person-p-1").expect("reads"));
    }

    #[test]
    fn keys_created_at_once_by_many_callers_are_all_there_after_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let start = std::sync::Barrier::new(64);
        let sealed: Vec<(String, Value)> = std::thread::scope(|scope| {
            let callers: Vec<_> = (0..64)
                .map(|n| {
                    let (vault, start) = (&vault, &start);
                    scope.spawn(move || {
                        let subject = format!("person-p-{n}");
                        let mut sealed = document();
                        start.wait();
                        vault.seal(&subject, &mut sealed).expect("seals");
                        (subject, sealed)
                    })
                })
                .collect();
            callers
                .into_iter()
                .map(|caller| caller.join().expect("joins"))
                .collect()
        });
        drop(vault);

        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens again");
        assert_eq!(vault.subjects().expect("lists").len(), 64);
        for (subject, mut sealed) in sealed {
            assert!(sealed.to_string().contains(&subject), "sealed with its key");
            vault.unseal(&mut sealed).expect("opens");
            assert_eq!(sealed, document());
        }
    }

    #[test]
    fn keys_are_read_while_the_writer_waits_for_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let mut sealed = document();
        vault.seal("person-p-1", &mut sealed).expect("seals");
        // Another process holds the file's write lock: the writer waits with a new key.
        let other = vault.connection();
        other.execute_batch("BEGIN IMMEDIATE").expect("locks");
        std::thread::scope(|scope| {
            let creating = scope.spawn(|| vault.seal("person-p-2", &mut document()));
            let mut opened = sealed.clone();
            vault.unseal(&mut opened).expect("opens meanwhile");
            assert_eq!(opened, document());
            assert!(!vault.is_erased("person-p-1").expect("reads meanwhile"));
            other.execute_batch("ROLLBACK").expect("unlocks");
            creating
                .join()
                .expect("joins")
                .expect("seals once the lock is free");
        });
    }

    #[test]
    fn a_reader_that_followed_the_file_into_wal_mode_does_not_keep_it_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let mut sealed = document();
        vault.seal("person-p-1", &mut sealed).expect("seals");
        let key: Vec<u8> = vault
            .connection()
            .query_row("SELECT key FROM subject_keys", [], |row| row.get(0))
            .expect("reads");
        let other = vault.connection();
        other
            .pragma_update(None, "journal_mode", "wal")
            .expect("wal");
        drop(other);
        // A read in WAL mode; a reader kept open after it would keep the file in WAL.
        vault.unseal(&mut sealed.clone()).expect("opens");

        vault.erase("person-p-1").expect("erases");
        assert_eq!(
            files_holding(dir.path(), &key),
            Vec::<std::path::PathBuf>::new()
        );
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(dir.path().join(VAULT_FILE)).expect("opens");
        let mut sealed = document();
        vault.seal("person-p-1", &mut sealed).expect("seals");
        let ciphertext = sealed["details"]["personal"]["sealed"]["ciphertext"]
            .as_str()
            .expect("text")
            .to_owned();
        let mut bytes = STANDARD.decode(ciphertext).expect("base64");
        bytes[0] ^= 1;
        sealed["details"]["personal"]["sealed"]["ciphertext"] =
            Value::String(STANDARD.encode(bytes));
        assert!(matches!(
            vault.unseal(&mut sealed),
            Err(VaultError::Tampered)
        ));
    }
}
