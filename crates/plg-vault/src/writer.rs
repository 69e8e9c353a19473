//! The one write connection, on a thread of its own. Key creations queued together are
//! written in one transaction (group commit): one set of journal syncs for the whole batch,
//! where one transaction per key paid them per key, one key after another. Each caller is
//! answered only once the transaction that holds its key committed; when it fails, every
//! caller in it is told so, and none of its keys is stored. Erasures run one at a time, each
//! in its own transaction, in the order they were queued among the creations.

use std::{
    sync::{
        Arc,
        mpsc::{Receiver, SyncSender, TryRecvError, sync_channel},
    },
    thread::JoinHandle,
};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::{VaultError, rollback_journal};

/// The most key creations committed together in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// Jobs waiting for the writer; callers wait for room beyond this (back-pressure).
const QUEUE_CAPACITY: usize = 1024;

/// A stored key's bytes, `None` for a subject erased before it had one.
pub(crate) type StoredKey = Option<Vec<u8>>;

#[derive(Debug)]
pub(crate) struct Creation {
    pub(crate) subject: String,
    /// Stored unless the subject already has a key (or was erased).
    pub(crate) key: Vec<u8>,
    pub(crate) reply: SyncSender<Result<StoredKey, VaultError>>,
}

#[derive(Debug)]
pub(crate) enum Job {
    Create(Creation),
    Erase {
        subject: String,
        reply: SyncSender<Result<(), VaultError>>,
    },
}

/// The writer thread's queue. Dropping it lets the thread finish what is queued, and waits.
#[derive(Debug)]
pub(crate) struct Writer {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(connection: Connection) -> Result<Self, VaultError> {
        let (jobs, queue) = sync_channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("plg-vault-writer".to_owned())
            .spawn(move || run(connection, &queue))
            .map_err(|_| VaultError::WriterStopped)?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// The subject's key: the one stored already, else `key`, stored once this returns;
    /// `None` for an erased subject.
    pub(crate) fn create(&self, subject: &str, key: Vec<u8>) -> Result<StoredKey, VaultError> {
        self.submit(|reply| {
            Job::Create(Creation {
                subject: subject.to_owned(),
                key,
                reply,
            })
        })
    }

    pub(crate) fn erase(&self, subject: &str) -> Result<(), VaultError> {
        self.submit(|reply| Job::Erase {
            subject: subject.to_owned(),
            reply,
        })
    }

    /// Queues a job (waiting while the queue is full) and waits for its answer.
    fn submit<T>(
        &self,
        job: impl FnOnce(SyncSender<Result<T, VaultError>>) -> Job,
    ) -> Result<T, VaultError> {
        let (reply, answer) = sync_channel(1);
        self.jobs
            .as_ref()
            .ok_or(VaultError::WriterStopped)?
            .send(job(reply))
            .map_err(|_| VaultError::WriterStopped)?;
        answer.recv().map_err(|_| VaultError::WriterStopped)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // A panic there has answered nobody: its callers already saw `WriterStopped`.
            let _ = thread.join();
        }
    }
}

fn run(mut connection: Connection, queue: &Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Erase { subject, reply } => {
                let _ = reply.send(erase(&mut connection, &subject));
            }
            Job::Create(first) => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(Job::Create(creation)) => batch.push(creation),
                        // After this batch, so an erasure queued after a creation follows it.
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                let stored = create_keys(&mut connection, &batch);
                answer(batch, stored);
            }
        }
    }
}

/// Tells each caller its key, or the batch's failure.
fn answer(batch: Vec<Creation>, stored: rusqlite::Result<Vec<StoredKey>>) {
    match stored {
        Ok(keys) => {
            for (creation, key) in batch.into_iter().zip(keys) {
                let _ = creation.reply.send(Ok(key));
            }
        }
        Err(error) => {
            let error = Arc::new(error);
            for creation in batch {
                let _ = creation
                    .reply
                    .send(Err(VaultError::NotStored(Arc::clone(&error))));
            }
        }
    }
}

/// Stores each subject's key unless it has one or was erased (one statement, so an erasure
/// by another process cannot fall between the check and the insert), and reads back the key
/// each subject has, all in one transaction.
fn create_keys(
    connection: &mut Connection,
    batch: &[Creation],
) -> rusqlite::Result<Vec<StoredKey>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored = {
        let mut insert = transaction.prepare_cached(
            "INSERT OR IGNORE INTO subject_keys (subject, key) SELECT ?1, ?2
             WHERE NOT EXISTS (SELECT 1 FROM erased_subjects WHERE subject = ?1)",
        )?;
        let mut select =
            transaction.prepare_cached("SELECT key FROM subject_keys WHERE subject = ?1")?;
        batch
            .iter()
            .map(|creation| {
                insert.execute(rusqlite::params![creation.subject, creation.key])?;
                select
                    .query_row([&creation.subject], |row| row.get(0))
                    .optional()
            })
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    transaction.commit()?;
    Ok(stored)
}

