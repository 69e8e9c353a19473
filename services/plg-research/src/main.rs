use clap::Parser;
use plg_projections::ProjectionError;
use plg_research::ResearchHost;
use plg_server::{
    app::{self, App},
    config::Flags,
    lock::Claim,
    server::{ServiceSet, shutdown_signal},
};

/// ResearchService on its own: owns the research view, keeping it current from the log.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, telemetry) = app::load_and_start_telemetry(&Flags::parse())?;
    let data_dir = config.data_dir.clone();
    let served = async {
        App::build(config, Claim::View, |runtime| {
            let host = ResearchHost::open(runtime.ledger.store().clone(), &data_dir)?;
            Ok::<_, ProjectionError>(host.attach(runtime, |_| ServiceSet::default()))
        })
        .await?
        .run_until(shutdown_signal())
        .await
    }
    .await;
    telemetry.shutdown().await;
    Ok(served?)
}
