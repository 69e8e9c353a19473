use crate::kit::{Clients, TestServer, day, options, payload, violated_fields, violated_rule};
use plg_proto::v1;
use tonic::Code;

struct Plg {
    plg_id: String,
    stream: String,
    members: Vec<String>,
}

async fn plg(clients: &mut Clients) -> anyhow::Result<Plg> {
    let school_id = clients.register_school().await?;
    let members = vec![
        clients.register_person("Teacher A").await?,
        clients.register_person("Teacher B").await?,
    ];
    let plg_id = clients.form_plg(&school_id, &members).await?;
    Ok(Plg {
        stream: format!("plg-{plg_id}"),
        plg_id,
        members,
    })
}

fn session(plg: &Plg, held_on: String, attendance: Vec<v1::Attendance>) -> v1::HoldSessionRequest {
    v1::HoldSessionRequest {
        options: options(),
        plg_id: plg.plg_id.clone(),
        held_on,
        duration_minutes: 90,
        attendance,
        facilitator_id: plg.members[0].clone(),
        theme_phases: vec![
            v1::ThemePhase::Explore.into(),
            v1::ThemePhase::Condense.into(),
        ],
        goals: vec![
            v1::SessionGoal {
                description: "sharpen the learning question".into(),
                reached: true,
            },
            v1::SessionGoal {
                description: "choose a method".into(),
                reached: false,
            },
        ],
        check_in_held: true,
        check_out_held: true,
        methods: vec!["OASE intervision".into(), "KanDoe".into()],
        product: String::new(),
        external_input: "a lecturer on feedback".into(),
        agreements: vec!["everyone observes one lesson".into()],
    }
}

fn present(person_id: &str, present: bool) -> v1::Attendance {
    v1::Attendance {
        person_id: person_id.into(),
        present,
    }
}

#[tokio::test]
async fn a_plg_forms_refines_its_question_reaches_phases_holds_sessions_and_dissolves()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let plg = plg(&mut clients).await?;
    clients
        .sessions
        .refine_learning_question(v1::RefineLearningQuestionRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            learning_question: "why do students ignore written feedback?".into(),
            rationale: "the first question asked how, not why".into(),
        })
        .await?;
    clients
        .sessions
        .record_phase(v1::RecordPhaseRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            phase: v1::PlgPhase::LearningToDevelopTogether.into(),
            reached_on: day(0),
        })
        .await?;
    let held = clients
        .sessions
        .hold_session(session(
            &plg,
            day(0),
            vec![
                present(&plg.members[0], true),
                present(&plg.members[1], false),
            ],
        ))
        .await?
        .into_inner();
    assert!(!held.session_id.is_empty());
    let newcomer = clients.register_person("Teacher C").await?;
    clients
        .sessions
        .add_member(v1::AddMemberRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            person_id: newcomer.clone(),
        })
        .await?;
    clients
        .sessions
        .remove_member(v1::RemoveMemberRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            person_id: plg.members[1].clone(),
            reason: "moved to another school".into(),
        })
        .await?;
    clients
        .sessions
        .dissolve_plg(v1::DissolvePlgRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            dissolved_on: day(0),
            reason: "the need is met".into(),
        })
        .await?;

    let events = clients.read_stream(&plg.stream).await?;
    let types: Vec<_> = events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "PlgFormed",
            "LearningQuestionRefined",
            "PhaseReached",
            "SessionHeld",
            "MemberAdded",
            "MemberRemoved",
            "PlgDissolved"
        ]
    );
    let formed = payload(&events[0])?;
    assert_eq!(formed["kind"], "school");
    assert_eq!(formed["member_ids"].as_array().map(Vec::len), Some(2));
    let session = payload(&events[3])?;
    assert_eq!(session["session_id"], held.session_id);
    assert_eq!(session["attendance"][1]["present"], false);
    assert_eq!(
        session["theme_phases"],
        serde_json::json!(["explore", "condense"])
    );
    assert_eq!(session["goals"][1]["reached"], false);
    assert_eq!(session["methods"][1], "KanDoe");
    assert!(session["product"].is_null());
    assert_eq!(
        payload(&events[2])?["phase"],
        "learning_to_develop_together"
    );
    Ok(())
}

#[tokio::test]
async fn a_cross_school_plg_spans_several_known_schools_and_members() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let schools = vec![
        clients.register_school().await?,
        clients.register_school().await?,
    ];
    let member = clients.register_person("Teacher").await?;
    let form =
        |school_ids: Vec<String>, member_ids: Vec<String>, kind: v1::PlgKind| v1::FormPlgRequest {
            options: options(),
            school_ids,
            kind: kind.into(),
            name: "VLG wiskunde".into(),
            practice_need: "differentiation in mixed classes".into(),
            learning_question: "why do our tasks not challenge the strongest students?".into(),
            member_ids,
        };
    clients
        .sessions
        .form_plg(form(
            schools.clone(),
            vec![member.clone()],
            v1::PlgKind::CrossSchool,
        ))
        .await?;

    let one_school = clients
        .sessions
        .form_plg(form(
            schools[..1].to_vec(),
            vec![],
            v1::PlgKind::CrossSchool,
        ))
        .await
        .expect_err("one school");
    assert_eq!(violated_fields(&one_school), ["school_ids"]);
    let unknown_member = clients
        .sessions
        .form_plg(form(
            schools[..1].to_vec(),
            vec!["00000000-0000-4000-8000-000000000000".into()],
            v1::PlgKind::School,
        ))
        .await
        .expect_err("unknown member");
    assert_eq!(unknown_member.code(), Code::NotFound);
    let unknown_school = clients
        .sessions
        .form_plg(form(
            vec!["00000000-0000-4000-8000-000000000000".into()],
            vec![],
            v1::PlgKind::School,
        ))
        .await
        .expect_err("unknown school");
    assert_eq!(unknown_school.code(), Code::NotFound);
    let missing = clients
        .sessions
        .form_plg(v1::FormPlgRequest {
            options: options(),
            school_ids: schools,
            ..Default::default()
        })
        .await
        .expect_err("missing fields");
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        violated_fields(&missing)
            .iter()
            .any(|field| field == "kind"),
        "{missing:?}"
    );
    Ok(())
}

