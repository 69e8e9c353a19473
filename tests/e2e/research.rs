//! The research view through ResearchService, on a fixture whose numbers are worked out by
//! hand (the arithmetic is in the comments): 4 schools of 4 respondents (3 teachers and a
//! school leader) in two waves, minimum group size 3, plus a fifth school with only 2.

use crate::kit::{
    Authed, Clients, Identity, TestServer, close, day, days_ago, options, school_code,
};
use plg_proto::v1::{self, research_service_client::ResearchServiceClient};
use tonic::Code;

const MIN_GROUP: u32 = 3;

struct Fixture {
    server: TestServer,
    clients: Clients,
    research: ResearchServiceClient<Authed>,
    study_id: String,
    /// The position of the last write, with the view caught up to it.
    position: u64,
}

async fn school(clients: &mut Clients, name: &str) -> anyhow::Result<String> {
    let response = clients
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: options(),
            name: name.into(),
            country: v1::Country::Nl.into(),
            sector: v1::Sector::Secondary.into(),
            school_code: school_code(),
            board: String::new(),
        })
        .await?;
    Ok(response.into_inner().school_id)
}

/// Who answered, for which wave and when.
struct Respondent<'a> {
    school_id: &'a str,
    wave: &'a str,
    pseudonym: &'a str,
    role: v1::RespondentRole,
    answered_days_ago: u64,
}

/// One respondent's answers: `(item, current, desired)`.
async fn scan(
    clients: &mut Clients,
    study_id: &str,
    who: &Respondent<'_>,
    answers: &[(&str, u32, Option<u32>)],
) -> anyhow::Result<u64> {
    let mut write_options = options();
    if let Some(options) = write_options.as_mut() {
        options.occurred_at = days_ago(who.answered_days_ago);
        options.wait_for_research_view = true;
    }
    let response = clients
        .scans
        .submit_scan(v1::SubmitScanRequest {
            options: write_options,
            study_id: study_id.into(),
            school_id: who.school_id.into(),
            wave: who.wave.into(),
            respondent: who.pseudonym.into(),
            role: who.role.into(),
            answers: answers
                .iter()
                .map(|(code, current, desired)| v1::ItemAnswer {
                    item_code: (*code).into(),
                    current: Some(*current),
                    desired: *desired,
                })
                .collect(),
            instrument_version: String::new(),
        })
        .await?
        .into_inner();
    let result = response.result.expect("write result");
    // Read-your-writes: the reply waited until the view included the scan.
    assert!(
        result.research_view_position >= result.position,
        "{result:?}"
    );
    Ok(result.position)
}

/// The fixture with both waves released to researchers.
async fn fixture(identify_schools: bool) -> anyhow::Result<Fixture> {
    let mut f = unreleased_fixture(identify_schools).await?;
    f.release().await?;
    Ok(f)
}

impl Fixture {
    /// Releases both waves, and waits for the view to show them.
    async fn release(&mut self) -> anyhow::Result<()> {
        for wave in ["W1", "W2"] {
            let released = self.clients.release_wave(&self.study_id, wave).await?;
            self.position = self.position.max(released.position);
        }
        Ok(())
    }
}

