use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    ids::{PersonId, SchoolId},
    values::{PastDate, Text},
};

#[derive(Debug, Clone, PartialEq)]
pub enum DevelopmentPlanCommand {
    Revise {
        school_id: SchoolId,
        revised_on: PastDate,
        summary: Text,
        choices: Vec<Text>,
        rationale: Option<Text>,
    },
    RecordReflection {
        school_id: SchoolId,
        held_on: PastDate,
        participant_ids: Vec<PersonId>,
        summary: Text,
        agreements: Vec<Text>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DevelopmentPlanEvent {
    DevelopmentPlanRevised {
        school_id: SchoolId,
        plan_version: u32,
        revised_on: PastDate,
        summary: Text,
        choices: Vec<Text>,
        rationale: Option<Text>,
    },
    ReflectionConversationRecorded {
        school_id: SchoolId,
        held_on: PastDate,
        participant_ids: Vec<PersonId>,
        summary: Text,
        agreements: Vec<Text>,
    },
}

impl DomainEvent for DevelopmentPlanEvent {}

/// A school's development plan and the reflection conversations about it; one per school.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DevelopmentPlan {
    pub version: u32,
    pub last_revised_on: Option<NaiveDate>,
}

impl Aggregate for DevelopmentPlan {
    const CATEGORY: &'static str = "devplan";
    type Command = DevelopmentPlanCommand;
    type Event = DevelopmentPlanEvent;

    fn decide(
        &self,
        command: &DevelopmentPlanCommand,
    ) -> Result<Vec<DevelopmentPlanEvent>, DomainError> {
        match command {
            DevelopmentPlanCommand::Revise {
                school_id,
                revised_on,
                summary,
                choices,
                rationale,
            } => {
                if choices.is_empty() {
                    return Err(DomainError::invalid(
                        "choices",
                        "a plan makes at least one choice",
                    ));
                }
                if self.version > 0 && rationale.is_none() {
                    return Err(DomainError::invalid(
                        "rationale",
                        "a revision must say why the plan changed",
                    ));
                }
                if let Some(last) = self
                    .last_revised_on
                    .filter(|last| revised_on.date() < *last)
                {
                    return Err(DomainError::invalid(
                        "revised_on",
                        format!("must not be before the previous revision on {last}"),
                    ));
                }
                Ok(vec![DevelopmentPlanEvent::DevelopmentPlanRevised {
                    school_id: *school_id,
                    plan_version: self.version + 1,
                    revised_on: *revised_on,
                    summary: summary.clone(),
                    choices: choices.clone(),
                    rationale: rationale.clone(),
                }])
            }
            DevelopmentPlanCommand::RecordReflection {
                school_id,
                held_on,
                participant_ids,
                summary,
                agreements,
            } => Ok(vec![DevelopmentPlanEvent::ReflectionConversationRecorded {
                school_id: *school_id,
                held_on: *held_on,
                participant_ids: participant_ids.clone(),
                summary: summary.clone(),
                agreements: agreements.clone(),
            }]),
        }
    }

    fn evolve(&mut self, event: &DevelopmentPlanEvent) {
        match event {
            DevelopmentPlanEvent::DevelopmentPlanRevised {
                plan_version,
                revised_on,
                ..
            } => {
                self.version = *plan_version;
                self.last_revised_on = Some(revised_on.date());
            }
            DevelopmentPlanEvent::ReflectionConversationRecorded { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        decider::spec::{given, then_error, then_events},
        values::parse_date,
    };

    fn revise(school_id: SchoolId, on: &str, rationale: Option<&str>) -> DevelopmentPlanCommand {
        let today = parse_date("2030-01-01").expect("valid date");
        DevelopmentPlanCommand::Revise {
            school_id,
            revised_on: PastDate::parse(on, today).expect("valid date"),
            summary: Text::parse("focus on formative assessment").expect("valid text"),
            choices: vec![Text::parse("one PLG per section").expect("valid text")],
            rationale: rationale.map(|text| Text::parse(text).expect("valid text")),
        }
    }

    #[test]
    fn plan_versions_count_up_and_revisions_need_a_reason() {
        let school_id = SchoolId::new_random();
        let first = then_events(
            &given::<DevelopmentPlan>(&[]),
            &revise(school_id, "2016-01-10", None),
        );
        assert!(matches!(
            &first[..],
            [DevelopmentPlanEvent::DevelopmentPlanRevised {
                plan_version: 1,
                ..
            }]
        ));

        let state = given::<DevelopmentPlan>(&first);
        let error = then_error(&state, &revise(school_id, "2016-06-10", None));
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "rationale",
                ..
            }
        ));
        let second = then_events(
            &state,
            &revise(school_id, "2016-06-10", Some("the scan showed low support")),
        );
        assert!(matches!(
            &second[..],
            [DevelopmentPlanEvent::DevelopmentPlanRevised {
                plan_version: 2,
                ..
            }]
        ));
        let error = then_error(&state, &revise(school_id, "2015-12-31", Some("backdated")));
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "revised_on",
                ..
            }
        ));
    }
}
