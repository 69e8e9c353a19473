//! InterventionService's requests and replies.

use plg_domain::{
    ValueError,
    development_plan::DevelopmentPlanEvent,
    ids::{InterventionId, PersonId, SchoolId},
    intervention::{self, InterventionEvent, InterventionLevel},
    values::{Label, Text},
};
use plg_ledger::{
    CommandContext, ServiceError, Written,
    commands::intervention::{
        AbandonIntervention, AssessContribution, CompleteIntervention, LogIntervention,
        RecordReflectionConversation, ReviseDevelopmentPlan, StartIntervention,
    },
};
use plg_proto::v1;

use crate::{
    IntoCommand,
    parse::{self, Violations, enumeration},
    write_result,
};

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

impl IntoCommand for v1::LogInterventionRequest {
    type Command = LogIntervention;
    type Reply = v1::LogInterventionResponse;

    /// The intervention the request logs, under a new id.
    fn into_command(self, _: &CommandContext) -> Result<LogIntervention, ServiceError> {
        let mut violations = Violations::default();
        let school_id = school_id(&mut violations, &self.school_id);
        let title = violations.required("title", &self.title, Label::parse);
        let description = violations.optional("description", &self.description, Text::parse);
        let categories = if self.categories.is_empty() {
            violations.add("categories", "at least one category is required");
            None
        } else {
            violations.each_distinct("categories", &self.categories, parse::intervention_category)
        };
        let targets = violations.each_distinct("targets", &self.targets, parse::dimension);
        let level = violations.check("level", level(self.level));
        let starts_on = violations.required("starts_on", &self.starts_on, parse::date);
        let planned_end_on = violations
            .optional("planned_end_on", &self.planned_end_on, parse::date)
            .filter(|end| match (starts_on, end) {
                (Some(starts_on), Some(end)) if *end < starts_on => {
                    violations.add("planned_end_on", "must not be before starts_on");
                    false
                }
                _ => true,
            });
        violations.finish(|| {
            Some(LogIntervention(intervention::LogIntervention {
                intervention_id: InterventionId::new_random(),
                school_id: school_id?,
                title: title?,
                description: description?,
                categories: categories?,
                targets: targets?,
                level: level?,
                starts_on: starts_on?,
                planned_end_on: planned_end_on?,
            }))
        })
    }

