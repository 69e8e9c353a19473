use crate::kit::{Clients, TestServer, day, options, payload, violated_fields, violated_rule};
use plg_proto::v1;
use tonic::Code;

fn log(school_id: &str) -> v1::LogInterventionRequest {
    v1::LogInterventionRequest {
        options: options(),
        school_id: school_id.into(),
        title: "Lesson study in the maths section".into(),
        description: "teachers design and observe research lessons".into(),
        categories: vec![
            v1::InterventionCategory::Professionalisation.into(),
            v1::InterventionCategory::WorkingAndLearningTogether.into(),
        ],
        targets: vec![
            v1::Dimension::DevelopingEducationTogether.into(),
            v1::Dimension::InquiringAttitude.into(),
        ],
        level: v1::InterventionLevel::Section.into(),
        starts_on: day(-60),
        planned_end_on: day(120),
    }
}

async fn logged(clients: &mut Clients) -> anyhow::Result<String> {
    let school_id = clients.register_school().await?;
    Ok(clients
        .interventions
        .log_intervention(log(&school_id))
        .await?
        .into_inner()
        .intervention_id)
}

#[tokio::test]
async fn an_intervention_is_logged_started_assessed_and_completed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let intervention_id = logged(&mut clients).await?;
    clients
        .interventions
        .start_intervention(v1::StartInterventionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            started_on: day(-50),
        })
        .await?;
    clients
        .interventions
        .assess_contribution(v1::AssessContributionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            dimension: v1::Dimension::DevelopingEducationTogether.into(),
            intended: true,
            realised: v1::ContributionDegree::Moderate.into(),
            notes: "two sections now design lessons together".into(),
        })
        .await?;
    let completed = clients
        .interventions
        .complete_intervention(v1::CompleteInterventionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            completed_on: day(-1),
            notes: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(completed.result.map(|result| result.revision), Some(3));

    let stream = format!("intervention-{intervention_id}");
    let events = clients.read_stream(&stream).await?;
    let types: Vec<_> = events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "InterventionLogged",
            "InterventionStarted",
            "ContributionAssessed",
            "InterventionCompleted"
        ]
    );
    let logged = payload(&events[0])?;
    assert_eq!(
        logged["categories"],
        serde_json::json!(["professionalisation", "working_and_learning_together"])
    );
    assert_eq!(logged["level"], "section");
    assert_eq!(payload(&events[2])?["realised"], "moderate");
    Ok(())
}

#[tokio::test]
async fn an_intervention_needs_a_known_school_and_valid_fields() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let unknown = clients
        .interventions
        .log_intervention(log("00000000-0000-4000-8000-000000000000"))
        .await
        .expect_err("unknown school");
    assert_eq!(unknown.code(), Code::NotFound);

    let school_id = clients.register_school().await?;
    let after_school = clients.last_position().await?;
    let mut invalid = log(&school_id);
    invalid.title = String::new();
    invalid.categories = vec![v1::InterventionCategory::Unspecified.into()];
    invalid.level = v1::InterventionLevel::Unspecified.into();
    invalid.starts_on = "soon".into();
    let status = clients
        .interventions
        .log_intervention(invalid)
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        ["title", "categories[0]", "level", "starts_on"]
    );

    let mut no_categories = log(&school_id);
    no_categories.categories.clear();
    let status = clients
        .interventions
        .log_intervention(no_categories)
        .await
        .expect_err("no categories");
    assert_eq!(violated_fields(&status), ["categories"]);

    let mut early_end = log(&school_id);
    early_end.planned_end_on = day(-61);
    let status = clients
        .interventions
        .log_intervention(early_end)
        .await
        .expect_err("end before start");
    assert_eq!(violated_fields(&status), ["planned_end_on"]);
    assert_eq!(
        clients.last_position().await?,
        after_school,
        "nothing after the school was written"
    );
    Ok(())
}

