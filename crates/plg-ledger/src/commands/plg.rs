//! PLGs and cross-school VLGs: their forming, members, phases, sessions and coaches.

use plg_domain::{
    ids::{PersonId, PlgId},
    person::Person,
    plg::{self, CoachKind, Plg, PlgCommand, PlgPhase, Session},
    school::School,
    values::{PastDate, Text},
};

use crate::{Command, CommandContext, Ledger, ServiceError, Subject, SubjectOf};

/// Commands on an existing PLG: the PLG is their target, and its schools are what they concern.
/// A PLG that does not exist has none, so only unrestricted keys learn that it does not exist.
/// Each command's `change` reads what else it needs and yields the domain command.
macro_rules! on_existing_plg {
    ($($command:ident),* $(,)?) => {$(
        impl Command for $command {
            type Aggregate = Plg;

            fn target(&self) -> String {
                self.plg_id.to_string()
            }

            fn subject(&self) -> SubjectOf<Plg> {
                SubjectOf::Target(|plg: &Plg| Subject::schools(plg.school_ids.iter().copied()))
            }

            async fn prepare(
                self,
                ledger: &Ledger,
                _: &CommandContext,
            ) -> Result<PlgCommand, ServiceError> {
                self.change(ledger).await
            }
        }
    )*};
}

on_existing_plg!(
    RefineLearningQuestion,
    AddMember,
    RemoveMember,
    RecordPhase,
    HoldSession,
    DissolvePlg,
    AssignCoach,
    HandOverCoaching,
);

/// A new PLG of one school, or a VLG of several, under the id drawn when it was asked for.
#[derive(Debug)]
pub struct FormPlg(pub plg::FormPlg);

impl Command for FormPlg {
    type Aggregate = Plg;

    fn target(&self) -> String {
        self.0.plg_id.to_string()
    }

    fn subject(&self) -> SubjectOf<Plg> {
        SubjectOf::Request(Subject::schools(self.0.school_ids.iter().copied()))
    }

    async fn prepare(
        self,
        ledger: &Ledger,
        _: &CommandContext,
    ) -> Result<PlgCommand, ServiceError> {
        ledger
            .require_all::<School, _>("school", &self.0.school_ids)
            .await?;
        ledger
            .require_all::<Person, _>("person", &self.0.member_ids)
            .await?;
        Ok(PlgCommand::Form(self.0))
    }
}

/// The PLG's learning question as it now reads.
#[derive(Debug)]
pub struct RefineLearningQuestion {
    pub plg_id: PlgId,
    pub learning_question: Text,
    pub rationale: Option<Text>,
}

impl RefineLearningQuestion {
    async fn change(self, _: &Ledger) -> Result<PlgCommand, ServiceError> {
        Ok(PlgCommand::RefineLearningQuestion {
            learning_question: self.learning_question,
            rationale: self.rationale,
        })
    }
}

/// A registered person joins the PLG.
#[derive(Debug)]
pub struct AddMember {
    pub plg_id: PlgId,
    pub person_id: PersonId,
}

impl AddMember {
    async fn change(self, ledger: &Ledger) -> Result<PlgCommand, ServiceError> {
        ledger
            .require_all::<Person, _>("person", [self.person_id])
            .await?;
        Ok(PlgCommand::AddMember {
            person_id: self.person_id,
        })
    }
}

/// A member leaves the PLG.
#[derive(Debug)]
pub struct RemoveMember {
    pub plg_id: PlgId,
    pub person_id: PersonId,
    pub reason: Option<Text>,
}

impl RemoveMember {
    async fn change(self, _: &Ledger) -> Result<PlgCommand, ServiceError> {
        Ok(PlgCommand::RemoveMember {
            person_id: self.person_id,
            reason: self.reason,
        })
    }
}

/// The PLG reached one of Schelfhout's phases.
#[derive(Debug)]
pub struct RecordPhase {
    pub plg_id: PlgId,
    pub phase: PlgPhase,
    pub reached_on: PastDate,
}

impl RecordPhase {
    async fn change(self, _: &Ledger) -> Result<PlgCommand, ServiceError> {
        Ok(PlgCommand::RecordPhase {
            phase: self.phase,
            reached_on: self.reached_on,
        })
    }
}

/// A session the PLG held, under the id drawn when it was recorded.
#[derive(Debug)]
pub struct HoldSession {
    pub plg_id: PlgId,
    pub session: Session,
}

impl HoldSession {
    async fn change(self, _: &Ledger) -> Result<PlgCommand, ServiceError> {
        Ok(PlgCommand::HoldSession(self.session))
    }
}

/// The PLG stops; its history stays.
#[derive(Debug)]
pub struct DissolvePlg {
    pub plg_id: PlgId,
    pub dissolved_on: PastDate,
    pub reason: Text,
}

impl DissolvePlg {
    async fn change(self, _: &Ledger) -> Result<PlgCommand, ServiceError> {
        Ok(PlgCommand::Dissolve {
            dissolved_on: self.dissolved_on,
            reason: self.reason,
        })
    }
}

/// The PLG's first process coach; later ones take over by a handover.
#[derive(Debug)]
pub struct AssignCoach {
    pub plg_id: PlgId,
    pub coach_id: PersonId,
    pub kind: CoachKind,
    pub assigned_on: PastDate,
}

impl AssignCoach {
    async fn change(self, ledger: &Ledger) -> Result<PlgCommand, ServiceError> {
        ledger
            .require_all::<Person, _>("person", [self.coach_id])
            .await?;
        Ok(PlgCommand::AssignCoach {
            coach_id: self.coach_id,
            kind: self.kind,
            assigned_on: self.assigned_on,
        })
    }
}

/// The current coach hands the PLG over to another.
#[derive(Debug)]
pub struct HandOverCoaching {
    pub plg_id: PlgId,
    pub from_coach_id: PersonId,
    pub to_coach_id: PersonId,
    pub to_kind: CoachKind,
    pub handed_over_on: PastDate,
    pub reason: Option<Text>,
}

impl HandOverCoaching {
    /// Only the new coach must be registered: whether the old one is the current coach is
    /// the PLG's own rule.
    async fn change(self, ledger: &Ledger) -> Result<PlgCommand, ServiceError> {
        ledger
            .require_all::<Person, _>("person", [self.to_coach_id])
            .await?;
        Ok(PlgCommand::HandOver {
            from_coach_id: self.from_coach_id,
            to_coach_id: self.to_coach_id,
            to_kind: self.to_kind,
            handed_over_on: self.handed_over_on,
            reason: self.reason,
        })
    }
}
