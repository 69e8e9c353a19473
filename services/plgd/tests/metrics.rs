//! Metrics, received by a real OTLP receiver (the collector's `MetricsService`, from the
//! `opentelemetry-proto` definitions) in this process and scraped from plgd's Prometheus
//! endpoint: after a traced SubmitScan that waits for the view, a refused call and an
//! export, every metric docs/telemetry.md lists is there, with the figures those calls
//! leave. A test binary of its own: the meter provider a plgd in this process installs is the
//! process's.

mod otlp;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value::Value},
    metrics::v1::{Metric, metric::Data, number_data_point},
};
use otlp::Receiver;
use plg_proto::v1;
use plg_server::{app, config::Config};
use plg_testkit::{Clients, Identity, TestServer, one_answer_scan, options_waiting_for_view};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_stream::StreamExt as _;

fn has(attributes: &[KeyValue], key: &str, value: Value) -> bool {
    attributes.iter().any(|attribute| {
        attribute.key == key
            && attribute.value
                == Some(AnyValue {
                    value: Some(value.clone()),
                })
    })
}

fn text(value: &str) -> Value {
    Value::StringValue(value.to_owned())
}

fn code(code: tonic::Code) -> Value {
    Value::IntValue(i64::from(i32::from(code)))
}

/// A sum's or gauge's points as (attributes, value).
fn points(metric: &Metric) -> Vec<(Vec<KeyValue>, f64)> {
    let points = match &metric.data {
        Some(Data::Sum(sum)) => &sum.data_points,
        Some(Data::Gauge(gauge)) => &gauge.data_points,
        _ => return Vec::new(),
    };
    points
        .iter()
        .map(|point| {
            let value = match point.value {
                Some(number_data_point::Value::AsInt(value)) => value as f64,
                Some(number_data_point::Value::AsDouble(value)) => value,
                None => f64::NAN,
            };
            (point.attributes.clone(), value)
        })
        .collect()
}