async fn unreleased_fixture(identify_schools: bool) -> anyhow::Result<Fixture> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let study_id = clients
        .registry
        .define_study(v1::DefineStudyRequest {
            options: options(),
            title: "Fixture".into(),
            description: String::new(),
            waves: vec![
                v1::Wave {
                    label: "W1".into(),
                    opens_on: day(-400),
                    closes_on: day(-300),
                },
                v1::Wave {
                    label: "W2".into(),
                    opens_on: day(-30),
                    closes_on: day(-1),
                },
            ],
            min_group_size: Some(MIN_GROUP),
            identify_schools,
        })
        .await?
        .into_inner()
        .study_id;
    let mut schools = Vec::new();
    for name in [
        "Het Baken",
        "De Brug",
        "Het Kompas",
        "De Horizon",
        "De Klimop",
    ] {
        let school_id = school(&mut clients, name).await?;
        clients.enrol(&study_id, &school_id).await?;
        schools.push(school_id);
    }
    // Support (C1) and inquiring attitude (E5) are the same for everyone in a school.
    let support = [2, 3, 4, 5];
    let inquiring = [[1, 3], [3, 4], [2, 2], [5, 5]];
    // E1 only in the first school: item pairs per respondent, per wave.
    let e1 = [
        [(3, Some(4)), (4, Some(4)), (5, None), (2, Some(2))],
        [(4, Some(5)), (5, Some(5)), (5, None), (3, Some(3))],
    ];
    let mut position = 0;
    for (index, school_id) in schools.iter().take(4).enumerate() {
        for (wave_index, (wave, answered)) in [("W1", 350), ("W2", 1)].into_iter().enumerate() {
            let respondents = [
                ("t1", v1::RespondentRole::Teacher),
                ("t2", v1::RespondentRole::Teacher),
                ("t3", v1::RespondentRole::Teacher),
                // Four teachers: a hidden role beside scores everyone shares would give those
                // scores away, which tests/e2e/disclosure covers.
                ("t4", v1::RespondentRole::Teacher),
            ];
            for (respondent_index, (respondent, role)) in respondents.into_iter().enumerate() {
                let level = inquiring[index][wave_index];
                let mut answers = vec![
                    ("C1.1", support[index], None),
                    ("E5.1", level, Some((level + 1).min(5))),
                ];
                if index == 0 {
                    let (first, second) = e1[wave_index][respondent_index];
                    answers.push(("E1.1", first, None));
                    if let Some(second) = second {
                        answers.push(("E1.2", second, None));
                    }
                }
                let pseudonym = format!("s{index}-{respondent}");
                let who = Respondent {
                    school_id,
                    wave,
                    pseudonym: &pseudonym,
                    role,
                    answered_days_ago: answered,
                };
                position = scan(&mut clients, &study_id, &who, &answers).await?;
            }
        }
    }
    // The fifth school has two respondents: too few to show.
    for respondent in ["s4-t1", "s4-t2"] {
        let who = Respondent {
            school_id: &schools[4],
            wave: "W1",
            pseudonym: respondent,
            role: v1::RespondentRole::Teacher,
            answered_days_ago: 350,
        };
        position = scan(
            &mut clients,
            &study_id,
            &who,
            &[("E5.1", 4, None), ("C1.1", 1, None)],
        )
        .await?;
    }
    position = position.max(interventions(&mut clients, &schools).await?);
    position = position.max(plg(&mut clients, &schools[0]).await?);
    let research = server.respondent_data_researcher().await?.research;
    // Issuing the researcher's key moved the log on too.
    let position = position.max(clients.last_position().await?);
    Ok(Fixture {
        server,
        clients,
        research,
        study_id,
        position,
    })
}

/// School 1: professionalisation + working and learning together; school 2: working and
/// learning together; both started between the waves. School 3: communication, never started.
async fn interventions(clients: &mut Clients, schools: &[String]) -> anyhow::Result<u64> {
    use v1::InterventionCategory::{
        Communication, Professionalisation, WorkingAndLearningTogether,
    };
    let mut last = 0;
    for (school_id, categories, start) in [
        (
            &schools[0],
            vec![Professionalisation, WorkingAndLearningTogether],
            true,
        ),
        (&schools[1], vec![WorkingAndLearningTogether], true),
        (&schools[2], vec![Communication], false),
    ] {
        let logged = clients
            .interventions
            .log_intervention(v1::LogInterventionRequest {
                options: options(),
                school_id: school_id.clone(),
                title: "Intervention".into(),
                description: String::new(),
                categories: categories.into_iter().map(Into::into).collect(),
                targets: vec![v1::Dimension::InquiringAttitude.into()],
                level: v1::InterventionLevel::School.into(),
                starts_on: day(-200),
                planned_end_on: String::new(),
            })
            .await?
            .into_inner();
        last = logged.result.map_or(last, |result| result.position);
        if start {
            let started = clients
                .interventions
                .start_intervention(v1::StartInterventionRequest {
                    options: options(),
                    intervention_id: logged.intervention_id,
                    started_on: day(-200),
                })
                .await?
                .into_inner();
            last = started.result.map_or(last, |result| result.position);
        }
    }
    Ok(last)
}

