//! plgd: every PLG Ledger service in one process, on the embedded event store.

use plg_runtime::{
    Ledger,
    app::{App, AppError},
    config::Config,
    server::ServiceSet,
};

/// Every service plgd serves.
pub fn services(ledger: &Ledger) -> ServiceSet {
    ServiceSet::default()
        .with(plg_registry::server(ledger))
        .with(plg_scan::server(ledger))
        .with(plg_intervention::server(ledger))
        .with(plg_session::server(ledger))
        .with(plg_coaching::server(ledger))
        .with(plg_eventlog::server(ledger))
}

/// Opens the store in `config.data_dir`, binds `config.listen` and builds every service.
pub async fn build(config: Config) -> Result<App, AppError> {
    App::build(config, services).await
}