#[tokio::test]
async fn the_intervention_lifecycle_is_enforced() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let intervention_id = logged(&mut clients).await?;
    let complete = |on: String| v1::CompleteInterventionRequest {
        options: options(),
        intervention_id: intervention_id.clone(),
        completed_on: on,
        notes: String::new(),
    };
    let not_started = clients
        .interventions
        .complete_intervention(complete(day(-1)))
        .await
        .expect_err("planned");
    assert_eq!(not_started.code(), Code::FailedPrecondition);
    assert_eq!(
        violated_rule(&not_started).as_deref(),
        Some("intervention_status")
    );

    let future = clients
        .interventions
        .start_intervention(v1::StartInterventionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            started_on: day(3),
        })
        .await
        .expect_err("future start");
    assert_eq!(violated_fields(&future), ["started_on"]);

    clients
        .interventions
        .abandon_intervention(v1::AbandonInterventionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            abandoned_on: day(-2),
            reason: "no room in the timetable".into(),
        })
        .await?;
    let abandoned = clients
        .interventions
        .start_intervention(v1::StartInterventionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            started_on: day(-1),
        })
        .await
        .expect_err("abandoned");
    assert_eq!(abandoned.code(), Code::FailedPrecondition);
    let no_reason = clients
        .interventions
        .abandon_intervention(v1::AbandonInterventionRequest {
            options: options(),
            intervention_id: intervention_id.clone(),
            abandoned_on: day(-1),
            reason: String::new(),
        })
        .await
        .expect_err("no reason");
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let unknown = clients
        .interventions
        .start_intervention(v1::StartInterventionRequest {
            options: options(),
            intervention_id: "00000000-0000-4000-8000-000000000000".into(),
            started_on: day(-1),
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        clients
            .event_types(&format!("intervention-{intervention_id}"))
            .await?,
        ["InterventionLogged", "InterventionAbandoned"]
    );
    Ok(())
}

#[tokio::test]
async fn assessments_need_a_dimension_and_a_degree() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let intervention_id = logged(&mut clients).await?;
    let status = clients
        .interventions
        .assess_contribution(v1::AssessContributionRequest {
            options: options(),
            intervention_id,
            dimension: v1::Dimension::Unspecified.into(),
            intended: true,
            realised: v1::ContributionDegree::Unspecified.into(),
            notes: String::new(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(violated_fields(&status), ["dimension", "realised"]);
    Ok(())
}

#[tokio::test]
async fn the_development_plan_is_revised_with_reasons_and_reflected_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let school_id = clients.register_school().await?;
    let leader = clients.register_person("School leader").await?;
    let revise = |on: String, rationale: &str| v1::ReviseDevelopmentPlanRequest {
        options: options(),
        school_id: school_id.clone(),
        revised_on: on,
        summary: "every section forms a PLG".into(),
        choices: vec![
            "one PLG per section".into(),
            "study days for PLG work".into(),
        ],
        rationale: rationale.into(),
    };
    let first = clients
        .interventions
        .revise_development_plan(revise(day(-200), ""))
        .await?
        .into_inner();
    assert_eq!(first.plan_version, 1);
    let unreasoned = clients
        .interventions
        .revise_development_plan(revise(day(-100), ""))
        .await
        .expect_err("no reason");
    assert_eq!(violated_fields(&unreasoned), ["rationale"]);
    let second = clients
        .interventions
        .revise_development_plan(revise(day(-100), "the scan showed low support"))
        .await?
        .into_inner();
    assert_eq!(second.plan_version, 2);

    clients
        .interventions
        .record_reflection_conversation(v1::RecordReflectionConversationRequest {
            options: options(),
            school_id: school_id.clone(),
            held_on: day(-10),
            participant_ids: vec![leader],
            summary: "PLGs run; output is not yet shared".into(),
            agreements: vec!["share products at the study day".into()],
        })
        .await?;
    let stranger = clients
        .interventions
        .record_reflection_conversation(v1::RecordReflectionConversationRequest {
            options: options(),
            school_id: school_id.clone(),
            held_on: day(-10),
            participant_ids: vec!["00000000-0000-4000-8000-000000000000".into()],
            summary: "s".into(),
            agreements: vec![],
        })
        .await
        .expect_err("unknown participant");
    assert_eq!(stranger.code(), Code::NotFound);
    assert_eq!(
        clients.event_types(&format!("devplan-{school_id}")).await?,
        [
            "DevelopmentPlanRevised",
            "DevelopmentPlanRevised",
            "ReflectionConversationRecorded"
        ]
    );
    Ok(())
}
