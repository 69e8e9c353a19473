//! Who may do what: every RPC × every kind of key, for a school, board or study in the key's
//! scope and for one outside it. Each allowed call must work; each refused call must be
//! PERMISSION_DENIED (or UNAUTHENTICATED without a valid key) and append nothing.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicUsize, Ordering},
};

use crate::kit::{Clients, Identity, TestServer, day, everything, imported, options, school_code};
use futures::StreamExt as _;
use plg_proto::v1;
use tonic::{Code, Status};

type Fut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What one side of the matrix holds: a school on its own board, enrolled in its own study,
/// with people and answered scans. Keys are scoped to side A; side B is out of their scope.
#[derive(Debug, Clone)]
struct Side {
    school: String,
    board: String,
    study: String,
    member: String,
    coach: String,
}

/// Who prepares what a call needs: a partner tool and the operator, both unrestricted.
#[derive(Debug, Clone)]
struct Setup {
    tool: Clients,
    operator: Clients,
}

/// Prepares what a call consumes (a fresh PLG, intervention, key...) and returns its id.
type Prepare = fn(Setup, Side) -> Fut<String>;
/// Makes the call with the key under test.
type Call = fn(Clients, Side, String) -> Fut<Result<(), Status>>;

/// Which keys an RPC admits, and for which side.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// Partner tools whose schools (listed or by board) include the subject.
    Schools,
    /// As `Schools`, or partner tools scoped to the write's study.
    SchoolsOrStudy,
    /// A school entering a study: partner tools scoped to both.
    SchoolAndStudy,
    /// Partner tools scoped to the study.
    Study,
    /// Every partner tool, whatever its scope.
    AnyPartnerTool,
    /// Only a partner tool whose scope is everything.
    UnrestrictedPartnerTool,
    /// Only an administrator whose scope is everything.
    UnrestrictedAdministrator,
    /// Every valid key.
    AnyKey,
    /// Partner tools (their own events) and unrestricted administrators.
    EventLog,
    /// Researchers scoped to the study.
    Researcher,
    /// Administrators whose schools (listed or by board) include the school.
    Administrator,
    Operator,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    ToolEverything,
    ToolSchool,
    ToolBoard,
    ToolStudy,
    ToolBoardAndStudy,
    Researcher,
    AdministratorSchool,
    AdministratorBoard,
    AdministratorEverything,
    Operator,
}

impl Rule {
    fn admits(self, key: Key, in_scope: bool) -> bool {
        use Key::*;
        let partner_tool = matches!(
            key,
            ToolEverything | ToolSchool | ToolBoard | ToolStudy | ToolBoardAndStudy
        );
        let reaches_school = matches!(key, ToolSchool | ToolBoard | ToolBoardAndStudy);
        let reaches_study = matches!(key, ToolStudy | ToolBoardAndStudy);
        match self {
            Rule::Schools => key == ToolEverything || (in_scope && reaches_school),
            Rule::SchoolsOrStudy => {
                key == ToolEverything || (in_scope && (reaches_school || reaches_study))
            }
            Rule::SchoolAndStudy => key == ToolEverything || (in_scope && key == ToolBoardAndStudy),
            Rule::Study => key == ToolEverything || (in_scope && reaches_study),
            Rule::AnyPartnerTool => partner_tool,
            Rule::UnrestrictedPartnerTool => key == ToolEverything,
            Rule::UnrestrictedAdministrator => key == AdministratorEverything,
            Rule::AnyKey => true,
            Rule::EventLog => partner_tool || key == AdministratorEverything,
            Rule::Researcher => in_scope && key == Researcher,
            Rule::Administrator => {
                key == AdministratorEverything
                    || (in_scope && matches!(key, AdministratorSchool | AdministratorBoard))
            }
            Rule::Operator => key == Operator,
        }
    }
}

struct Rpc {
    name: &'static str,
    rule: Rule,
    prepare: Prepare,
    call: Call,
}

fn nothing(_: Setup, _: Side) -> Fut<String> {
    Box::pin(async { String::new() })
}

fn ok<T>(result: Result<T, Status>) -> Result<(), Status> {
    result.map(drop)
}

fn wave() -> String {
    "T1".into()
}

