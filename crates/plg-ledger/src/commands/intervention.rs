//! The interventions a school runs to develop as a PLG (logged, started, completed or
//! abandoned, and assessed for what they contributed), and the school's development plan and
//! reflection conversations about it.

use plg_domain::{
    development_plan::{DevelopmentPlan, DevelopmentPlanCommand},
    dimension::Dimension,
    ids::{InterventionId, PersonId, SchoolId},
    intervention::{self, ContributionDegree, Intervention, InterventionCommand},
    person::Person,
    school::School,
    values::{PastDate, Text},
};

use crate::{Command, CommandContext, Ledger, ServiceError, Subject, SubjectOf};

/// An intervention a school plans, under a new id.
#[derive(Debug)]
pub struct LogIntervention(pub intervention::LogIntervention);

impl Command for LogIntervention {
    type Aggregate = Intervention;

    fn target(&self) -> String {
        self.0.intervention_id.to_string()
    }

    fn subject(&self) -> SubjectOf<Intervention> {
        SubjectOf::Request(Subject::school(self.0.school_id))
    }

    async fn prepare(
        self,
        ledger: &Ledger,
        _: &CommandContext,
    ) -> Result<InterventionCommand, ServiceError> {
        ledger
            .require_all::<School, _>("school", [self.0.school_id])
            .await?;
        Ok(InterventionCommand::Log(self.0))
    }
}

/// An intervention begins.
#[derive(Debug)]
pub struct StartIntervention {
    pub intervention_id: InterventionId,
    pub started_on: PastDate,
}

/// An intervention ends as it was meant to.
#[derive(Debug)]
pub struct CompleteIntervention {
    pub intervention_id: InterventionId,
    pub completed_on: PastDate,
    pub notes: Option<Text>,
}

/// An intervention stops before it is completed, and why.
#[derive(Debug)]
pub struct AbandonIntervention {
    pub intervention_id: InterventionId,
    pub abandoned_on: PastDate,
    pub reason: Text,
}

/// What an intervention contributed to a dimension, and whether it was meant to.
#[derive(Debug)]
pub struct AssessContribution {
    pub intervention_id: InterventionId,
    pub dimension: Dimension,
    pub intended: bool,
    pub realised: ContributionDegree,
    pub notes: Option<Text>,
}

/// Commands on an intervention that exists: its school is what the caller's scope must reach,
/// and they read nothing else.
macro_rules! intervention_changes {
    ($($command:ident => |$this:ident| $change:expr;)*) => {$(
        impl Command for $command {
            type Aggregate = Intervention;

            fn target(&self) -> String {
                self.intervention_id.to_string()
            }

            /// An intervention that does not exist concerns nothing, so only unrestricted
            /// keys learn that it does not exist.
            fn subject(&self) -> SubjectOf<Intervention> {
                SubjectOf::Target(|intervention: &Intervention| Subject::schools(intervention.school_id))
            }

            async fn prepare(
                self,
                _: &Ledger,
                _: &CommandContext,
            ) -> Result<InterventionCommand, ServiceError> {
                let $this = self;
                Ok($change)
            }
        }
    )*};
}

intervention_changes! {
    StartIntervention => |start| InterventionCommand::Start {
        started_on: start.started_on,
    };
    CompleteIntervention => |complete| InterventionCommand::Complete {
        completed_on: complete.completed_on,
        notes: complete.notes,
    };
    AbandonIntervention => |abandon| InterventionCommand::Abandon {
        abandoned_on: abandon.abandoned_on,
        reason: abandon.reason,
    };
    AssessContribution => |assess| InterventionCommand::AssessContribution {
        dimension: assess.dimension,
        intended: assess.intended,
        realised: assess.realised,
        notes: assess.notes,
    };
}

/// A new version of a school's development plan: the choices it makes, and why.
#[derive(Debug)]
pub struct ReviseDevelopmentPlan {
    pub school_id: SchoolId,
    pub revised_on: PastDate,
    pub summary: Text,
    pub choices: Vec<Text>,
    pub rationale: Option<Text>,
}

/// A conversation in which a school reflected on its development, who took part, and what
/// was agreed.
#[derive(Debug)]
pub struct RecordReflectionConversation {
    pub school_id: SchoolId,
    pub held_on: PastDate,
    pub participant_ids: Vec<PersonId>,
    pub summary: Text,
    pub agreements: Vec<Text>,
}

/// Commands on a school's development plan (one stream per school): the school is what the
/// caller's scope must reach, and it must exist before the rest is read.
macro_rules! development_plan_changes {
    ($($command:ident => |$this:ident, $ledger:ident| $change:block)*) => {$(
        impl Command for $command {
            type Aggregate = DevelopmentPlan;

            fn target(&self) -> String {
                self.school_id.to_string()
            }

            fn subject(&self) -> SubjectOf<DevelopmentPlan> {
                SubjectOf::Request(Subject::school(self.school_id))
            }

            async fn prepare(
                self,
                $ledger: &Ledger,
                _: &CommandContext,
            ) -> Result<DevelopmentPlanCommand, ServiceError> {
                $ledger
                    .require_all::<School, _>("school", [self.school_id])
                    .await?;
                let $this = self;
                $change
            }
        }
    )*};
}

development_plan_changes! {
    ReviseDevelopmentPlan => |revise, _ledger| {
        Ok(DevelopmentPlanCommand::Revise {
            school_id: revise.school_id,
            revised_on: revise.revised_on,
            summary: revise.summary,
            choices: revise.choices,
            rationale: revise.rationale,
        })
    }
    RecordReflectionConversation => |record, ledger| {
        ledger
            .require_all::<Person, _>("person", &record.participant_ids)
            .await?;
        Ok(DevelopmentPlanCommand::RecordReflection {
            school_id: record.school_id,
            held_on: record.held_on,
            participant_ids: record.participant_ids,
            summary: record.summary,
            agreements: record.agreements,
        })
    }
}
