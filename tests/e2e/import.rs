//! ImportScans: a whole wave in one streaming call, each scan written as SubmitScan writes it
//! (validated, scope-checked, idempotent, durable) and reported on its own; and the bounds on
//! a call whose client stops reading or sending.

use std::{collections::BTreeSet, time::Duration};

use crate::kit::{
    Clients, Identity, TestServer, days_ago, imported, once_ok, options, stream_end,
    violated_fields,
};
use anyhow::Context as _;
use plg_proto::v1::{self, scan_service_client::ScanServiceClient};
use plg_server::streams::StreamLimits;
use tonic::{Code, transport::Endpoint};

/// What a wave's import needs: a study whose wave T0 closed (the scans are historical, answered
/// while it was open), the school a scoped key reaches, and a school it does not.
struct Wave {
    tool: Clients,
    /// A partner tool scoped to `school` only.
    scoped: Clients,
    study: String,
    school: String,
    outsider: String,
    /// Every item of the built-in instrument: a realistic answer set.
    items: Vec<String>,
}

async fn wave(server: &TestServer) -> anyhow::Result<Wave> {
    let mut tool = server.clients().await?;
    let (study, school) = tool.enrolled_school().await?;
    let outsider = tool.register_school().await?;
    tool.enrol(&study, &outsider).await?;
    let scope = v1::Scope {
        school_ids: vec![school.clone()],
        ..Default::default()
    };
    let scoped = server.clients_as(v1::Role::PartnerTool, scope).await?;
    let items = tool
        .registry
        .get_instrument(v1::GetInstrumentRequest::default())
        .await?
        .into_inner()
        .items
        .into_iter()
        .map(|item| item.code)
        .collect();
    Ok(Wave {
        tool,
        scoped,
        study,
        school,
        outsider,
        items,
    })
}

/// How one scan of the imported wave should fare.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Written,
    /// INVALID_ARGUMENT naming these fields.
    Invalid(&'static [&'static str]),
    OutOfScope,
}

const SCANS: usize = 200;

/// The wave's scans, a few of them wrong: a score of 6, an item not in the instrument, two
/// at the school out of the key's scope, and a message without its scan.
fn scans(wave: &Wave) -> Vec<(Option<v1::SubmitScanRequest>, Expect)> {
    (0..SCANS)
        .map(|n| {
            let mut scan = v1::SubmitScanRequest {
                options: options().map(|options| v1::WriteOptions {
                    occurred_at: days_ago(350),
                    ..options
                }),
                study_id: wave.study.clone(),
                school_id: wave.school.clone(),
                wave: "T0".into(),
                respondent: format!("resp-{n:04}"),
                role: v1::RespondentRole::Teacher.into(),
                answers: wave
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, code)| v1::ItemAnswer {
                        item_code: code.clone(),
                        current: Some(1 + ((n + i) % 5) as u32),
                        desired: Some(5),
                    })
                    .collect(),
                instrument_version: String::new(),
            };
            let expect = match n {
                17 => {
                    scan.answers[3].current = Some(6);
                    Expect::Invalid(&["answers[3].current"])
                }
                42 => {
                    scan.answers.push(v1::ItemAnswer {
                        item_code: "X9.9".into(),
                        current: Some(3),
                        desired: None,
                    });
                    Expect::Invalid(&["answers"])
                }
                99 | 150 => {
                    scan.school_id = wave.outsider.clone();
                    Expect::OutOfScope
                }
                120 => return (None, Expect::Invalid(&["scan"])),
                _ => Expect::Written,
            };
            (Some(scan), expect)
        })
        .collect()
}

