use clap::Parser;
use plg_server::{app, config::Flags, server::ServiceSet};

/// SessionService on its own: PLGs, their members, phases and sessions.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    app::run(&flags, |runtime| {
        ServiceSet::default().with(plg_session::server(runtime))
    })
    .await?;
    Ok(())
}
