use clap::Parser;
use plg_server::{app, config::Flags, server::ServiceSet};

/// CoachingService on its own: PLG coaches and the handover between them.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    app::run(&flags, |runtime| {
        ServiceSet::default().with(plg_coaching::server(runtime))
    })
    .await?;
    Ok(())
}
