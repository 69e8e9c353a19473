use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    dimension::Dimension,
    ids::{ResponseId, SchoolId, StudyId, SubmissionId},
    study::ScanTerms,
    values::{InstrumentVersion, ItemCode, Pseudonym, Score, Text, WaveLabel},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RespondentRole {
    Teacher,
    SchoolLeader,
    TeamLeader,
    SupportStaff,
}

crate::names::stored_names!(RespondentRole {
    Teacher => "teacher",
    SchoolLeader => "school_leader",
    TeamLeader => "team_leader",
    SupportStaff => "support_staff",
});

/// One item's answer as the respondent gave it. No current score means "no answer".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAnswer {
    pub item_code: ItemCode,
    pub current: Option<Score>,
    pub desired: Option<Score>,
}

impl ItemAnswer {
    /// A desired score only makes sense beside a current one; checkable before the item code
    /// is known.
    pub fn check_scores(
        current: Option<Score>,
        desired: Option<Score>,
    ) -> Result<(), crate::ValueError> {
        if current.is_none() && desired.is_some() {
            return Err(crate::ValueError::new(
                "a desired score needs a current score",
            ));
        }
        Ok(())
    }

    pub fn new(
        item_code: ItemCode,
        current: Option<Score>,
        desired: Option<Score>,
    ) -> Result<Self, crate::ValueError> {
        Self::check_scores(current, desired)?;
        Ok(Self {
            item_code,
            current,
            desired,
        })
    }
}

/// An answer as recorded, with the dimension its item scores under the instrument used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedAnswer {
    pub item_code: ItemCode,
    pub dimension: Dimension,
    pub current: Option<Score>,
    pub desired: Option<Score>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScanCommand {
    Submit {
        response_id: ResponseId,
        submission_id: SubmissionId,
        school_id: SchoolId,
        respondent: Pseudonym,
        role: RespondentRole,
        answered_on: NaiveDate,
        answers: Vec<ItemAnswer>,
        terms: ScanTerms,
    },
    Retract {
        reason: Option<Text>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ScanEvent {
    ScanSubmitted {
        response_id: ResponseId,
        submission_id: SubmissionId,
        study_id: StudyId,
        school_id: SchoolId,
        wave: WaveLabel,
        respondent: Pseudonym,
        role: RespondentRole,
        instrument_version: InstrumentVersion,
        answered_on: NaiveDate,
        answers: Vec<RecordedAnswer>,
        /// The earlier submission of this respondent in this wave that this one replaces.
        supersedes: Option<SubmissionId>,
    },
    ScanRetracted {
        submission_id: SubmissionId,
        reason: Option<Text>,
    },
}

impl DomainEvent for ScanEvent {}

/// One respondent's response to one wave, across its submissions.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScanResponse {
    pub response_id: Option<ResponseId>,
    /// The study and school it answers for.
    pub study_id: Option<StudyId>,
    pub school_id: Option<SchoolId>,
    /// The submission that counts now; `None` before the first or after a retraction.
    pub current: Option<Submission>,
}

/// A submission as it counts: who answered, in which wave, what.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub submission_id: SubmissionId,
    pub wave: WaveLabel,
    pub respondent: Pseudonym,
    pub role: RespondentRole,
    pub answers: Vec<RecordedAnswer>,
}