fn scan(side: &Side, respondent: String, current: u32) -> v1::SubmitScanRequest {
    v1::SubmitScanRequest {
        options: options(),
        study_id: side.study.clone(),
        school_id: side.school.clone(),
        wave: wave(),
        respondent,
        role: v1::RespondentRole::Teacher.into(),
        answers: vec![v1::ItemAnswer {
            item_code: "E5.1".into(),
            current: Some(current),
            desired: Some(5),
        }],
        instrument_version: String::new(),
    }
}

/// Closed waves each side's study has beside the usual three, one for every call of
/// ReleaseWave (a wave is released once).
const RELEASABLE_WAVES: usize = 24;

fn releasable_wave(_: Setup, _: Side) -> Fut<String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let next = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(next < RELEASABLE_WAVES, "every releasable wave is used");
    Box::pin(async move { format!("R{next}") })
}

fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid_like())
}

/// A short unique suffix, from a fresh request id.
fn uuid_like() -> String {
    options()
        .map(|options| options.request_id[..8].to_owned())
        .unwrap_or_default()
}

fn new_school(board: &str) -> v1::RegisterSchoolRequest {
    v1::RegisterSchoolRequest {
        options: options(),
        name: "De Nieuwe School".into(),
        country: v1::Country::Nl.into(),
        sector: v1::Sector::Primary.into(),
        school_code: school_code(),
        board: board.into(),
    }
}

fn log_intervention(side: &Side) -> v1::LogInterventionRequest {
    v1::LogInterventionRequest {
        options: options(),
        school_id: side.school.clone(),
        title: "Lesson study".into(),
        description: String::new(),
        categories: vec![v1::InterventionCategory::Professionalisation.into()],
        targets: vec![v1::Dimension::InquiringAttitude.into()],
        level: v1::InterventionLevel::School.into(),
        starts_on: day(-60),
        planned_end_on: String::new(),
    }
}

fn logged(setup: Setup, side: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool;
        tool.interventions
            .log_intervention(log_intervention(&side))
            .await
            .expect("setup logs an intervention")
            .into_inner()
            .intervention_id
    })
}

fn started(setup: Setup, side: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool.clone();
        let id = logged(setup, side).await;
        tool.interventions
            .start_intervention(v1::StartInterventionRequest {
                options: options(),
                intervention_id: id.clone(),
                started_on: day(-50),
            })
            .await
            .expect("setup starts it");
        id
    })
}

fn plg(setup: Setup, side: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool;
        tool.form_plg(&side.school, std::slice::from_ref(&side.member))
            .await
            .expect("setup forms a PLG")
    })
}

fn plg_of_two(setup: Setup, side: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool;
        tool.form_plg(&side.school, &[side.member.clone(), side.coach.clone()])
            .await
            .expect("setup forms a PLG")
    })
}

fn coached_plg(setup: Setup, side: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool.clone();
        let plg_id = plg(setup, side.clone()).await;
        tool.coaching
            .assign_coach(v1::AssignCoachRequest {
                options: options(),
                plg_id: plg_id.clone(),
                coach_id: side.coach.clone(),
                kind: v1::CoachKind::External.into(),
                assigned_on: day(0),
            })
            .await
            .expect("setup assigns a coach");
        plg_id
    })
}

fn submitted(setup: Setup, side: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool;
        tool.scans
            .submit_scan(scan(&side, fresh("r"), 3))
            .await
            .expect("setup submits a scan")
            .into_inner()
            .response_id
    })
}

fn unenrolled_school(setup: Setup, side: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool;
        tool.registry
            .register_school(new_school(&side.board))
            .await
            .expect("setup registers a school")
            .into_inner()
            .school_id
    })
}

fn person(setup: Setup, _: Side) -> Fut<String> {
    Box::pin(async move {
        let mut tool = setup.tool;
        tool.register_person("Anna de Vries")
            .await
            .expect("setup registers a person")
    })
}

fn issued_key(setup: Setup, _: Side) -> Fut<String> {
    Box::pin(async move {
        let mut operator = setup.operator;
        operator
            .admin
            .issue_api_key(v1::IssueApiKeyRequest {
                options: options(),
                identity: "a tool".into(),
                role: v1::Role::PartnerTool.into(),
                scope: Some(everything()),
            })
            .await
            .expect("setup issues a key")
            .into_inner()
            .key_id
    })
}

