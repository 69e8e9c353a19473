//! The composition root every binary shares: read the configuration, start telemetry, open the
//! store, bind the listener, build the services, serve with health and reflection, and drain
//! gracefully.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use plg_eventstore::{StoreError, sqlite::Sharing};
use plg_telemetry::{Exports, Telemetry};
use plg_vault::{VAULT_FILE, Vault};
use tokio::{net::TcpListener, sync::watch};

use tonic::transport::{Identity, ServerTlsConfig};

use plg_ledger::{Ledger, ServiceError};

use crate::{
    auth::{self, Authentication},
    budget::Budgets,
    config::{self, Config, ConfigError, Flags, TlsConfig},
    health::{Check, HealthSettings},
    lock::{Claim, DataDirLock, LockError},
    metrics, private,
    server::{ServeError, ServiceSet, Serving, Stopping, shutdown_signal},
    store::OpenStore,
    streams::Streams,
};

pub use crate::store::EVENT_STORE_FILE;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Telemetry(#[from] plg_telemetry::TelemetryError),
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("cannot open the event store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot open the key store: {0}")]
    Vault(#[from] plg_vault::VaultError),
    #[error("cannot build the services: {0}")]
    Services(Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot read the TLS {what} {path}: {source}")]
    Tls {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot finish the erasures recorded in the log: {0}")]
    Erasures(ServiceError),
    #[error("cannot issue the first operator key: {0}")]
    FirstKey(ServiceError),
    #[error(
        "--insecure-local serves without authentication, so only on a loopback address, not {0}"
    )]
    InsecureNotLocal(SocketAddr),
    #[error("--kurrentdb-allow-raw-writes needs the KurrentDB listener: set --kurrentdb-listen")]
    RawWritesWithoutKurrentdb,
    #[error(
        "plgd {0} works on the embedded store's file only, and `store` names KurrentDB: back \
         up KurrentDB with its own tools, and the key store (keys.db in the data directory) \
         as a file, with plgd stopped"
    )]
    EmbeddedStoreOnly(&'static str),
}

/// What every service is built from: the write core, the server's bounds on streams and
/// replies, and each key's budget, shared by every service of the process.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub ledger: Ledger,
    pub streams: Streams,
    /// What authentication counts each key's requests against; services that authenticate
    /// their own callers (a side listener's) count against it too.
    pub budgets: Budgets,
    /// How health checks run and what they allow.
    pub health: HealthSettings,
}

/// A built application: storage open, listener bound, services ready to serve.
#[derive(Debug)]
pub struct App {
    config: Config,
    store: OpenStore,
    listener: TcpListener,
    /// Prometheus' scrape endpoint, when `metrics_listen` asks for one.
    metrics_listener: Option<TcpListener>,
    services: ServiceSet,
    serving: Serving,
    first_operator_key: Option<String>,
    /// Released when the app is dropped, after the store is closed.
    _lock: DataDirLock,
}

