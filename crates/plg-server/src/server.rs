//! Serving a set of gRPC services behind authentication, with health checking and
//! reflection, optionally over TLS, and draining gracefully on shutdown.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use prost::Message;
use prost_types::FileDescriptorSet;
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::{Server, ServerTlsConfig},
};
use tonic_health::ServingStatus;

use crate::{
    auth::Authentication,
    codec::CodecStatuses,
    config::ConnectionLimits,
    connections::{self, Acks},
    health::{self, Check, HealthSettings, LIVENESS},
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection cannot be built: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the google.rpc descriptors cannot be read: {0}")]
    Descriptors(#[from] prost::DecodeError),
    #[error("serving failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// How a [`ServiceSet`] serves: who may call, over which transport, and how long a shutdown
/// waits for requests in flight.
#[derive(Debug, Clone)]
pub struct Serving {
    pub authentication: Authentication,
    pub tls: Option<ServerTlsConfig>,
    pub grace: Duration,
    pub connections: ConnectionLimits,
    pub health: HealthSettings,
    /// False once work beside the services stopped on its own (`health::LIVENESS`).
    pub alive: tokio::sync::watch::Receiver<bool>,
}

/// The gRPC services one process serves.
#[derive(Debug, Default)]
pub struct ServiceSet {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    background: Vec<Background>,
    side: Vec<SideListener>,
    /// What the services' readiness depends on (`health`).
    checks: Vec<Check>,
}

/// A second listener with services of its own, such as KurrentDB's client protocol: served
/// with the same TLS, connection limits and drain as the main one, but not behind its
/// authentication layer (whose table lists only `plg.v1`), so its services authenticate
/// their callers themselves.
#[derive(Debug)]
struct SideListener {
    name: &'static str,
    listener: TcpListener,
    routes: Routes,
}

/// Tells background work that the server has drained and it should stop.
#[derive(Debug, Clone)]
pub struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    pub fn new(stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self(stop)
    }

    /// Completes once stopping was asked for (or whoever could ask has gone).
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

type BackgroundStart =
    Box<dyn FnOnce(Stopping) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Work that runs beside the services, such as projections following the log.
pub struct Background(BackgroundStart);

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Background")
    }
}

impl Background {
    pub fn start(self, stopping: Stopping) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        (self.0)(stopping)
    }
}

impl ServiceSet {
    pub fn with<S>(mut self, service: S) -> Self
    where
        S: tower_service::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Adds work that starts with the server and is asked to stop once it has drained.
    pub fn with_background<F>(mut self, run: impl FnOnce(Stopping) -> F + Send + 'static) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.background.push(Background(Box::new(move |stopping| {
            Box::pin(run(stopping))
        })));
        self
    }

    /// Adds a check that health reports follow (`health`).
    pub fn with_check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Serves `routes` on `listener` too; the routes must authenticate callers themselves.
    pub fn with_side_listener(
        mut self,
        name: &'static str,
        listener: TcpListener,
        routes: Routes,
    ) -> Self {
        self.side.push(SideListener {
            name,
            listener,
            routes,
        });
        self
    }

    /// The address the side listener called `name` is bound to.
    pub fn side_addr(&self, name: &str) -> Option<SocketAddr> {
        self.side
            .iter()
            .find(|side| side.name == name)
            .and_then(|side| side.listener.local_addr().ok())
    }

    pub fn take_background(&mut self) -> Vec<Background> {
        std::mem::take(&mut self.background)
    }

    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Serves until `shutdown` completes, then reports NOT_SERVING, stops accepting, and lets
    /// requests in flight finish for up to `serving.grace`.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        serving: Serving,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Serving {
            authentication,
            tls,
            grace,
            connections,
            health: health_settings,
            alive,
        } = serving;
        let (health, health_service) = tonic_health::server::health_reporter();
        for name in self.names.iter().chain([&"", &LIVENESS]) {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }

        // Both reflection versions: grpcurl and older clients still ask v1alpha. The
        // google.rpc types let clients decode error details instead of showing base64.
        let google_rpc = google_rpc_descriptors()?;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(plg_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_file_descriptor_set(google_rpc.clone())
        };
        self.routes
            .add_service(health_service)
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?);

        let (stopping, mut stop_requested) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stopping.send(true);
        });
        let mut grace_started = stop_requested.clone();
        let names = self.names.clone();
        let reporting = tokio::spawn(health::keep_reporting(
            health.clone(),
            names.clone(),
            self.checks,
            health_settings,
            alive,
            stop_requested.clone(),
        ));
        // Stopped however serving ends, a failure included.
        let stop_reporting = reporting.abort_handle();
        let max_connections = connections::fit_to_file_limit(connections.max);
        let incoming =
            connections::incoming(listener, &connections, max_connections, Acks::Delayed);
        // Pings find dead peers that TCP alone would keep for hours.
        let mut builder = Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(connections.keepalive_seconds)))
            .http2_keepalive_timeout(Some(Duration::from_secs(
                connections.keepalive_timeout_seconds,
            )));
        if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
        }
        let sides = futures::future::try_join_all(self.side.into_iter().map(|side| {
            let mut stop = stop_requested.clone();
            tracing::info!(listener = side.name, address = ?side.listener.local_addr().ok(), "serving");
            // Side listeners serve other products' clients (KurrentDB's), not all of which turn
            // Nagle's algorithm off.
            let incoming =
                connections::incoming(side.listener, &connections, max_connections, Acks::Quick);
            builder
                .clone()
                .layer(CodecStatuses)
                .add_routes(side.routes)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
        }));
        // Authentication (which records each call's status) outside the codec's restatement,
        // so that what it records is what the caller gets.
        let server = builder
            .layer(authentication)
            .layer(CodecStatuses)
            .add_routes(self.routes.routes())
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop_requested.wait_for(|stop| *stop).await;
                tracing::info!("shutting down: draining requests in flight");
                // Stopped first, so that no round of checks reports after the drain began.
                reporting.abort();
                let _ = reporting.await;
                for name in names.into_iter().chain(["", LIVENESS]) {
                    health
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
            });
        let served = tokio::select! {
            served = async { tokio::try_join!(server, sides) } => served.map(drop),
            () = async {
                let _ = grace_started.wait_for(|stop| *stop).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_seconds = grace.as_secs(), "requests still in flight after the grace period; stopping");
                Ok(())
            }
        };
        stop_reporting.abort();
        Ok(served?)
    }
}

/// The descriptors of `google.rpc.Status` and the error details, as tonic-types ships them
/// (with `google.protobuf.Any` and `Duration`), under googleapis' file names rather than the
/// bare `status.proto` and `error_details.proto` tonic-types uses, so a client asking for or
/// already holding `google/rpc/status.proto` finds one definition of each type.
fn google_rpc_descriptors() -> Result<FileDescriptorSet, prost::DecodeError> {
    let mut set = FileDescriptorSet::decode(tonic_types::pb::FILE_DESCRIPTOR_SET)?;
    for file in &mut set.file {
        if let Some(name @ ("status.proto" | "error_details.proto")) = file.name.as_deref() {
            file.name = Some(format!("google/rpc/{name}"));
        }
    }
    Ok(set)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
