use clap::Parser;
use plg_server::{app, config::Flags, server::ServiceSet};

/// EventLogService on its own: reads streams and the global log back.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    app::run(&flags, |runtime| {
        ServiceSet::default().with(plg_eventlog::server(runtime))
    })
    .await?;
    Ok(())
}
