use clap::Parser;
use plg_runtime::{app, config::Flags};

/// PLG Ledger: records how schools develop as professional learning communities, and serves
/// every service over gRPC from one process.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    app::run(&cli.flags, plgd::services).await?;
    Ok(())
}
