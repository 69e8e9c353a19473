//! Rebuilding projections from the start of the log, all or nothing: on a copy of the view,
//! renamed over it only once every event has been applied.

use std::{
    collections::BTreeSet,
    fs::File,
    path::{Path, PathBuf},
    sync::Arc,
};

use plg_eventstore::{EventStore, Position, ReadFrom, sqlite::copy_database};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::task::JoinHandle;

use crate::{
    LogEvent, Projection, ProjectionError, Rebuilder, ResearchDb,
    batch::{self, Decoded},
    projections,
};

/// Events read and applied in one transaction while rebuilding. The copy is nobody's view
/// until it is renamed, so nothing waits on its commits and they can be large.
const REBUILD_BATCH: usize = 4096;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The log position the rebuilt view is current to.
    pub position: Position,
    /// Events left out because they cannot be read or decoded (each logged at `error`).
    pub skipped: BTreeSet<Position>,
}

/// Rebuilds projections from the start of the log: drops their tables, then applies every
/// event up to the current end, reading the log once for all of them. `names` empty means
/// all. Run it while the view has no other owner. All or nothing: the rebuild works on a copy
/// beside `path` and replaces the view only once it has succeeded, so a failure leaves the
/// previous view as it was.
/// Events that cannot be read or decoded are skipped, not a failure: the view is then as
/// current as the log allows, and the result says which positions it left out.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    path: impl AsRef<Path>,
    names: &[String],
) -> Result<Rebuilt, ProjectionError> {
    let projections = projections::all();
    if let Some(unknown) = names
        .iter()
        .find(|name| !projections.iter().any(|p| p.name() == name.as_str()))
    {
        return Err(ProjectionError::Unknown(unknown.clone()));
    }
    let path = path.as_ref();
    let mut staging = path.as_os_str().to_owned();
    staging.push(".rebuilding");
    let staging = PathBuf::from(staging);
    // Left by a rebuild that was killed: never part of the view.
    remove_database(&staging)?;
    let rebuilt = async {
        if path.exists() {
            copy_database(path, &staging)?;
        }
        let rebuilt = rebuild_in(store, &staging, &projections, names).await?;
        // Its commits were not synced (see `ResearchDb::staging_connection`): the whole file
        // is, once, before it becomes the view.
        File::open(&staging)
            .and_then(|file| file.sync_all())
            .map_err(ProjectionError::Io)?;
        Ok(rebuilt)
    }
    .await;
    match rebuilt {
        Ok(rebuilt) => {
            std::fs::rename(&staging, path).map_err(ProjectionError::Io)?;
            sync_parent(path)?;
            Ok(rebuilt)
        }
        Err(error) => {
            remove_database(&staging)?;
            Err(error)
        }
    }
}

async fn rebuild_in(
    store: Arc<dyn EventStore>,
    path: &Path,
    projections: &[Arc<dyn Projection>],
    names: &[String],
) -> Result<Rebuilt, ProjectionError> {
    let refs: Vec<&dyn Projection> = projections.iter().map(|p| p.as_ref()).collect();
    let db = ResearchDb::open_following(path, &refs, store.log())?;
    let mut rebuilding = Vec::new();
    for projection in projections
        .iter()
        .filter(|p| names.is_empty() || names.iter().any(|n| n == p.name()))
    {
        db.reset(projection.as_ref())?;
        rebuilding.push(Rebuilding {
            writer: projection.rebuilder(),
            projection: projection.clone(),
        });
    }
    let mut staging = Staging {
        connection: db.staging_connection()?,
        rebuilding,
    };
    let mut skipped = BTreeSet::new();
    let mut position = Position(0);
    // The next page is read and decoded (on another core) while the last one is applied.
    let mut reading = read_page(&store, ReadFrom::Start);
    loop {
        let (page, left_out) = reading
            .await
            .map_err(|error| ProjectionError::Task(error.to_string()))??;
        skipped.extend(left_out);
        let Some(page) = page else {
            break;
        };
        reading = read_page(&store, ReadFrom::At(Position(page.last.0 + 1)));
        let last = page.last;
        staging = write(staging, move |staging| staging.apply(&page)).await?;
        position = last;
    }
    staging = write(staging, Staging::finish).await?;
    for rebuilding in &staging.rebuilding {
        tracing::info!(
            projection = rebuilding.projection.name(),
            position = position.0,
            "projection rebuilt"
        );
    }
    staging.connection.close().map_err(|(_, error)| error)?;
    Ok(Rebuilt { position, skipped })
}

