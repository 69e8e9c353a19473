use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    dimension::Dimension,
    ids::{InterventionId, SchoolId},
    values::{Label, PastDate, Text},
};

/// The six intervention categories of the Kohnstamm study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionCategory {
    OrganisationalStructure,
    Professionalisation,
    VisionDevelopment,
    WorkingAndLearningTogether,
    Communication,
    LeadershipDevelopment,
}

crate::names::stored_names!(InterventionCategory {
    OrganisationalStructure => "organisational_structure",
    Professionalisation => "professionalisation",
    VisionDevelopment => "vision_development",
    WorkingAndLearningTogether => "working_and_learning_together",
    Communication => "communication",
    LeadershipDevelopment => "leadership_development",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionLevel {
    School,
    Team,
    Section,
    Network,
}

crate::names::stored_names!(InterventionLevel {
    School => "school",
    Team => "team",
    Section => "section",
    Network => "network",
});

/// To what degree an intended contribution was realised, an ordinal scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContributionDegree {
    None,
    Small,
    Moderate,
    Large,
}

crate::names::stored_names!(ContributionDegree {
    None => "none",
    Small => "small",
    Moderate => "moderate",
    Large => "large",
});

impl ContributionDegree {
    /// The position on the ordinal scale: 0 (none) to 3 (large).
    pub fn rank(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Small => 1,
            Self::Moderate => 2,
            Self::Large => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionStatus {
    Planned,
    Started,
    Completed,
    Abandoned,
}

crate::names::stored_names!(InterventionStatus {
    Planned => "planned",
    Started => "started",
    Completed => "completed",
    Abandoned => "abandoned",
});

#[derive(Debug, Clone, PartialEq)]
pub struct LogIntervention {
    pub intervention_id: InterventionId,
    pub school_id: SchoolId,
    pub title: Label,
    pub description: Option<Text>,
    pub categories: BTreeSet<InterventionCategory>,
    pub targets: BTreeSet<Dimension>,
    pub level: InterventionLevel,
    pub starts_on: NaiveDate,
    pub planned_end_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InterventionCommand {
    Log(LogIntervention),
    Start {
        started_on: PastDate,
    },
    Complete {
        completed_on: PastDate,
        notes: Option<Text>,
    },
    Abandon {
        abandoned_on: PastDate,
        reason: Text,
    },
    AssessContribution {
        dimension: Dimension,
        intended: bool,
        realised: ContributionDegree,
        notes: Option<Text>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum InterventionEvent {
    InterventionLogged {
        intervention_id: InterventionId,
        school_id: SchoolId,
        title: Label,
        description: Option<Text>,
        categories: BTreeSet<InterventionCategory>,
        targets: BTreeSet<Dimension>,
        level: InterventionLevel,
        starts_on: NaiveDate,
        planned_end_on: Option<NaiveDate>,
    },
    InterventionStarted {
        started_on: PastDate,
    },
    InterventionCompleted {
        completed_on: PastDate,
        notes: Option<Text>,
    },
    InterventionAbandoned {
        abandoned_on: PastDate,
        reason: Text,
    },
    ContributionAssessed {
        dimension: Dimension,
        intended: bool,
        realised: ContributionDegree,
        notes: Option<Text>,
    },
}

impl DomainEvent for InterventionEvent {}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Intervention {
    pub intervention_id: Option<InterventionId>,
    pub school_id: Option<SchoolId>,
    pub title: Option<Label>,
    pub categories: BTreeSet<InterventionCategory>,
    pub status: Option<InterventionStatus>,
    pub started_on: Option<NaiveDate>,
    /// The latest assessment per dimension.
    pub assessments: BTreeMap<Dimension, Assessment>,
}

/// How much an intervention contributed to a dimension, and whether it meant to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub intended: bool,
    pub realised: ContributionDegree,
}

impl Intervention {
    fn status_rule(
        &self,
        id: InterventionId,
        status: InterventionStatus,
        action: &str,
    ) -> DomainError {
        let status = match status {
            InterventionStatus::Planned => "planned and not started",
            InterventionStatus::Started => "already started",
            InterventionStatus::Completed => "completed",
            InterventionStatus::Abandoned => "abandoned",
        };
        DomainError::rule(
            "intervention_status",
            format!("intervention {id} is {status} and cannot be {action}"),
        )
    }

    fn not_before_start(&self, field: &'static str, date: PastDate) -> Result<(), DomainError> {
        match self.started_on {
            Some(started_on) if date.date() < started_on => Err(DomainError::invalid(
                field,
                format!("must not be before the start on {started_on}"),
            )),
            _ => Ok(()),
        }
    }
}

impl Aggregate for Intervention {
    const CATEGORY: &'static str = "intervention";
    type Command = InterventionCommand;
    type Event = InterventionEvent;

    fn decide(&self, command: &InterventionCommand) -> Result<Vec<InterventionEvent>, DomainError> {
        use InterventionStatus::{Abandoned, Completed, Planned, Started};
        let state = self.intervention_id.zip(self.status);
        match (command, state) {
            (InterventionCommand::Log(log), None) => {
                if log.categories.is_empty() {
                    return Err(DomainError::invalid(
                        "categories",
                        "at least one category is required",
                    ));
                }
                if log.planned_end_on.is_some_and(|end| end < log.starts_on) {
                    return Err(DomainError::invalid(
                        "planned_end_on",
                        "must not be before starts_on",
                    ));
                }
                Ok(vec![InterventionEvent::InterventionLogged {
                    intervention_id: log.intervention_id,
                    school_id: log.school_id,
                    title: log.title.clone(),
                    description: log.description.clone(),
                    categories: log.categories.clone(),
                    targets: log.targets.clone(),
                    level: log.level,
                    starts_on: log.starts_on,
                    planned_end_on: log.planned_end_on,
                }])
            }
            (InterventionCommand::Log(log), Some(_)) => Err(DomainError::already_exists(
                "intervention",
                log.intervention_id,
            )),
            (_, None) => Err(DomainError::not_found("intervention")),
            (InterventionCommand::Start { started_on }, Some((_, Planned))) => {
                Ok(vec![InterventionEvent::InterventionStarted {
                    started_on: *started_on,
                }])
            }
            (InterventionCommand::Start { .. }, Some((id, status))) => {
                Err(self.status_rule(id, status, "started"))
            }
            (
                InterventionCommand::Complete {
                    completed_on,
                    notes,
                },
                Some((_, Started)),
            ) => {
                self.not_before_start("completed_on", *completed_on)?;
                Ok(vec![InterventionEvent::InterventionCompleted {
                    completed_on: *completed_on,
                    notes: notes.clone(),
                }])
            }
            (InterventionCommand::Complete { .. }, Some((id, status))) => {
                Err(self.status_rule(id, status, "completed"))
            }
            (
                InterventionCommand::Abandon {
                    abandoned_on,
                    reason,
                },
                Some((_, Planned | Started)),
            ) => {
                self.not_before_start("abandoned_on", *abandoned_on)?;
                Ok(vec![InterventionEvent::InterventionAbandoned {
                    abandoned_on: *abandoned_on,
                    reason: reason.clone(),
                }])
            }
            (InterventionCommand::Abandon { .. }, Some((id, status @ (Completed | Abandoned)))) => {
                Err(self.status_rule(id, status, "abandoned"))
            }
            (
                InterventionCommand::AssessContribution {
                    dimension,
                    intended,
                    realised,
                    notes,
                },
                Some(_),
            ) => Ok(vec![InterventionEvent::ContributionAssessed {
                dimension: *dimension,
                intended: *intended,
                realised: *realised,
                notes: notes.clone(),
            }]),
        }
    }

    fn evolve(&mut self, event: &InterventionEvent) {
        match event {
            InterventionEvent::InterventionLogged {
                intervention_id,
                school_id,
                title,
                categories,
                ..
            } => {
                self.intervention_id = Some(*intervention_id);
                self.school_id = Some(*school_id);
                self.title = Some(title.clone());
                self.categories = categories.clone();
                self.status = Some(InterventionStatus::Planned);
            }
            InterventionEvent::InterventionStarted { started_on } => {
                self.status = Some(InterventionStatus::Started);
                self.started_on = Some(started_on.date());
            }
            InterventionEvent::InterventionCompleted { .. } => {
                self.status = Some(InterventionStatus::Completed)
            }
            InterventionEvent::InterventionAbandoned { .. } => {
                self.status = Some(InterventionStatus::Abandoned)
            }
            InterventionEvent::ContributionAssessed {
                dimension,
                intended,
                realised,
                ..
            } => {
                let assessment = Assessment {
                    intended: *intended,
                    realised: *realised,
                };
                self.assessments.insert(*dimension, assessment);
            }
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

    fn day(value: &str) -> PastDate {
        PastDate::parse(value, parse_date("2030-01-01").expect("valid date"))
            .expect("valid past date")
    }

    fn log() -> LogIntervention {
        LogIntervention {
            intervention_id: InterventionId::new_random(),
            school_id: SchoolId::new_random(),
            title: Label::parse("Lesson study in the maths section").expect("valid title"),
            description: None,
            categories: BTreeSet::from([
                InterventionCategory::Professionalisation,
                InterventionCategory::WorkingAndLearningTogether,
            ]),
            targets: BTreeSet::from([Dimension::DevelopingEducationTogether]),
            level: InterventionLevel::Section,
            starts_on: parse_date("2016-09-01").expect("valid date"),
            planned_end_on: Some(parse_date("2017-06-30").expect("valid date")),
        }
    }

    fn logged() -> Vec<InterventionEvent> {
        then_events(&Intervention::default(), &InterventionCommand::Log(log()))
    }

    #[test]
    fn an_intervention_needs_a_category_and_a_sensible_end() {
        let mut no_category = log();
        no_category.categories.clear();
        let error = then_error(
            &Intervention::default(),
            &InterventionCommand::Log(no_category),
        );
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "categories",
                ..
            }
        ));

        let mut early_end = log();
        early_end.planned_end_on = Some(parse_date("2016-01-01").expect("valid date"));
        let error = then_error(
            &Intervention::default(),
            &InterventionCommand::Log(early_end),
        );
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "planned_end_on",
                ..
            }
        ));
    }

    #[test]
    fn an_intervention_goes_from_planned_through_started_to_completed() {
        let mut history = logged();
        history.extend(then_events(
            &given::<Intervention>(&history),
            &InterventionCommand::Start {
                started_on: day("2016-09-05"),
            },
        ));
        let complete = InterventionCommand::Complete {
            completed_on: day("2017-06-01"),
            notes: None,
        };
        history.extend(then_events(&given::<Intervention>(&history), &complete));
        let state = given::<Intervention>(&history);
        assert_eq!(state.status, Some(InterventionStatus::Completed));
        let error = then_error(
            &state,
            &InterventionCommand::Start {
                started_on: day("2017-07-01"),
            },
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "intervention_status",
                ..
            }
        ));
    }

    #[test]
    fn a_planned_intervention_cannot_be_completed() {
        let state = given::<Intervention>(&logged());
        let error = then_error(
            &state,
            &InterventionCommand::Complete {
                completed_on: day("2017-06-01"),
                notes: None,
            },
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "intervention_status",
                ..
            }
        ));
    }

    #[test]
    fn completion_cannot_precede_the_start() {
        let mut history = logged();
        history.push(InterventionEvent::InterventionStarted {
            started_on: day("2016-09-05"),
        });
        let error = then_error(
            &given::<Intervention>(&history),
            &InterventionCommand::Complete {
                completed_on: day("2016-09-01"),
                notes: None,
            },
        );
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "completed_on",
                ..
            }
        ));
    }

    #[test]
    fn an_abandoned_intervention_stays_abandoned_but_can_be_assessed() {
        let mut history = logged();
        let reason = Text::parse("no time in the schedule").expect("valid reason");
        history.extend(then_events(
            &given::<Intervention>(&history),
            &InterventionCommand::Abandon {
                abandoned_on: day("2016-10-01"),
                reason: reason.clone(),
            },
        ));
        let state = given::<Intervention>(&history);
        let error = then_error(
            &state,
            &InterventionCommand::Abandon {
                abandoned_on: day("2016-10-02"),
                reason,
            },
        );
        assert!(matches!(error, DomainError::RuleViolated { .. }));
        let assess = InterventionCommand::AssessContribution {
            dimension: Dimension::Support,
            intended: true,
            realised: ContributionDegree::None,
            notes: None,
        };
        assert_eq!(then_events(&state, &assess).len(), 1);
    }

    #[test]
    fn commands_for_an_unknown_intervention_are_not_found() {
        let error = then_error(
            &Intervention::default(),
            &InterventionCommand::Start {
                started_on: day("2016-01-01"),
            },
        );
        assert!(matches!(error, DomainError::NotFound { .. }));
    }
}
