//! `plg-bench`: measures plgd through its public gRPC API, as partner tools and researchers
//! call it, and prints each figure of issue 11 beside its ceiling measured in the same run (a
//! bare tonic server, the disk's fsync rate, SQLite group commits of scan-sized rows), with the
//! machine and the commit. `docs/performance.md` says what each phase measures and how.
//!
//! Every write carries a request id of its own; N clients share a few HTTP/2 channels, each
//! channel with its own partner-tool key; every call's latency is recorded, and every error the
//! server answers is counted and reported, never retried.

use std::{path::PathBuf, time::Duration};

use clap::Parser;

pub mod ceilings;
pub mod fixtures;
pub mod load;
pub mod rebuild;
pub mod report;
pub mod research;
mod run;
pub mod soak;
pub mod target;
pub mod writes;

pub use report::Report;
pub use research::Dataset;
pub use run::run;

/// Measures plgd's writes and research queries beside the ceilings of the same machine.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Args {
    /// The plgd to measure, such as http://127.0.0.1:50051; needs --api-key
    #[arg(long, required_unless_present = "spawn", requires = "api_key")]
    pub address: Option<String>,
    /// An operator key of the plgd at --address: the benchmark issues its own keys with it
    #[arg(long, env = "PLG_BENCH_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Start plgd (beside this binary, or --plgd) on a temporary data directory, with a budget
    /// no benchmark reaches
    #[arg(long, conflicts_with = "address")]
    pub spawn: bool,
    /// The plgd binary --spawn starts [default: plgd beside this binary]
    #[arg(long)]
    pub plgd: Option<PathBuf>,
    /// The process id of the plgd at --address, when it runs on this machine: its CPU time and
    /// memory are then read from /proc
    #[arg(long)]
    pub pid: Option<u32>,
    /// Where the spawned plgd keeps its data (a temporary directory in it), and where the fsync
    /// and SQLite ceilings write: give the filesystem plgd's data lives on [default: the
    /// system's temporary directory]
    #[arg(long)]
    pub scratch_dir: Option<PathBuf>,
    /// HTTP/2 channels the clients share, each with its own partner-tool key
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Concurrent clients of the SubmitScan loads (and of the bare server)
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub clients: Vec<usize>,
    /// Concurrent clients of the lighter commands (LogIntervention, RegisterPerson)
    #[arg(long, default_value_t = 64)]
    pub light_clients: usize,
    /// Schools in the studies the scans go to: one study per number
    #[arg(long, value_delimiter = ',', default_value = "10,1000")]
    pub schools: Vec<usize>,
    /// Seconds each write load runs
    #[arg(long, default_value_t = 15.0)]
    pub seconds: f64,
    /// Seconds each ceiling is measured
    #[arg(long, default_value_t = 3.0)]
    pub ceiling_seconds: f64,
    /// Events to grow one PLG's stream to, one HoldSession at a time
    #[arg(long, default_value_t = 10_000)]
    pub stream_events: u64,
    /// The longest the stream growth may take, in seconds: it stops there, whatever it reached
    #[arg(long, default_value_t = 120.0)]
    pub stream_seconds: f64,
    /// Writes at the start and at the end of the stream growth whose latency is reported
    #[arg(long, default_value_t = 100)]
    pub stream_window: usize,
    /// Scans per second of the write-to-visible load [default: half the sustained SubmitScan
    /// rate at the most clients, on the fewest schools]
    #[arg(long)]
    pub rate: Option<f64>,
    /// Before the queries, load SCHOOLSxWAVESxRESPONDENTS scans (such as 1000x3x40) into a
    /// study of their own, and query that study
    #[arg(long)]
    pub dataset: Option<Dataset>,
    /// Times each research query is asked
    #[arg(long, default_value_t = 20)]
    pub query_repeats: u64,
    /// The longest one query's repeats may take, in seconds
    #[arg(long, default_value_t = 60.0)]
    pub query_seconds: f64,
    /// Seconds of the soak, a steady mixed load at --soak-rate (scans with and without the
    /// wait for the view, interventions, queries) reported per --soak-interval; 0: no soak
    #[arg(long, default_value_t = 0.0)]
    pub soak_seconds: f64,
    /// Calls per second of the soak, all operations together
    #[arg(long, default_value_t = 200.0)]
    pub soak_rate: f64,
    /// Seconds per row of the soak's table
    #[arg(long, default_value_t = 60.0)]
    pub soak_interval: f64,
    /// Only the set-up, the ceilings, the data set (when asked for) and the research queries:
    /// no write loads, stream growth, write-to-visible or rebuild (to compare the queries of
    /// two builds quickly)
    #[arg(long)]
    pub queries_only: bool,
    /// Only the set-up and write-to-visible (with the wait, then without) at --rate: no
    /// ceilings, other write loads, queries or rebuild (to compare that phase of two builds)
    #[arg(long, requires = "rate", conflicts_with = "queries_only")]
    pub visible_only: bool,
    /// Times write-to-visible runs, with the wait and without it in turn each time: the first
    /// round also meets the files' growth, later ones show whether the order mattered
    #[arg(long, default_value_t = 1)]
    pub visible_rounds: usize,
    /// Every phase for about a second with tiny sizes; fails only when a call fails (CI)
    #[arg(long)]
    pub smoke: bool,
}

impl Args {
    /// These arguments with the smoke run's sizes, when `--smoke` asks for them.
    pub fn sized(self) -> Self {
        if !self.smoke {
            return self;
        }
        Self {
            channels: 2,
            clients: vec![2, 4],
            light_clients: 4,
            schools: vec![2, 3],
            seconds: 1.0,
            ceiling_seconds: 0.3,
            stream_events: 20,
            stream_seconds: 2.0,
            stream_window: 5,
            rate: self.rate.or(Some(5.0)),
            dataset: Some(Dataset {
                schools: 2,
                waves: 2,
                respondents: 5,
            }),
            query_repeats: 2,
            query_seconds: 5.0,
            soak_seconds: 3.0,
            soak_rate: 40.0,
            soak_interval: 1.0,
            ..self
        }
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }

    /// What the run measured with, for the report.
    fn settings(&self) -> String {
        let list = |values: &[usize]| {
            values
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{}{}{}{} clients over {} channels; {} schools; {} s per write load, {} s per ceiling; \
             stream growth to {} events or {} s; {} repeats per query{}{}",
            if self.smoke { "smoke: " } else { "" },
            if self.queries_only {
                "queries only: "
            } else {
                ""
            },
            if self.visible_only {
                "write-to-visible only: "
            } else {
                ""
            },
            list(&self.clients),
            self.channels,
            list(&self.schools),
            self.seconds,
            self.ceiling_seconds,
            self.stream_events,
            self.stream_seconds,
            self.query_repeats,
            self.dataset
                .map(|dataset| format!("; data set {dataset}"))
                .unwrap_or_default(),
            if self.soak_seconds > 0.0 {
                format!(
                    "; soak of {} s at {} calls/s",
                    self.soak_seconds, self.soak_rate
                )
            } else {
                String::new()
            },
        )
    }
}
