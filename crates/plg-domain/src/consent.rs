//! A respondent's consent to take part in a study at a school. Consent is given by answering;
//! once withdrawn, the respondent's scans in every wave stop counting and no new scan of
//! theirs is accepted. The scans themselves stay in the log (the history is append-only), but
//! the research view marks them `withdrawn` and no statistic or export uses them.

use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    ids::{ConsentId, SchoolId, StudyId},
    values::{Pseudonym, Text},
};

#[derive(Debug, Clone, PartialEq)]
pub enum ConsentCommand {
    Withdraw {
        consent_id: ConsentId,
        study_id: StudyId,
        school_id: SchoolId,
        respondent: Pseudonym,
        reason: Option<Text>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ConsentEvent {
    /// From now on none of the respondent's scans in this study at this school count.
    ConsentWithdrawn {
        consent_id: ConsentId,
        study_id: StudyId,
        school_id: SchoolId,
        respondent: Pseudonym,
        reason: Option<Text>,
    },
}

impl DomainEvent for ConsentEvent {}

/// One respondent's consent in a study at a school. Without events, consent stands: a
/// respondent who never withdrew may answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Consent {
    /// Set once consent is withdrawn.
    pub withdrawn: Option<ConsentId>,
}

impl Consent {
    /// Whether the respondent may (still) answer: not after withdrawing consent.
    pub fn ensure_given(&self) -> Result<(), DomainError> {
        match self.withdrawn {
            None => Ok(()),
            Some(consent_id) => Err(DomainError::rule(
                "consent_withdrawn",
                format!("the respondent withdrew consent ({consent_id})"),
            )),
        }
    }
}

impl Aggregate for Consent {
    const CATEGORY: &'static str = "consent";
    type Command = ConsentCommand;
    type Event = ConsentEvent;

    fn decide(&self, command: &ConsentCommand) -> Result<Vec<ConsentEvent>, DomainError> {
        match command {
            ConsentCommand::Withdraw {
                consent_id,
                study_id,
                school_id,
                respondent,
                reason,
            } => {
                if self.withdrawn.is_some() {
                    return Err(DomainError::rule(
                        "consent_withdrawn",
                        format!("consent {consent_id} is already withdrawn"),
                    ));
                }
                Ok(vec![ConsentEvent::ConsentWithdrawn {
                    consent_id: *consent_id,
                    study_id: *study_id,
                    school_id: *school_id,
                    respondent: respondent.clone(),
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn evolve(&mut self, event: &ConsentEvent) {
        match event {
            ConsentEvent::ConsentWithdrawn { consent_id, .. } => {
                self.withdrawn = Some(*consent_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::spec::{given, then_error, then_events};

    fn withdraw(reason: Option<&str>) -> ConsentCommand {
        let (study_id, school_id) = (StudyId::new_random(), SchoolId::new_random());
        let respondent = Pseudonym::parse("r-001").expect("valid pseudonym");
        ConsentCommand::Withdraw {
            consent_id: ConsentId::derive(study_id, school_id, &respondent),
            study_id,
            school_id,
            respondent,
            reason: reason.map(|reason| Text::parse(reason).expect("valid reason")),
        }
    }

    #[test]
    fn consent_stands_until_it_is_withdrawn() {
        assert_eq!(given::<Consent>(&[]).ensure_given(), Ok(()));
    }

    #[test]
    fn a_withdrawal_records_who_withdrew_and_why() {
        let command = withdraw(Some("moved to another school"));
        let events = then_events(&given::<Consent>(&[]), &command);
        let ConsentCommand::Withdraw {
            consent_id,
            study_id,
            school_id,
            respondent,
            reason,
        } = command;
        assert_eq!(
            events,
            [ConsentEvent::ConsentWithdrawn {
                consent_id,
                study_id,
                school_id,
                respondent,
                reason,
            }]
        );
    }

    #[test]
    fn after_withdrawal_no_scan_is_accepted_and_a_second_withdrawal_is_refused() {
        let command = withdraw(None);
        let history = then_events(&Consent::default(), &command);
        let state = given::<Consent>(&history);
        for error in [
            state.ensure_given().expect_err("withdrawn"),
            then_error(&state, &command),
        ] {
            assert!(
                matches!(
                    error,
                    DomainError::RuleViolated {
                        rule: "consent_withdrawn",
                        ..
                    }
                ),
                "{error:?}"
            );
        }
    }

    #[test]
    fn the_consent_id_is_one_per_respondent_across_waves_and_distinct_per_school() {
        let (study_id, school_id) = (StudyId::new_random(), SchoolId::new_random());
        let respondent = Pseudonym::parse("r-001").expect("valid pseudonym");
        let other = Pseudonym::parse("r-002").expect("valid pseudonym");
        let id = ConsentId::derive(study_id, school_id, &respondent);
        assert_eq!(id, ConsentId::derive(study_id, school_id, &respondent));
        assert_ne!(id, ConsentId::derive(study_id, school_id, &other));
        assert_ne!(
            id,
            ConsentId::derive(study_id, SchoolId::new_random(), &respondent)
        );
    }
}
