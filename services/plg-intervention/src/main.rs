use clap::Parser;
use plg_server::{app, config::Flags, server::ServiceSet};

/// InterventionService on its own: interventions, development plans and reflection conversations.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    app::run(&flags, |runtime| {
        ServiceSet::default().with(plg_intervention::server(runtime))
    })
    .await?;
    Ok(())
}