    fn reply(
        written: Written<InterventionEvent>,
    ) -> Result<v1::LogInterventionResponse, ServiceError> {
        let InterventionEvent::InterventionLogged {
            intervention_id, ..
        } = written.first()?
        else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "InterventionLogged",
            ));
        };
        Ok(v1::LogInterventionResponse {
            intervention_id: intervention_id.to_string(),
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::StartInterventionRequest {
    type Command = StartIntervention;
    type Reply = v1::StartInterventionResponse;

    fn into_command(self, context: &CommandContext) -> Result<StartIntervention, ServiceError> {
        let mut violations = Violations::default();
        let intervention_id = intervention_id(&mut violations, &self.intervention_id);
        let started_on = violations.required(
            "started_on",
            &self.started_on,
            parse::past_date(context.today()),
        );
        violations.finish(|| {
            Some(StartIntervention {
                intervention_id: intervention_id?,
                started_on: started_on?,
            })
        })
    }

    fn reply(
        written: Written<InterventionEvent>,
    ) -> Result<v1::StartInterventionResponse, ServiceError> {
        Ok(v1::StartInterventionResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::CompleteInterventionRequest {
    type Command = CompleteIntervention;
    type Reply = v1::CompleteInterventionResponse;

    fn into_command(self, context: &CommandContext) -> Result<CompleteIntervention, ServiceError> {
        let mut violations = Violations::default();
        let intervention_id = intervention_id(&mut violations, &self.intervention_id);
        let completed_on = violations.required(
            "completed_on",
            &self.completed_on,
            parse::past_date(context.today()),
        );
        let notes = violations.optional("notes", &self.notes, Text::parse);
        violations.finish(|| {
            Some(CompleteIntervention {
                intervention_id: intervention_id?,
                completed_on: completed_on?,
                notes: notes?,
            })
        })
    }

    fn reply(
        written: Written<InterventionEvent>,
    ) -> Result<v1::CompleteInterventionResponse, ServiceError> {
        Ok(v1::CompleteInterventionResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::AbandonInterventionRequest {
    type Command = AbandonIntervention;
    type Reply = v1::AbandonInterventionResponse;

    fn into_command(self, context: &CommandContext) -> Result<AbandonIntervention, ServiceError> {
        let mut violations = Violations::default();
        let intervention_id = intervention_id(&mut violations, &self.intervention_id);
        let abandoned_on = violations.required(
            "abandoned_on",
            &self.abandoned_on,
            parse::past_date(context.today()),
        );
        let reason = violations.required("reason", &self.reason, Text::parse);
        violations.finish(|| {
            Some(AbandonIntervention {
                intervention_id: intervention_id?,
                abandoned_on: abandoned_on?,
                reason: reason?,
            })
        })
    }

    fn reply(
        written: Written<InterventionEvent>,
    ) -> Result<v1::AbandonInterventionResponse, ServiceError> {
        Ok(v1::AbandonInterventionResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::AssessContributionRequest {
    type Command = AssessContribution;
    type Reply = v1::AssessContributionResponse;

    fn into_command(self, _: &CommandContext) -> Result<AssessContribution, ServiceError> {
        let mut violations = Violations::default();
        let intervention_id = intervention_id(&mut violations, &self.intervention_id);
        let dimension = violations.check("dimension", parse::dimension(self.dimension));
        let realised = violations.check("realised", parse::contribution_degree(self.realised));
        let notes = violations.optional("notes", &self.notes, Text::parse);
        violations.finish(|| {
            Some(AssessContribution {
                intervention_id: intervention_id?,
                dimension: dimension?,
                intended: self.intended,
                realised: realised?,
                notes: notes?,
            })
        })
    }

    fn reply(
        written: Written<InterventionEvent>,
    ) -> Result<v1::AssessContributionResponse, ServiceError> {
        Ok(v1::AssessContributionResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::ReviseDevelopmentPlanRequest {
    type Command = ReviseDevelopmentPlan;
    type Reply = v1::ReviseDevelopmentPlanResponse;

    fn into_command(self, context: &CommandContext) -> Result<ReviseDevelopmentPlan, ServiceError> {
        let mut violations = Violations::default();
        let school_id = school_id(&mut violations, &self.school_id);
        let revised_on = violations.required(
            "revised_on",
            &self.revised_on,
            parse::past_date(context.today()),
        );
        let summary = violations.required("summary", &self.summary, Text::parse);
        let choices = if self.choices.is_empty() {
            violations.add("choices", "a plan makes at least one choice");
            None
        } else {
            violations.each_required("choices", &self.choices, Text::parse)
        };
        let rationale = violations.optional("rationale", &self.rationale, Text::parse);
        violations.finish(|| {
            Some(ReviseDevelopmentPlan {
                school_id: school_id?,
                revised_on: revised_on?,
                summary: summary?,
                choices: choices?,
                rationale: rationale?,
            })
        })
    }

    fn reply(
        written: Written<DevelopmentPlanEvent>,
    ) -> Result<v1::ReviseDevelopmentPlanResponse, ServiceError> {
        let DevelopmentPlanEvent::DevelopmentPlanRevised { plan_version, .. } = written.first()?
        else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "DevelopmentPlanRevised",
            ));
        };
        Ok(v1::ReviseDevelopmentPlanResponse {
            plan_version: *plan_version,
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::RecordReflectionConversationRequest {
    type Command = RecordReflectionConversation;
    type Reply = v1::RecordReflectionConversationResponse;

    fn into_command(
        self,
        context: &CommandContext,
    ) -> Result<RecordReflectionConversation, ServiceError> {
        let mut violations = Violations::default();
        let school_id = school_id(&mut violations, &self.school_id);
        let held_on =
            violations.required("held_on", &self.held_on, parse::past_date(context.today()));
        let participant_ids =
            violations.each_required("participant_ids", &self.participant_ids, PersonId::parse);
        let summary = violations.required("summary", &self.summary, Text::parse);
        let agreements = violations.each_required("agreements", &self.agreements, Text::parse);
        violations.finish(|| {
            Some(RecordReflectionConversation {
                school_id: school_id?,
                held_on: held_on?,
                participant_ids: participant_ids?,
                summary: summary?,
                agreements: agreements?,
            })
        })
    }

    fn reply(
        written: Written<DevelopmentPlanEvent>,
    ) -> Result<v1::RecordReflectionConversationResponse, ServiceError> {
        Ok(v1::RecordReflectionConversationResponse {
            result: write_result(&written),
        })
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