#[rustfmt::skip]
fn rpcs() -> Vec<Rpc> {
    vec![
        // RegistryService
        Rpc { name: "RegisterSchool", rule: Rule::UnrestrictedPartnerTool, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.registry.register_school(new_school(&side.board)).await)
        })},
        Rpc { name: "DefineStudy", rule: Rule::UnrestrictedPartnerTool, prepare: nothing, call: |mut c, _, _| Box::pin(async move {
            ok(c.registry.define_study(v1::DefineStudyRequest {
                options: options(),
                title: "Another study".into(),
                waves: vec![v1::Wave { label: "T0".into(), opens_on: day(-10), closes_on: day(10) }],
                ..Default::default()
            }).await)
        })},
        Rpc { name: "RegisterInstrument", rule: Rule::Study, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            let built_in = c.registry.get_instrument(v1::GetInstrumentRequest::default()).await?.into_inner();
            ok(c.registry.register_instrument(v1::RegisterInstrumentRequest {
                options: options(),
                study_id: side.study.clone(),
                version: fresh("scan"),
                items: built_in.items,
            }).await)
        })},
        Rpc { name: "EnrolSchool", rule: Rule::SchoolAndStudy, prepare: unenrolled_school, call: |mut c, side, school| Box::pin(async move {
            ok(c.registry.enrol_school(v1::EnrolSchoolRequest { options: options(), study_id: side.study, school_id: school }).await)
        })},
        Rpc { name: "ReleaseWave", rule: Rule::Study, prepare: releasable_wave, call: |mut c, side, wave| Box::pin(async move {
            ok(c.registry.release_wave(v1::ReleaseWaveRequest { options: options(), study_id: side.study, wave }).await)
        })},
        Rpc { name: "RegisterPerson", rule: Rule::AnyPartnerTool, prepare: nothing, call: |mut c, _, _| Box::pin(async move {
            ok(c.registry.register_person(v1::RegisterPersonRequest { options: options(), name: "Bram".into(), email: String::new() }).await)
        })},
        Rpc { name: "ErasePersonalData", rule: Rule::UnrestrictedAdministrator, prepare: person, call: |mut c, _, person| Box::pin(async move {
            ok(c.registry.erase_personal_data(v1::ErasePersonalDataRequest { options: options(), person_id: person }).await)
        })},
        Rpc { name: "GetInstrument", rule: Rule::AnyKey, prepare: nothing, call: |mut c, _, _| Box::pin(async move {
            ok(c.registry.get_instrument(v1::GetInstrumentRequest::default()).await)
        })},
        // ScanService
        Rpc { name: "SubmitScan", rule: Rule::SchoolsOrStudy, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.scans.submit_scan(scan(&side, fresh("r"), 4)).await)
        })},
        Rpc { name: "ImportScans", rule: Rule::SchoolsOrStudy, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            // The call admits every partner tool; a scan out of the key's scope is that scan's
            // PERMISSION_DENIED, reported in its place.
            for report in c.import_scans(vec![Some(scan(&side, fresh("r"), 4))]).await? {
                imported(&report)?;
            }
            Ok(())
        })},
        Rpc { name: "RetractScan", rule: Rule::SchoolsOrStudy, prepare: submitted, call: |mut c, _, response| Box::pin(async move {
            ok(c.scans.retract_scan(v1::RetractScanRequest { options: options(), response_id: response, reason: String::new() }).await)
        })},
        Rpc { name: "WithdrawConsent", rule: Rule::SchoolsOrStudy, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.scans.withdraw_consent(v1::WithdrawConsentRequest {
                options: options(), study_id: side.study, school_id: side.school, respondent: fresh("r"), reason: String::new(),
            }).await)
        })},
        // InterventionService
        Rpc { name: "LogIntervention", rule: Rule::Schools, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.interventions.log_intervention(log_intervention(&side)).await)
        })},
        Rpc { name: "StartIntervention", rule: Rule::Schools, prepare: logged, call: |mut c, _, id| Box::pin(async move {
            ok(c.interventions.start_intervention(v1::StartInterventionRequest { options: options(), intervention_id: id, started_on: day(-50) }).await)
        })},
        Rpc { name: "CompleteIntervention", rule: Rule::Schools, prepare: started, call: |mut c, _, id| Box::pin(async move {
            ok(c.interventions.complete_intervention(v1::CompleteInterventionRequest {
                options: options(), intervention_id: id, completed_on: day(-1), notes: String::new(),
            }).await)
        })},
        Rpc { name: "AbandonIntervention", rule: Rule::Schools, prepare: logged, call: |mut c, _, id| Box::pin(async move {
            ok(c.interventions.abandon_intervention(v1::AbandonInterventionRequest {
                options: options(), intervention_id: id, abandoned_on: day(-1), reason: "no time".into(),
            }).await)
        })},
        Rpc { name: "AssessContribution", rule: Rule::Schools, prepare: started, call: |mut c, _, id| Box::pin(async move {
            ok(c.interventions.assess_contribution(v1::AssessContributionRequest {
                options: options(), intervention_id: id, dimension: v1::Dimension::InquiringAttitude.into(),
                intended: true, realised: v1::ContributionDegree::Small.into(), notes: String::new(),
            }).await)
        })},
        Rpc { name: "ReviseDevelopmentPlan", rule: Rule::Schools, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.interventions.revise_development_plan(v1::ReviseDevelopmentPlanRequest {
                options: options(), school_id: side.school, revised_on: day(0), summary: "PLGs in every section".into(),
                choices: vec!["one PLG per section".into()], rationale: "sections asked for it".into(),
            }).await)
        })},
        Rpc { name: "RecordReflectionConversation", rule: Rule::Schools, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.interventions.record_reflection_conversation(v1::RecordReflectionConversationRequest {
                options: options(), school_id: side.school, held_on: day(-1), participant_ids: vec![side.member],
                summary: "PLGs run".into(), agreements: vec![],
            }).await)
        })},
        // SessionService
        Rpc { name: "FormPlg", rule: Rule::Schools, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            c.form_plg(&side.school, std::slice::from_ref(&side.member)).await.map(drop).map_err(status)
        })},
        Rpc { name: "RefineLearningQuestion", rule: Rule::Schools, prepare: plg, call: |mut c, _, plg_id| Box::pin(async move {
            ok(c.sessions.refine_learning_question(v1::RefineLearningQuestionRequest {
                options: options(), plg_id, learning_question: "how do we give feedback that lands?".into(), rationale: String::new(),
            }).await)
        })},
        Rpc { name: "AddMember", rule: Rule::Schools, prepare: plg, call: |mut c, side, plg_id| Box::pin(async move {
            ok(c.sessions.add_member(v1::AddMemberRequest { options: options(), plg_id, person_id: side.coach }).await)
        })},
        Rpc { name: "RemoveMember", rule: Rule::Schools, prepare: plg_of_two, call: |mut c, side, plg_id| Box::pin(async move {
            ok(c.sessions.remove_member(v1::RemoveMemberRequest { options: options(), plg_id, person_id: side.coach, reason: String::new() }).await)
        })},
        Rpc { name: "RecordPhase", rule: Rule::Schools, prepare: plg, call: |mut c, _, plg_id| Box::pin(async move {
            ok(c.sessions.record_phase(v1::RecordPhaseRequest {
                options: options(), plg_id, phase: v1::PlgPhase::ChoosingThemes.into(), reached_on: day(0),
            }).await)
        })},
        Rpc { name: "HoldSession", rule: Rule::Schools, prepare: plg, call: |mut c, side, plg_id| Box::pin(async move {
            ok(c.sessions.hold_session(v1::HoldSessionRequest {
                options: options(), plg_id, held_on: day(0), duration_minutes: 60,
                attendance: vec![v1::Attendance { person_id: side.member, present: true }],
                ..Default::default()
            }).await)
        })},
        Rpc { name: "DissolvePlg", rule: Rule::Schools, prepare: plg, call: |mut c, _, plg_id| Box::pin(async move {
            ok(c.sessions.dissolve_plg(v1::DissolvePlgRequest { options: options(), plg_id, dissolved_on: day(0), reason: "merged".into() }).await)
        })},
        // CoachingService
        Rpc { name: "AssignCoach", rule: Rule::Schools, prepare: plg, call: |mut c, side, plg_id| Box::pin(async move {
            ok(c.coaching.assign_coach(v1::AssignCoachRequest {
                options: options(), plg_id, coach_id: side.coach, kind: v1::CoachKind::External.into(), assigned_on: day(0),
            }).await)
        })},
        Rpc { name: "HandOverCoaching", rule: Rule::Schools, prepare: coached_plg, call: |mut c, side, plg_id| Box::pin(async move {
            ok(c.coaching.hand_over_coaching(v1::HandOverCoachingRequest {
                options: options(), plg_id, from_coach_id: side.coach, to_coach_id: side.member,
                to_kind: v1::CoachKind::Internal.into(), handed_over_on: day(0), reason: String::new(),
            }).await)
        })},
        // EventLogService
        Rpc { name: "ReadStream", rule: Rule::EventLog, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.event_log.read_stream(v1::ReadStreamRequest { stream: format!("school-{}", side.school), ..Default::default() }).await)
        })},
        Rpc { name: "ReadAll", rule: Rule::EventLog, prepare: nothing, call: |mut c, _, _| Box::pin(async move {
            ok(c.event_log.read_all(v1::ReadAllRequest::default()).await)
        })},
        // ResearchService
        Rpc { name: "GetSchoolTimeline", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.get_school_timeline(v1::GetSchoolTimelineRequest { study_id: side.study, school: "S01".into() }).await)
        })},
        Rpc { name: "GetWaveScores", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.get_wave_scores(v1::GetWaveScoresRequest { study_id: side.study, ..Default::default() }).await)
        })},
        Rpc { name: "GetGrowth", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.get_growth(v1::GetGrowthRequest { study_id: side.study, school: String::new() }).await)
        })},
        Rpc { name: "GetRelations", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.get_relations(v1::GetRelationsRequest { study_id: side.study, wave: wave() }).await)
        })},
        Rpc { name: "GetInterventionImpact", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.get_intervention_impact(v1::GetInterventionImpactRequest {
                study_id: side.study, from_wave: "T0".into(), to_wave: wave(),
            }).await)
        })},
        Rpc { name: "GetReliability", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.get_reliability(v1::GetReliabilityRequest { study_id: side.study, wave: wave() }).await)
        })},
        Rpc { name: "GetPlgActivity", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.get_plg_activity(v1::GetPlgActivityRequest { study_id: side.study, school: String::new() }).await)
        })},
        Rpc { name: "RenderSpiderChart", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.research.render_spider_chart(v1::RenderSpiderChartRequest {
                study_id: side.study, school: "S01".into(), waves: vec![], include_desired: false,
            }).await)
        })},
        Rpc { name: "ExportStudy", rule: Rule::Researcher, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            let mut chunks = c.research.export_study(v1::ExportStudyRequest {
                study_id: side.study, format: v1::ExportFormat::Long.into(),
            }).await?.into_inner();
            while let Some(chunk) = chunks.next().await {
                chunk?;
            }
            Ok(())
        })},
        // AuditService
        Rpc { name: "GetSchoolHistory", rule: Rule::Administrator, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            let mut events = c.audit.get_school_history(v1::GetSchoolHistoryRequest { school_id: side.school, ..Default::default() })
                .await?.into_inner();
            while let Some(event) = events.next().await {
                event?;
            }
            Ok(())
        })},
        Rpc { name: "VerifySchoolHistory", rule: Rule::Administrator, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.audit.verify_school_history(v1::VerifySchoolHistoryRequest { school_id: side.school }).await)
        })},
        Rpc { name: "GetSchoolStateAt", rule: Rule::Administrator, prepare: nothing, call: |mut c, side, _| Box::pin(async move {
            ok(c.audit.get_school_state_at(v1::GetSchoolStateAtRequest { school_id: side.school, at: None }).await)
        })},
        Rpc { name: "VerifyStore", rule: Rule::UnrestrictedAdministrator, prepare: nothing, call: |mut c, _, _| Box::pin(async move {
            let mut found = c.audit.verify_store(v1::VerifyStoreRequest {}).await?.into_inner();
            while let Some(message) = found.next().await {
                message?;
            }
            Ok(())
        })},
        // AdminService
        Rpc { name: "IssueApiKey", rule: Rule::Operator, prepare: nothing, call: |mut c, _, _| Box::pin(async move {
            ok(c.admin.issue_api_key(v1::IssueApiKeyRequest {
                options: options(), identity: "a researcher".into(), role: v1::Role::Researcher.into(), scope: Some(everything()),
            }).await)
        })},
        Rpc { name: "ChangeApiKeyScope", rule: Rule::Operator, prepare: issued_key, call: |mut c, side, key_id| Box::pin(async move {
            ok(c.admin.change_api_key_scope(v1::ChangeApiKeyScopeRequest {
                options: options(), key_id, scope: Some(v1::Scope { school_ids: vec![side.school], ..Default::default() }),
            }).await)
        })},
        Rpc { name: "RevokeApiKey", rule: Rule::Operator, prepare: issued_key, call: |mut c, _, key_id| Box::pin(async move {
            ok(c.admin.revoke_api_key(v1::RevokeApiKeyRequest { options: options(), key_id, reason: String::new() }).await)
        })},
        Rpc { name: "ListApiKeys", rule: Rule::Operator, prepare: nothing, call: |mut c, _, _| Box::pin(async move {
            ok(c.admin.list_api_keys(v1::ListApiKeysRequest {}).await)
        })},
    ]
}