impl App {
    /// Builds on `config.store`, with the key store and the research view in
    /// `config.data_dir`, refusing unless `claim` on the directory can be taken at once.
    pub async fn build<E>(
        config: Config,
        claim: Claim,
        services: impl FnOnce(&Runtime) -> Result<ServiceSet, E>,
    ) -> Result<Self, AppError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if config.insecure_local && !config.listen.ip().is_loopback() {
            return Err(AppError::InsecureNotLocal(config.listen));
        }
        let data_dir_error = |source| AppError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        };
        private::create_dir(&config.data_dir).map_err(data_dir_error)?;
        private::warn_if_shared(&config.data_dir);
        let lock = DataDirLock::acquire(&config.data_dir, claim)?;
        // A process that holds the directory alone is the store's only writer, so the store
        // may keep where each stream ends.
        let sharing = match claim {
            Claim::Whole => Sharing::Exclusive,
            Claim::Store | Claim::View => Sharing::Shared,
        };
        let store = OpenStore::open(&config.store, &config.data_dir, sharing).await?;
        let vault = Vault::open(config.data_dir.join(VAULT_FILE))?;
        let ledger = Ledger::new(store.shared()).with_vault(Arc::new(vault));
        ledger.finish_erasures().await.map_err(AppError::Erasures)?;
        let tls = config.tls.as_ref().map(server_tls).transpose()?;
        let runtime = Runtime {
            ledger: ledger.clone(),
            streams: Streams::new(config.streams.clone()),
            budgets: Budgets::new(config.budget),
            health: config.health,
        };
        let services = services(&runtime)
            .map_err(|error| AppError::Services(error.into()))?
            .with_check(store_check(&ledger));
        // Every database is open by now, the research view's too.
        private::restrict_files(&config.data_dir).map_err(data_dir_error)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| AppError::Bind {
                address: config.listen,
                source,
            })?;
        let metrics_listener = match config.metrics_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|source| AppError::Bind { address, source })?,
            ),
            None => None,
        };
        // Last, once nothing else can fail, and shown at once: a key issued but never shown
        // would lock the newcomer out.
        let (authentication, first_operator_key) = if config.insecure_local {
            (
                Authentication::insecure_local().with_budgets(runtime.budgets.clone()),
                None,
            )
        } else {
            let first = auth::first_operator_key(&ledger)
                .await
                .map_err(AppError::FirstKey)?;
            if let Some(key) = &first {
                let address = listener.local_addr().unwrap_or(config.listen);
                print_first_operator_key(key, address, tls.is_some());
            }
            (
                Authentication::with_keys(ledger.clone()).with_budgets(runtime.budgets.clone()),
                first,
            )
        };
        let serving = Serving {
            authentication,
            tls,
            grace: Duration::from_secs(config.shutdown_grace_seconds),
            connections: config.connections.clone(),
            health: config.health,
            // Replaced when the background work starts (`run_until`).
            alive: watch::channel(true).1,
        };
        Ok(Self {
            config,
            store,
            listener,
            metrics_listener,
            services,
            serving,
            first_operator_key,
            _lock: lock,
        })
    }

    /// The operator key issued on this data directory's first start, if this was it.
    pub fn first_operator_key(&self) -> Option<&str> {
        self.first_operator_key.as_deref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// The address metrics are served on for Prometheus, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The address a side listener (such as KurrentDB's) is bound to, if it serves one.
    pub fn side_addr(&self, name: &str) -> Option<SocketAddr> {
        self.services.side_addr(name)
    }

    /// Serves until `shutdown` completes, then drains and closes the store, so every
    /// acknowledged write is on disk when this returns.
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let address = self.local_addr();
        tracing::info!(
            %address,
            data_dir = %self.config.data_dir.display(),
            store = %self.config.store,
            services = ?self.services.names(),
            tls = self.config.tls.is_some(),
            "serving"
        );
        if self.config.insecure_local {
            tracing::warn!(
                "insecure local mode: no API keys are checked, anyone who reaches {address} may do anything"
            );
        } else if self.config.tls.is_none() && !address.ip().is_loopback() {
            tracing::warn!(%address, "serving without TLS on a non-loopback address: API keys travel in plain text");
        }
        // Background work outlives the drain: writes in flight may wait for it.
        let (stop, stopped) = watch::channel(false);
        // Work that ends before the stop was asked for has failed: the process is not live.
        let (alive, alive_watch) = watch::channel(true);
        self.serving.alive = alive_watch;
        let mut background: Vec<_> = self
            .services
            .take_background()
            .into_iter()
            .map(|work| {
                let (alive, stopped) = (alive.clone(), stopped.clone());
                let work = work.start(Stopping::new(stopped.clone()));
                tokio::spawn(async move {
                    work.await;
                    if !*stopped.borrow() {
                        tracing::error!("work beside the services stopped: reporting not live");
                        let _ = alive.send(false);
                    }
                })
            })
            .collect();
        if let Some(listener) = self.metrics_listener.take() {
            background.push(tokio::spawn(metrics::serve_scrape(
                listener,
                Stopping::new(stopped.clone()),
            )));
        }
        let served = self
            .services
            .serve(self.listener, self.serving, shutdown)
            .await;
        let _ = stop.send(true);
        for work in background {
            if let Err(error) = work.await {
                tracing::error!(%error, "background work panicked");
            }
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(served?)
    }
}

