//! plgd: every PLG Ledger service in one process, on the embedded event store, with the
//! research view's projections following the log alongside.

use std::{path::PathBuf, sync::Arc};

use plg_eventstore::{EventStore, sqlite::SqliteEventStore};
use plg_projections::{ProjectionError, Projections, RESEARCH_DB_FILE};
use plg_runtime::{
    Ledger,
    app::{self, AppError, EVENT_STORE_FILE},
    config::Config,
    server::ServiceSet,
};
use tokio::sync::watch;

/// Every service plgd serves, writing through `ledger`.
pub fn services(ledger: &Ledger) -> ServiceSet {
    ServiceSet::default()
        .with(plg_registry::server(ledger))
        .with(plg_scan::server(ledger))
        .with(plg_intervention::server(ledger))
        .with(plg_session::server(ledger))
        .with(plg_coaching::server(ledger))
        .with(plg_eventlog::server(ledger))
}

fn research_db_path(config: &Config) -> PathBuf {
    config.data_dir.join(RESEARCH_DB_FILE)
}

/// The services, their store and the projections, built and bound, ready to run.
#[derive(Debug)]
pub struct App {
    server: app::App,
    projections: Projections,
}

impl App {
    /// Opens the store and the research view in `config.data_dir`, binds `config.listen` and
    /// builds every service.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let research_db = research_db_path(&config);
        let mut projections = None;
        let server = app::App::build(config, |ledger| {
            let opened = Projections::open(ledger.store().clone(), &research_db)?;
            let ledger = ledger.clone().with_research_view(opened.progress());
            projections = Some(opened);
            Ok::<_, ProjectionError>(services(&ledger))
        })
        .await?;
        let projections =
            projections.ok_or_else(|| AppError::Services("projections were not opened".into()))?;
        Ok(Self {
            server,
            projections,
        })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }

    /// Serves and projects until `shutdown` completes; then drains requests, stops the
    /// projections at a committed checkpoint and closes the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let (stop, stopped) = watch::channel(false);
        let mut stop_projections = stopped.clone();
        let projections = tokio::spawn(self.projections.run(async move {
            let _ = stop_projections.wait_for(|stop| *stop).await;
        }));
        let served = self
            .server
            .run_until(async move {
                shutdown.await;
                let _ = stop.send(true);
            })
            .await;
        drop(stopped);
        if let Err(error) = projections.await {
            tracing::error!(%error, "projections task panicked");
        }
        served
    }
}

/// Rebuilds the named projections (all when empty) from the start of the log, with plgd
/// stopped. Returns the log position the rebuilt view is current to.
pub async fn rebuild(config: &Config, projections: &[String]) -> Result<u64, AppError> {
    let store = SqliteEventStore::open(config.data_dir.join(EVENT_STORE_FILE)).await?;
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    let rebuilt = plg_projections::rebuild(shared, research_db_path(config), projections).await;
    store.close().await;
    rebuilt
        .map(|position| position.0)
        .map_err(|error| AppError::Services(error.into()))
}
