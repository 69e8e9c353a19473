use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    ids::SchoolId,
    values::{Country, Label, SchoolCode, Sector},
};

#[derive(Debug, Clone, PartialEq)]
pub struct RegisterSchool {
    pub school_id: SchoolId,
    pub name: Label,
    pub country: Country,
    pub sector: Sector,
    pub school_code: SchoolCode,
    pub board: Option<Label>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum SchoolEvent {
    SchoolRegistered {
        school_id: SchoolId,
        name: Label,
        country: Country,
        sector: Sector,
        school_code: SchoolCode,
        board: Option<Label>,
    },
}

impl DomainEvent for SchoolEvent {}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct School {
    pub registered: Option<SchoolId>,
    /// The board it belongs to: keys scoped to the board reach the school.
    pub board: Option<Label>,
    /// What it was registered as, for those who read its history.
    pub details: Option<SchoolDetails>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchoolDetails {
    pub name: Label,
    pub country: Country,
    pub sector: Sector,
    pub school_code: SchoolCode,
}

impl Aggregate for School {
    const CATEGORY: &'static str = "school";
    type Command = RegisterSchool;
    type Event = SchoolEvent;

    fn decide(&self, command: &RegisterSchool) -> Result<Vec<SchoolEvent>, DomainError> {
        // The id derives from country and code: the registered school is the one asked for.
        if let Some(school_id) = self.registered {
            return Err(DomainError::already_exists("school", school_id));
        }
        Ok(vec![SchoolEvent::SchoolRegistered {
            school_id: command.school_id,
            name: command.name.clone(),
            country: command.country,
            sector: command.sector,
            school_code: command.school_code.clone(),
            board: command.board.clone(),
        }])
    }

    fn evolve(&mut self, event: &SchoolEvent) {
        match event {
            SchoolEvent::SchoolRegistered {
                school_id,
                name,
                country,
                sector,
                school_code,
                board,
            } => {
                self.registered = Some(*school_id);
                self.board = board.clone();
                self.details = Some(SchoolDetails {
                    name: name.clone(),
                    country: *country,
                    sector: *sector,
                    school_code: school_code.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::spec::{given, then_error, then_events};

    fn register() -> RegisterSchool {
        let code = SchoolCode::parse(Country::Netherlands, "12AB").expect("valid code");
        RegisterSchool {
            school_id: SchoolId::derive(Country::Netherlands, &code),
            name: Label::parse("De Brug").expect("valid name"),
            country: Country::Netherlands,
            sector: Sector::Secondary,
            school_code: code,
            board: None,
        }
    }

    #[test]
    fn a_new_school_is_registered() {
        let state = given::<School>(&[]);
        let events = then_events(&state, &register());
        assert!(matches!(
            &events[..],
            [SchoolEvent::SchoolRegistered { .. }]
        ));
    }

    #[test]
    fn a_school_cannot_be_registered_twice() {
        let registered = then_events(&School::default(), &register());
        let state = given::<School>(&registered);
        assert!(matches!(
            then_error(&state, &register()),
            DomainError::AlreadyExists { .. }
        ));
    }
}