/// Checks that every scan was reported once, by its index and request id, as expected; returns
/// the written scans' replies.
fn check_reports(
    sent: &[(Option<v1::SubmitScanRequest>, Expect)],
    reports: &[v1::ImportScansResponse],
) -> Vec<v1::SubmitScanResponse> {
    assert_eq!(reports.len(), sent.len(), "one report per scan");
    let mut written = Vec::new();
    for (index, ((scan, expect), report)) in sent.iter().zip(reports).enumerate() {
        assert_eq!(report.index, index as u64);
        let request_id = scan
            .as_ref()
            .and_then(|scan| scan.options.as_ref())
            .map(|options| options.request_id.clone())
            .unwrap_or_default();
        assert_eq!(report.request_id, request_id, "scan {index}");
        match (imported(report), expect) {
            (Ok(reply), Expect::Written) => written.push(reply),
            (Err(status), Expect::Invalid(fields)) => {
                assert_eq!(status.code(), Code::InvalidArgument, "scan {index}");
                assert_eq!(violated_fields(&status), *fields, "scan {index}");
                // The violations are also at hand without decoding the status.
                let listed = match &report.outcome {
                    Some(v1::import_scans_response::Outcome::Error(error)) => error
                        .field_violations
                        .iter()
                        .map(|violation| violation.field.as_str())
                        .collect::<Vec<_>>(),
                    _ => Vec::new(),
                };
                assert_eq!(listed, *fields, "scan {index}");
            }
            (Err(status), Expect::OutOfScope) => {
                assert_eq!(status.code(), Code::PermissionDenied, "scan {index}");
            }
            (outcome, expect) => panic!("scan {index}: {outcome:?}, expected {expect:?}"),
        }
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_imports_in_one_call_and_each_scan_is_reported_on_its_own() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut wave = wave(&server).await?;
    let mut administrator = server.administrator().await?;
    let before = wave.tool.last_position().await?;
    let sent = scans(&wave);
    let reports = wave
        .scoped
        .import_scans(sent.iter().map(|(scan, _)| scan.clone()).collect())
        .await?;
    let written = check_reports(&sent, &reports);
    assert_eq!(written.len(), SCANS - 5);
    assert!(
        written
            .iter()
            .all(|reply| { reply.result.as_ref().is_some_and(|result| !result.replayed) })
    );

    // The log holds exactly the written scans, one submission each; the refused wrote nothing.
    let (_, events) = administrator.read_all_after(before).await?;
    assert!(
        events
            .iter()
            .all(|event| event.event_type == "ScanSubmitted")
    );
    let logged: BTreeSet<&str> = events.iter().map(|event| event.stream.as_str()).collect();
    let reported: BTreeSet<&str> = written
        .iter()
        .filter_map(|reply| reply.result.as_ref())
        .map(|result| result.stream.as_str())
        .collect();
    assert_eq!(events.len(), written.len());
    assert_eq!(logged, reported);

    // And the research view counts every one of them.
    wave.tool.release_wave(&wave.study, "T0").await?;
    let mut researcher = server.researcher().await?;
    let scores = researcher
        .research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: wave.study.clone(),
            school: String::new(),
            wave: "T0".into(),
        })
        .await?
        .into_inner()
        .scores;
    let pooled: Vec<u32> = scores
        .iter()
        .filter(|score| {
            score.role == i32::from(v1::RespondentRole::Unspecified)
                && score.dimension == i32::from(v1::Dimension::InternalProfessionalisation)
        })
        .filter_map(|score| score.current.as_ref().map(|current| current.n))
        .collect();
    assert_eq!(
        pooled,
        [written.len() as u32],
        "only the school in scope has scans"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_sent_again_replays_every_scan_and_writes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut wave = wave(&server).await?;
    let sent = scans(&wave);
    let requests: Vec<_> = sent.iter().map(|(scan, _)| scan.clone()).collect();
    let first = check_reports(&sent, &wave.scoped.import_scans(requests.clone()).await?);
    let after_first = wave.tool.last_position().await?;

    let again = check_reports(&sent, &wave.scoped.import_scans(requests.clone()).await?);
    assert_eq!(
        wave.tool.last_position().await?,
        after_first,
        "nothing written"
    );
    assert_eq!(again.len(), first.len());
    for (original, replayed) in first.iter().zip(&again) {
        let result = replayed.result.as_ref().context("a write result")?;
        assert!(result.replayed, "{replayed:?}");
        assert_eq!(replayed.submission_id, original.submission_id);
        assert_eq!(
            (result.stream.as_str(), result.revision),
            original
                .result
                .as_ref()
                .map(|original| (original.stream.as_str(), original.revision))
                .context("a write result")?
        );
    }

    // An imported scan is SubmitScan's write: sent there with its request id, it replays too.
    let submitted = wave
        .scoped
        .scans
        .submit_scan(requests[0].clone().context("a scan")?)
        .await?
        .into_inner();
    assert_eq!(submitted.submission_id, first[0].submission_id);
    assert!(submitted.result.is_some_and(|result| result.replayed));
    assert_eq!(
        wave.tool.last_position().await?,
        after_first,
        "nothing written"
    );
    Ok(())
}

