//! AuditService: a school's complete history, and tamper evidence over it.

use crate::kit::{Authed, Clients, TestServer, day, options, violated_fields};
use plg_proto::v1::{self, audit_service_client::AuditServiceClient};
use tonic::Code;

/// Options whose write waits until the research view (and so the audit index) includes it.
fn settled() -> Option<v1::WriteOptions> {
    options().map(|options| v1::WriteOptions {
        wait_for_research_view: true,
        ..options
    })
}

/// A school with an enrolment, a scan, an intervention, a plan revision and a PLG with a
/// session; and another school with a scan of its own. Returns the first school's id.
pub(crate) async fn history(clients: &mut Clients) -> anyhow::Result<String> {
    let (study_id, school_id) = clients.enrolled_school().await?;
    let other = clients.register_school().await?;
    clients.enrol(&study_id, &other).await?;
    for (school, respondent) in [(&school_id, "r-1"), (&other, "r-2")] {
        clients
            .scans
            .submit_scan(v1::SubmitScanRequest {
                options: options(),
                study_id: study_id.clone(),
                school_id: school.clone(),
                wave: "T1".into(),
                respondent: respondent.into(),
                role: v1::RespondentRole::Teacher.into(),
                answers: vec![v1::ItemAnswer {
                    item_code: "E1.1".into(),
                    current: Some(3),
                    desired: None,
                }],
                instrument_version: String::new(),
            })
            .await?;
    }
    clients
        .interventions
        .log_intervention(v1::LogInterventionRequest {
            options: options(),
            school_id: school_id.clone(),
            title: "Lesson study".into(),
            categories: vec![v1::InterventionCategory::Professionalisation.into()],
            level: v1::InterventionLevel::School.into(),
            starts_on: day(0),
            ..Default::default()
        })
        .await?;
    clients
        .interventions
        .revise_development_plan(v1::ReviseDevelopmentPlanRequest {
            options: options(),
            school_id: school_id.clone(),
            revised_on: day(0),
            summary: "one PLG per section".into(),
            choices: vec!["PLGs".into()],
            rationale: String::new(),
        })
        .await?;
    let member = clients.register_person("Member").await?;
    let plg_id = clients
        .form_plg(&school_id, std::slice::from_ref(&member))
        .await?;
    clients
        .sessions
        .hold_session(v1::HoldSessionRequest {
            options: settled(),
            plg_id,
            held_on: day(0),
            duration_minutes: 60,
            attendance: vec![v1::Attendance {
                person_id: member,
                present: true,
            }],
            ..Default::default()
        })
        .await?;
    Ok(school_id)
}

pub(crate) async fn events(
    audit: &mut AuditServiceClient<Authed>,
    request: v1::GetSchoolHistoryRequest,
) -> anyhow::Result<Vec<v1::Event>> {
    let mut stream = audit.get_school_history(request).await?.into_inner();
    let mut events = Vec::new();
    while let Some(message) = stream.message().await? {
        events.extend(message.event);
    }
    Ok(events)
}

