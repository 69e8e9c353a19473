use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    ids::PersonId,
    values::{Email, Label, Personal},
};

/// Everything personal about a person, in one place, so it can be encrypted and erased as one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDetails {
    pub name: Label,
    pub email: Option<Email>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisterPerson {
    pub person_id: PersonId,
    pub details: Personal<PersonDetails>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PersonCommand {
    Register(RegisterPerson),
    /// Erases the person's personal data (the right to be forgotten): the event records that
    /// it happened, never what was erased.
    ErasePersonalData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PersonEvent {
    PersonRegistered {
        person_id: PersonId,
        details: Personal<PersonDetails>,
    },
    PersonalDataErased {
        person_id: PersonId,
    },
}

impl DomainEvent for PersonEvent {
    fn erases_personal_data(&self) -> bool {
        matches!(self, PersonEvent::PersonalDataErased { .. })
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Person {
    pub registered: Option<PersonId>,
    pub erased: bool,
}

impl Aggregate for Person {
    const CATEGORY: &'static str = "person";
    type Command = PersonCommand;
    type Event = PersonEvent;

    fn decide(&self, command: &PersonCommand) -> Result<Vec<PersonEvent>, DomainError> {
        match (command, self.registered) {
            (PersonCommand::Register(register), None) => Ok(vec![PersonEvent::PersonRegistered {
                person_id: register.person_id,
                details: register.details.clone(),
            }]),
            (PersonCommand::Register(register), Some(_)) => {
                Err(DomainError::already_exists("person", register.person_id))
            }
            (PersonCommand::ErasePersonalData, None) => Err(DomainError::not_found("person")),
            (PersonCommand::ErasePersonalData, Some(person_id)) => {
                if self.erased {
                    return Err(DomainError::rule(
                        "already_erased",
                        format!("the personal data of person {person_id} is already erased"),
                    ));
                }
                Ok(vec![PersonEvent::PersonalDataErased { person_id }])
            }
        }
    }

    fn evolve(&mut self, event: &PersonEvent) {
        match event {
            PersonEvent::PersonRegistered { person_id, .. } => self.registered = Some(*person_id),
            PersonEvent::PersonalDataErased { .. } => self.erased = true,
        }
    }

    fn personal_data_erased(&self) -> bool {
        self.erased
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::spec::{given, then_error, then_events};

    fn register(person_id: PersonId) -> PersonCommand {
        PersonCommand::Register(RegisterPerson {
            person_id,
            details: Personal::new(PersonDetails {
                name: Label::parse("A. Coach").expect("valid name"),
                email: Some(Email::parse("a.coach@example.org").expect("valid email")),
            }),
        })
    }

    #[test]
    fn a_person_is_registered_with_personal_details_marked() {
        let person_id = PersonId::new_random();
        let events = then_events(&given::<Person>(&[]), &register(person_id));
        let [PersonEvent::PersonRegistered { details, .. }] = &events[..] else {
            panic!("expected one registration, got {events:?}");
        };
        assert_eq!(
            details.revealed().map(|d| d.name.as_str()),
            Some("A. Coach")
        );
    }

    #[test]
    fn a_person_is_registered_once() {
        let person_id = PersonId::new_random();
        let events = then_events(&Person::default(), &register(person_id));
        let error = then_error(&given::<Person>(&events), &register(person_id));
        assert!(matches!(error, DomainError::AlreadyExists { .. }));
    }

    #[test]
    fn personal_data_is_erased_once_and_the_event_holds_none_of_it() {
        let person_id = PersonId::new_random();
        let mut history = then_events(&Person::default(), &register(person_id));
        let erased = then_events(
            &given::<Person>(&history),
            &PersonCommand::ErasePersonalData,
        );
        assert_eq!(erased, [PersonEvent::PersonalDataErased { person_id }]);
        history.extend(erased);
        let error = then_error(
            &given::<Person>(&history),
            &PersonCommand::ErasePersonalData,
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "already_erased",
                ..
            }
        ));
        let unknown = then_error(&Person::default(), &PersonCommand::ErasePersonalData);
        assert!(matches!(unknown, DomainError::NotFound { .. }));
    }
}
