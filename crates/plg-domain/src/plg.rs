use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent, ValueError,
    ids::{PersonId, PlgId, SchoolId, SessionId},
    values::{Label, PastDate, Text},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlgKind {
    /// Staff of one school.
    School,
    /// A subject-didactic learning community (VLG) of several schools.
    CrossSchool,
}

crate::names::stored_names!(PlgKind {
    School => "school",
    CrossSchool => "cross_school",
});

impl PlgKind {
    /// Whether a PLG of this kind may have `schools` distinct schools.
    pub fn check_school_count(self, schools: usize) -> Result<(), ValueError> {
        match (self, schools) {
            (Self::School, 1) | (Self::CrossSchool, 2..) => Ok(()),
            (Self::School, _) => Err(ValueError::new(
                "a school PLG belongs to exactly one school",
            )),
            (Self::CrossSchool, _) => Err(ValueError::new(
                "a cross-school PLG needs at least two schools",
            )),
        }
    }
}

/// Schelfhout's phases a learning community moves through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlgPhase {
    EngagingSchoolLeaders,
    MotivatingTeachers,
    ChoosingThemes,
    LearningToDevelopTogether,
    StableOperation,
}

crate::names::stored_names!(PlgPhase {
    EngagingSchoolLeaders => "engaging_school_leaders",
    MotivatingTeachers => "motivating_teachers",
    ChoosingThemes => "choosing_themes",
    LearningToDevelopTogether => "learning_to_develop_together",
    StableOperation => "stable_operation",
});

/// Bruns' phases of a theme meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThemePhase {
    Explore,
    Condense,
    Product,
}