/// A page of the log decoded (`None` past its end), and the positions it left out.
type Page = (Option<Decoded>, BTreeSet<Position>);

/// Reads a page of the log from `from` and decodes it straight from its text, in a task of
/// its own.
fn read_page(
    store: &Arc<dyn EventStore>,
    from: ReadFrom<Position>,
) -> JoinHandle<Result<Page, ProjectionError>> {
    let store = store.clone();
    tokio::spawn(async move {
        let page = store.read_all_stored(from, REBUILD_BATCH).await?;
        tokio::task::spawn_blocking(move || {
            let mut skipped = BTreeSet::new();
            (batch::decode(page, &mut skipped), skipped)
        })
        .await
        .map_err(|error| ProjectionError::Task(error.to_string()))
    })
}

/// Hands the copy to a blocking task that writes to it, and back.
async fn write(
    mut staging: Staging,
    write: impl FnOnce(&mut Staging) -> Result<(), ProjectionError> + Send + 'static,
) -> Result<Staging, ProjectionError> {
    let (staging, written) = tokio::task::spawn_blocking(move || {
        let written = write(&mut staging);
        (staging, written)
    })
    .await
    .map_err(|error| ProjectionError::Task(error.to_string()))?;
    written.map(|()| staging)
}

/// The copy being rebuilt.
#[derive(Debug)]
struct Staging {
    connection: Connection,
    rebuilding: Vec<Rebuilding>,
}

/// A projection being rebuilt, with its own writer for rebuilds if it has one.
#[derive(Debug)]
struct Rebuilding {
    projection: Arc<dyn Projection>,
    writer: Option<Box<dyn Rebuilder>>,
}

impl Staging {
    /// Applies a page of the log to every projection rebuilt, and moves their checkpoints to
    /// its end. A rebuild is all or nothing: a projection that fails fails it (and the copy
    /// is deleted, so nothing is rolled back).
    fn apply(&mut self, page: &Decoded) -> Result<(), ProjectionError> {
        let transaction = transaction(&mut self.connection)?;
        for rebuilding in &mut self.rebuilding {
            rebuilding.apply(&transaction, &page.events)?;
            batch::move_checkpoint(&transaction, rebuilding.projection.name(), page.last)?;
        }
        Ok(transaction.commit()?)
    }

    /// Writes every row the projections' writers kept waiting, after the last page.
    fn finish(&mut self) -> Result<(), ProjectionError> {
        let transaction = transaction(&mut self.connection)?;
        for writer in self.rebuilding.iter_mut().filter_map(|r| r.writer.as_mut()) {
            writer.finish(&transaction)?;
        }
        Ok(transaction.commit()?)
    }
}

fn transaction(connection: &mut Connection) -> Result<Transaction<'_>, ProjectionError> {
    Ok(connection.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

impl Rebuilding {
    fn apply(
        &mut self,
        transaction: &Transaction<'_>,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError> {
        match &mut self.writer {
            Some(writer) => writer.apply(transaction, events),
            None => self.projection.apply_batch(transaction, events),
        }
    }
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), ProjectionError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|directory| directory.sync_all())
        .map_err(ProjectionError::Io)
}

/// Removes a database file and its WAL companions, if there.
fn remove_database(path: &Path) -> Result<(), ProjectionError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::remove_file(PathBuf::from(file)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(ProjectionError::Io(error));
            }
            _ => {}
        }
    }
    Ok(())
}