/// How often, 20 ms apart, an erasure tries to switch the file back out of WAL mode.
const SWITCH_ATTEMPTS: u32 = 50;

/// Puts the file back in rollback-journal mode, waiting up to a second for reads to finish:
/// SQLite refuses the switch at once, without its busy timeout, while any connection reads
/// the file in WAL mode, and one of the vault's own readers may be doing so for a moment.
fn switch_to_rollback_journal(connection: &Connection) -> Result<(), VaultError> {
    let mut attempts = 1;
    loop {
        match rollback_journal(connection) {
            Err(_) if attempts < SWITCH_ATTEMPTS => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            switched => return switched,
        }
    }
}

/// Destroys the subject's key and remembers that it was erased.
fn erase(connection: &mut Connection, subject: &str) -> Result<(), VaultError> {
    // Another tool may have switched the file to WAL since it was opened, where the
    // destroyed key's page would outlive the erasure.
    switch_to_rollback_journal(connection)?;
    let transaction = connection.transaction()?;
    transaction.execute("DELETE FROM subject_keys WHERE subject = ?1", [subject])?;
    transaction.execute(
        "INSERT OR IGNORE INTO erased_subjects (subject) VALUES (?1)",
        [subject],
    )?;
    transaction.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{VAULT_FILE, Vault};

    const CALLERS: usize = 64;

    /// Write transactions committed to the file so far: SQLite's file change counter, which a
    /// rollback journal's every commit increments.
    fn commits(path: &Path) -> u32 {
        let header = std::fs::read(path).expect("reads");
        u32::from_be_bytes(header[24..28].try_into().expect("4 bytes"))
    }

    /// Queues an erasure (which waits for `blocker`'s lock, holding the writer up) and then a
    /// creation for each subject, all before the writer can take them one by one.
    fn queue_behind_a_lock(
        vault: &Vault,
        blocker: &Connection,
        subjects: &[String],
    ) -> Vec<Receiver<Result<StoredKey, VaultError>>> {
        blocker.execute_batch("BEGIN IMMEDIATE").expect("locks");
        let jobs = vault.writer.jobs.as_ref().expect("running");
        let (reply, erased) = sync_channel(1);
        jobs.send(Job::Erase {
            subject: "person-gone".to_owned(),
            reply,
        })
        .expect("queued");
        let answers = subjects
            .iter()
            .map(|subject| {
                let (reply, answer) = sync_channel(1);
                jobs.send(Job::Create(Creation {
                    subject: subject.clone(),
                    key: vec![7; 32],
                    reply,
                }))
                .expect("queued");
                answer
            })
            .collect();
        blocker.execute_batch("ROLLBACK").expect("unlocks");
        erased.recv().expect("answered").expect("erased");
        answers
    }

    fn subjects(count: usize) -> Vec<String> {
        (0..count).map(|n| format!("person-p-{n}")).collect()
    }

    #[test]
    fn key_creations_queued_together_are_committed_in_one_transaction() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(VAULT_FILE);
        let vault = Vault::open(&path).expect("opens");
        let blocker = Connection::open(&path).expect("opens");
        let before = commits(&path);

        let answers = queue_behind_a_lock(&vault, &blocker, &subjects(CALLERS));
        for answer in answers {
            let key = answer.recv().expect("answered").expect("stored");
            assert_eq!(key, Some(vec![7; 32]));
        }
        assert_eq!(
            commits(&path) - before,
            2,
            "one commit for the erasure, one for all {CALLERS} keys"
        );
    }

    #[test]
    fn a_failing_batch_fails_every_caller_in_it_and_stores_none_of_its_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(VAULT_FILE);
        let vault = Vault::open(&path).expect("opens");
        let blocker = Connection::open(&path).expect("opens");
        blocker
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON subject_keys
                 WHEN NEW.subject = 'person-p-3'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .expect("creates");

        let answers = queue_behind_a_lock(&vault, &blocker, &subjects(8));
        for answer in answers {
            let answer = answer.recv().expect("answered");
            assert!(
                matches!(answer, Err(VaultError::NotStored(_))),
                "{answer:?}"
            );
        }
        let stored: i64 = blocker
            .query_row("SELECT COUNT(*) FROM subject_keys", [], |row| row.get(0))
            .expect("counts");
        assert_eq!(stored, 0, "no caller was told its key is stored");

        // The writer goes on with the next batch.
        vault
            .seal(
                "person-p-0",
                &mut serde_json::json!({ "personal": { "revealed": "Anna" } }),
            )
            .expect("seals");
    }
}