crate::names::stored_names!(ThemePhase {
    Explore => "explore",
    Condense => "condense",
    Product => "product",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoachKind {
    Internal,
    External,
}

crate::names::stored_names!(CoachKind {
    Internal => "internal",
    External => "external",
});

/// How long a session lasted: 1 minute to a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct SessionMinutes(u32);

impl SessionMinutes {
    pub fn new(minutes: u32) -> Result<Self, ValueError> {
        if (1..=24 * 60).contains(&minutes) {
            Ok(Self(minutes))
        } else {
            Err(ValueError::new("must be between 1 and 1440 minutes"))
        }
    }
}

impl TryFrom<u32> for SessionMinutes {
    type Error = ValueError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SessionMinutes> for u32 {
    fn from(value: SessionMinutes) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub person_id: PersonId,
    pub present: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGoal {
    pub description: Text,
    pub reached: bool,
}

/// Everything recorded about one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: SessionId,
    pub held_on: PastDate,
    pub duration_minutes: SessionMinutes,
    pub attendance: Vec<Attendance>,
    pub facilitator_id: Option<PersonId>,
    pub theme_phases: BTreeSet<ThemePhase>,
    pub goals: Vec<SessionGoal>,
    pub check_in_held: bool,
    pub check_out_held: bool,
    pub methods: Vec<Label>,
    pub product: Option<Text>,
    pub external_input: Option<Text>,
    pub agreements: Vec<Text>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FormPlg {
    pub plg_id: PlgId,
    pub kind: PlgKind,
    pub school_ids: Vec<SchoolId>,
    pub name: Label,
    pub practice_need: Text,
    pub learning_question: Text,
    pub member_ids: Vec<PersonId>,
    pub formed_on: PastDate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlgCommand {
    Form(FormPlg),
    RefineLearningQuestion {
        learning_question: Text,
        rationale: Option<Text>,
    },
    AddMember {
        person_id: PersonId,
    },
    RemoveMember {
        person_id: PersonId,
        reason: Option<Text>,
    },
    RecordPhase {
        phase: PlgPhase,
        reached_on: PastDate,
    },
    HoldSession(Session),
    Dissolve {
        dissolved_on: PastDate,
        reason: Text,
    },
    AssignCoach {
        coach_id: PersonId,
        kind: CoachKind,
        assigned_on: PastDate,
    },
    HandOver {
        from_coach_id: PersonId,
        to_coach_id: PersonId,
        to_kind: CoachKind,
        handed_over_on: PastDate,
        reason: Option<Text>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PlgEvent {
    PlgFormed {
        plg_id: PlgId,
        kind: PlgKind,
        school_ids: Vec<SchoolId>,
        name: Label,
        practice_need: Text,
        learning_question: Text,
        member_ids: Vec<PersonId>,
        formed_on: PastDate,
    },
    LearningQuestionRefined {
        learning_question: Text,
        rationale: Option<Text>,
    },
    MemberAdded {
        person_id: PersonId,
    },
    MemberRemoved {
        person_id: PersonId,
        reason: Option<Text>,
    },
    PhaseReached {
        phase: PlgPhase,
        reached_on: PastDate,
    },
    SessionHeld(Session),
    PlgDissolved {
        dissolved_on: PastDate,
        reason: Text,
    },
    CoachAssigned {
        coach_id: PersonId,
        kind: CoachKind,
        assigned_on: PastDate,
    },
    /// The coach handover (overdracht): the role passes from the current coach to another.
    CoachHandedOver {
        from_coach_id: PersonId,
        to_coach_id: PersonId,
        to_kind: CoachKind,
        handed_over_on: PastDate,
        reason: Option<Text>,
    },
}

impl DomainEvent for PlgEvent {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentCoach {
    pub person_id: PersonId,
    pub kind: CoachKind,
    pub since: NaiveDate,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plg {
    pub plg_id: Option<PlgId>,
    pub name: Option<Label>,
    pub formed_on: Option<NaiveDate>,
    pub school_ids: Vec<SchoolId>,
    pub members: BTreeSet<PersonId>,
    pub learning_question: Option<Text>,
    pub phase: Option<PlgPhase>,
    pub coach: Option<CurrentCoach>,
    pub last_session_on: Option<NaiveDate>,
    pub sessions: u32,
    pub dissolved: bool,
}

impl Plg {
    /// A live PLG's id and formation date, or why commands cannot address it.
    fn live(&self) -> Result<(PlgId, NaiveDate), DomainError> {
        let (plg_id, formed_on) = self
            .plg_id
            .zip(self.formed_on)
            .ok_or_else(|| DomainError::not_found("plg"))?;
        if self.dissolved {
            return Err(DomainError::rule(
                "plg_dissolved",
                format!("plg {plg_id} is dissolved"),
            ));
        }
        Ok((plg_id, formed_on))
    }

    fn not_before(
        field: &'static str,
        date: PastDate,
        earliest: NaiveDate,
        what: &str,
    ) -> Result<(), DomainError> {
        if date.date() < earliest {
            return Err(DomainError::invalid(
                field,
                format!("must not be before {what} on {earliest}"),
            ));
        }
        Ok(())
    }

    fn form(command: &FormPlg) -> Result<PlgEvent, DomainError> {
        let schools: BTreeSet<_> = command.school_ids.iter().collect();
        if schools.len() != command.school_ids.len() {
            return Err(DomainError::invalid(
                "school_ids",
                "a school appears more than once",
            ));
        }
        command
            .kind
            .check_school_count(schools.len())
            .map_err(|error| DomainError::invalid("school_ids", error.0))?;
        let members: BTreeSet<_> = command.member_ids.iter().collect();
        if members.len() != command.member_ids.len() {
            return Err(DomainError::invalid(
                "member_ids",
                "a member appears more than once",
            ));
        }
        Ok(PlgEvent::PlgFormed {
            plg_id: command.plg_id,
            kind: command.kind,
            school_ids: command.school_ids.clone(),
            name: command.name.clone(),
            practice_need: command.practice_need.clone(),
            learning_question: command.learning_question.clone(),
            member_ids: command.member_ids.clone(),
            formed_on: command.formed_on,
        })
    }

    fn hold_session(
        &self,
        plg_id: PlgId,
        formed_on: NaiveDate,
        session: &Session,
    ) -> Result<PlgEvent, DomainError> {
        Self::not_before("held_on", session.held_on, formed_on, "the PLG was formed")?;
        let mut seen = BTreeSet::new();
        for attendance in &session.attendance {
            if !seen.insert(attendance.person_id) {
                return Err(DomainError::invalid(
                    "attendance",
                    format!("person {} is listed more than once", attendance.person_id),
                ));
            }
            if !self.members.contains(&attendance.person_id) {
                return Err(DomainError::rule(
                    "attendee_not_member",
                    format!(
                        "person {} is not a member of plg {plg_id}",
                        attendance.person_id
                    ),
                ));
            }
        }
        if let Some(facilitator) = session.facilitator_id {
            let is_coach = self
                .coach
                .is_some_and(|coach| coach.person_id == facilitator);
            if !self.members.contains(&facilitator) && !is_coach {
                return Err(DomainError::rule(
                    "facilitator_not_involved",
                    format!(
                        "facilitator {facilitator} is neither a member nor the coach of plg {plg_id}"
                    ),
                ));
            }
        }
        Ok(PlgEvent::SessionHeld(session.clone()))
    }

    fn hand_over(
        &self,
        plg_id: PlgId,
        from_coach_id: PersonId,
        to_coach_id: PersonId,
        handed_over_on: PastDate,
    ) -> Result<(), DomainError> {
        let coach = self.coach.ok_or_else(|| {
            DomainError::rule(
                "no_coach",
                format!("plg {plg_id} has no coach to hand over from"),
            )
        })?;
        if coach.person_id != from_coach_id {
            return Err(DomainError::rule(
                "not_current_coach",
                format!("person {from_coach_id} is not the current coach of plg {plg_id}"),
            ));
        }
        if to_coach_id == from_coach_id {
            return Err(DomainError::invalid(
                "to_coach_id",
                "must differ from the current coach",
            ));
        }
        Self::not_before(
            "handed_over_on",
            handed_over_on,
            coach.since,
            "the current coach started",
        )
    }
}

impl Aggregate for Plg {
    const CATEGORY: &'static str = "plg";
    type Command = PlgCommand;
    type Event = PlgEvent;

    fn decide(&self, command: &PlgCommand) -> Result<Vec<PlgEvent>, DomainError> {
        if let PlgCommand::Form(form) = command {
            if self.plg_id.is_some() {
                return Err(DomainError::already_exists("plg", form.plg_id));
            }
            return Ok(vec![Self::form(form)?]);
        }
        let (plg_id, formed_on) = self.live()?;
        let event = match command {
            PlgCommand::Form(_) => unreachable!("handled above"),
            PlgCommand::RefineLearningQuestion {
                learning_question,
                rationale,
            } => {
                if self.learning_question.as_ref() == Some(learning_question) {
                    return Err(DomainError::rule(
                        "learning_question_unchanged",
                        "the learning question is unchanged",
                    ));
                }
                PlgEvent::LearningQuestionRefined {
                    learning_question: learning_question.clone(),
                    rationale: rationale.clone(),
                }
            }
            PlgCommand::AddMember { person_id } => {
                if self.members.contains(person_id) {
                    return Err(DomainError::rule(
                        "already_member",
                        format!("person {person_id} is already a member of plg {plg_id}"),
                    ));
                }
                PlgEvent::MemberAdded {
                    person_id: *person_id,
                }
            }
            PlgCommand::RemoveMember { person_id, reason } => {
                if !self.members.contains(person_id) {
                    return Err(DomainError::rule(
                        "not_a_member",
                        format!("person {person_id} is not a member of plg {plg_id}"),
                    ));
                }
                PlgEvent::MemberRemoved {
                    person_id: *person_id,
                    reason: reason.clone(),
                }
            }
            PlgCommand::RecordPhase { phase, reached_on } => {
                Self::not_before("reached_on", *reached_on, formed_on, "the PLG was formed")?;
                if self.phase == Some(*phase) {
                    return Err(DomainError::rule(
                        "phase_unchanged",
                        format!("plg {plg_id} is already in phase {phase:?}"),
                    ));
                }
                PlgEvent::PhaseReached {
                    phase: *phase,
                    reached_on: *reached_on,
                }
            }
            PlgCommand::HoldSession(session) => self.hold_session(plg_id, formed_on, session)?,
            PlgCommand::Dissolve {
                dissolved_on,
                reason,
            } => {
                Self::not_before(
                    "dissolved_on",
                    *dissolved_on,
                    formed_on,
                    "the PLG was formed",
                )?;
                if let Some(last_session_on) = self.last_session_on {
                    Self::not_before(
                        "dissolved_on",
                        *dissolved_on,
                        last_session_on,
                        "its last session",
                    )?;
                }
                PlgEvent::PlgDissolved {
                    dissolved_on: *dissolved_on,
                    reason: reason.clone(),
                }
            }
            PlgCommand::AssignCoach {
                coach_id,
                kind,
                assigned_on,
            } => {
                if let Some(coach) = self.coach {
                    return Err(DomainError::rule(
                        "coach_already_assigned",
                        format!(
                            "plg {plg_id} already has coach {}; hand over instead",
                            coach.person_id
                        ),
                    ));
                }
                Self::not_before("assigned_on", *assigned_on, formed_on, "the PLG was formed")?;
                PlgEvent::CoachAssigned {
                    coach_id: *coach_id,
                    kind: *kind,
                    assigned_on: *assigned_on,
                }
            }
            PlgCommand::HandOver {
                from_coach_id,
                to_coach_id,
                to_kind,
                handed_over_on,
                reason,
            } => {
                self.hand_over(plg_id, *from_coach_id, *to_coach_id, *handed_over_on)?;
                PlgEvent::CoachHandedOver {
                    from_coach_id: *from_coach_id,
                    to_coach_id: *to_coach_id,
                    to_kind: *to_kind,
                    handed_over_on: *handed_over_on,
                    reason: reason.clone(),
                }
            }
        };
        Ok(vec![event])
    }

    fn evolve(&mut self, event: &PlgEvent) {
        match event {
            PlgEvent::PlgFormed {
                plg_id,
                school_ids,
                name,
                learning_question,
                member_ids,
                formed_on,
                ..
            } => {
                self.plg_id = Some(*plg_id);
                self.name = Some(name.clone());
                self.formed_on = Some(formed_on.date());
                self.school_ids = school_ids.clone();
                self.learning_question = Some(learning_question.clone());
                self.members = member_ids.iter().copied().collect();
            }
            PlgEvent::LearningQuestionRefined {
                learning_question, ..
            } => {
                self.learning_question = Some(learning_question.clone());
            }
            PlgEvent::MemberAdded { person_id } => {
                self.members.insert(*person_id);
            }
            PlgEvent::MemberRemoved { person_id, .. } => {
                self.members.remove(person_id);
            }
            PlgEvent::PhaseReached { phase, .. } => self.phase = Some(*phase),
            PlgEvent::SessionHeld(session) => {
                self.last_session_on = Some(session.held_on.date());
                self.sessions += 1;
            }
            PlgEvent::PlgDissolved { .. } => self.dissolved = true,
            PlgEvent::CoachAssigned {
                coach_id,
                kind,
                assigned_on,
            } => {
                self.coach = Some(CurrentCoach {
                    person_id: *coach_id,
                    kind: *kind,
                    since: assigned_on.date(),
                });
            }
            PlgEvent::CoachHandedOver {
                to_coach_id,
                to_kind,
                handed_over_on,
                ..
            } => {
                self.coach = Some(CurrentCoach {
                    person_id: *to_coach_id,
                    kind: *to_kind,
                    since: handed_over_on.date(),
                });
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

    fn text(value: &str) -> Text {
        Text::parse(value).expect("valid text")
    }

    struct Fixture {
        members: [PersonId; 2],
        coach: PersonId,
        history: Vec<PlgEvent>,
    }

    /// A school PLG of two members, formed on 2016-09-01, with an external coach.
    fn formed_with_coach() -> Fixture {
        let members = [PersonId::new_random(), PersonId::new_random()];
        let coach = PersonId::new_random();
        let form = PlgCommand::Form(FormPlg {
            plg_id: PlgId::new_random(),
            kind: PlgKind::School,
            school_ids: vec![SchoolId::new_random()],
            name: Label::parse("Formative assessment").expect("valid name"),
            practice_need: text("students do not know where they stand"),
            learning_question: text("why does feedback not land?"),
            member_ids: members.to_vec(),
            formed_on: day("2016-09-01"),
        });
        let mut history = then_events(&Plg::default(), &form);
        let assign = PlgCommand::AssignCoach {
            coach_id: coach,
            kind: CoachKind::External,
            assigned_on: day("2016-09-01"),
        };
        history.extend(then_events(&given::<Plg>(&history), &assign));
        Fixture {
            members,
            coach,
            history,
        }
    }

    fn session(
        attendance: Vec<Attendance>,
        facilitator_id: Option<PersonId>,
        held_on: &str,
    ) -> PlgCommand {
        PlgCommand::HoldSession(Session {
            session_id: SessionId::new_random(),
            held_on: day(held_on),
            duration_minutes: SessionMinutes::new(90).expect("valid duration"),
            attendance,
            facilitator_id,
            theme_phases: BTreeSet::from([ThemePhase::Explore]),
            goals: vec![SessionGoal {
                description: text("agree on a learning question"),
                reached: true,
            }],
            check_in_held: true,
            check_out_held: true,
            methods: vec![Label::parse("OASE intervision").expect("valid label")],
            product: None,
            external_input: None,
            agreements: vec![],
        })
    }

    #[test]
    fn the_kind_decides_how_many_schools_a_plg_has() {
        let Fixture { history, .. } = formed_with_coach();
        let PlgEvent::PlgFormed {
            school_ids,
            formed_on,
            ..
        } = &history[0]
        else {
            panic!("expected formation")
        };
        let cross = PlgCommand::Form(FormPlg {
            plg_id: PlgId::new_random(),
            kind: PlgKind::CrossSchool,
            school_ids: school_ids.clone(),
            name: Label::parse("VLG maths").expect("valid name"),
            practice_need: text("need"),
            learning_question: text("why?"),
            member_ids: vec![],
            formed_on: *formed_on,
        });
        let error = then_error(&Plg::default(), &cross);
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "school_ids",
                ..
            }
        ));
    }

    #[test]
    fn members_attend_sessions_facilitated_by_the_coach() {
        let Fixture {
            members,
            coach,
            history,
        } = formed_with_coach();
        let attendance = vec![
            Attendance {
                person_id: members[0],
                present: true,
            },
            Attendance {
                person_id: members[1],
                present: false,
            },
        ];
        let events = then_events(
            &given::<Plg>(&history),
            &session(attendance, Some(coach), "2016-10-01"),
        );
        assert!(matches!(&events[..], [PlgEvent::SessionHeld(_)]));
    }

    #[test]
    fn attendees_must_be_members() {
        let Fixture { history, .. } = formed_with_coach();
        let outsider = Attendance {
            person_id: PersonId::new_random(),
            present: true,
        };
        let error = then_error(
            &given::<Plg>(&history),
            &session(vec![outsider], None, "2016-10-01"),
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "attendee_not_member",
                ..
            }
        ));
    }

    #[test]
    fn facilitators_must_be_involved() {
        let Fixture { history, .. } = formed_with_coach();
        let error = then_error(
            &given::<Plg>(&history),
            &session(vec![], Some(PersonId::new_random()), "2016-10-01"),
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "facilitator_not_involved",
                ..
            }
        ));
    }

    #[test]
    fn sessions_cannot_precede_the_plg() {
        let Fixture { history, .. } = formed_with_coach();
        let error = then_error(
            &given::<Plg>(&history),
            &session(vec![], None, "2016-08-31"),
        );
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "held_on",
                ..
            }
        ));
    }

    #[test]
    fn a_plg_cannot_be_dissolved_before_its_last_session() {
        let Fixture { mut history, .. } = formed_with_coach();
        history.extend(then_events(
            &given::<Plg>(&history),
            &session(vec![], None, "2017-03-01"),
        ));
        let dissolve = PlgCommand::Dissolve {
            dissolved_on: day("2017-02-28"),
            reason: text("need met"),
        };
        let error = then_error(&given::<Plg>(&history), &dissolve);
        assert!(matches!(
            error,
            DomainError::InvalidField {
                field: "dissolved_on",
                ..
            }
        ));
    }

    #[test]
    fn a_dissolved_plg_holds_no_sessions() {
        let Fixture { mut history, .. } = formed_with_coach();
        history.push(PlgEvent::PlgDissolved {
            dissolved_on: day("2017-06-01"),
            reason: text("need met"),
        });
        let error = then_error(
            &given::<Plg>(&history),
            &session(vec![], None, "2017-06-02"),
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "plg_dissolved",
                ..
            }
        ));
    }

    #[test]
    fn the_coach_hands_over_to_an_internal_coach() {
        let Fixture {
            members,
            coach,
            mut history,
        } = formed_with_coach();
        let hand_over = PlgCommand::HandOver {
            from_coach_id: coach,
            to_coach_id: members[0],
            to_kind: CoachKind::Internal,
            handed_over_on: day("2017-09-01"),
            reason: Some(text("continuity after the project")),
        };
        history.extend(then_events(&given::<Plg>(&history), &hand_over));
        let state = given::<Plg>(&history);
        assert_eq!(
            state.coach.map(|c| (c.person_id, c.kind)),
            Some((members[0], CoachKind::Internal))
        );
        // The former coach no longer holds the role, so cannot hand it over again.
        let error = then_error(&state, &hand_over);
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "not_current_coach",
                ..
            }
        ));
    }

    #[test]
    fn only_a_plg_without_a_coach_gets_one_assigned() {
        let Fixture {
            members, history, ..
        } = formed_with_coach();
        let assign = PlgCommand::AssignCoach {
            coach_id: members[0],
            kind: CoachKind::Internal,
            assigned_on: day("2017-01-01"),
        };
        let error = then_error(&given::<Plg>(&history), &assign);
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "coach_already_assigned",
                ..
            }
        ));
    }

    #[test]
    fn membership_changes_must_change_something() {
        let Fixture {
            members, history, ..
        } = formed_with_coach();
        let state = given::<Plg>(&history);
        let error = then_error(
            &state,
            &PlgCommand::AddMember {
                person_id: members[0],
            },
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "already_member",
                ..
            }
        ));
        let error = then_error(
            &state,
            &PlgCommand::RemoveMember {
                person_id: PersonId::new_random(),
                reason: None,
            },
        );
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "not_a_member",
                ..
            }
        ));
    }

    #[test]
    fn commands_for_an_unformed_plg_are_not_found() {
        let error = then_error(
            &Plg::default(),
            &PlgCommand::AddMember {
                person_id: PersonId::new_random(),
            },
        );
        assert!(matches!(error, DomainError::NotFound { .. }));
    }
}
