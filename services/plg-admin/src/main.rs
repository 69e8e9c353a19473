use clap::Parser;
use plg_server::{app, config::Flags, server::ServiceSet};

/// AdminService on its own: operators issue, scope and revoke API keys.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    app::run(&flags, |runtime| {
        ServiceSet::default().with(plg_admin::server(runtime))
    })
    .await?;
    Ok(())
}
