//! The intervention service's writes: interventions and development plans.

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use plg_proto::v1;

use super::{Api, IN_FLIGHT, Ids, options};
use crate::{
    model::instrument::DIMENSIONS,
    plan::{DevPlanStep, InterventionEnd, InterventionPlan, Plan},
};

impl Api {
    /// Every intervention's history, several interventions at once.
    pub(super) async fn write_interventions(&self, plan: &Plan, ids: &Ids) -> anyhow::Result<()> {
        stream::iter(
            plan.interventions
                .iter()
                .map(|intervention| self.intervention(intervention, ids)),
        )
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(())
    }

    /// One intervention's history, in order: logged, started, completed or abandoned, assessed.
    async fn intervention(&self, plan: &InterventionPlan, ids: &Ids) -> anyhow::Result<()> {
        let mut client = self.interventions.clone();
        let context = || format!("recording intervention {}", plan.log_rid);
        let logged = client
            .log_intervention(v1::LogInterventionRequest {
                options: options(&plan.log_rid, plan.logged_on),
                school_id: ids.schools[plan.school].clone(),
                title: plan.title.to_owned(),
                description: plan.description.clone(),
                categories: plan.categories.iter().map(|c| i32::from(*c)).collect(),
                targets: plan
                    .targets
                    .iter()
                    .map(|target| i32::from(DIMENSIONS[*target]))
                    .collect(),
                level: plan.level.into(),
                starts_on: plan.starts_on.to_string(),
                planned_end_on: plan.planned_end_on.to_string(),
            })
            .await
            .with_context(context)?
            .into_inner();
        self.count(logged.result)?;
        let intervention_id = logged.intervention_id;
        let started = client
            .start_intervention(v1::StartInterventionRequest {
                options: options(&plan.start_rid, plan.starts_on),
                intervention_id: intervention_id.clone(),
                started_on: plan.starts_on.to_string(),
            })
            .await
            .with_context(context)?;
        self.count(started.into_inner().result)?;
        let ended = match &plan.end {
            InterventionEnd::Completed { rid, on, notes } => {
                client
                    .complete_intervention(v1::CompleteInterventionRequest {
                        options: options(rid, *on),
                        intervention_id: intervention_id.clone(),
                        completed_on: on.to_string(),
                        notes: (*notes).to_owned(),
                    })
                    .await
                    .with_context(context)?
                    .into_inner()
                    .result
            }
            InterventionEnd::Abandoned { rid, on, reason } => {
                client
                    .abandon_intervention(v1::AbandonInterventionRequest {
                        options: options(rid, *on),
                        intervention_id: intervention_id.clone(),
                        abandoned_on: on.to_string(),
                        reason: (*reason).to_owned(),
                    })
                    .await
                    .with_context(context)?
                    .into_inner()
                    .result
            }
        };
        self.count(ended)?;
        for assessment in &plan.assessments {
            let assessed = client
                .assess_contribution(v1::AssessContributionRequest {
                    options: options(&assessment.rid, assessment.on),
                    intervention_id: intervention_id.clone(),
                    dimension: DIMENSIONS[assessment.dimension].into(),
                    intended: assessment.intended,
                    realised: assessment.realised.into(),
                    notes: if assessment.intended {
                        "Beoordeeld in het reflectiegesprek".to_owned()
                    } else {
                        "Een bijdrage die niet was beoogd".to_owned()
                    },
                })
                .await
                .with_context(context)?;
            self.count(assessed.into_inner().result)?;
        }
        Ok(())
    }

    /// Every school's development plan, several schools at once.
    pub(super) async fn write_devplans(&self, plan: &Plan, ids: &Ids) -> anyhow::Result<()> {
        stream::iter(plan.devplans.iter().map(|steps| self.devplan(steps, ids)))
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// One school's plan revisions and reflection conversations, in date order.
    async fn devplan(&self, steps: &[DevPlanStep], ids: &Ids) -> anyhow::Result<()> {
        let mut client = self.interventions.clone();
        for step in steps {
            let result = match step {
                DevPlanStep::Revise {
                    rid,
                    school,
                    on,
                    summary,
                    choices,
                    rationale,
                } => {
                    client
                        .revise_development_plan(v1::ReviseDevelopmentPlanRequest {
                            options: options(rid, *on),
                            school_id: ids.schools[*school].clone(),
                            revised_on: on.to_string(),
                            summary: summary.clone(),
                            choices: choices.clone(),
                            rationale: rationale.clone(),
                        })
                        .await
                        .with_context(|| format!("revising a development plan ({rid})"))?
                        .into_inner()
                        .result
                }
                DevPlanStep::Reflect {
                    rid,
                    school,
                    on,
                    participants,
                    summary,
                    agreements,
                } => {
                    client
                        .record_reflection_conversation(v1::RecordReflectionConversationRequest {
                            options: options(rid, *on),
                            school_id: ids.schools[*school].clone(),
                            held_on: on.to_string(),
                            participant_ids: participants
                                .iter()
                                .map(|person| ids.persons[*person].clone())
                                .collect(),
                            summary: summary.clone(),
                            agreements: agreements.clone(),
                        })
                        .await
                        .with_context(|| format!("recording a reflection conversation ({rid})"))?
                        .into_inner()
                        .result
                }
            };
            self.count(result)?;
        }
        Ok(())
    }
}
