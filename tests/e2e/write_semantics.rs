//! What every write promises: retries never write twice, conflicts abort with the actual
//! revision, bad input changes nothing, and acknowledged writes survive a restart.

use std::collections::BTreeSet;

use crate::kit::{
    Clients, Identity, TestServer, actual_revision, options, options_expecting, school_code,
    violated_fields,
};
use plg_proto::v1;
use tonic::Code;

fn add_member(
    plg_id: &str,
    person_id: &str,
    options: Option<v1::WriteOptions>,
) -> v1::AddMemberRequest {
    v1::AddMemberRequest {
        options,
        plg_id: plg_id.into(),
        person_id: person_id.into(),
    }
}

/// A PLG with one member: `(plg_id, stream)`.
async fn plg(clients: &mut Clients) -> anyhow::Result<(String, String)> {
    let school_id = clients.register_school().await?;
    let member = clients.register_person("Member").await?;
    let plg_id = clients.form_plg(&school_id, &[member]).await?;
    let stream = format!("plg-{plg_id}");
    Ok((plg_id, stream))
}

#[tokio::test]
async fn a_retried_request_returns_the_original_result_and_writes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let request = v1::RegisterPersonRequest {
        options: options(),
        name: "Coach".into(),
        email: String::new(),
    };
    let first = clients
        .registry
        .register_person(request.clone())
        .await?
        .into_inner();
    let position = clients.last_position().await?;

    let retried = clients
        .registry
        .register_person(request.clone())
        .await?
        .into_inner();
    assert_eq!(retried.person_id, first.person_id);
    let (first_result, retried_result) = (
        first.result.expect("result"),
        retried.result.expect("result"),
    );
    assert!(retried_result.replayed);
    assert_eq!(
        (
            retried_result.stream,
            retried_result.revision,
            retried_result.position
        ),
        (
            first_result.stream,
            first_result.revision,
            first_result.position
        )
    );
    assert_eq!(
        clients.last_position().await?,
        position,
        "the retry wrote nothing"
    );

    // The same request id for a different request is a mistake, not a retry.
    let reused = clients
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: request.options.clone(),
            name: "Het Baken".into(),
            country: v1::Country::Nl.into(),
            sector: v1::Sector::Secondary.into(),
            school_code: school_code(),
            board: String::new(),
        })
        .await
        .expect_err("reused request id");
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&reused), ["options.request_id"]);
    // Personal data stays out of the fingerprint (an erased name must leave no hash behind),
    // so a retry that spells the name differently replays the original.
    let respelled = clients
        .registry
        .register_person(v1::RegisterPersonRequest {
            name: "Someone else".into(),
            ..request
        })
        .await?
        .into_inner();
    assert!(respelled.result.is_some_and(|result| result.replayed));
    assert_eq!(respelled.person_id, first.person_id);
    assert_eq!(clients.last_position().await?, position);
    Ok(())
}

#[tokio::test]
async fn a_retry_returns_the_original_result_even_when_the_command_would_now_fail()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, stream) = plg(&mut clients).await?;
    let person = clients.register_person("Newcomer").await?;
    let request = add_member(&plg_id, &person, options());
    let first = clients
        .sessions
        .add_member(request.clone())
        .await?
        .into_inner();
    // Adding the same member again would break a rule, but this is the same request, retried.
    let retried = clients.sessions.add_member(request).await?.into_inner();
    assert_eq!(
        retried.result.map(|r| (r.revision, r.replayed)),
        first.result.map(|r| (r.revision, true))
    );
    assert_eq!(
        clients.event_types(&stream).await?,
        ["PlgFormed", "MemberAdded"]
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_retries_of_one_request_write_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let clients = server.clients().await?;
    let request = v1::RegisterPersonRequest {
        options: options(),
        name: "Coach".into(),
        email: String::new(),
    };
    let attempts = (0..16).map(|_| {
        let mut registry = clients.registry.clone();
        let request = request.clone();
        tokio::spawn(async move {
            registry
                .register_person(request)
                .await
                .map(|r| r.into_inner().person_id)
        })
    });
    let ids: BTreeSet<String> = futures::future::try_join_all(attempts)
        .await?
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert_eq!(ids.len(), 1, "every retry names the same person");
    let mut clients = clients;
    let persons = clients
        .event_log
        .read_all(v1::ReadAllRequest {
            after_position: None,
            max_count: 1000,
        })
        .await?
        .into_inner()
        .events
        .into_iter()
        .filter(|event| event.event_type == "PersonRegistered")
        .count();
    assert_eq!(persons, 1);
    Ok(())
}