/// A PLG in school 1: formed 100 days ago with an external coach, phases reached 90 and 60
/// days ago, sessions 80 and 50 days ago, handed over to an internal coach 40 days ago.
async fn plg(clients: &mut Clients, school_id: &str) -> anyhow::Result<u64> {
    let teacher = clients.register_person("Teacher").await?;
    let colleague = clients.register_person("Colleague").await?;
    let coach = clients.register_person("Coach").await?;
    let mut formed_options = options();
    if let Some(options) = formed_options.as_mut() {
        options.occurred_at = days_ago(100);
    }
    let plg_id = clients
        .sessions
        .form_plg(v1::FormPlgRequest {
            options: formed_options,
            school_ids: vec![school_id.into()],
            kind: v1::PlgKind::School.into(),
            name: "Formatief handelen".into(),
            practice_need: "need".into(),
            learning_question: "why?".into(),
            member_ids: vec![teacher.clone(), colleague.clone()],
        })
        .await?
        .into_inner()
        .plg_id;
    clients
        .coaching
        .assign_coach(v1::AssignCoachRequest {
            options: options(),
            plg_id: plg_id.clone(),
            coach_id: coach.clone(),
            kind: v1::CoachKind::External.into(),
            assigned_on: day(-100),
        })
        .await?;
    for (phase, on) in [
        (v1::PlgPhase::EngagingSchoolLeaders, -90),
        (v1::PlgPhase::MotivatingTeachers, -60),
    ] {
        clients
            .sessions
            .record_phase(v1::RecordPhaseRequest {
                options: options(),
                plg_id: plg_id.clone(),
                phase: phase.into(),
                reached_on: day(on),
            })
            .await?;
    }
    for (on, minutes, colleague_present, goals) in [
        (-80, 90, false, vec![true, false]),
        (-50, 60, true, vec![true]),
    ] {
        clients
            .sessions
            .hold_session(v1::HoldSessionRequest {
                options: options(),
                plg_id: plg_id.clone(),
                held_on: day(on),
                duration_minutes: minutes,
                attendance: vec![
                    v1::Attendance {
                        person_id: teacher.clone(),
                        present: true,
                    },
                    v1::Attendance {
                        person_id: colleague.clone(),
                        present: colleague_present,
                    },
                ],
                facilitator_id: coach.clone(),
                theme_phases: vec![v1::ThemePhase::Explore.into()],
                goals: goals
                    .into_iter()
                    .map(|reached| v1::SessionGoal {
                        description: "goal".into(),
                        reached,
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
    }
    let mut handover_options = options();
    if let Some(options) = handover_options.as_mut() {
        options.wait_for_research_view = true;
    }
    let handed = clients
        .coaching
        .hand_over_coaching(v1::HandOverCoachingRequest {
            options: handover_options,
            plg_id,
            from_coach_id: coach,
            to_coach_id: teacher,
            to_kind: v1::CoachKind::Internal.into(),
            handed_over_on: day(-40),
            reason: "continuity".into(),
        })
        .await?
        .into_inner();
    let result = handed.result.expect("result");
    assert!(result.research_view_position >= result.position);
    Ok(result.position)
}

fn score<'a>(
    scores: &'a [v1::WaveScore],
    school: &str,
    wave: &str,
    role: v1::RespondentRole,
    dimension: v1::Dimension,
) -> Option<&'a v1::WaveScore> {
    scores.iter().find(|s| {
        s.school == school
            && s.wave == wave
            && s.role == i32::from(role)
            && s.dimension == i32::from(dimension)
    })
}

#[tokio::test]
async fn wave_scores_summarise_current_submissions_and_suppress_small_groups() -> anyhow::Result<()>
{
    let mut f = fixture(false).await?;
    let reply = f
        .research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: f.study_id.clone(),
            school: String::new(),
            wave: String::new(),
        })
        .await?
        .into_inner();
    assert!(reply.current_to_position >= f.position);
    assert_eq!(reply.min_group_size, MIN_GROUP);
    // E1 in S01 at W1: respondents' scores 3.5, 4, 5 (one item answered) and 2: mean 3.625;
    // deviations −.125, .375, 1.375, −1.625, squares sum 4.6875, /3 = 1.5625, SD 1.25.
    let pooled = score(
        &reply.scores,
        "S01",
        "W1",
        v1::RespondentRole::Unspecified,
        v1::Dimension::InternalProfessionalisation,
    )
    .expect("pooled E1 cell");
    let current = pooled.current.expect("current");
    assert_eq!((current.n, current.suppressed), (4, false));
    assert!(
        close(current.mean, 3.625) && close(current.sd, 1.25),
        "{current:?}"
    );
    // All four are teachers: their cell is the pooled one, and no other role has a row.
    let teachers = score(
        &reply.scores,
        "S01",
        "W1",
        v1::RespondentRole::Teacher,
        v1::Dimension::InternalProfessionalisation,
    )
    .expect("teacher cell");
    assert_eq!(teachers.current, pooled.current);
    assert!(
        reply
            .scores
            .iter()
            .all(|s| s.role == i32::from(v1::RespondentRole::Unspecified)
                || s.role == i32::from(v1::RespondentRole::Teacher))
    );
    // E5 in S01 at W1: everyone 1, desired 2: gap 1, SD 0.
    let e5 = score(
        &reply.scores,
        "S01",
        "W1",
        v1::RespondentRole::Unspecified,
        v1::Dimension::InquiringAttitude,
    )
    .expect("E5");
    assert!(
        close(e5.current.and_then(|c| c.sd), 0.0) && close(e5.gap, 1.0),
        "{e5:?}"
    );
    // The fifth school's two respondents are marked, never dropped, and show no scores.
    let small = score(
        &reply.scores,
        "S05",
        "W1",
        v1::RespondentRole::Unspecified,
        v1::Dimension::InquiringAttitude,
    )
    .expect("S05 cell");
    let small = small.current.expect("current");
    assert!(small.suppressed && small.mean.is_none() && small.n == 2);
    // Schools appear under pseudonyms only.
    assert!(
        reply
            .scores
            .iter()
            .all(|s| s.school.starts_with('S') && s.school.len() == 3)
    );
    Ok(())
}

