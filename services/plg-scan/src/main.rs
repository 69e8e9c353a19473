use clap::Parser;
use plg_server::{app, config::Flags, server::ServiceSet};

/// ScanService on its own: scan submissions, imports and retractions.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    app::run(&flags, |runtime| {
        ServiceSet::default().with(plg_scan::server(runtime))
    })
    .await?;
    Ok(())
}