#[tokio::test]
async fn an_expected_revision_that_does_not_match_aborts_with_the_actual_revision()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, stream) = plg(&mut clients).await?;
    let person = clients.register_person("Newcomer").await?;

    let stale = clients
        .sessions
        .add_member(add_member(&plg_id, &person, options_expecting(3)))
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(actual_revision(&stale).as_deref(), Some("0"));
    assert_eq!(clients.event_types(&stream).await?, ["PlgFormed"]);

    let added = clients
        .sessions
        .add_member(add_member(&plg_id, &person, options_expecting(0)))
        .await?
        .into_inner();
    assert_eq!(added.result.map(|result| result.revision), Some(1));
    Ok(())
}

#[tokio::test]
async fn of_concurrent_writes_expecting_the_same_revision_exactly_one_wins() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, stream) = plg(&mut clients).await?;
    let mut people = Vec::new();
    for index in 0..8 {
        people.push(clients.register_person(&format!("Person {index}")).await?);
    }
    let writes = people.iter().map(|person| {
        let mut sessions = clients.sessions.clone();
        let request = add_member(&plg_id, person, options_expecting(0));
        tokio::spawn(async move { sessions.add_member(request).await })
    });
    let outcomes = futures::future::try_join_all(writes).await?;
    let won = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let aborted = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Err(status) if status.code() == Code::Aborted))
        .count();
    assert_eq!((won, aborted), (1, 7));
    assert_eq!(clients.event_types(&stream).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn concurrent_writes_without_an_expected_revision_all_land() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, stream) = plg(&mut clients).await?;
    let mut people = Vec::new();
    for index in 0..8 {
        people.push(clients.register_person(&format!("Person {index}")).await?);
    }
    let writes = people.iter().map(|person| {
        let mut sessions = clients.sessions.clone();
        let request = add_member(&plg_id, person, options());
        tokio::spawn(async move {
            sessions
                .add_member(request)
                .await
                .map(|r| r.into_inner().result.map(|r| r.revision))
        })
    });
    let revisions: BTreeSet<Option<u64>> = futures::future::try_join_all(writes)
        .await?
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert_eq!(revisions, (1..=8).map(Some).collect());
    assert_eq!(clients.event_types(&stream).await?.len(), 9);
    Ok(())
}

#[tokio::test]
async fn writes_without_a_key_or_request_id_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let before = clients.last_position().await?;
    let request = v1::RegisterPersonRequest {
        options: None,
        name: "Coach".into(),
        email: String::new(),
    };
    let mut anonymous = Clients::new(server.channel().await?, Identity::anonymous());
    let status = anonymous
        .registry
        .register_person(request.clone())
        .await
        .expect_err("anonymous");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = clients
        .registry
        .register_person(request)
        .await
        .expect_err("no request id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["options.request_id"]);
    assert_eq!(clients.last_position().await?, before);
    Ok(())
}