#[tokio::test]
async fn superseded_and_retracted_scans_do_not_count() -> anyhow::Result<()> {
    let mut f = unreleased_fixture(false).await?;
    let schools = f
        .research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: f.study_id.clone(),
            school: "S04".into(),
            wave: "W2".into(),
        })
        .await?
        .into_inner();
    let before = score(
        &schools.scores,
        "S04",
        "W2",
        v1::RespondentRole::Unspecified,
        v1::Dimension::Support,
    )
    .and_then(|s| s.current)
    .expect("cell");
    // Not released yet: its size, no scores.
    assert!(before.suppressed && before.mean.is_none() && before.n == 4);
    // The school's id, from its registration in the log; resubmit one answer and retract another.
    let log = f
        .clients
        .event_log
        .read_all(v1::ReadAllRequest {
            after_position: None,
            max_count: 1000,
        })
        .await?
        .into_inner();
    let submission = log
        .events
        .iter()
        .find(|event| {
            event.event_type == "ScanSubmitted"
                && event.data_json.contains("\"s3-t1\"")
                && event.data_json.contains("\"W2\"")
        })
        .expect("s3-t1's W2 scan");
    let data: serde_json::Value = serde_json::from_str(&submission.data_json)?;
    let school_id = data["school_id"].as_str().expect("school id").to_owned();
    let who = Respondent {
        school_id: &school_id,
        wave: "W2",
        pseudonym: "s3-t1",
        role: v1::RespondentRole::Teacher,
        answered_days_ago: 1,
    };
    scan(&mut f.clients, &f.study_id, &who, &[("C1.1", 1, None)]).await?;
    let other = f
        .clients
        .event_log
        .read_all(v1::ReadAllRequest {
            after_position: None,
            max_count: 1000,
        })
        .await?
        .into_inner();
    let response_id = other
        .events
        .iter()
        .find(|event| {
            event.event_type == "ScanSubmitted"
                && event.data_json.contains("\"s3-t2\"")
                && event.data_json.contains("\"W2\"")
        })
        .map(|event| event.stream.trim_start_matches("scan-").to_owned())
        .expect("s3-t2's W2 scan");
    let mut retract_options = options();
    if let Some(options) = retract_options.as_mut() {
        options.wait_for_research_view = true;
    }
    f.clients
        .scans
        .retract_scan(v1::RetractScanRequest {
            options: retract_options,
            response_id,
            reason: String::new(),
        })
        .await?;
    f.release().await?;
    let after = f
        .research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: f.study_id.clone(),
            school: "S04".into(),
            wave: "W2".into(),
        })
        .await?
        .into_inner();
    // Now 5 (t3), 5 (t4) and the resubmitted 1: mean 11/3; the retracted answer is gone.
    let cell = score(
        &after.scores,
        "S04",
        "W2",
        v1::RespondentRole::Unspecified,
        v1::Dimension::Support,
    )
    .and_then(|s| s.current)
    .expect("cell");
    assert_eq!(cell.n, 3);
    assert!(close(cell.mean, 11.0 / 3.0), "{cell:?}");
    Ok(())
}

