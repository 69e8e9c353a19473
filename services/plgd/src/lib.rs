//! plgd: every PLG Ledger service in one process, on the configured event store (the embedded
//! one by default, or KurrentDB), with the research view's projections following the log
//! alongside.

pub mod migrate;

use plg_eventstore::sqlite::Sharing;
use plg_kurrentdb::{Keys, Writes};
use plg_ledger::Ledger;
use plg_projections::{ProjectionError, RESEARCH_DB_FILE, Rebuilt};
use plg_research::ResearchHost;
use plg_server::{
    Runtime,
    app::{App, AppError},
    auth,
    config::Config,
    lock::{Claim, DataDirLock},
    server::ServiceSet,
    store::{OpenStore, StoreChoice},
};
use tokio::net::TcpListener;

/// The write services and the event log, writing through `runtime`'s ledger.
pub fn services(runtime: &Runtime) -> ServiceSet {
    ServiceSet::default()
        .with(plg_registry::server(runtime))
        .with(plg_scan::server(runtime))
        .with(plg_intervention::server(runtime))
        .with(plg_session::server(runtime))
        .with(plg_coaching::server(runtime))
        .with(plg_eventlog::server(runtime))
        .with(plg_admin::server(runtime))
}

/// The name of the listener serving KurrentDB's client protocol, for [`App::side_addr`].
pub const KURRENTDB_LISTENER: &str = "kurrentdb";

/// Opens the configured store, and the research view in `config.data_dir`, which it owns
/// alone while it runs, binds `config.listen` (and `config.kurrentdb_listen`, if set) and builds every
/// service, with the projections to run beside them.
pub async fn build(config: Config) -> Result<App, AppError> {
    let data_dir = config.data_dir.clone();
    if config.kurrentdb_allow_raw_writes && config.kurrentdb_listen.is_none() {
        return Err(AppError::RawWritesWithoutKurrentdb);
    }
    let kurrentdb = match config.kurrentdb_listen {
        Some(address) if config.insecure_local && !address.ip().is_loopback() => {
            return Err(AppError::InsecureNotLocal(address));
        }
        Some(address) => {
            let bind_error = |source| AppError::Bind { address, source };
            let listener = TcpListener::bind(address).await.map_err(bind_error)?;
            let bound = listener.local_addr().map_err(bind_error)?;
            Some((listener, bound))
        }
        None => None,
    };
    let keys = if config.insecure_local {
        Keys::InsecureLocal
    } else {
        Keys::Checked
    };
    let writes = if config.kurrentdb_allow_raw_writes {
        Writes::Allowed
    } else {
        Writes::Refused
    };
    App::build(config, Claim::Whole, |runtime| {
        let research = ResearchHost::open(runtime.ledger.store().clone(), &data_dir)?;
        let audit = plg_audit::server(runtime, research.db().clone());
        let mut set = research.attach(runtime, |runtime| services(runtime).with(audit));
        if let Some((listener, address)) = kurrentdb {
            let routes = plg_kurrentdb::routes(runtime, keys, writes, address);
            set = set.with_side_listener(KURRENTDB_LISTENER, listener, routes);
        }
        Ok::<_, ProjectionError>(set)
    })
    .await
}

/// Issues an operator key directly into the configured store, with plgd stopped: the way
/// back in when every operator key is lost or revoked. Refuses while another process uses the
/// data directory.
pub async fn issue_operator_key(config: &Config, identity: &str) -> Result<String, AppError> {
    let _lock = DataDirLock::acquire(&config.data_dir, Claim::Whole)?;
    let store = OpenStore::open(&config.store, &config.data_dir, Sharing::Exclusive).await?;
    let issued = auth::another_operator_key(&Ledger::new(store.shared()), identity).await;
    store.close().await;
    issued.map_err(|error| AppError::Services(error.into()))
}

/// Rebuilds the named projections (all when empty) from the start of the log, all or
/// nothing. Refuses while plgd or plg-research owns the view. Returns the log position the
/// rebuilt view is current to and the events it skipped as unreadable.
pub async fn rebuild(config: &Config, projections: &[String]) -> Result<Rebuilt, AppError> {
    let _lock = DataDirLock::acquire(&config.data_dir, Claim::View)?;
    let store = OpenStore::open(&config.store, &config.data_dir, Sharing::Shared).await?;
    let rebuilt = plg_projections::rebuild(
        store.shared(),
        config.data_dir.join(RESEARCH_DB_FILE),
        projections,
    )
    .await;
    store.close().await;
    rebuilt.map_err(|error| AppError::Services(error.into()))
}

/// Refuses `command` (`backup`, `restore`) unless plgd runs on the embedded store: they copy
/// its file. KurrentDB is backed up with its own tools.
pub fn embedded_only(config: &Config, command: &'static str) -> Result<(), AppError> {
    match config.store {
        StoreChoice::Embedded => Ok(()),
        StoreChoice::KurrentDb(_) => Err(AppError::EmbeddedStoreOnly(command)),
    }
}
