use crate::kit::{Clients, TestServer, options, payload, violated_fields, violated_rule};
use plg_proto::v1;
use tonic::Code;

fn answer(code: &str, current: Option<u32>, desired: Option<u32>) -> v1::ItemAnswer {
    v1::ItemAnswer {
        item_code: code.into(),
        current,
        desired,
    }
}

fn scan(
    study_id: &str,
    school_id: &str,
    wave: &str,
    answers: Vec<v1::ItemAnswer>,
) -> v1::SubmitScanRequest {
    v1::SubmitScanRequest {
        options: options(),
        study_id: study_id.into(),
        school_id: school_id.into(),
        wave: wave.into(),
        respondent: "resp-0042".into(),
        role: v1::RespondentRole::Teacher.into(),
        answers,
        instrument_version: String::new(),
    }
}

async fn refused(
    clients: &mut Clients,
    request: v1::SubmitScanRequest,
) -> anyhow::Result<tonic::Status> {
    let before = clients.last_position().await?;
    let status = clients
        .scans
        .submit_scan(request)
        .await
        .expect_err("refused");
    assert_eq!(
        clients.last_position().await?,
        before,
        "a refused scan writes nothing"
    );
    Ok(status)
}

#[tokio::test]
async fn a_scan_records_each_answer_under_its_dimension() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let submitted = clients
        .scans
        .submit_scan(scan(
            &study_id,
            &school_id,
            "T1",
            vec![
                answer("E5.1", Some(4), Some(5)),
                answer("C1.2", Some(2), None),
                answer("C5.3", None, None),
            ],
        ))
        .await?
        .into_inner();
    assert!(submitted.superseded_submission_id.is_empty());
    let result = submitted.result.expect("write result");
    assert_eq!(result.stream, format!("scan-{}", submitted.response_id));

    let events = clients.read_stream(&result.stream).await?;
    let data = payload(&events[0])?;
    assert_eq!(data["wave"], "T1");
    assert_eq!(data["role"], "teacher");
    assert_eq!(data["instrument_version"], "scan-school-als-plg/1");
    assert_eq!(data["answers"][0]["dimension"], "inquiring_attitude");
    assert_eq!(data["answers"][0]["desired"], 5);
    assert_eq!(data["answers"][1]["dimension"], "support");
    assert!(
        data["answers"][2]["current"].is_null(),
        "no answer stays recorded as no answer"
    );
    Ok(())
}

#[tokio::test]
async fn a_second_submission_supersedes_the_first_and_both_stay_in_the_history()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let first = clients
        .scans
        .submit_scan(scan(
            &study_id,
            &school_id,
            "T1",
            vec![answer("E1.1", Some(2), None)],
        ))
        .await?
        .into_inner();
    let second = clients
        .scans
        .submit_scan(scan(
            &study_id,
            &school_id,
            "T1",
            vec![answer("E1.1", Some(4), None)],
        ))
        .await?
        .into_inner();
    assert_eq!(second.response_id, first.response_id);
    assert_eq!(second.superseded_submission_id, first.submission_id);

    let stream = format!("scan-{}", first.response_id);
    let events = clients.read_stream(&stream).await?;
    assert_eq!(events.len(), 2);
    assert_eq!(payload(&events[0])?["answers"][0]["current"], 2);
    assert_eq!(payload(&events[1])?["supersedes"], first.submission_id);
    Ok(())
}

#[tokio::test]
async fn a_retracted_scan_cannot_be_retracted_again() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let submitted = clients
        .scans
        .submit_scan(scan(
            &study_id,
            &school_id,
            "T1",
            vec![answer("E1.1", Some(2), None)],
        ))
        .await?
        .into_inner();
    let retract = |response_id: &str| v1::RetractScanRequest {
        options: options(),
        response_id: response_id.into(),
        reason: "submitted by mistake".into(),
    };
    clients
        .scans
        .retract_scan(retract(&submitted.response_id))
        .await?;
    let again = clients
        .scans
        .retract_scan(retract(&submitted.response_id))
        .await
        .expect_err("retracted");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(violated_rule(&again).as_deref(), Some("scan_retracted"));
    let unknown = clients
        .scans
        .retract_scan(retract("00000000-0000-4000-8000-000000000000"))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    let stream = format!("scan-{}", submitted.response_id);
    assert_eq!(
        clients.event_types(&stream).await?,
        ["ScanSubmitted", "ScanRetracted"]
    );
    Ok(())
}