#[tokio::test]
async fn growth_has_a_standardised_effect_size_and_skipped_waves_have_none() -> anyhow::Result<()> {
    let mut f = fixture(false).await?;
    let reply = f
        .research
        .get_growth(v1::GetGrowthRequest {
            study_id: f.study_id.clone(),
            school: String::new(),
        })
        .await?
        .into_inner();
    let e1 = reply
        .growth
        .iter()
        .find(|g| {
            g.school == "S01"
                && g.dimension == i32::from(v1::Dimension::InternalProfessionalisation)
        })
        .expect("E1 growth");
    // W2 scores 4.5, 5, 5, 3: mean 4.375, variance 0.8958; pooled SD sqrt((3·1.5625 + 3·0.8958)/6)
    // = 1.10868; d = 0.75 / 1.10868 = 0.676481.
    assert!(close(e1.change, 0.75), "{e1:?}");
    assert!(
        e1.effect_size
            .is_some_and(|d| (d - 0.676_481_425_202_546).abs() < 1e-9),
        "{e1:?}"
    );
    // The fifth school skipped W2: no growth rows for it.
    assert!(reply.growth.iter().all(|g| g.school != "S05"));
    // No variance in either wave: no effect size, but a change.
    let e5 = reply
        .growth
        .iter()
        .find(|g| g.school == "S01" && g.dimension == i32::from(v1::Dimension::InquiringAttitude))
        .expect("E5");
    assert!(close(e5.change, 2.0) && e5.effect_size.is_none());
    Ok(())
}

