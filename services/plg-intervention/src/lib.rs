//! InterventionService: the interventions a school runs to develop as a PLG (logged, started,
//! completed or abandoned, and assessed for what they contributed), and the school's development
//! plan and reflection conversations about it.

use plg_domain::{
    ValueError,
    development_plan::{DevelopmentPlan, DevelopmentPlanCommand, DevelopmentPlanEvent},
    ids::{InterventionId, PersonId, SchoolId},
    intervention::{
        Intervention, InterventionCommand, InterventionEvent, InterventionLevel, LogIntervention,
    },
    person::Person,
    school::School,
    values::{Label, Text},
};
use plg_proto::v1::{
    self,
    intervention_service_server::{InterventionService, InterventionServiceServer},
};
use plg_runtime::{
    Ledger, ServiceError, Subject, Target, WriteContext,
    parse::{self, Violations, enumeration},
};
use tonic::{Request, Response, Status};

pub fn server(ledger: &Ledger) -> InterventionServiceServer<Interventions> {
    InterventionServiceServer::new(Interventions {
        ledger: ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Interventions {
    ledger: Ledger,
}

fn level(value: i32) -> Result<InterventionLevel, ValueError> {
    enumeration(value, |level: v1::InterventionLevel| match level {
        v1::InterventionLevel::Unspecified => None,
        v1::InterventionLevel::School => Some(InterventionLevel::School),
        v1::InterventionLevel::Team => Some(InterventionLevel::Team),
        v1::InterventionLevel::Section => Some(InterventionLevel::Section),
        v1::InterventionLevel::Network => Some(InterventionLevel::Network),
    })
}

fn school_id(violations: &mut Violations, value: &str) -> Option<SchoolId> {
    violations.required("school_id", value, SchoolId::parse)
}

fn intervention_id(violations: &mut Violations, value: &str) -> Option<InterventionId> {
    violations.required("intervention_id", value, InterventionId::parse)
}

/// The intervention a request logs, under a new id.
fn intervention(
    violations: &mut Violations,
    message: &v1::LogInterventionRequest,
) -> Option<LogIntervention> {
    let school_id = school_id(violations, &message.school_id);
    let title = violations.required("title", &message.title, Label::parse);
    let description = violations.optional("description", &message.description, Text::parse);
    let categories = if message.categories.is_empty() {
        violations.add("categories", "at least one category is required");
        None
    } else {
        violations.each_distinct(
            "categories",
            &message.categories,
            parse::intervention_category,
        )
    };
    let targets = violations.each_distinct("targets", &message.targets, parse::dimension);
    let level = violations.check("level", level(message.level));
    let starts_on = violations.required("starts_on", &message.starts_on, parse::date);
    let planned_end_on = violations
        .optional("planned_end_on", &message.planned_end_on, parse::date)
        .filter(|end| match (starts_on, end) {
            (Some(starts_on), Some(end)) if *end < starts_on => {
                violations.add("planned_end_on", "must not be before starts_on");
                false
            }
            _ => true,
        });
    Some(LogIntervention {
        intervention_id: InterventionId::new_random(),
        school_id: school_id?,
        title: title?,
        description: description?,
        categories: categories?,
        targets: targets?,
        level: level?,
        starts_on: starts_on?,
        planned_end_on: planned_end_on?,
    })
}

#[tonic::async_trait]
impl InterventionService for Interventions {
    async fn log_intervention(
        &self,
        request: Request<v1::LogInterventionRequest>,
    ) -> Result<Response<v1::LogInterventionResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Intervention>(&context, async {
                let mut violations = Violations::default();
                let Some(log) = intervention(&mut violations, &message) else {
                    return Err(violations.into_error());
                };
                let subject = Subject::school(log.school_id);
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<School, _>("school", [log.school_id])
                    .await?;
                Ok(Target::new(
                    log.intervention_id,
                    subject,
                    InterventionCommand::Log(log),
                ))
            })
            .await?;
        let InterventionEvent::InterventionLogged {
            intervention_id, ..
        } = written.first()?
        else {
            return Err(
                ServiceError::unexpected(&written.outcome.stream, "InterventionLogged").into(),
            );
        };
        Ok(Response::new(v1::LogInterventionResponse {
            intervention_id: intervention_id.to_string(),
            result: Some(written.result()),
        }))
    }

    async fn start_intervention(
        &self,
        request: Request<v1::StartInterventionRequest>,
    ) -> Result<Response<v1::StartInterventionResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Intervention>(&context, async {
                let mut violations = Violations::default();
                let intervention_id = intervention_id(&mut violations, &message.intervention_id);
                let started_on = violations.required(
                    "started_on",
                    &message.started_on,
                    parse::past_date(context.today()),
                );
                let (Some(intervention_id), Some(started_on)) = (intervention_id, started_on)
                else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    intervention_id,
                    self.ledger.intervention_subject(intervention_id).await?,
                    InterventionCommand::Start { started_on },
                ))
            })
            .await?;
        Ok(Response::new(v1::StartInterventionResponse {
            result: Some(written.result()),
        }))
    }

    async fn complete_intervention(
        &self,
        request: Request<v1::CompleteInterventionRequest>,
    ) -> Result<Response<v1::CompleteInterventionResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Intervention>(&context, async {
                let mut violations = Violations::default();
                let intervention_id = intervention_id(&mut violations, &message.intervention_id);
                let completed_on = violations.required(
                    "completed_on",
                    &message.completed_on,
                    parse::past_date(context.today()),
                );
                let notes = violations.optional("notes", &message.notes, Text::parse);
                let (Some(intervention_id), Some(completed_on), Some(notes)) =
                    (intervention_id, completed_on, notes)
                else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    intervention_id,
                    self.ledger.intervention_subject(intervention_id).await?,
                    InterventionCommand::Complete {
                        completed_on,
                        notes,
                    },
                ))
            })
            .await?;
        Ok(Response::new(v1::CompleteInterventionResponse {
            result: Some(written.result()),
        }))
    }

    async fn abandon_intervention(
        &self,
        request: Request<v1::AbandonInterventionRequest>,
    ) -> Result<Response<v1::AbandonInterventionResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Intervention>(&context, async {
                let mut violations = Violations::default();
                let intervention_id = intervention_id(&mut violations, &message.intervention_id);
                let abandoned_on = violations.required(
                    "abandoned_on",
                    &message.abandoned_on,
                    parse::past_date(context.today()),
                );
                let reason = violations.required("reason", &message.reason, Text::parse);
                let (Some(intervention_id), Some(abandoned_on), Some(reason)) =
                    (intervention_id, abandoned_on, reason)
                else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    intervention_id,
                    self.ledger.intervention_subject(intervention_id).await?,
                    InterventionCommand::Abandon {
                        abandoned_on,
                        reason,
                    },
                ))
            })
            .await?;
        Ok(Response::new(v1::AbandonInterventionResponse {
            result: Some(written.result()),
        }))
    }

    async fn assess_contribution(
        &self,
        request: Request<v1::AssessContributionRequest>,
    ) -> Result<Response<v1::AssessContributionResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Intervention>(&context, async {
                let mut violations = Violations::default();
                let intervention_id = intervention_id(&mut violations, &message.intervention_id);
                let dimension = violations.check("dimension", parse::dimension(message.dimension));
                let realised =
                    violations.check("realised", parse::contribution_degree(message.realised));
                let notes = violations.optional("notes", &message.notes, Text::parse);
                let (Some(intervention_id), Some(dimension), Some(realised), Some(notes)) =
                    (intervention_id, dimension, realised, notes)
                else {
                    return Err(violations.into_error());
                };
                let command = InterventionCommand::AssessContribution {
                    dimension,
                    intended: message.intended,
                    realised,
                    notes,
                };
                Ok(Target::new(
                    intervention_id,
                    self.ledger.intervention_subject(intervention_id).await?,
                    command,
                ))
            })
            .await?;
        Ok(Response::new(v1::AssessContributionResponse {
            result: Some(written.result()),
        }))
    }

    async fn revise_development_plan(
        &self,
        request: Request<v1::ReviseDevelopmentPlanRequest>,
    ) -> Result<Response<v1::ReviseDevelopmentPlanResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<DevelopmentPlan>(&context, async {
                let mut violations = Violations::default();
                let school_id = school_id(&mut violations, &message.school_id);
                let revised_on = violations.required(
                    "revised_on",
                    &message.revised_on,
                    parse::past_date(context.today()),
                );
                let summary = violations.required("summary", &message.summary, Text::parse);
                let choices = if message.choices.is_empty() {
                    violations.add("choices", "a plan makes at least one choice");
                    None
                } else {
                    violations.each_required("choices", &message.choices, Text::parse)
                };
                let rationale = violations.optional("rationale", &message.rationale, Text::parse);
                let (
                    Some(school_id),
                    Some(revised_on),
                    Some(summary),
                    Some(choices),
                    Some(rationale),
                ) = (school_id, revised_on, summary, choices, rationale)
                else {
                    return Err(violations.into_error());
                };
                let subject = Subject::school(school_id);
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<School, _>("school", [school_id])
                    .await?;
                let command = DevelopmentPlanCommand::Revise {
                    school_id,
                    revised_on,
                    summary,
                    choices,
                    rationale,
                };
                Ok(Target::new(school_id, subject, command))
            })
            .await?;
        let DevelopmentPlanEvent::DevelopmentPlanRevised { plan_version, .. } = written.first()?
        else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "DevelopmentPlanRevised",
            )
            .into());
        };
        Ok(Response::new(v1::ReviseDevelopmentPlanResponse {
            plan_version: *plan_version,
            result: Some(written.result()),
        }))
    }

    async fn record_reflection_conversation(
        &self,
        request: Request<v1::RecordReflectionConversationRequest>,
    ) -> Result<Response<v1::RecordReflectionConversationResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<DevelopmentPlan>(&context, async {
                let mut violations = Violations::default();
                let school_id = school_id(&mut violations, &message.school_id);
                let held_on = violations.required(
                    "held_on",
                    &message.held_on,
                    parse::past_date(context.today()),
                );
                let participant_ids = violations.each_required(
                    "participant_ids",
                    &message.participant_ids,
                    PersonId::parse,
                );
                let summary = violations.required("summary", &message.summary, Text::parse);
                let agreements =
                    violations.each_required("agreements", &message.agreements, Text::parse);
                let (
                    Some(school_id),
                    Some(held_on),
                    Some(participant_ids),
                    Some(summary),
                    Some(agreements),
                ) = (school_id, held_on, participant_ids, summary, agreements)
                else {
                    return Err(violations.into_error());
                };
                let subject = Subject::school(school_id);
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<School, _>("school", [school_id])
                    .await?;
                self.ledger
                    .require_all::<Person, _>("person", &participant_ids)
                    .await?;
                let command = DevelopmentPlanCommand::RecordReflection {
                    school_id,
                    held_on,
                    participant_ids,
                    summary,
                    agreements,
                };
                Ok(Target::new(school_id, subject, command))
            })
            .await?;
        Ok(Response::new(v1::RecordReflectionConversationResponse {
            result: Some(written.result()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_must_be_one_of_the_listed_values() {
        assert!(level(v1::InterventionLevel::Unspecified.into()).is_err());
        assert!(level(99).is_err());
        assert_eq!(
            level(v1::InterventionLevel::Network.into()),
            Ok(InterventionLevel::Network)
        );
    }
}
