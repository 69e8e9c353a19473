//! The ceilings, measured in the same run on the same machine: what a bare tonic server answers,
//! how often the disk under the data directory syncs, and how many scan-sized rows SQLite
//! stores durably in group commits.

use std::{io::Write as _, path::Path, time::Duration};

use anyhow::Context as _;
use tokio::{net::TcpListener, time::Instant};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Endpoint, Server};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use plg_proto::v1;

use crate::{
    Args,
    load::{Outcome, Until, closed_loop, per_second},
    report::{Report, Row, latency, plural, rate},
    target::Target,
};

/// Rows in one SQLite transaction: the group commit the issue compares with.
pub const GROUP_COMMIT: usize = 128;

/// The ceilings' rates, to set the figures beside.
#[derive(Debug)]
pub struct Ceilings {
    /// The bare server's calls per second, by client count.
    bare: Vec<(usize, f64)>,
    /// SQLite's scan-sized rows per second.
    pub sqlite: f64,
}

impl Ceilings {
    /// The bare server's rate at the client count nearest `clients`.
    pub fn bare_at(&self, clients: usize) -> f64 {
        self.bare
            .iter()
            .min_by_key(|(at, _)| at.abs_diff(clients))
            .map_or(0.0, |(_, rate)| *rate)
    }
}

/// Measures every ceiling, and a small call to plgd beside the bare server's, into `report`.
/// `(data_bytes, metadata_bytes)` is the size of a scan's stored event.
pub async fn measure(
    args: &Args,
    target: &Target,
    (data_bytes, metadata_bytes): (usize, usize),
    report: &mut Report,
) -> anyhow::Result<Ceilings> {
    let scratch = target
        .data_dir
        .clone()
        .or_else(|| args.scratch_dir.clone())
        .unwrap_or_else(std::env::temp_dir);
    let ceiling = Duration::from_secs_f64(args.ceiling_seconds);
    let bare = Bare::start(args.channels).await?;
    let mut bare_rates = Vec::new();
    for &clients in std::iter::once(&1).chain(&args.clients) {
        let outcome = bare.measure(clients, ceiling).await?;
        let figure = format!(
            "ceiling: bare tonic health Check, {}",
            plural(clients, "client")
        );
        let measured = format!("{} ({})", rate(outcome.rate()), latency(&outcome));
        report.load(Row::new(figure, measured), &outcome);
        bare_rates.push((clients, outcome));
    }
    bare.stop();
    let fsyncs = {
        let scratch = scratch.clone();
        tokio::task::spawn_blocking(move || fsync_rate(&scratch, ceiling)).await??
    };
    report.row(Row::new("ceiling: disk, 4 KiB write + fsync", rate(fsyncs)));
    let sqlite = {
        let scratch = scratch.clone();
        tokio::task::spawn_blocking(move || {
            sqlite_rate(&scratch, data_bytes, metadata_bytes, ceiling)
        })
        .await??
    };
    report.row(Row::new(
        format!(
            "ceiling: SQLite WAL synchronous=FULL, {GROUP_COMMIT} rows per commit, rows of {} + {} bytes",
            data_bytes, metadata_bytes
        ),
        rate(sqlite),
    ));
    let client = target.partner(0);
    let small = closed_loop(1, Until::elapsed(ceiling), move |_| {
        let mut client = client.clone();
        async move {
            let request = v1::GetInstrumentRequest::default();
            client.registry.get_instrument(request).await.map(drop)
        }
    })
    .await?;
    let row = Row::new("GetInstrument, 1 client (a small call)", latency(&small))
        .ceiling(format!("bare: {}", latency(&bare_rates[0].1)))
        .target("no 40 ms Nagle wait");
    report.load(row, &small);
    Ok(Ceilings {
        bare: bare_rates
            .iter()
            .map(|(clients, outcome)| (*clients, outcome.rate()))
            .collect(),
        sqlite,
    })
}

