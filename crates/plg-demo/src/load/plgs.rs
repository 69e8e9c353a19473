//! The session and coaching services' writes: PLGs and their histories.

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use plg_proto::v1;

use super::{Api, IN_FLIGHT, Ids, options};
use crate::plan::{Plan, PlgAction, PlgPlan};

impl Api {
    /// Every PLG's history, several PLGs at once.
    pub(super) async fn write_plgs(&self, plan: &Plan, ids: &Ids) -> anyhow::Result<()> {
        stream::iter(plan.plgs.iter().map(|plg| self.plg(plg, ids)))
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// One PLG's history, in date order: formed, then coaches, phases, members, sessions,
    /// handover and dissolution as they happened.
    async fn plg(&self, plan: &PlgPlan, ids: &Ids) -> anyhow::Result<()> {
        let person = |index: &usize| ids.persons[*index].clone();
        let formed = self
            .sessions
            .clone()
            .form_plg(v1::FormPlgRequest {
                options: options(&plan.form_rid, plan.formed_on),
                school_ids: plan
                    .schools
                    .iter()
                    .map(|school| ids.schools[*school].clone())
                    .collect(),
                kind: plan.kind.into(),
                name: plan.name.clone(),
                practice_need: plan.need.to_owned(),
                learning_question: plan.question.to_owned(),
                member_ids: plan.members.iter().map(person).collect(),
            })
            .await
            .with_context(|| format!("forming PLG {} ({})", plan.name, plan.form_rid))?
            .into_inner();
        self.count(formed.result)?;
        let plg_id = formed.plg_id;
        let mut sessions = self.sessions.clone();
        let mut coaching = self.coaching.clone();
        for step in &plan.steps {
            let options = options(&step.rid, step.on);
            let on = step.on.to_string();
            let plg_id = plg_id.clone();
            let context = || {
                format!(
                    "recording {:?} of PLG {} ({})",
                    step.on, plan.name, step.rid
                )
            };
            let result = match &step.action {
                PlgAction::AssignCoach { coach } => {
                    coaching
                        .assign_coach(v1::AssignCoachRequest {
                            options,
                            plg_id,
                            coach_id: person(coach),
                            kind: v1::CoachKind::External.into(),
                            assigned_on: on,
                        })
                        .await
                        .with_context(context)?
                        .into_inner()
                        .result
                }
                PlgAction::Phase(phase) => {
                    sessions
                        .record_phase(v1::RecordPhaseRequest {
                            options,
                            plg_id,
                            phase: (*phase).into(),
                            reached_on: on,
                        })
                        .await
                        .with_context(context)?
                        .into_inner()
                        .result
                }
                PlgAction::AddMember { person: member } => {
                    sessions
                        .add_member(v1::AddMemberRequest {
                            options,
                            plg_id,
                            person_id: person(member),
                        })
                        .await
                        .with_context(context)?
                        .into_inner()
                        .result
                }
                PlgAction::Refine { question } => {
                    sessions
                        .refine_learning_question(v1::RefineLearningQuestionRequest {
                            options,
                            plg_id,
                            learning_question: (*question).to_owned(),
                            rationale: "Na het verkennen bleek de oorspronkelijke vraag te breed"
                                .to_owned(),
                        })
                        .await
                        .with_context(context)?
                        .into_inner()
                        .result
                }
                PlgAction::Session(session) => {
                    sessions
                        .hold_session(v1::HoldSessionRequest {
                            options,
                            plg_id,
                            held_on: on,
                            duration_minutes: session.minutes,
                            attendance: session
                                .attendance
                                .iter()
                                .map(|(member, present)| v1::Attendance {
                                    person_id: person(member),
                                    present: *present,
                                })
                                .collect(),
                            facilitator_id: person(&session.facilitator),
                            theme_phases: session
                                .theme_phases
                                .iter()
                                .map(|phase| i32::from(*phase))
                                .collect(),
                            goals: session
                                .goals
                                .iter()
                                .map(|(description, reached)| v1::SessionGoal {
                                    description: (*description).to_owned(),
                                    reached: *reached,
                                })
                                .collect(),
                            check_in_held: session.check_in,
                            check_out_held: session.check_out,
                            methods: session.methods.iter().map(|m| (*m).to_owned()).collect(),
                            product: session.product.unwrap_or_default().to_owned(),
                            external_input: session.external_input.unwrap_or_default().to_owned(),
                            agreements: session
                                .agreements
                                .iter()
                                .map(|a| (*a).to_owned())
                                .collect(),
                        })
                        .await
                        .with_context(context)?
                        .into_inner()
                        .result
                }
                PlgAction::HandOver { from, to } => {
                    coaching
                        .hand_over_coaching(v1::HandOverCoachingRequest {
                            options,
                            plg_id,
                            from_coach_id: person(from),
                            to_coach_id: person(to),
                            to_kind: v1::CoachKind::Internal.into(),
                            handed_over_on: on,
                            reason:
                                "Stokje doorgeven: de externe procescoach draagt de begeleiding \
                                 over aan een interne coach, voor de continuïteit"
                                    .to_owned(),
                        })
                        .await
                        .with_context(context)?
                        .into_inner()
                        .result
                }
                PlgAction::Dissolve => {
                    sessions
                        .dissolve_plg(v1::DissolvePlgRequest {
                            options,
                            plg_id,
                            dissolved_on: on,
                            reason:
                                "Praktijknood vervuld: het product is gepresenteerd en geborgd \
                                 in de sectie"
                                    .to_owned(),
                        })
                        .await
                        .with_context(context)?
                        .into_inner()
                        .result
                }
            };
            self.count(result)?;
        }
        Ok(())
    }
}
