use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    path::PathBuf,
};

use clap::{Parser, Subcommand, ValueEnum};
use plg_demo::DemoSize;
use plg_server::{
    app, backup,
    config::{Config, Flags},
    server::shutdown_signal,
};

/// jemalloc rather than the system allocator: glibc keeps an arena per busy thread (tokio's
/// workers and blocking pool) and holds freed memory in each, so plgd's resident memory stayed
/// at the peak of its largest query or export; jemalloc returns freed pages to the system
/// (docs/performance.md, "The allocator"), on a background thread within about a second, as
/// `.cargo/config.toml` builds it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// PLG Ledger: records how schools develop as professional learning communities, and serves
/// every service over gRPC from one process.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve every service (the default).
    Serve,
    /// Rebuild research-view projections from the start of the log, all or nothing. Refuses
    /// while plgd serves the data directory.
    Rebuild {
        /// Projections to rebuild (registry, scans, interventions, plgs, audit); all when none
        /// given.
        projections: Vec<String>,
    },
    /// Issue a new operator key, printed once, when every operator key is lost or revoked.
    /// Refuses while plgd serves the data directory.
    IssueOperatorKey {
        /// Who holds the new key.
        #[arg(long, default_value = "operator (issued by plgd issue-operator-key)")]
        identity: String,
    },
    /// Copy the event store and the key store into a new or empty directory, consistently,
    /// while plgd may serve, checked and with a manifest written last. The research view is
    /// rebuilt from the log after a restore. The embedded store only.
    Backup {
        /// The directory to copy into.
        #[arg(long)]
        to: PathBuf,
    },
    /// Copy a complete backup (one with its manifest, whose files match it) into the data
    /// directory, which must be new or empty. Start plgd on it afterwards. The embedded store
    /// only.
    Restore {
        /// The directory a backup was made into.
        #[arg(long)]
        from: PathBuf,
    },
    /// Copy the data directory's event log and request records into KurrentDB, as they are
    /// (ids, revisions, timestamps, hashes), then verify the copy. Resumable: run it again
    /// after an interruption. Refuses while plgd serves the data directory. The research view
    /// is not copied: plgd rebuilds it on the new store.
    Migrate {
        /// The KurrentDB to copy into: a connection string, kurrentdb://user:password@host:2113
        /// (TLS and credentials as KurrentDB's clients take them).
        #[arg(long)]
        to: String,
        /// Stop once this run has appended this many events, as if interrupted (for tests).
        #[arg(long, hide = true)]
        stop_after_events: Option<u64>,
    },
    /// Load a synthetic demo study into a running plgd through its gRPC API.
    Demo {
        /// The plgd to load into, such as https://plg.example.org:50051; by default the
        /// configured listen address, over https when a TLS certificate is configured.
        #[arg(long)]
        address: Option<String>,
        /// The certificate (PEM) to trust for an https address: the server's own or its CA's.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// A partner tool key whose scope is everything; not needed when plgd runs with
        /// --insecure-local.
        #[arg(long, env = "PLG_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Seeds the generator. Loading the same seed again writes nothing new.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// full: 15 schools, 3 waves, 30 to 50 respondents per school and wave;
        /// small: 6 schools, 12 to 16 respondents.
        #[arg(long, value_enum, default_value_t = Size::Full)]
        size: Size,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Size {
    Full,
    Small,
}

/// Where `plgd demo` loads by default: the configured listener (on loopback when it listens on
/// every interface), over https when it has a certificate.
fn demo_address(config: &Config) -> String {
    let mut listen = config.listen;
    if listen.ip().is_unspecified() {
        listen.set_ip(match listen {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{listen}")
}

/// The summary of `plgd migrate` (the connection string is never repeated: it holds the
/// secret).
fn print_migrated(config: &Config, migrated: &plgd::migrate::Migrated) {
    println!(
        "copied {} of {} events ({} already there) in {} streams from {} to kurrentdb",
        migrated.copied,
        migrated.events,
        migrated.already_there,
        migrated.streams,
        config.data_dir.display()
    );
    if migrated.stopped {
        println!("stopped as asked (--stop-after-events): run plgd migrate again to continue");
        return;
    }
    println!(
        "copied {} of {} request records ({} already there)",
        migrated.requests_copied,
        migrated.requests,
        migrated.requests - migrated.requests_copied
    );
    println!(
        "verified: every stream's count, head revision and head hash are equal on both sides, \
         every chain verifies on kurrentdb, and every request record replays"
    );
    println!(
        "the research view was removed, not copied (its checkpoints are the embedded store's \
         positions): plgd builds it anew when it first runs on the new store; keys.db is not \
         in the log: keep it with the data directory"
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (config, telemetry) = app::load_and_start_telemetry(&cli.flags)?;
    let done = run(cli.command.unwrap_or(Command::Serve), config).await;
    // After the drain, so that the spans of the last requests are exported too.
    telemetry.shutdown().await;
    done
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            plgd::build(config)
                .await?
                .run_until(shutdown_signal())
                .await?
        }
        Command::Rebuild { projections } => {
            let rebuilt = plgd::rebuild(&config, &projections).await?;
            println!(
                "rebuilt the research view up to log position {}",
                rebuilt.position
            );
            // Each one is logged with its stream and revision; the positions let a reader
            // find them with EventLogService.ReadAll or AuditService.VerifyStore.
            if !rebuilt.skipped.is_empty() {
                let positions: Vec<String> =
                    rebuilt.skipped.iter().map(ToString::to_string).collect();
                println!(
                    "skipped {} unreadable event(s) at log position(s) {}",
                    positions.len(),
                    positions.join(", ")
                );
            }
        }
        Command::IssueOperatorKey { identity } => {
            let key = plgd::issue_operator_key(&config, &identity).await?;
            println!("{key}");
        }
        Command::Backup { to } => {
            plgd::embedded_only(&config, "backup")?;
            let manifest = backup::backup(&config.data_dir, &to)?;
            println!(
                "backed up {} to {}, up to log position {}",
                config.data_dir.display(),
                to.display(),
                manifest.position
            );
        }
        Command::Restore { from } => {
            plgd::embedded_only(&config, "restore")?;
            let manifest = backup::restore(&from, &config.data_dir)?;
            println!(
                "restored {} into {}, up to log position {}",
                from.display(),
                config.data_dir.display(),
                manifest.position
            );
        }
        Command::Migrate {
            to,
            stop_after_events,
        } => {
            let migrated = plgd::migrate::migrate(&config, &to, stop_after_events).await?;
            print_migrated(&config, &migrated);
        }
        Command::Demo {
            address,
            ca_cert,
            api_key,
            seed,
            size,
        } => {
            let size = match size {
                Size::Full => DemoSize::FULL,
                Size::Small => DemoSize::SMALL,
            };
            let address = address.unwrap_or_else(|| demo_address(&config));
            let channel = plg_demo::connect(&address, ca_cert.as_deref()).await?;
            let started = std::time::Instant::now();
            let summary = plg_demo::load_sized(channel, api_key.as_deref(), seed, size).await?;
            println!("{summary}");
            println!(
                "loaded in {:.1} s; study id: {}",
                started.elapsed().as_secs_f64(),
                summary.study_id
            );
        }
    }
    Ok(())
}