impl ScanResponse {
    fn record_answers(
        answers: &[ItemAnswer],
        terms: &ScanTerms,
    ) -> Result<Vec<RecordedAnswer>, DomainError> {
        let mut seen = BTreeSet::new();
        let recorded = answers
            .iter()
            .map(|answer| {
                if !seen.insert(&answer.item_code) {
                    return Err(DomainError::invalid(
                        "answers",
                        format!("item {} is answered more than once", answer.item_code),
                    ));
                }
                let item = terms.instrument.item(&answer.item_code).ok_or_else(|| {
                    DomainError::invalid(
                        "answers",
                        format!(
                            "item {} is not in instrument {}",
                            answer.item_code, terms.instrument.version
                        ),
                    )
                })?;
                Ok(RecordedAnswer {
                    item_code: answer.item_code.clone(),
                    dimension: item.dimension,
                    current: answer.current,
                    desired: answer.desired,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if recorded.iter().all(|answer| answer.current.is_none()) {
            return Err(DomainError::invalid(
                "answers",
                "a scan must answer at least one item",
            ));
        }
        Ok(recorded)
    }
}

impl Aggregate for ScanResponse {
    const CATEGORY: &'static str = "scan";
    type Command = ScanCommand;
    type Event = ScanEvent;

    fn decide(&self, command: &ScanCommand) -> Result<Vec<ScanEvent>, DomainError> {
        match command {
            ScanCommand::Submit {
                response_id,
                submission_id,
                school_id,
                respondent,
                role,
                answered_on,
                answers,
                terms,
            } => Ok(vec![ScanEvent::ScanSubmitted {
                response_id: *response_id,
                submission_id: *submission_id,
                study_id: terms.study_id,
                school_id: *school_id,
                wave: terms.wave.label.clone(),
                respondent: respondent.clone(),
                role: *role,
                instrument_version: terms.instrument.version.clone(),
                answered_on: *answered_on,
                answers: Self::record_answers(answers, terms)?,
                supersedes: self.current.as_ref().map(|current| current.submission_id),
            }]),
            ScanCommand::Retract { reason } => {
                let Some(response_id) = self.response_id else {
                    return Err(DomainError::not_found("scan response"));
                };
                let submission_id = self.current.as_ref().map(|current| current.submission_id);
                let submission_id = submission_id.ok_or_else(|| {
                    DomainError::rule(
                        "scan_retracted",
                        format!("scan response {response_id} is already retracted"),
                    )
                })?;
                Ok(vec![ScanEvent::ScanRetracted {
                    submission_id,
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn evolve(&mut self, event: &ScanEvent) {
        match event {
            ScanEvent::ScanSubmitted {
                response_id,
                submission_id,
                study_id,
                school_id,
                wave,
                respondent,
                role,
                answers,
                ..
            } => {
                self.response_id = Some(*response_id);
                self.study_id = Some(*study_id);
                self.school_id = Some(*school_id);
                self.current = Some(Submission {
                    submission_id: *submission_id,
                    wave: wave.clone(),
                    respondent: respondent.clone(),
                    role: *role,
                    answers: answers.clone(),
                });
            }
            ScanEvent::ScanRetracted { .. } => self.current = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        decider::spec::{given, then_error, then_events},
        instrument::Instrument,
        study::Wave,
        values::parse_date,
    };

    fn terms() -> ScanTerms {
        let wave = Wave::new(
            WaveLabel::parse("T1").expect("valid label"),
            parse_date("2015-01-01").expect("valid date"),
            parse_date("2015-03-31").expect("valid date"),
        )
        .expect("valid wave");
        ScanTerms {
            study_id: StudyId::new_random(),
            wave,
            instrument: Instrument::built_in(),
        }
    }

    fn answer(code: &str, current: Option<u32>, desired: Option<u32>) -> ItemAnswer {
        ItemAnswer::new(
            ItemCode::parse(code).expect("valid code"),
            current.map(|score| Score::new(score).expect("valid score")),
            desired.map(|score| Score::new(score).expect("valid score")),
        )
        .expect("valid answer")
    }

    fn submit(response_id: ResponseId, answers: Vec<ItemAnswer>) -> ScanCommand {
        ScanCommand::Submit {
            response_id,
            submission_id: SubmissionId::new_random(),
            school_id: SchoolId::new_random(),
            respondent: Pseudonym::parse("r-001").expect("valid pseudonym"),
            role: RespondentRole::Teacher,
            answered_on: parse_date("2015-02-01").expect("valid date"),
            answers,
            terms: terms(),
        }
    }

    #[test]
    fn answers_are_recorded_with_their_dimension() {
        let events = then_events(
            &given::<ScanResponse>(&[]),
            &submit(
                ResponseId::new_random(),
                vec![answer("E5.1", Some(4), Some(5)), answer("C1.2", None, None)],
            ),
        );
        let [
            ScanEvent::ScanSubmitted {
                answers,
                supersedes: None,
                ..
            },
        ] = &events[..]
        else {
            panic!("expected one first submission, got {events:?}");
        };
        assert_eq!(answers[0].dimension, Dimension::InquiringAttitude);
        assert_eq!(answers[1].current, None);
    }

    #[test]
    fn a_desired_score_needs_a_current_one() {
        let code = ItemCode::parse("E1.1").expect("valid code");
        assert!(ItemAnswer::new(code, None, Some(Score::new(3).expect("valid score"))).is_err());
    }

    #[test]
    fn unknown_and_repeated_items_and_empty_scans_are_refused() {
        let state = ScanResponse::default();
        let response_id = ResponseId::new_random();
        for answers in [
            vec![answer("X9.9", Some(3), None)],
            vec![answer("E1.1", Some(3), None), answer("E1.1", Some(4), None)],
            vec![answer("E1.1", None, None)],
            vec![],
        ] {
            let error = then_error(&state, &submit(response_id, answers));
            assert!(
                matches!(
                    error,
                    DomainError::InvalidField {
                        field: "answers",
                        ..
                    }
                ),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_second_submission_supersedes_the_first() {
        let response_id = ResponseId::new_random();
        let first = then_events(
            &ScanResponse::default(),
            &submit(response_id, vec![answer("E1.1", Some(2), None)]),
        );
        let ScanEvent::ScanSubmitted {
            submission_id: first_id,
            ..
        } = &first[0]
        else {
            panic!("expected a submission");
        };
        let second = then_events(
            &given::<ScanResponse>(&first),
            &submit(response_id, vec![answer("E1.1", Some(3), None)]),
        );
        assert!(
            matches!(&second[..], [ScanEvent::ScanSubmitted { supersedes: Some(id), .. }] if id == first_id)
        );
    }

    #[test]
    fn a_retracted_response_cannot_be_retracted_again() {
        let response_id = ResponseId::new_random();
        let mut history = then_events(
            &ScanResponse::default(),
            &submit(response_id, vec![answer("E1.1", Some(2), None)]),
        );
        let retract = ScanCommand::Retract { reason: None };
        history.extend(then_events(&given::<ScanResponse>(&history), &retract));
        let error = then_error(&given::<ScanResponse>(&history), &retract);
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "scan_retracted",
                ..
            }
        ));
        assert!(matches!(
            then_error(&ScanResponse::default(), &retract),
            DomainError::NotFound { .. }
        ));
    }
}
