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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PersonEvent {
    PersonRegistered {
        person_id: PersonId,
        details: Personal<PersonDetails>,
    },
}

impl DomainEvent for PersonEvent {}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Person {
    pub registered: Option<PersonId>,
}

impl Aggregate for Person {
    const CATEGORY: &'static str = "person";
    type Command = RegisterPerson;
    type Event = PersonEvent;

    fn decide(&self, command: &RegisterPerson) -> Result<Vec<PersonEvent>, DomainError> {
        if self.registered.is_some() {
            return Err(DomainError::already_exists("person", command.person_id));
        }
        Ok(vec![PersonEvent::PersonRegistered {
            person_id: command.person_id,
            details: command.details.clone(),
        }])
    }

    fn evolve(&mut self, event: &PersonEvent) {
        match event {
            PersonEvent::PersonRegistered { person_id, .. } => self.registered = Some(*person_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::spec::{given, then_error, then_events};

    fn register(person_id: PersonId) -> RegisterPerson {
        RegisterPerson {
            person_id,
            details: Personal(PersonDetails {
                name: Label::parse("A. Coach").expect("valid name"),
                email: Some(Email::parse("a.coach@example.org").expect("valid email")),
            }),
        }
    }

    #[test]
    fn a_person_is_registered_with_personal_details_marked() {
        let person_id = PersonId::new_random();
        let events = then_events(&given::<Person>(&[]), &register(person_id));
        let [PersonEvent::PersonRegistered { details, .. }] = &events[..] else {
            panic!("expected one registration, got {events:?}");
        };
        assert_eq!(details.0.name.as_str(), "A. Coach");
    }

    #[test]
    fn a_person_is_registered_once() {
        let person_id = PersonId::new_random();
        let events = then_events(&Person::default(), &register(person_id));
        let error = then_error(&given::<Person>(&events), &register(person_id));
        assert!(matches!(error, DomainError::AlreadyExists { .. }));
    }
}
