use crate::kit::{Clients, TestServer, day, options, payload, violated_fields, violated_rule};
use plg_proto::v1;
use tonic::Code;

/// A PLG with one member and an external coach: `(plg_id, member, coach)`.
async fn coached_plg(clients: &mut Clients) -> anyhow::Result<(String, String, String)> {
    let school_id = clients.register_school().await?;
    let member = clients.register_person("Teacher").await?;
    let coach = clients.register_person("External coach").await?;
    let plg_id = clients
        .form_plg(&school_id, std::slice::from_ref(&member))
        .await?;
    clients
        .coaching
        .assign_coach(v1::AssignCoachRequest {
            options: options(),
            plg_id: plg_id.clone(),
            coach_id: coach.clone(),
            kind: v1::CoachKind::External.into(),
            assigned_on: day(0),
        })
        .await?;
    Ok((plg_id, member, coach))
}

fn hand_over(plg_id: &str, from: &str, to: &str) -> v1::HandOverCoachingRequest {
    v1::HandOverCoachingRequest {
        options: options(),
        plg_id: plg_id.into(),
        from_coach_id: from.into(),
        to_coach_id: to.into(),
        to_kind: v1::CoachKind::Internal.into(),
        handed_over_on: day(0),
        reason: "continuity after the project".into(),
    }
}

#[tokio::test]
async fn the_external_coach_hands_over_to_an_internal_coach() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, member, coach) = coached_plg(&mut clients).await?;
    clients
        .coaching
        .hand_over_coaching(hand_over(&plg_id, &coach, &member))
        .await?;

    let events = clients.read_stream(&format!("plg-{plg_id}")).await?;
    let types: Vec<_> = events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(types, ["PlgFormed", "CoachAssigned", "CoachHandedOver"]);
    let handover = payload(&events[2])?;
    assert_eq!(handover["from_coach_id"], coach);
    assert_eq!(handover["to_coach_id"], member);
    assert_eq!(handover["to_kind"], "internal");

    // The former coach no longer holds the role: they cannot hand it over again, nor
    // facilitate a session of a PLG they are not a member of; the new coach can.
    let stale = clients
        .coaching
        .hand_over_coaching(hand_over(&plg_id, &coach, &member))
        .await
        .expect_err("not current");
    assert_eq!(stale.code(), Code::FailedPrecondition);
    assert_eq!(violated_rule(&stale).as_deref(), Some("not_current_coach"));
    let session = |facilitator_id: &str| v1::HoldSessionRequest {
        options: options(),
        plg_id: plg_id.clone(),
        held_on: day(0),
        duration_minutes: 60,
        facilitator_id: facilitator_id.into(),
        ..Default::default()
    };
    let former = clients
        .sessions
        .hold_session(session(&coach))
        .await
        .expect_err("former coach");
    assert_eq!(
        violated_rule(&former).as_deref(),
        Some("facilitator_not_involved")
    );
    clients.sessions.hold_session(session(&member)).await?;
    Ok(())
}

#[tokio::test]
async fn a_handover_must_come_from_the_current_coach_to_a_known_person() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, member, coach) = coached_plg(&mut clients).await?;
    let impostor = clients.register_person("Impostor").await?;
    let before = clients.last_position().await?;

    let not_current = clients
        .coaching
        .hand_over_coaching(hand_over(&plg_id, &impostor, &member))
        .await
        .expect_err("impostor");
    assert_eq!(
        violated_rule(&not_current).as_deref(),
        Some("not_current_coach")
    );
    let to_self = clients
        .coaching
        .hand_over_coaching(hand_over(&plg_id, &coach, &coach))
        .await
        .expect_err("to self");
    assert_eq!(violated_fields(&to_self), ["to_coach_id"]);
    let unknown = clients
        .coaching
        .hand_over_coaching(hand_over(
            &plg_id,
            &coach,
            "00000000-0000-4000-8000-000000000000",
        ))
        .await
        .expect_err("unknown successor");
    assert_eq!(unknown.code(), Code::NotFound);
    let mut future = hand_over(&plg_id, &coach, &member);
    future.handed_over_on = day(3);
    let future = clients
        .coaching
        .hand_over_coaching(future)
        .await
        .expect_err("future");
    assert_eq!(violated_fields(&future), ["handed_over_on"]);
    let mut no_kind = hand_over(&plg_id, &coach, &member);
    no_kind.to_kind = v1::CoachKind::Unspecified.into();
    let no_kind = clients
        .coaching
        .hand_over_coaching(no_kind)
        .await
        .expect_err("no kind");
    assert_eq!(violated_fields(&no_kind), ["to_kind"]);
    assert_eq!(clients.last_position().await?, before);
    Ok(())
}

#[tokio::test]
async fn a_coached_plg_gets_a_new_coach_only_by_handover() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (plg_id, member, _) = coached_plg(&mut clients).await?;
    let second = clients
        .coaching
        .assign_coach(v1::AssignCoachRequest {
            options: options(),
            plg_id: plg_id.clone(),
            coach_id: member,
            kind: v1::CoachKind::Internal.into(),
            assigned_on: day(0),
        })
        .await
        .expect_err("has a coach");
    assert_eq!(
        violated_rule(&second).as_deref(),
        Some("coach_already_assigned")
    );
    let coach = clients.register_person("Coach").await?;
    let unknown_plg = clients
        .coaching
        .assign_coach(v1::AssignCoachRequest {
            options: options(),
            plg_id: "00000000-0000-4000-8000-000000000000".into(),
            coach_id: coach,
            kind: v1::CoachKind::Internal.into(),
            assigned_on: day(0),
        })
        .await
        .expect_err("unknown plg");
    assert_eq!(unknown_plg.code(), Code::NotFound);
    Ok(())
}