/// A bare tonic server answering gRPC health `Check`, served in this process on a free port, and
/// `channels` channels to it.
#[derive(Debug)]
pub struct Bare {
    clients: Vec<HealthClient<tonic::transport::Channel>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Bare {
    pub async fn start(channels: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (_, health) = tonic_health::server::health_reporter();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            Server::builder()
                .tcp_nodelay(true)
                .add_service(health)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                }),
        );
        let mut clients = Vec::new();
        for _ in 0..channels.max(1) {
            let channel = Endpoint::from_shared(format!("http://{address}"))?
                .tcp_nodelay(true)
                .connect()
                .await
                .context("connecting to the bare tonic server")?;
            clients.push(HealthClient::new(channel));
        }
        Ok(Self { clients, stop })
    }

    /// `clients` clients calling `Check` for `duration`.
    pub async fn measure(&self, clients: usize, duration: Duration) -> anyhow::Result<Outcome> {
        let channels = self.clients.clone();
        closed_loop(clients, Until::elapsed(duration), move |sequence| {
            let mut client =
                channels[usize::try_from(sequence).unwrap_or_default() % channels.len()].clone();
            async move { client.check(HealthCheckRequest::default()).await.map(drop) }
        })
        .await
    }

    pub fn stop(self) {
        let _ = self.stop.send(());
    }
}

/// Writes of 4 KiB, each followed by an fsync, in a temporary file in `directory`, for
/// `duration`: syncs per second.
pub fn fsync_rate(directory: &Path, duration: Duration) -> anyhow::Result<f64> {
    let mut file = tempfile::tempfile_in(directory)?;
    let block = [0x5a_u8; 4096];
    let start = Instant::now();
    let mut syncs = 0;
    while start.elapsed() < duration {
        file.write_all(&block)?;
        file.sync_all()?;
        syncs += 1;
    }
    Ok(per_second(syncs, start.elapsed()))
}

/// One writer inserting rows like the event store's (the same table, `data` of `data_bytes`
/// and `metadata` of `metadata_bytes`, an idempotency row beside each) into SQLite in WAL mode
/// with `synchronous=FULL`, [`GROUP_COMMIT`] rows per transaction, for `duration`: rows per
/// second.
pub fn sqlite_rate(
    directory: &Path,
    data_bytes: usize,
    metadata_bytes: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let scratch = tempfile::tempdir_in(directory)?;
    let mut connection = rusqlite::Connection::open(scratch.path().join("ceiling.db"))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute_batch(
        "CREATE TABLE events (
             position INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,
             revision INTEGER NOT NULL, event_id TEXT NOT NULL UNIQUE,
             event_type TEXT NOT NULL, schema_version INTEGER NOT NULL, data TEXT NOT NULL,
             metadata TEXT NOT NULL, recorded_at TEXT NOT NULL, hash TEXT NOT NULL,
             UNIQUE (stream, revision)) STRICT;
         CREATE TABLE idempotency (
             key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, stream TEXT NOT NULL,
             first_revision INTEGER NOT NULL, revision INTEGER NOT NULL,
             position INTEGER NOT NULL) STRICT, WITHOUT ROWID;",
    )?;
    let data = "d".repeat(data_bytes);
    let metadata = "m".repeat(metadata_bytes);
    let hash = "h".repeat(64);
    let start = Instant::now();
    let mut rows = 0_u64;
    while start.elapsed() < duration {
        let transaction = connection.transaction()?;
        {
            let mut event = transaction.prepare_cached(
                "INSERT INTO events (stream, revision, event_id, event_type, schema_version,
                     data, metadata, recorded_at, hash)
                 VALUES (?1, 0, ?2, 'ScanSubmitted', 1, ?3, ?4, '2025-01-01T00:00:00Z', ?5)",
            )?;
            let mut key = transaction.prepare_cached(
                "INSERT INTO idempotency VALUES (?1, ?2, ?3, 0, 0, last_insert_rowid())",
            )?;
            for _ in 0..GROUP_COMMIT {
                let id = uuid::Uuid::new_v4().to_string();
                let stream = format!("scan-{id}");
                event.execute(rusqlite::params![stream, id, data, metadata, hash])?;
                key.execute(rusqlite::params![format!("8:bench/{id}"), hash, stream])?;
                rows += 1;
            }
        }
        transaction.commit()?;
    }
    Ok(per_second(rows, start.elapsed()))
}