fn status(error: anyhow::Error) -> Status {
    match error.downcast::<Status>() {
        Ok(status) => status,
        Err(error) => Status::unknown(error.to_string()),
    }
}

async fn side(setup: &mut Clients, board: &str) -> anyhow::Result<Side> {
    let school = setup
        .registry
        .register_school(new_school(board))
        .await?
        .into_inner()
        .school_id;
    let wave = |label: String, opens: i64, closes: i64| v1::Wave {
        label,
        opens_on: day(opens),
        closes_on: day(closes),
    };
    let mut waves = vec![
        wave("T0".into(), -400, -300),
        wave("T1".into(), -30, 30),
        wave("T2".into(), 180, 240),
    ];
    waves.extend((0..RELEASABLE_WAVES).map(|index| wave(format!("R{index}"), -600, -500)));
    let study = setup
        .registry
        .define_study(v1::DefineStudyRequest {
            options: options(),
            title: "De school als PLG".into(),
            waves,
            ..Default::default()
        })
        .await?
        .into_inner()
        .study_id;
    setup.enrol(&study, &school).await?;
    let side = Side {
        member: setup.register_person("Member").await?,
        coach: setup.register_person("Coach").await?,
        school,
        board: board.into(),
        study,
    };
    for (index, current) in [2, 3, 4, 5, 3].into_iter().enumerate() {
        let mut request = scan(&side, format!("t{index}"), current);
        if let Some(options) = request.options.as_mut() {
            options.wait_for_research_view = true;
        }
        setup.scans.submit_scan(request).await?;
    }
    Ok(side)
}