#[tokio::test]
async fn every_event_records_who_wrote_it_through_which_tool_and_when() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let mut request = tonic::Request::new(v1::RegisterPersonRequest {
        options: options(),
        name: "Coach".into(),
        email: String::new(),
    });
    request
        .metadata_mut()
        .insert("plg-correlation-id", "handover-2017".parse()?);
    let request_id = request
        .get_ref()
        .options
        .as_ref()
        .map(|o| o.request_id.clone())
        .unwrap_or_default();
    let registered = clients
        .registry
        .register_person(request)
        .await?
        .into_inner();
    let events = clients
        .read_stream(&format!("person-{}", registered.person_id))
        .await?;
    let metadata = events[0].metadata.clone().expect("metadata");
    assert_eq!(metadata.actor, "test-tool", "the key's identity");
    assert_eq!(metadata.tool, "test-tool/1", "as the client declared it");
    assert!(!metadata.key_id.is_empty());
    assert_eq!(metadata.correlation_id, "handover-2017");
    assert_eq!(metadata.request_id, request_id);
    let (occurred, recorded) = (
        metadata.occurred_at.expect("occurred"),
        metadata.recorded_at.expect("recorded"),
    );
    assert!((recorded.seconds - occurred.seconds).abs() <= 5);
    assert_eq!(events[0].schema_version, 1);
    Ok(())
}

#[tokio::test]
async fn a_restart_keeps_every_acknowledged_write_and_every_request_id() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let request = v1::RegisterPersonRequest {
        options: options(),
        name: "Coach".into(),
        email: String::new(),
    };
    let person = clients
        .registry
        .register_person(request.clone())
        .await?
        .into_inner();
    let position = clients.last_position().await?;

    let server = server.restart().await?;
    let mut clients = server.clients().await?;
    assert_eq!(clients.last_position().await?, position);
    assert_eq!(
        clients.event_types(&format!("study-{study_id}")).await?,
        ["StudyDefined", "SchoolEnrolled"]
    );
    assert_eq!(
        clients.event_types(&format!("school-{school_id}")).await?,
        ["SchoolRegistered"]
    );
    let retried = clients
        .registry
        .register_person(request)
        .await?
        .into_inner();
    assert_eq!(retried.person_id, person.person_id);
    assert_eq!(retried.result.map(|result| result.replayed), Some(true));
    assert_eq!(clients.last_position().await?, position);
    Ok(())
}

#[tokio::test]
async fn every_service_reports_serving_and_is_discoverable_by_reflection() -> anyhow::Result<()> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let server = TestServer::start().await?;
    let channel = server.channel().await?;
    for service in [
        "",
        "plg.v1.RegistryService",
        "plg.v1.ScanService",
        "plg.v1.InterventionService",
        "plg.v1.SessionService",
        "plg.v1.CoachingService",
        "plg.v1.EventLogService",
    ] {
        assert_eq!(
            crate::kit::health(channel.clone(), service).await?,
            1,
            "{service} serving"
        );
    }
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await?.and_then(|r| r.message_response)
    else {
        anyhow::bail!("no service list");
    };
    let names: BTreeSet<_> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains("plg.v1.ScanService") && names.contains("plg.v1.CoachingService"),
        "{names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_event_log_reads_backward_and_refuses_bad_reads() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, stream) = plg(&mut clients).await?;
    let person = clients.register_person("Newcomer").await?;
    clients
        .sessions
        .add_member(add_member(&plg_id, &person, options()))
        .await?;
    let read = |direction: v1::ReadDirection, from_revision: Option<u64>, max_count: u32| {
        v1::ReadStreamRequest {
            stream: stream.clone(),
            direction: direction.into(),
            from_revision,
            max_count,
        }
    };
    let newest_first = clients
        .event_log
        .read_stream(read(v1::ReadDirection::Backward, None, 0))
        .await?
        .into_inner();
    let types: Vec<_> = newest_first
        .events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(types, ["MemberAdded", "PlgFormed"]);
    let from_first = clients
        .event_log
        .read_stream(read(v1::ReadDirection::Forward, Some(1), 1))
        .await?
        .into_inner();
    assert_eq!(
        from_first
            .events
            .iter()
            .map(|e| e.revision)
            .collect::<Vec<_>>(),
        [1]
    );
    let too_many = clients
        .event_log
        .read_stream(read(v1::ReadDirection::Forward, None, 1001))
        .await
        .expect_err("too many");
    assert_eq!(violated_fields(&too_many), ["max_count"]);
    let reserved = clients
        .event_log
        .read_stream(v1::ReadStreamRequest {
            stream: "$all".into(),
            ..Default::default()
        })
        .await
        .expect_err("reserved name");
    assert_eq!(violated_fields(&reserved), ["stream"]);
    Ok(())
}

