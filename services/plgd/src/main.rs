use clap::{Parser, Subcommand};
use plg_runtime::{app, config::Flags, server::shutdown_signal};

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
    /// Rebuild research-view projections from the start of the log. Stop plgd first.
    Rebuild {
        /// Projections to rebuild (registry, scans, interventions, plgs); all when none given.
        projections: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = app::load_and_start_telemetry(&cli.flags)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            plgd::App::build(config)
                .await?
                .run_until(shutdown_signal())
                .await?
        }
        Command::Rebuild { projections } => {
            let position = plgd::rebuild(&config, &projections).await?;
            println!("rebuilt the research view up to log position {position}");
        }
    }
    Ok(())
}
