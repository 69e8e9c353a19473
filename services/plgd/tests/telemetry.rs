//! Traces over OTLP, received by a real OTLP receiver (the collector's `TraceService`, from the
//! `opentelemetry-proto` definitions) in this process: a SubmitScan sent with W3C trace
//! context arrives as a server span in the caller's trace, with the gRPC conventions'
//! attributes and the write core's steps as its children. A test binary of its own: the
//! subscriber and tracer a plgd in this process installs are the process's.

mod otlp;
mod support;

use std::process::Command;

use anyhow::Context as _;
use opentelemetry_proto::tonic::{
    common::v1::any_value::Value,
    trace::v1::{Span, span::SpanKind},
};
use otlp::{Received, Receiver};
use plg_proto::v1;
use plg_server::{app, config::Config};
use plg_testkit::{Clients, Identity, TestServer, one_answer_scan, options_waiting_for_view};
use tonic::{Request, Response, Status};

/// The caller's trace and span, as its `traceparent` names them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<Value> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.clone()?.value)
}

fn string(value: &str) -> Option<Value> {
    Some(Value::StringValue(value.to_owned()))
}

/// A SubmitScan that waits for the research view, sent in the caller's trace.
async fn submit_scan_in_the_callers_trace(tool: &mut Clients) -> anyhow::Result<()> {
    let (study_id, school_id) = tool.enrolled_school().await?;
    let mut request = Request::new(v1::SubmitScanRequest {
        options: options_waiting_for_view(),
        ..one_answer_scan(&study_id, &school_id)
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01").parse()?,
    );
    tool.scans.submit_scan(request).await?;
    Ok(())
}

/// Checks the SubmitScan's server span and its children among `spans`, and returns it.
fn check_submit_scan_tree(spans: &[Received]) -> anyhow::Result<Span> {
    let server = spans
        .iter()
        .map(|(_, span)| span)
        .find(|span| span.name == "plg.v1.ScanService/SubmitScan")
        .with_context(|| {
            let names: Vec<_> = spans.iter().map(|(_, span)| &span.name).collect();
            format!("no SubmitScan span among {names:?}")
        })?;
    assert_eq!(hex(&server.trace_id), TRACE_ID, "the caller's trace");
    assert_eq!(
        hex(&server.parent_span_id),
        CALLER_SPAN_ID,
        "the caller's span"
    );
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(attribute(&server.attributes, "rpc.system"), string("grpc"));
    assert_eq!(
        attribute(&server.attributes, "rpc.service"),
        string("plg.v1.ScanService")
    );
    assert_eq!(
        attribute(&server.attributes, "rpc.method"),
        string("SubmitScan")
    );
    assert_eq!(
        attribute(&server.attributes, "rpc.grpc.status_code"),
        Some(Value::IntValue(0))
    );
    let children: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| span.parent_span_id == server.span_id)
        .collect();
    for name in ["decide", "append", "wait_for_research_view"] {
        let child = children
            .iter()
            .find(|span| span.name == name)
            .with_context(|| format!("no {name} span under SubmitScan"))?;
        assert_eq!(
            hex(&child.trace_id),
            TRACE_ID,
            "{name} in the caller's trace"
        );
        assert!(
            child.start_time_unix_nano >= server.start_time_unix_nano
                && child.end_time_unix_nano <= server.end_time_unix_nano,
            "{name} within the call"
        );
    }
    let append = children
        .iter()
        .find(|span| span.name == "append")
        .context("append")?;
    assert_eq!(
        attribute(&append.attributes, "category"),
        Some(Value::StringValue("scan".into()))
    );
    // No stream id leaves plgd: a scan's is a digest of its respondent's pseudonym.
    for (_, span) in spans {
        for pair in &span.attributes {
            let text = format!("{:?}", pair.value);
            assert!(
                !text.contains("scan-") && !text.contains("consent-"),
                "{} carries a stream id: {text}",
                pair.key
            );
        }
        assert!(
            span.events.is_empty(),
            "log events stay in the log: {span:?}"
        );
    }
    assert!(
        matches!(attribute(&append.attributes, "events"), Some(Value::IntValue(events)) if events >= 1),
        "{append:?}"
    );
    // The group commit it joined: its number, and how many appends it carried (this one
    // among them).
    assert!(
        matches!(attribute(&append.attributes, "commit"), Some(Value::IntValue(commit)) if commit >= 1),
        "{append:?}"
    );
    assert!(
        matches!(attribute(&append.attributes, "commit_appends"), Some(Value::IntValue(appends)) if appends >= 1),
        "{append:?}"
    );
    // The research view's work on the scan: a span of its own trace, linked to the append.
    let project = spans
        .iter()
        .map(|(_, span)| span)
        .find(|span| {
            span.name == "project" && span.links.iter().any(|link| link.span_id == append.span_id)
        })
        .with_context(|| format!("no projection span links to the append: {spans:?}"))?;
    let link = project
        .links
        .iter()
        .find(|link| link.span_id == append.span_id)
        .context("the link")?;
    assert_eq!(hex(&link.trace_id), TRACE_ID, "the write's trace");
    assert_ne!(hex(&project.trace_id), TRACE_ID, "a trace of its own");
    assert!(project.parent_span_id.is_empty(), "a root: {project:?}");
    assert!(
        project.start_time_unix_nano >= append.start_time_unix_nano,
        "applied once appended"
    );
    assert!(
        matches!(attribute(&project.attributes, "events"), Some(Value::IntValue(events)) if events >= 1),
        "{project:?}"
    );
    Ok(server.clone())
}