fn scope(side: &Side, key: Key) -> v1::Scope {
    let mut scope = v1::Scope::default();
    match key {
        Key::ToolEverything | Key::AdministratorEverything => scope.everything = true,
        Key::ToolSchool | Key::AdministratorSchool => scope.school_ids = vec![side.school.clone()],
        Key::ToolBoard | Key::AdministratorBoard => scope.boards = vec![side.board.clone()],
        Key::ToolStudy | Key::Researcher => scope.study_ids = vec![side.study.clone()],
        Key::ToolBoardAndStudy => {
            scope.boards = vec![side.board.clone()];
            scope.study_ids = vec![side.study.clone()];
        }
        Key::Operator => {}
    }
    scope
}

fn role(key: Key) -> v1::Role {
    match key {
        Key::ToolEverything
        | Key::ToolSchool
        | Key::ToolBoard
        | Key::ToolStudy
        | Key::ToolBoardAndStudy => v1::Role::PartnerTool,
        Key::Researcher => v1::Role::Researcher,
        Key::AdministratorSchool | Key::AdministratorBoard | Key::AdministratorEverything => {
            v1::Role::Administrator
        }
        Key::Operator => v1::Role::Operator,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_admits_exactly_the_keys_whose_role_and_scope_reach_it() -> anyhow::Result<()> {
    let server = TestServer::start_without_budget().await?;
    let mut tool = server.clients().await?;
    let a = side(&mut tool, "Stichting A").await?;
    let b = side(&mut tool, "Stichting B").await?;
    let setup = Setup {
        tool,
        operator: server.operator().await?,
    };
    let keys = [
        Key::ToolEverything,
        Key::ToolSchool,
        Key::ToolBoard,
        Key::ToolStudy,
        Key::ToolBoardAndStudy,
        Key::Researcher,
        Key::AdministratorSchool,
        Key::AdministratorBoard,
        Key::AdministratorEverything,
        Key::Operator,
    ];
    let mut callers = Vec::new();
    for key in keys {
        let clients = match key {
            Key::ToolEverything => setup.tool.clone(),
            Key::Operator => setup.operator.clone(),
            _ => server.clients_as(role(key), scope(&a, key)).await?,
        };
        callers.push((key, clients));
    }

    let mut failures = Vec::new();
    let mut observer = setup.tool.clone();
    let mut head = 0;
    for rpc in rpcs() {
        for (side, in_scope) in [(&a, true), (&b, false)] {
            for (key, caller) in &callers {
                let prepared = (rpc.prepare)(setup.clone(), side.clone()).await;
                head = observer.read_all_after(head).await?.0;
                let outcome = (rpc.call)(caller.clone(), side.clone(), prepared).await;
                let expected = rpc.rule.admits(*key, in_scope);
                let context = format!(
                    "{} by {key:?} {} scope",
                    rpc.name,
                    if in_scope { "in" } else { "out of" }
                );
                match outcome {
                    Ok(()) if expected => {}
                    Err(status) if !expected && status.code() == Code::PermissionDenied => {
                        if observer.read_all_after(head).await?.0 != head {
                            failures.push(format!("{context}: refused but appended"));
                        }
                    }
                    Ok(()) => failures.push(format!("{context}: allowed, expected a refusal")),
                    Err(status) => failures.push(format!(
                        "{context}: {:?} {}, expected {}",
                        status.code(),
                        status.message(),
                        if expected {
                            "success"
                        } else {
                            "PERMISSION_DENIED"
                        }
                    )),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[tokio::test]
async fn without_a_valid_key_every_rpc_is_unauthenticated_and_appends_nothing() -> anyhow::Result<()>
{
    let server = TestServer::start_without_budget().await?;
    let mut tool = server.clients().await?;
    let a = side(&mut tool, "Stichting A").await?;
    let setup = Setup {
        tool: tool.clone(),
        operator: server.operator().await?,
    };
    let revoked_key = server
        .issue_key("soon revoked", v1::Role::PartnerTool, everything())
        .await?;
    setup
        .operator
        .clone()
        .admin
        .revoke_api_key(v1::RevokeApiKeyRequest {
            options: options(),
            key_id: revoked_key.key_id.clone(),
            reason: "left the project".into(),
        })
        .await?;
    // The right id with a wrong secret, and a key of the wrong shape.
    let forged = format!("{}x", &revoked_key.api_key[..revoked_key.api_key.len() - 1]);
    let identities = [
        ("no key", Identity::anonymous()),
        ("a revoked key", Identity::bearer(&revoked_key.api_key)?),
        ("a forged secret", Identity::bearer(&forged)?),
        ("a malformed key", Identity::bearer("not-a-key")?),
    ];
    let mut failures = Vec::new();
    let mut head = 0;
    for rpc in rpcs() {
        for (name, identity) in &identities {
            let prepared = (rpc.prepare)(setup.clone(), a.clone()).await;
            head = tool.read_all_after(head).await?.0;
            let caller = server.clients_with(identity.clone()).await?;
            match (rpc.call)(caller, a.clone(), prepared).await {
                Err(status) if status.code() == Code::Unauthenticated => {
                    if tool.read_all_after(head).await?.0 != head {
                        failures.push(format!("{} with {name}: appended", rpc.name));
                    }
                }
                other => failures.push(format!("{} with {name}: {other:?}", rpc.name)),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// A refusal comes before anything outside the key's scope is read, so its answer says nothing
/// about the other school: not whether a wave is open there, a respondent withdrew consent, or
/// a person exists.
#[tokio::test]
async fn a_refusal_reveals_nothing_about_what_lies_outside_the_scope() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut tool = server.clients().await?;
    let a = side(&mut tool, "Stichting A").await?;
    let b = side(&mut tool, "Stichting B").await?;
    tool.scans
        .withdraw_consent(v1::WithdrawConsentRequest {
            options: options(),
            study_id: b.study.clone(),
            school_id: b.school.clone(),
            respondent: "t0".into(),
            reason: String::new(),
        })
        .await?;
    let plg_b = tool
        .form_plg(&b.school, std::slice::from_ref(&b.member))
        .await?;
    let mut scoped = server
        .clients_as(v1::Role::PartnerTool, scope(&a, Key::ToolSchool))
        .await?;

    let mut closed_wave = scan(&b, "t1".into(), 3);
    closed_wave.wave = "T0".into();
    let withdrawn = scan(&b, "t0".into(), 3);
    for request in [closed_wave, withdrawn] {
        let status = scoped
            .scans
            .submit_scan(request)
            .await
            .expect_err("out of scope");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    let status = scoped
        .sessions
        .add_member(v1::AddMemberRequest {
            options: options(),
            plg_id: plg_b,
            person_id: "4b0f3a52-0d53-4f43-9a59-1f3c8f0e0c11".into(),
        })
        .await
        .expect_err("out of scope");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    Ok(())
}