#[tokio::test]
async fn every_invalid_field_of_a_request_comes_in_one_reply() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let mut administrator = server.administrator().await?;
    let position = clients.last_position().await?;
    let fields = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        violated_fields(&status)
            .into_iter()
            .collect::<BTreeSet<_>>()
    };
    let expected = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
    let wave = |label: &str, opens_on: &str, closes_on: &str| v1::Wave {
        label: label.into(),
        opens_on: opens_on.into(),
        closes_on: closes_on.into(),
    };

    let study = clients
        .registry
        .define_study(v1::DefineStudyRequest {
            options: options(),
            title: String::new(),
            waves: vec![
                wave("", "2020-02-01", "2020-01-01"),
                wave("T1", "2020-01-01", "2020-12-31"),
                wave("T1", "2021-01-01", "2021-12-31"),
            ],
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(
        fields(study),
        expected(&["title", "waves", "waves[0].closes_on", "waves[0].label"])
    );

    let answer = |item_code: &str, current: Option<u32>, desired: Option<u32>| v1::ItemAnswer {
        item_code: item_code.into(),
        current,
        desired,
    };
    let scan = clients
        .scans
        .submit_scan(v1::SubmitScanRequest {
            options: options(),
            study_id: "not a study".into(),
            school_id: uuid::Uuid::new_v4().to_string(),
            wave: "T1".into(),
            respondent: "resp-001".into(),
            role: v1::RespondentRole::Teacher.into(),
            answers: vec![
                answer("", None, Some(3)),
                answer("E1.1", Some(3), None),
                answer("E1.1", Some(4), None),
            ],
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(
        fields(scan),
        expected(&[
            "answers",
            "answers[0].desired",
            "answers[0].item_code",
            "study_id"
        ])
    );

    let intervention = clients
        .interventions
        .log_intervention(v1::LogInterventionRequest {
            options: options(),
            school_id: uuid::Uuid::new_v4().to_string(),
            title: String::new(),
            level: v1::InterventionLevel::School.into(),
            starts_on: "2024-05-01".into(),
            planned_end_on: "2024-04-01".into(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(
        fields(intervention),
        expected(&["categories", "planned_end_on", "title"])
    );

    let teacher = uuid::Uuid::new_v4().to_string();
    let present = v1::Attendance {
        person_id: teacher.clone(),
        present: true,
    };
    let session = clients
        .sessions
        .hold_session(v1::HoldSessionRequest {
            options: options(),
            plg_id: uuid::Uuid::new_v4().to_string(),
            held_on: "soon".into(),
            duration_minutes: 90,
            attendance: vec![present.clone(), present],
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(fields(session), expected(&["attendance", "held_on"]));

    let school = clients
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: options(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(
        fields(school),
        expected(&["country", "name", "school_code", "sector"])
    );
    let plg = clients
        .sessions
        .form_plg(v1::FormPlgRequest {
            options: options(),
            school_ids: vec![
                uuid::Uuid::new_v4().to_string(),
                uuid::Uuid::new_v4().to_string(),
            ],
            kind: v1::PlgKind::School.into(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(
        fields(plg),
        expected(&["learning_question", "name", "practice_need", "school_ids"])
    );

    // Reads, too.
    let stream = administrator
        .event_log
        .read_stream(v1::ReadStreamRequest {
            stream: " ".into(),
            direction: 7,
            max_count: 1_000_000,
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(
        fields(stream),
        expected(&["direction", "max_count", "stream"])
    );
    let invalid = Some(prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    });
    let history = administrator
        .audit
        .get_school_history(v1::GetSchoolHistoryRequest {
            school_id: "x".into(),
            recorded_from: invalid,
            recorded_until: invalid,
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(
        fields(history),
        expected(&["recorded_from", "recorded_until", "school_id"])
    );

    assert_eq!(clients.last_position().await?, position, "nothing written");
    Ok(())
}