/// The event store can serve (`EventStore::check`): every service needs it.
fn store_check(ledger: &Ledger) -> Check {
    let store = ledger.store().clone();
    Check::for_all("event store", move || {
        let store = store.clone();
        async move { store.check().await.map_err(|error| error.to_string()) }
    })
}

/// Selects ring, the provider the workspace's tonic is built with (`tls-ring`), as the
/// process's TLS crypto: once a dependency also enables aws-lc-rs (KurrentDB's client does),
/// rustls cannot choose between them and panics on the first TLS setup.
pub(crate) fn select_tls_crypto() {
    // Fails only when a provider is installed already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn server_tls(tls: &TlsConfig) -> Result<ServerTlsConfig, AppError> {
    select_tls_crypto();
    let read = |what, path: &std::path::Path| {
        std::fs::read(path).map_err(|source| AppError::Tls {
            what,
            path: path.display().to_string(),
            source,
        })
    };
    let identity = Identity::from_pem(read("certificate", &tls.cert)?, read("key", &tls.key)?);
    Ok(ServerTlsConfig::new().identity(identity))
}

/// Shown once, on the terminal rather than in the log: the log may travel further.
fn print_first_operator_key(key: &str, address: SocketAddr, tls: bool) {
    let scheme = if tls { "https" } else { "http" };
    println!(
        "\n\
         This is the first start on this data directory, so plgd issued an operator key.\n\
         It is shown only now; keep it secret and safe:\n\n    {key}\n\n\
         Send it as `authorization: Bearer <key>` to AdminService ({scheme}://{address}) to issue\n\
         keys for partner tools, researchers and administrators. If it is lost, stop plgd and\n\
         run `plgd issue-operator-key`.\n"
    );
}

/// A single-service binary's whole `main`: configuration from defaults, file, environment and
/// `flags`, then serve `services` until Ctrl-C or SIGTERM, sharing the store with any others.
pub async fn run(
    flags: &Flags,
    services: impl FnOnce(&Runtime) -> ServiceSet,
) -> Result<(), AppError> {
    let (config, telemetry) = load_and_start_telemetry(flags)?;
    let served = async {
        App::build(config, Claim::Store, |runtime| {
            Ok::<_, Infallible>(services(runtime))
        })
        .await?
        .run_until(shutdown_signal())
        .await
    }
    .await;
    telemetry.shutdown().await;
    served
}

/// The layered configuration, with logging (and trace export) started as it says. Shut the
/// telemetry down once the work is done, so that the last spans are exported.
pub fn load_and_start_telemetry(flags: &Flags) -> Result<(Config, Telemetry), AppError> {
    let config = Config::load(flags)?;
    let telemetry = start_telemetry(&config)?;
    for variable in config::unknown_environment() {
        tracing::warn!(%variable, "unknown PLG_ environment variable ignored: a typo?");
    }
    Ok((config, telemetry))
}

/// Starts logging, exporting traces and metrics, and keeping metrics for Prometheus, as
/// `config` and the standard `OTEL_*` variables say. Call once per process, inside its Tokio
/// runtime, before the app is built: instruments are made from the provider this installs.
pub fn start_telemetry(config: &Config) -> Result<Telemetry, AppError> {
    let telemetry = plg_telemetry::init(
        config.log_format,
        &config.log_filter,
        Exports {
            otlp_endpoint: config.otlp_endpoint.as_deref(),
            prometheus: config.metrics_listen.is_some(),
        },
    )?;
    if let Some(endpoint) = telemetry.traces_endpoint() {
        tracing::info!(endpoint, "exporting traces over OTLP");
    }
    if let Some(endpoint) = telemetry.metrics_endpoint() {
        tracing::info!(endpoint, "exporting metrics over OTLP");
    }
    Ok(telemetry)
}