/// plgd in this process, its endpoint set by the `otlp_endpoint` setting; the tracer is shut
/// down after the server drained, as plgd's `main` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_scan_is_exported_as_a_server_span_in_the_callers_trace_with_its_steps()
-> anyhow::Result<()> {
    let (receiver, address) = Receiver::start().await?;
    let telemetry = app::start_telemetry(&Config {
        otlp_endpoint: Some(format!("http://{address}")),
        // The call's span and the write core's are at info level.
        log_filter: "warn,plg_server=info,plg_ledger=info,plg_projections=info".into(),
        ..Config::default()
    })?;
    let server = TestServer::start().await?;
    let mut tool = server.clients().await?;
    submit_scan_in_the_callers_trace(&mut tool).await?;
    let channel = server.channel().await?;
    let mut anonymous = Clients::new(channel, Identity::anonymous());
    let refused = anonymous
        .scans
        .submit_scan(v1::SubmitScanRequest::default())
        .await
        .expect_err("no key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // A path no RPC has: the caller's text names no span and no attribute.
    let mut grpc = tonic::client::Grpc::new(server.channel().await?);
    grpc.ready().await?;
    let made_up: Result<Response<()>, Status> = grpc
        .unary(
            Request::new(()),
            tonic::codegen::http::uri::PathAndQuery::from_static("/plg.v1.MadeUp/AnyName"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await;
    assert!(made_up.is_err(), "{made_up:?}");
    server.stop().await?;
    telemetry.shutdown().await;

    let spans = receiver.spans();
    check_submit_scan_tree(&spans)?;
    let refusals: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| {
            span.name == "plg.v1.ScanService/SubmitScan"
                && attribute(&span.attributes, "rpc.grpc.status_code")
                    == Some(Value::IntValue(i64::from(i32::from(
                        tonic::Code::Unauthenticated,
                    ))))
        })
        .collect();
    assert_eq!(refusals.len(), 1, "a refusal is a span with its status");
    assert!(
        spans.iter().any(|(_, span)| span.name == "_OTHER"),
        "the made-up call is a span"
    );
    for (_, span) in &spans {
        let text = format!("{span:?}");
        assert!(
            !text.contains("MadeUp") && !text.contains("AnyName"),
            "{text}"
        );
    }
    assert_ne!(hex(&refusals[0].trace_id), TRACE_ID, "a trace of its own");
    Ok(())
}

/// The plgd binary, its endpoint and service name set by the standard variables, stopped by
/// SIGTERM: its drain exports the spans before it exits, and its log lines carry their ids.
/// Multi-threaded: the receiver serves while the test waits for plgd to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plgd_binary_exports_as_the_otel_variables_say_and_flushes_on_sigterm()
-> anyhow::Result<()> {
    let (receiver, address) = Receiver::start().await?;
    let data_dir = tempfile::tempdir()?;
    let endpoint = format!("http://{address}");
    let mut plgd = support::spawn_plgd_with(
        data_dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "plgd-under-test"),
            // Each append is logged at debug level, inside the call's span.
            ("PLG_LOG_FILTER", "info,plg_ledger=debug"),
        ],
    )?;
    let mut operator = plgd.operator().await?;
    let tool_key = support::issue_key(&mut operator, v1::Role::PartnerTool).await?;
    let mut tool = plgd.clients(&tool_key).await?;
    submit_scan_in_the_callers_trace(&mut tool).await?;

    let stopped = Command::new("kill")
        .args(["-TERM", &plgd.child.id().to_string()])
        .status()?;
    anyhow::ensure!(stopped.success(), "SIGTERM sent");
    anyhow::ensure!(plgd.child.wait()?.success(), "plgd stopped cleanly");

    let spans = receiver.spans();
    let server = check_submit_scan_tree(&spans)?;
    let (resource, _) = spans
        .iter()
        .find(|(_, span)| span.span_id == server.span_id)
        .context("the server span")?;
    let resource = resource.as_ref().context("a resource")?;
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        string("plgd-under-test")
    );
    // The log ends with plgd's exit.
    let logged = plgd
        .log
        .iter()
        .find(|entry| entry["message"] == "events appended" && entry["trace_id"] == TRACE_ID)
        .context("no append logged in the caller's trace")?;
    assert_eq!(logged["span_id"], hex(&server.span_id).as_str());
    Ok(())
}