#[tokio::test]
async fn sessions_are_refused_for_future_dates_non_members_and_dissolved_plgs() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let plg = plg(&mut clients).await?;
    let before = clients.last_position().await?;

    let future = clients
        .sessions
        .hold_session(session(&plg, day(2), vec![]))
        .await
        .expect_err("future");
    assert_eq!(future.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&future), ["held_on"]);

    let outsider = clients.register_person("Outsider").await?;
    let before_outsider = clients.last_position().await?;
    let not_member = clients
        .sessions
        .hold_session(session(&plg, day(0), vec![present(&outsider, true)]))
        .await
        .expect_err("not a member");
    assert_eq!(not_member.code(), Code::FailedPrecondition);
    assert_eq!(
        violated_rule(&not_member).as_deref(),
        Some("attendee_not_member")
    );

    let mut odd = session(&plg, day(0), vec![present("someone", true)]);
    odd.duration_minutes = 0;
    odd.goals[0].description = String::new();
    odd.theme_phases = vec![v1::ThemePhase::Unspecified.into()];
    let invalid = clients
        .sessions
        .hold_session(odd)
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&invalid),
        [
            "duration_minutes",
            "attendance[0].person_id",
            "theme_phases[0]",
            "goals[0].description"
        ]
    );
    assert_eq!(clients.last_position().await?, before_outsider);
    assert_eq!(
        clients.event_types_after(before).await?,
        ["PersonRegistered"],
        "only the outsider's registration was written"
    );

    clients
        .sessions
        .dissolve_plg(v1::DissolvePlgRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            dissolved_on: day(0),
            reason: "done".into(),
        })
        .await?;
    let dissolved = clients
        .sessions
        .hold_session(session(&plg, day(0), vec![]))
        .await
        .expect_err("dissolved");
    assert_eq!(violated_rule(&dissolved).as_deref(), Some("plg_dissolved"));
    let unknown = clients
        .sessions
        .hold_session(session(
            &Plg {
                plg_id: "00000000-0000-4000-8000-000000000000".into(),
                stream: String::new(),
                members: plg.members.clone(),
            },
            day(0),
            vec![],
        ))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        clients.event_types(&plg.stream).await?,
        ["PlgFormed", "PlgDissolved"]
    );
    Ok(())
}

#[tokio::test]
async fn membership_and_phase_changes_must_change_something() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let plg = plg(&mut clients).await?;
    let again = clients
        .sessions
        .add_member(v1::AddMemberRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            person_id: plg.members[0].clone(),
        })
        .await
        .expect_err("member already");
    assert_eq!(violated_rule(&again).as_deref(), Some("already_member"));
    let stranger = clients.register_person("Stranger").await?;
    let not_member = clients
        .sessions
        .remove_member(v1::RemoveMemberRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            person_id: stranger,
            reason: String::new(),
        })
        .await
        .expect_err("not a member");
    assert_eq!(violated_rule(&not_member).as_deref(), Some("not_a_member"));
    let unknown_person = clients
        .sessions
        .add_member(v1::AddMemberRequest {
            options: options(),
            plg_id: plg.plg_id.clone(),
            person_id: "00000000-0000-4000-8000-000000000000".into(),
        })
        .await
        .expect_err("unknown person");
    assert_eq!(unknown_person.code(), Code::NotFound);
    let phase = |phase: v1::PlgPhase| v1::RecordPhaseRequest {
        options: options(),
        plg_id: plg.plg_id.clone(),
        phase: phase.into(),
        reached_on: day(0),
    };
    clients
        .sessions
        .record_phase(phase(v1::PlgPhase::ChoosingThemes))
        .await?;
    let same = clients
        .sessions
        .record_phase(phase(v1::PlgPhase::ChoosingThemes))
        .await
        .expect_err("same phase");
    assert_eq!(violated_rule(&same).as_deref(), Some("phase_unchanged"));
    let none = clients
        .sessions
        .record_phase(phase(v1::PlgPhase::Unspecified))
        .await
        .expect_err("no phase");
    assert_eq!(violated_fields(&none), ["phase"]);
    assert_eq!(
        clients.event_types(&plg.stream).await?,
        ["PlgFormed", "PhaseReached"]
    );
    Ok(())
}
