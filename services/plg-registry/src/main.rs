use clap::Parser;
use plg_server::{app, config::Flags, server::ServiceSet};

/// RegistryService on its own: schools, studies, enrolments and people.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    app::run(&flags, |runtime| {
        ServiceSet::default().with(plg_registry::server(runtime))
    })
    .await?;
    Ok(())
}