#[tokio::test]
async fn a_message_over_the_size_limit_ends_the_call_after_the_scans_before_it()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut wave = wave(&server).await?;
    let mut sent = scans(&wave).into_iter().take(3).map(|(scan, _)| scan);
    let first = sent.next().flatten().context("a scan")?;
    let mut huge = sent.next().flatten().context("a scan")?;
    huge.respondent = "x".repeat(5 * 1024 * 1024);
    let messages = [Some(first), Some(huge), sent.next().flatten()]
        .into_iter()
        .map(|scan| v1::ImportScansRequest { scan });
    let mut reports = wave
        .scoped
        .scans
        .import_scans(futures::stream::iter(messages))
        .await?
        .into_inner();
    let mut reported = Vec::new();
    let ended = loop {
        match reports.message().await {
            Ok(Some(report)) => reported.push(report),
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    let ended = ended.context("the call ends with an error")?;
    assert_eq!(ended.code(), Code::ResourceExhausted, "{ended:?}");
    assert_eq!(
        reported
            .iter()
            .map(|report| report.index)
            .collect::<Vec<_>>(),
        [0]
    );
    assert!(imported(&reported[0]).is_ok());
    Ok(())
}

const IDLE_SECONDS: u64 = 2;
const GENEROUS: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_or_sending_is_cut_off_and_holds_nothing() -> anyhow::Result<()>
{
    let server = TestServer::start_with(tempfile::tempdir()?, |mut config| {
        config.streams = StreamLimits {
            streams_per_key: 1,
            stream_idle_seconds: IDLE_SECONDS,
            ..StreamLimits::default()
        };
        config
    })
    .await?;
    let key = server.partner_tool_key().await?.to_owned();
    let mut tool = server.clients().await?;

    // An import whose client never reads, on a connection whose HTTP/2 windows stay at the
    // protocol's default and are never released; far more reports than they and the buffers
    // hold.
    let channel = Endpoint::from_shared(format!("http://{}", server.address()))?
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await?;
    let mut stalled_client = ScanServiceClient::with_interceptor(channel, Identity::bearer(&key)?);
    let messages = (0..20_000).map(|_| v1::ImportScansRequest { scan: None });
    let mut stalled = stalled_client
        .import_scans(futures::stream::iter(messages))
        .await?
        .into_inner();

    // It holds its key's one stream, and nothing else: writes go on.
    let refused = tool
        .import_scans(Vec::new())
        .await
        .expect_err("the key's one stream is taken");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    tokio::time::timeout(GENEROUS, tool.register_school())
        .await
        .context("a write took too long")??;

    // Once idle, it is stopped and its slot freed.
    let freed = once_ok(|| {
        let mut tool = tool.clone();
        async move { tool.import_scans(Vec::new()).await }
    })
    .await;
    assert_eq!(
        freed.map(|reports| reports.len()),
        Some(0),
        "the slot is freed"
    );
    let ended = tokio::time::timeout(GENEROUS, stream_end(&mut stalled))
        .await?
        .context("a stopped import ends with an error, not as if complete")?;
    assert_eq!(ended.code(), Code::DeadlineExceeded, "{ended:?}");
    assert!(ended.message().contains("took nothing"), "{ended:?}");

    // A client that sends nothing, while none of its scans is in flight, is cut off too.
    let mut silent = tool
        .scans
        .import_scans(futures::stream::pending::<v1::ImportScansRequest>())
        .await?
        .into_inner();
    let ended = tokio::time::timeout(GENEROUS, stream_end(&mut silent))
        .await?
        .context("a silent import ends with an error")?;
    assert_eq!(ended.code(), Code::DeadlineExceeded, "{ended:?}");
    assert!(ended.message().contains("sent nothing"), "{ended:?}");
    Ok(())
}