/// `GET /metrics` from `address`, over plain HTTP/1.1.
async fn scrape(address: SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: plgd\r\nConnection: close\r\n\r\n")
        .await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    let (head, body) = reply.split_once("\r\n\r\n").context("an HTTP reply")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    anyhow::ensure!(head.contains("text/plain; version=0.0.4"), "{head}");
    Ok(body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_a_refusal_and_an_export_show_in_every_metric_over_otlp_and_prometheus()
-> anyhow::Result<()> {
    let (receiver, address) = Receiver::start().await?;
    let telemetry = app::start_telemetry(&Config {
        otlp_endpoint: Some(format!("http://{address}")),
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        log_filter: "warn".into(),
        ..Config::default()
    })?;
    let server = TestServer::start_with(tempfile::tempdir()?, |config| Config {
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..config
    })
    .await?;
    let mut tool = server.clients().await?;
    let (study_id, school_id) = tool.enrolled_school().await?;
    tool.scans
        .submit_scan(v1::SubmitScanRequest {
            options: options_waiting_for_view(),
            ..one_answer_scan(&study_id, &school_id)
        })
        .await?;
    let mut anonymous = Clients::new(server.channel().await?, Identity::anonymous());
    let refused = anonymous
        .scans
        .submit_scan(v1::SubmitScanRequest::default())
        .await
        .expect_err("no key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let mut researcher = server.researcher().await?;
    let mut export = researcher
        .research
        .export_study(v1::ExportStudyRequest {
            study_id: study_id.clone(),
            format: v1::ExportFormat::Long.into(),
        })
        .await?
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = export.next().await {
        csv.extend(chunk?.chunk);
    }
    let exported_rows = csv.iter().filter(|byte| **byte == b'\n').count() - 1;

    let metrics_address = server.metrics_address().context("metrics served")?;
    let prometheus = scrape(metrics_address).await?;
    for line in [
        r#"plg_events_appended_total{category="scan"} 1"#,
        r#"plg_rpc_refused_total{reason="unauthenticated",rpc_grpc_status_code="16"} 1"#,
    ] {
        assert!(prometheus.contains(line), "{line} in:\n{prometheus}");
    }
    for name in [
        "rpc_server_duration_milliseconds_bucket",
        "plg_store_commit_appends_bucket",
        "plg_projection_lag_events",
        "plg_projection_lag_seconds",
        "plg_export_rows_total",
    ] {
        assert!(
            prometheus
                .lines()
                .any(|line| line.starts_with(&format!("{name} "))
                    || line.starts_with(&format!("{name}{{"))),
            "{name} in:\n{prometheus}"
        );
    }
    assert!(
        prometheus.lines().any(|line| line.starts_with(
            "rpc_server_duration_milliseconds_count{rpc_grpc_status_code=\"0\",rpc_method=\"SubmitScan\",rpc_service=\"plg.v1.ScanService\",rpc_system=\"grpc\"}"
        )),
        "{prometheus}"
    );
    assert!(
        prometheus
            .lines()
            .any(|line| line == "plg_projection_running 1"),
        "the follower runs:\n{prometheus}"
    );
    // A peer that starts a request and stalls holds up neither other scrapes nor the stop.
    let mut stalled = tokio::net::TcpStream::connect(metrics_address).await?;
    stalled.write_all(b"GET /metrics HTTP/1.1\r\n").await?;
    scrape(metrics_address).await?;
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .context("plgd stopped while a scrape stalled")??;
    drop(stalled);
    telemetry.shutdown().await;

    // Over OTLP: the last export, taken at shutdown, holds every series.
    let duration = receiver.metric("rpc.server.duration")?;
    assert_eq!(duration.unit, "ms");
    let Some(Data::Histogram(histogram)) = &duration.data else {
        anyhow::bail!("rpc.server.duration is a histogram: {duration:?}");
    };
    let submitted = histogram
        .data_points
        .iter()
        .find(|point| {
            has(&point.attributes, "rpc.method", text("SubmitScan"))
                && has(
                    &point.attributes,
                    "rpc.grpc.status_code",
                    code(tonic::Code::Ok),
                )
        })
        .context("the SubmitScan's duration")?;
    assert_eq!(submitted.count, 1);
    assert!(submitted.sum.is_some_and(|sum| sum > 0.0));
    assert!(
        histogram.data_points.iter().any(|point| has(
            &point.attributes,
            "rpc.grpc.status_code",
            code(tonic::Code::Unauthenticated)
        )),
        "the refusal's duration, with its code"
    );

    let appended = points(&receiver.metric("plg.events.appended")?);
    let scans: f64 = appended
        .iter()
        .filter(|(attributes, _)| has(attributes, "category", text("scan")))
        .map(|(_, value)| value)
        .sum();
    assert_eq!(scans, 1.0, "{appended:?}");

    let refusals = points(&receiver.metric("plg.rpc.refused")?);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    let (attributes, count) = &refusals[0];
    assert!(has(attributes, "reason", text("unauthenticated")));
    assert!(has(
        attributes,
        "rpc.grpc.status_code",
        code(tonic::Code::Unauthenticated)
    ));
    assert_eq!(*count, 1.0);

    let commits = receiver.metric("plg.store.commit.appends")?;
    let Some(Data::Histogram(commits)) = &commits.data else {
        anyhow::bail!("a histogram: {commits:?}");
    };
    let appends: f64 = commits
        .data_points
        .iter()
        .filter_map(|point| point.sum)
        .sum();
    assert!(
        appends >= 1.0 + scans,
        "every append was committed in a group: {appends}"
    );

    let rows = points(&receiver.metric("plg.export.rows")?);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(has(&rows[0].0, "format", text("long")));
    assert_eq!(rows[0].1, exported_rows as f64);

    for lag in ["plg.projection.lag.events", "plg.projection.lag"] {
        let points = points(&receiver.metric(lag)?);
        assert_eq!(points.len(), 1, "{lag}: {points:?}");
    }
    Ok(())
}