#[tokio::test]
async fn a_schools_history_holds_every_event_that_concerns_it_in_log_order() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let school_id = history(&mut clients).await?;
    let mut audit = server.administrator().await?.audit;
    let all = events(
        &mut audit,
        v1::GetSchoolHistoryRequest {
            school_id: school_id.clone(),
            ..Default::default()
        },
    )
    .await?;
    let types: Vec<&str> = all.iter().map(|event| event.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "SchoolRegistered",
            "SchoolEnrolled",
            "ScanSubmitted",
            "InterventionLogged",
            "DevelopmentPlanRevised",
            "PlgFormed",
            "SessionHeld",
        ]
    );
    assert!(
        all.windows(2)
            .all(|pair| pair[0].position < pair[1].position)
    );
    // Every event carries its link in the hash chain, to be kept outside the system if wanted.
    assert!(
        all.iter().all(
            |event| event.hash.len() == 64 && event.hash.bytes().all(|b| b.is_ascii_hexdigit())
        )
    );
    assert!(
        !all.iter().any(|event| event.data_json.contains("\"r-2\"")),
        "the other school's scan is not in it"
    );
    let metadata = all[2].metadata.clone().expect("metadata");
    assert_eq!(
        (metadata.actor.as_str(), metadata.tool.as_str()),
        ("test-tool", "test-tool/1")
    );
    assert!(
        metadata.occurred_at.is_some()
            && metadata.recorded_at.is_some()
            && !metadata.correlation_id.is_empty()
    );

    let sessions = events(
        &mut audit,
        v1::GetSchoolHistoryRequest {
            school_id: school_id.clone(),
            event_types: vec!["SessionHeld".into(), "PlgFormed".into()],
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(
        sessions
            .iter()
            .map(|event| event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["PlgFormed", "SessionHeld"]
    );
    let after_registration = events(
        &mut audit,
        v1::GetSchoolHistoryRequest {
            school_id: school_id.clone(),
            recorded_from: all[1]
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.recorded_at),
            recorded_until: all[3]
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.recorded_at),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(
        after_registration
            .iter()
            .map(|event| event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["SchoolEnrolled", "ScanSubmitted"]
    );

    let unknown = audit
        .get_school_history(v1::GetSchoolHistoryRequest {
            school_id: "00000000-0000-4000-8000-000000000000".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = audit
        .get_school_history(v1::GetSchoolHistoryRequest {
            school_id: "school-1".into(),
            ..Default::default()
        })
        .await
        .expect_err("malformed");
    assert_eq!(violated_fields(&malformed), ["school_id"]);
    Ok(())
}

#[tokio::test]
async fn verification_finds_where_stored_history_was_altered() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let school_id = history(&mut clients).await?;
    let mut audit = server.administrator().await?.audit;
    let verified = audit
        .verify_school_history(v1::VerifySchoolHistoryRequest {
            school_id: school_id.clone(),
        })
        .await?
        .into_inner();
    assert!(verified.intact, "{verified:?}");
    assert_eq!(
        verified.streams.len(),
        6,
        "school, study, scan, intervention, plan and PLG streams: {verified:?}"
    );

    // Someone with access to the file edits the development plan's summary.
    let data_dir = server.stop().await?;
    let file = rusqlite::Connection::open(crate::kit::event_log_file(data_dir.path()))?;
    let altered = file.execute(
        "UPDATE events SET data = replace(data, 'one PLG per section', 'two PLGs per section') WHERE stream = ?1",
        [format!("devplan-{school_id}")],
    )?;
    assert_eq!(altered, 1);
    drop(file);

    let server = TestServer::start_in(data_dir).await?;
    let mut audit = server.administrator().await?.audit;
    let verified = audit
        .verify_school_history(v1::VerifySchoolHistoryRequest {
            school_id: school_id.clone(),
        })
        .await?
        .into_inner();
    assert!(!verified.intact);
    let broken: Vec<_> = verified
        .streams
        .iter()
        .filter(|stream| !stream.intact)
        .collect();
    assert_eq!(broken.len(), 1, "{verified:?}");
    assert_eq!(broken[0].stream, format!("devplan-{school_id}"));
    assert_eq!(broken[0].broken_at_revision, Some(0));
    assert!(!broken[0].reason.is_empty());
    Ok(())
}

fn timestamp(at: std::time::SystemTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp::from(at))
}

#[tokio::test]
async fn the_state_at_a_moment_is_what_had_been_recorded_by_then() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let school_id = history(&mut clients).await?;
    let mut audit = server.administrator().await?.audit;
    let all = events(
        &mut audit,
        v1::GetSchoolHistoryRequest {
            school_id: school_id.clone(),
            ..Default::default()
        },
    )
    .await?;
    let stream_of = |event_type: &str| {
        all.iter()
            .find(|event| event.event_type == event_type)
            .map(|event| event.stream.clone())
            .expect("event")
    };
    let (intervention_id, plg_id, study_stream) = (
        stream_of("InterventionLogged")
            .trim_start_matches("intervention-")
            .to_owned(),
        stream_of("PlgFormed").trim_start_matches("plg-").to_owned(),
        stream_of("SchoolEnrolled"),
    );
    let study_id = study_stream.trim_start_matches("study-").to_owned();
    let moment = std::time::SystemTime::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // After the moment: the intervention starts, the PLG gains a member, four more teachers
    // answer (scores 1, 2, 4, 5 beside the first one's 3: mean 3, SD √2.5).
    clients
        .interventions
        .start_intervention(v1::StartInterventionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            started_on: day(0),
        })
        .await?;
    let newcomer = clients.register_person("Newcomer").await?;
    clients
        .sessions
        .add_member(v1::AddMemberRequest {
            options: options(),
            plg_id: plg_id.clone(),
            person_id: newcomer,
        })
        .await?;
    for (respondent, score) in [("r-3", 1), ("r-4", 2), ("r-5", 4), ("r-6", 5)] {
        clients
            .scans
            .submit_scan(v1::SubmitScanRequest {
                options: settled(),
                study_id: study_id.clone(),
                school_id: school_id.clone(),
                wave: "T1".into(),
                respondent: respondent.into(),
                role: v1::RespondentRole::Teacher.into(),
                answers: vec![v1::ItemAnswer {
                    item_code: "E1.1".into(),
                    current: Some(score),
                    desired: None,
                }],
                instrument_version: String::new(),
            })
            .await?;
    }

    let state = |at| v1::GetSchoolStateAtRequest {
        school_id: school_id.clone(),
        at,
    };
    let then = audit
        .get_school_state_at(state(timestamp(moment)))
        .await?
        .into_inner();
    let now = audit.get_school_state_at(state(None)).await?.into_inner();
    assert!(then.as_of_position < now.as_of_position);
    assert_eq!(
        then.school.as_ref().map(|school| school.name.as_str()),
        Some("Het Baken")
    );
    assert_eq!(
        then.interventions
            .iter()
            .map(|i| i.status.as_str())
            .collect::<Vec<_>>(),
        ["planned"]
    );
    assert_eq!(
        now.interventions
            .iter()
            .map(|i| i.status.as_str())
            .collect::<Vec<_>>(),
        ["started"]
    );
    let members = |state: &v1::GetSchoolStateAtResponse| {
        state
            .plgs
            .iter()
            .map(|plg| (plg.members, plg.sessions))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (members(&then), members(&now)),
        (vec![(1, 1)], vec![(2, 1)])
    );

    let pooled_e1 = |state: &v1::GetSchoolStateAtResponse| {
        state.studies[0]
            .scores
            .iter()
            .find(|score| {
                score.role == 0
                    && score.dimension == i32::from(v1::Dimension::InternalProfessionalisation)
            })
            .and_then(|score| score.current)
            .expect("pooled E1")
    };
    // Then: one respondent, suppressed. Now: five, shown.
    let (then_e1, now_e1) = (pooled_e1(&then), pooled_e1(&now));
    assert!(then_e1.suppressed && then_e1.n == 1 && then_e1.mean.is_none());
    assert!(!now_e1.suppressed && now_e1.n == 5);
    assert!(
        now_e1.mean.is_some_and(|mean| (mean - 3.0).abs() < 1e-9)
            && now_e1
                .sd
                .is_some_and(|sd| (sd - 2.5_f64.sqrt()).abs() < 1e-9)
    );

    // The first respondent withdraws consent: they no longer count, now or at the moment
    // before (the four left are too few to show).
    clients
        .scans
        .withdraw_consent(v1::WithdrawConsentRequest {
            options: settled(),
            study_id: study_id.clone(),
            school_id: school_id.clone(),
            respondent: "r-1".into(),
            reason: String::new(),
        })
        .await?;
    let then = audit
        .get_school_state_at(state(timestamp(moment)))
        .await?
        .into_inner();
    let now = audit.get_school_state_at(state(None)).await?.into_inner();
    let e1_cells = |state: &v1::GetSchoolStateAtResponse| {
        state.studies[0]
            .scores
            .iter()
            .filter(|score| {
                score.role == 0
                    && score.dimension == i32::from(v1::Dimension::InternalProfessionalisation)
            })
            .filter_map(|score| score.current)
            .collect::<Vec<_>>()
    };
    assert!(
        e1_cells(&then).is_empty(),
        "nobody left who had answered by then"
    );
    let now_e1 = pooled_e1(&now);
    assert!(now_e1.suppressed && now_e1.n == 4);

    let before = audit
        .get_school_state_at(state(timestamp(
            moment - std::time::Duration::from_secs(3600),
        )))
        .await
        .expect_err("before the school was registered");
    assert_eq!(before.code(), Code::NotFound);
    Ok(())
}