#[tokio::test]
async fn relations_correlate_school_means_across_shown_schools() -> anyhow::Result<()> {
    let mut f = fixture(false).await?;
    let reply = f
        .research
        .get_relations(v1::GetRelationsRequest {
            study_id: f.study_id.clone(),
            wave: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(
        (reply.wave.as_str(), reply.first_wave.as_str()),
        ("W1", "W1")
    );
    let pair = |c: v1::Dimension, e: v1::Dimension| {
        move |r: &&v1::Correlation| r.condition == i32::from(c) && r.element == i32::from(e)
    };
    let support_inquiring = reply
        .correlations
        .iter()
        .find(pair(
            v1::Dimension::Support,
            v1::Dimension::InquiringAttitude,
        ))
        .expect("C1×E5");
    // C1 = 2, 3, 4, 5 and E5 = 1, 3, 2, 5: Σdxdy = 5.5, Σdx² = 5, Σdy² = 8.75, r = 5.5/√43.75.
    // The fifth school's cells are suppressed, so it is not one of the schools.
    assert_eq!(support_inquiring.schools, 4);
    assert!(
        close(support_inquiring.r, 0.831_521_840_620_299_9),
        "{support_inquiring:?}"
    );
    assert!(
        close(support_inquiring.ci_low, -0.645_132_458_756_524_9)
            && close(support_inquiring.ci_high, 0.996_356_100_151_417_5)
    );
    // E5 grew by 2, 1, 0, 0 from W1 to W2.
    let growth = reply
        .growth_relations
        .iter()
        .find(|r| {
            r.condition == i32::from(v1::Dimension::Support)
                && r.element == i32::from(v1::Dimension::InquiringAttitude)
        })
        .expect("C1×ΔE5");
    assert_eq!((growth.to_wave.as_str(), growth.schools), ("W2", 4));
    assert!(
        close(growth.r, -0.943_879_807_448_538_9)
            && close(growth.ci_high, 0.185_324_750_303_029_28),
        "{growth:?}"
    );
    // No school answered E2: no correlation, and it says so.
    let missing = reply
        .correlations
        .iter()
        .find(pair(
            v1::Dimension::Support,
            v1::Dimension::ExternalProfessionalisation,
        ))
        .expect("C1×E2");
    assert!(missing.r.is_none() && missing.schools == 0);
    Ok(())
}

#[tokio::test]
async fn intervention_impact_compares_schools_with_and_without_a_category() -> anyhow::Result<()> {
    use v1::InterventionCategory::{
        Communication, Professionalisation, WorkingAndLearningTogether,
    };
    let mut f = fixture(false).await?;
    let reply = f
        .research
        .get_intervention_impact(v1::GetInterventionImpactRequest {
            study_id: f.study_id.clone(),
            from_wave: "W1".into(),
            to_wave: "W2".into(),
        })
        .await?
        .into_inner();
    let together = reply
        .impacts
        .iter()
        .find(|i| {
            i.category == i32::from(WorkingAndLearningTogether)
                && i.dimension == i32::from(v1::Dimension::InquiringAttitude)
        })
        .expect("impact");
    // With: S01 (+2) and S02 (+1); without: S03 and S04 (0, 0). Difference 1.5; pooled SD
    // sqrt((0.5 + 0)/2) = 0.5; d = 3. The never-started intervention in S03 does not count.
    let (with, without) = (
        together.with_category.expect("with"),
        together.without_category.expect("without"),
    );
    assert_eq!((with.schools, without.schools), (2, 2));
    assert!(close(with.mean, 1.5) && close(without.mean, 0.0));
    assert!(
        close(together.difference, 1.5) && close(together.effect_size, 3.0),
        "{together:?}"
    );
    let communication = reply
        .impacts
        .iter()
        .find(|i| {
            i.category == i32::from(Communication)
                && i.dimension == i32::from(v1::Dimension::InquiringAttitude)
        })
        .expect("communication");
    assert_eq!(communication.with_category.map(|w| w.schools), Some(0));
    let combinations: Vec<(Vec<i32>, u32)> = reply
        .combinations
        .iter()
        .map(|c| (c.categories.clone(), c.interventions))
        .collect();
    assert_eq!(
        combinations,
        [
            (
                vec![
                    Professionalisation.into(),
                    WorkingAndLearningTogether.into()
                ],
                1
            ),
            (vec![WorkingAndLearningTogether.into()], 1),
            (vec![Communication.into()], 1),
        ]
    );
    let backwards = f
        .research
        .get_intervention_impact(v1::GetInterventionImpactRequest {
            study_id: f.study_id.clone(),
            from_wave: "W2".into(),
            to_wave: "W1".into(),
        })
        .await
        .expect_err("backwards");
    assert_eq!(backwards.code(), Code::InvalidArgument);
    Ok(())
}

#[tokio::test]
async fn reliability_reports_icc_and_within_school_agreement() -> anyhow::Result<()> {
    let mut f = fixture(false).await?;
    let reply = f
        .research
        .get_reliability(v1::GetReliabilityRequest {
            study_id: f.study_id.clone(),
            wave: "W1".into(),
        })
        .await?
        .into_inner();
    let dimension = |d: v1::Dimension| {
        reply
            .dimensions
            .iter()
            .find(|r| r.dimension == i32::from(d))
            .expect("dimension")
    };
    // E5: no variance within schools, all between: ICC(1) = ICC(2) = 1 over the 4 schools
    // shown (S05's 2 respondents are below the minimum, so they are not part of it).
    let e5 = dimension(v1::Dimension::InquiringAttitude);
    assert!(
        close(e5.icc1, 1.0) && close(e5.icc2, 1.0) && e5.schools == 4 && e5.respondents == 16,
        "{e5:?}"
    );
    // E1 in S01: item variances 5/3 (3, 4, 5, 2) and 4/3 (4, 4, 2); mean 1.5 of the null 2:
    // rwg(j) = 2·0.25 / (2·0.25 + 0.75) = 0.4. One school: no ICC.
    let e1 = dimension(v1::Dimension::InternalProfessionalisation);
    assert!(e1.icc1.is_none());
    let s01 = e1
        .agreement
        .iter()
        .find(|a| a.school == "S01")
        .expect("S01");
    assert!(close(s01.rwg_j, 0.4), "{s01:?}");
    let s05 = e5
        .agreement
        .iter()
        .find(|a| a.school == "S05")
        .expect("S05");
    assert!(s05.suppressed && s05.rwg_j.is_none());
    Ok(())
}

#[tokio::test]
async fn plg_activity_and_the_school_timeline_follow_the_plg() -> anyhow::Result<()> {
    let mut f = fixture(false).await?;
    let activity = f
        .research
        .get_plg_activity(v1::GetPlgActivityRequest {
            study_id: f.study_id.clone(),
            school: String::new(),
        })
        .await?
        .into_inner();
    let [plg] = activity.plgs.as_slice() else {
        anyhow::bail!("one PLG expected: {activity:?}")
    };
    assert_eq!((plg.sessions, plg.minutes), (2, 150));
    assert_eq!(plg.schools, ["S01"]);
    assert!(
        close(plg.attendance_rate, 0.75) && close(plg.goals_reached_share, 2.0 / 3.0),
        "{plg:?}"
    );
    let phases: Vec<(i32, u32)> = plg.phases.iter().map(|p| (p.phase, p.days)).collect();
    assert_eq!(
        phases,
        [
            (v1::PlgPhase::EngagingSchoolLeaders.into(), 30),
            (v1::PlgPhase::MotivatingTeachers.into(), 60)
        ]
    );
    assert_eq!(plg.days_to_internal_handover, Some(60));

    let timeline = f
        .research
        .get_school_timeline(v1::GetSchoolTimelineRequest {
            study_id: f.study_id.clone(),
            school: "S01".into(),
        })
        .await?
        .into_inner();
    assert_eq!(timeline.school, "S01");
    use v1::timeline_entry::Entry;
    let kinds: Vec<&str> = timeline
        .entries
        .iter()
        .map(|entry| match &entry.entry {
            Some(Entry::ScanWave(_)) => "scan",
            Some(Entry::Intervention(i)) => {
                if i.change == "logged" {
                    "logged"
                } else {
                    "started"
                }
            }
            Some(Entry::Plg(_)) => "plg",
            Some(Entry::Coach(c)) => {
                if c.change == "assigned" {
                    "coach"
                } else {
                    "handover"
                }
            }
            Some(Entry::Phase(_)) => "phase",
            Some(Entry::Session(_)) => "session",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "scan", "logged", "started", "plg", "coach", "phase", "session", "phase", "session",
            "handover", "scan"
        ]
    );
    let dates: Vec<&str> = timeline
        .entries
        .iter()
        .map(|entry| entry.date.as_str())
        .collect();
    assert!(
        dates.windows(2).all(|pair| pair[0] <= pair[1]),
        "in date order: {dates:?}"
    );
    let unknown = f
        .research
        .get_school_timeline(v1::GetSchoolTimelineRequest {
            study_id: f.study_id.clone(),
            school: "S99".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn the_spider_chart_draws_shown_scores_and_leaves_suppressed_ones_out() -> anyhow::Result<()>
{
    let mut f = fixture(false).await?;
    let chart = f
        .research
        .render_spider_chart(v1::RenderSpiderChartRequest {
            study_id: f.study_id.clone(),
            school: "S01".into(),
            waves: vec![],
            include_desired: true,
        })
        .await?
        .into_inner();
    assert!(
        chart.svg.starts_with("<svg") || chart.svg.starts_with("<?xml"),
        "{}",
        &chart.svg[..80]
    );
    for text in [
        "S01",
        "W1 current",
        "W2 current",
        "W1 desired",
        "E5 Inquiring attitude",
    ] {
        assert!(chart.svg.contains(text), "chart mentions {text}");
    }
    let small = f
        .research
        .render_spider_chart(v1::RenderSpiderChartRequest {
            study_id: f.study_id.clone(),
            school: "S05".into(),
            waves: vec!["W1".into()],
            include_desired: false,
        })
        .await?
        .into_inner();
    assert!(
        small.svg.contains("n/a"),
        "suppressed axes are marked, not drawn as zero"
    );
    let no_wave = f
        .research
        .render_spider_chart(v1::RenderSpiderChartRequest {
            study_id: f.study_id.clone(),
            school: "S01".into(),
            waves: vec!["W9".into()],
            include_desired: false,
        })
        .await
        .expect_err("unknown wave");
    assert_eq!(no_wave.code(), Code::InvalidArgument);
    Ok(())
}

async fn export(f: &mut Fixture, format: v1::ExportFormat) -> anyhow::Result<String> {
    let mut stream = f
        .research
        .export_study(v1::ExportStudyRequest {
            study_id: f.study_id.clone(),
            format: format.into(),
        })
        .await?
        .into_inner();
    let mut csv = Vec::new();
    while let Some(message) = stream.message().await? {
        assert!(message.current_to_position >= f.position);
        csv.extend(message.chunk);
    }
    Ok(String::from_utf8(csv)?)
}

#[tokio::test]
async fn exports_are_csv_without_pseudonyms_or_small_groups() -> anyhow::Result<()> {
    let mut f = fixture(false).await?;
    let long = export(&mut f, v1::ExportFormat::Long).await?;
    let header = long.lines().next().expect("header");
    assert!(header.starts_with(
        "school,wave,wave_ordinal,role,dimension_code,dimension,dimension_kind,n,current_mean"
    ));
    assert!(
        long.lines().any(|line| line
            .starts_with("S01,W1,1,all,E1,internal_professionalisation,element,4,3.6250,1.2500,")),
        "{long}"
    );
    // No desired answers on E1: nothing to hide there, and the flags say so apart.
    assert!(
        long.lines().any(|line| line
            == "S01,W1,1,teacher,E1,internal_professionalisation,element,4,3.6250,1.2500,0,,,,0,0"),
        "{long}"
    );

    let items = export(&mut f, v1::ExportFormat::Items).await?;
    assert!(
        items
            .lines()
            .next()
            .is_some_and(|h| h.starts_with("school,wave,wave_ordinal,respondent,role,item_code"))
    );
    assert!(
        !items.contains("s0-t1") && !items.contains("Het Baken"),
        "the scan tool's pseudonyms and names never leave"
    );
    assert!(items.contains(",R0001,"));
    // The fifth school's two respondents: one marked row, no answers.
    let s05: Vec<&str> = items
        .lines()
        .filter(|line| line.starts_with("S05,W1,"))
        .collect();
    assert_eq!(s05, ["S05,W1,1,,,,,,,,1,1"]);
    // In S01 the four teachers are a group of the minimum or more: their role is shown.
    assert!(
        items
            .lines()
            .filter(|line| line.starts_with("S01,W1,"))
            .all(|line| line.split(',').nth(4) == Some("teacher"))
    );
    let none = f
        .research
        .export_study(v1::ExportStudyRequest {
            study_id: f.study_id.clone(),
            format: 0,
        })
        .await
        .expect_err("no format");
    assert_eq!(none.code(), Code::InvalidArgument);
    Ok(())
}

#[tokio::test]
async fn researchers_see_pseudonyms_even_where_a_study_identifies_schools() -> anyhow::Result<()> {
    let mut f = fixture(true).await?;
    let request = |school: &str| v1::GetWaveScoresRequest {
        study_id: f.study_id.clone(),
        school: school.into(),
        wave: "W1".into(),
    };
    let reply = f
        .research
        .get_wave_scores(request("S01"))
        .await?
        .into_inner();
    assert!(!reply.scores.is_empty() && reply.scores.iter().all(|s| s.school == "S01"));
    let by_name = f
        .research
        .get_wave_scores(request("Het Baken"))
        .await
        .expect_err("names do not reach researchers");
    assert_eq!(by_name.code(), Code::NotFound);

    // Only a development server without keys shows what the study allows: names.
    let data_dir = f.server.stop().await?;
    let local = TestServer::start_with(data_dir, |config| plg_server::config::Config {
        insecure_local: true,
        ..config
    })
    .await?;
    let mut research = local.clients_with(Identity::anonymous()).await?.research;
    let reply = research
        .get_wave_scores(request("Het Baken"))
        .await?
        .into_inner();
    assert!(!reply.scores.is_empty() && reply.scores.iter().all(|s| s.school == "Het Baken"));
    Ok(())
}

#[tokio::test]
async fn unknown_or_malformed_studies_are_refused() -> anyhow::Result<()> {
    let mut f = fixture(false).await?;
    let unknown = f
        .research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: "00000000-0000-4000-8000-000000000000".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown study");
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = f
        .research
        .get_growth(v1::GetGrowthRequest {
            study_id: "x".into(),
            school: String::new(),
        })
        .await
        .expect_err("malformed");
    assert_eq!(malformed.code(), Code::InvalidArgument);
    drop(f.server);
    Ok(())
}

#[tokio::test]
async fn a_rebuilt_research_view_answers_exactly_as_the_live_one() -> anyhow::Result<()> {
    let mut f = fixture(false).await?;
    let live = (
        export(&mut f, v1::ExportFormat::Long).await?,
        export(&mut f, v1::ExportFormat::Items).await?,
    );
    let data_dir = f.server.stop().await?;
    let rebuilt_to = TestServer::offline(data_dir.path(), |config| async move {
        Ok(plgd::rebuild(&config, &[]).await?)
    })
    .await?;
    assert_eq!(rebuilt_to.position.0, f.position);
    let server = TestServer::start_in(data_dir).await?;
    let mut rebuilt = Fixture {
        research: server.respondent_data_researcher().await?.research,
        clients: server.clients().await?,
        server,
        ..f
    };
    let after = (
        export(&mut rebuilt, v1::ExportFormat::Long).await?,
        export(&mut rebuilt, v1::ExportFormat::Items).await?,
    );
    assert_eq!(after, live);
    Ok(())
}
