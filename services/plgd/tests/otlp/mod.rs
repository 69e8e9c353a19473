//! A real OTLP receiver for tests: the collector's `TraceService` and `MetricsService`, from
//! the `opentelemetry-proto` definitions, serving on a free port of 127.0.0.1 and keeping
//! what it is sent.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anyhow::Context as _;
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    metrics::v1::Metric,
    resource::v1::Resource,
    trace::v1::Span,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// A span as received, with the resource it came from.
pub type Received = (Option<Resource>, Span);

/// What an OTLP receiver was sent.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    spans: Arc<Mutex<Vec<Received>>>,
    metrics: Arc<Mutex<Vec<Metric>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self
            .spans
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        for resource_spans in request.into_inner().resource_spans {
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push((resource_spans.resource.clone(), span));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut metrics = self
            .metrics
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        for resource in request.into_inner().resource_metrics {
            for scope in resource.scope_metrics {
                metrics.extend(scope.metrics);
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

impl Receiver {
    /// Serves on a free port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<(Self, SocketAddr)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let receiver = Self::default();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(receiver.clone()))
                .add_service(MetricsServiceServer::new(receiver.clone()))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Ok((receiver, address))
    }

    #[allow(dead_code, reason = "the metrics test reads metrics only")]
    pub fn spans(&self) -> Vec<Received> {
        self.spans
            .lock()
            .map(|spans| spans.clone())
            .unwrap_or_default()
    }

    /// The last export of the metric `name`: each export holds every series so far.
    #[allow(dead_code, reason = "the traces test reads spans only")]
    pub fn metric(&self, name: &str) -> anyhow::Result<Metric> {
        let metrics = self
            .metrics
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        metrics
            .iter()
            .rev()
            .find(|metric| metric.name == name)
            .cloned()
            .with_context(|| {
                let names: Vec<_> = metrics.iter().map(|metric| &metric.name).collect();
                format!("no {name} among {names:?}")
            })
    }
}