#[tokio::test]
async fn scores_outside_the_scale_and_malformed_answers_are_invalid() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let mut request = scan(
        &study_id,
        &school_id,
        "T1",
        vec![
            answer("E1.1", Some(0), None),
            answer("E1.2", Some(3), Some(6)),
            answer("E1.3", None, Some(4)),
            answer("", Some(3), None),
        ],
    );
    request.respondent = "jan@school.nl".into();
    request.role = v1::RespondentRole::Unspecified.into();
    let status = refused(&mut clients, request).await?;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        [
            "respondent",
            "role",
            "answers[0].current",
            "answers[1].desired",
            "answers[2].desired",
            "answers[3].item_code"
        ]
    );

    for answers in [
        vec![answer("X9.9", Some(3), None)],
        vec![answer("E1.1", None, None)],
        vec![],
    ] {
        let status = refused(&mut clients, scan(&study_id, &school_id, "T1", answers)).await?;
        assert_eq!(violated_fields(&status), ["answers"]);
    }
    Ok(())
}

#[tokio::test]
async fn scans_need_an_open_wave_and_an_enrolled_school() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let answers = || vec![answer("E1.1", Some(3), None)];

    let closed = refused(&mut clients, scan(&study_id, &school_id, "T0", answers())).await?;
    assert_eq!(closed.code(), Code::FailedPrecondition);
    assert_eq!(violated_rule(&closed).as_deref(), Some("wave_closed"));
    let not_open = refused(&mut clients, scan(&study_id, &school_id, "T2", answers())).await?;
    assert_eq!(violated_rule(&not_open).as_deref(), Some("wave_not_open"));
    let no_wave = refused(&mut clients, scan(&study_id, &school_id, "T9", answers())).await?;
    assert_eq!(violated_fields(&no_wave), ["wave"]);

    let outsider = clients.register_school().await?;
    let not_enrolled = refused(&mut clients, scan(&study_id, &outsider, "T1", answers())).await?;
    assert_eq!(
        violated_rule(&not_enrolled).as_deref(),
        Some("school_not_enrolled")
    );

    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        refused(&mut clients, scan(unknown, &school_id, "T1", answers()))
            .await?
            .code(),
        Code::NotFound
    );
    assert_eq!(
        refused(&mut clients, scan(&study_id, unknown, "T1", answers()))
            .await?
            .code(),
        Code::NotFound
    );
    Ok(())
}

#[tokio::test]
async fn a_scan_answered_while_a_past_wave_was_open_is_accepted_later() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let mut request = scan(
        &study_id,
        &school_id,
        "T0",
        vec![answer("E1.1", Some(3), None)],
    );
    let answered = std::time::SystemTime::now() - std::time::Duration::from_secs(350 * 24 * 3600);
    if let Some(options) = request.options.as_mut() {
        options.occurred_at = Some(prost_types::Timestamp::from(answered));
    }
    let submitted = clients.scans.submit_scan(request).await?.into_inner();
    let events = clients
        .read_stream(&format!("scan-{}", submitted.response_id))
        .await?;
    let occurred = events[0]
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.occurred_at);
    assert_eq!(
        occurred.map(|at| at.seconds),
        Some(prost_types::Timestamp::from(answered).seconds)
    );
    Ok(())
}

#[tokio::test]
async fn a_scan_follows_the_instrument_version_it_names() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    clients
        .registry
        .register_instrument(v1::RegisterInstrumentRequest {
            options: options(),
            study_id: study_id.clone(),
            version: "own/1".into(),
            items: vec![v1::InstrumentItem {
                code: "Q1".into(),
                dimension: v1::Dimension::Support.into(),
                text: "q".into(),
            }],
        })
        .await?;
    // The study's current instrument is now `own/1`: built-in codes no longer fit by default.
    let status = refused(
        &mut clients,
        scan(
            &study_id,
            &school_id,
            "T1",
            vec![answer("E1.1", Some(3), None)],
        ),
    )
    .await?;
    assert_eq!(violated_fields(&status), ["answers"]);
    let mut built_in = scan(
        &study_id,
        &school_id,
        "T1",
        vec![answer("E1.1", Some(3), None)],
    );
    built_in.instrument_version = "scan-school-als-plg/1".into();
    clients.scans.submit_scan(built_in).await?;
    let own = clients
        .scans
        .submit_scan(scan(
            &study_id,
            &school_id,
            "T1",
            vec![answer("Q1", Some(5), None)],
        ))
        .await?;
    let events = clients
        .read_stream(&own.into_inner().result.expect("result").stream)
        .await?;
    assert_eq!(payload(&events[1])?["instrument_version"], "own/1");
    Ok(())
}
