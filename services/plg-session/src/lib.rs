//! SessionService: PLGs and cross-school VLGs, their members, the phases they reach and the
//! sessions they hold.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use plg_domain::{
    ValueError,
    ids::{PersonId, PlgId, SchoolId, SessionId},
    person::Person,
    plg::{
        Attendance, FormPlg, Plg, PlgCommand, PlgEvent, PlgKind, Session, SessionGoal,
        SessionMinutes,
    },
    school::School,
    values::{Label, PastDate, Text},
};
use plg_proto::v1::{
    self,
    session_service_server::{SessionService, SessionServiceServer},
};
use plg_runtime::{
    Ledger, ServiceError, Subject, Target, WriteContext,
    parse::{self, Violations, enumeration},
};
use tonic::{Request, Response, Status};

pub fn server(ledger: &Ledger) -> SessionServiceServer<Sessions> {
    SessionServiceServer::new(Sessions {
        ledger: ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Sessions {
    ledger: Ledger,
}

fn kind(value: i32) -> Result<PlgKind, ValueError> {
    enumeration(value, |kind: v1::PlgKind| match kind {
        v1::PlgKind::Unspecified => None,
        v1::PlgKind::School => Some(PlgKind::School),
        v1::PlgKind::CrossSchool => Some(PlgKind::CrossSchool),
    })
}

fn plg_id(violations: &mut Violations, value: &str) -> Option<PlgId> {
    violations.required("plg_id", value, PlgId::parse)
}

fn person_id(violations: &mut Violations, value: &str) -> Option<PersonId> {
    violations.required("person_id", value, PersonId::parse)
}

/// The session a request records, under a new id.
fn session(
    violations: &mut Violations,
    today: NaiveDate,
    message: &v1::HoldSessionRequest,
) -> Option<Session> {
    let held_on = violations.required("held_on", &message.held_on, parse::past_date(today));
    let duration_minutes = violations.check(
        "duration_minutes",
        SessionMinutes::new(message.duration_minutes),
    );
    let mut listed = BTreeSet::new();
    let attendance = violations.each(
        "attendance",
        &message.attendance,
        |violations, field, attendance| {
            let person_id = violations.required(
                &format!("{field}.person_id"),
                &attendance.person_id,
                PersonId::parse,
            )?;
            let first = violations.first_time(&mut listed, "attendance", &person_id, || {
                format!("person {person_id} is listed more than once")
            });
            if !first {
                return None;
            }
            Some(Attendance {
                person_id,
                present: attendance.present,
            })
        },
    );
    let facilitator_id =
        violations.optional("facilitator_id", &message.facilitator_id, PersonId::parse);
    let theme_phases =
        violations.each_distinct("theme_phases", &message.theme_phases, parse::theme_phase);
    let goals = violations.each("goals", &message.goals, |violations, field, goal| {
        let description = violations.required(
            &format!("{field}.description"),
            &goal.description,
            Text::parse,
        )?;
        Some(SessionGoal {
            description,
            reached: goal.reached,
        })
    });
    let methods = violations.each_required("methods", &message.methods, Label::parse);
    let product = violations.optional("product", &message.product, Text::parse);
    let external_input =
        violations.optional("external_input", &message.external_input, Text::parse);
    let agreements = violations.each_required("agreements", &message.agreements, Text::parse);
    Some(Session {
        session_id: SessionId::new_random(),
        held_on: held_on?,
        duration_minutes: duration_minutes?,
        attendance: attendance?,
        facilitator_id: facilitator_id?,
        theme_phases: theme_phases?,
        goals: goals?,
        check_in_held: message.check_in_held,
        check_out_held: message.check_out_held,
        methods: methods?,
        product: product?,
        external_input: external_input?,
        agreements: agreements?,
    })
}

#[tonic::async_trait]
impl SessionService for Sessions {
    async fn form_plg(
        &self,
        request: Request<v1::FormPlgRequest>,
    ) -> Result<Response<v1::FormPlgResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let school_ids =
                    violations.each_required("school_ids", &message.school_ids, SchoolId::parse);
                let school_ids = violations.distinct(
                    "school_ids",
                    school_ids,
                    "a school appears more than once",
                );
                let kind = violations.check("kind", kind(message.kind));
                let counted = match (kind, &school_ids) {
                    (Some(kind), Some(school_ids)) => {
                        violations.check("school_ids", kind.check_school_count(school_ids.len()))
                    }
                    _ => Some(()),
                };
                let name = violations.required("name", &message.name, Label::parse);
                let practice_need =
                    violations.required("practice_need", &message.practice_need, Text::parse);
                let learning_question = violations.required(
                    "learning_question",
                    &message.learning_question,
                    Text::parse,
                );
                let member_ids =
                    violations.each_required("member_ids", &message.member_ids, PersonId::parse);
                let member_ids = violations.distinct(
                    "member_ids",
                    member_ids,
                    "a member appears more than once",
                );
                let formed_on = violations.check(
                    "options.occurred_at",
                    PastDate::new(context.occurred_on(), context.today()),
                );
                let (
                    Some(()),
                    Some(school_ids),
                    Some(kind),
                    Some(name),
                    Some(practice_need),
                    Some(learning_question),
                    Some(member_ids),
                    Some(formed_on),
                ) = (
                    counted,
                    school_ids,
                    kind,
                    name,
                    practice_need,
                    learning_question,
                    member_ids,
                    formed_on,
                )
                else {
                    return Err(violations.into_error());
                };
                let subject = Subject::schools(school_ids.clone());
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<School, _>("school", &school_ids)
                    .await?;
                self.ledger
                    .require_all::<Person, _>("person", &member_ids)
                    .await?;
                let plg_id = PlgId::new_random();
                let form = FormPlg {
                    plg_id,
                    kind,
                    school_ids,
                    name,
                    practice_need,
                    learning_question,
                    member_ids,
                    formed_on,
                };
                Ok(Target::new(plg_id, subject, PlgCommand::Form(form)))
            })
            .await?;
        let PlgEvent::PlgFormed { plg_id, .. } = written.first()? else {
            return Err(ServiceError::unexpected(&written.outcome.stream, "PlgFormed").into());
        };
        Ok(Response::new(v1::FormPlgResponse {
            plg_id: plg_id.to_string(),
            result: Some(written.result()),
        }))
    }

    async fn refine_learning_question(
        &self,
        request: Request<v1::RefineLearningQuestionRequest>,
    ) -> Result<Response<v1::RefineLearningQuestionResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let learning_question = violations.required(
                    "learning_question",
                    &message.learning_question,
                    Text::parse,
                );
                let rationale = violations.optional("rationale", &message.rationale, Text::parse);
                let (Some(plg_id), Some(learning_question), Some(rationale)) =
                    (plg_id, learning_question, rationale)
                else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    plg_id,
                    self.ledger.plg_subject(plg_id).await?,
                    PlgCommand::RefineLearningQuestion {
                        learning_question,
                        rationale,
                    },
                ))
            })
            .await?;
        Ok(Response::new(v1::RefineLearningQuestionResponse {
            result: Some(written.result()),
        }))
    }

    async fn add_member(
        &self,
        request: Request<v1::AddMemberRequest>,
    ) -> Result<Response<v1::AddMemberResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let person_id = person_id(&mut violations, &message.person_id);
                let (Some(plg_id), Some(person_id)) = (plg_id, person_id) else {
                    return Err(violations.into_error());
                };
                let subject = self.ledger.plg_subject(plg_id).await?;
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<Person, _>("person", [person_id])
                    .await?;
                Ok(Target::new(
                    plg_id,
                    subject,
                    PlgCommand::AddMember { person_id },
                ))
            })
            .await?;
        Ok(Response::new(v1::AddMemberResponse {
            result: Some(written.result()),
        }))
    }

    async fn remove_member(
        &self,
        request: Request<v1::RemoveMemberRequest>,
    ) -> Result<Response<v1::RemoveMemberResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let person_id = person_id(&mut violations, &message.person_id);
                let reason = violations.optional("reason", &message.reason, Text::parse);
                let (Some(plg_id), Some(person_id), Some(reason)) = (plg_id, person_id, reason)
                else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    plg_id,
                    self.ledger.plg_subject(plg_id).await?,
                    PlgCommand::RemoveMember { person_id, reason },
                ))
            })
            .await?;
        Ok(Response::new(v1::RemoveMemberResponse {
            result: Some(written.result()),
        }))
    }

    async fn record_phase(
        &self,
        request: Request<v1::RecordPhaseRequest>,
    ) -> Result<Response<v1::RecordPhaseResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let phase = violations.check("phase", parse::plg_phase(message.phase));
                let reached_on = violations.required(
                    "reached_on",
                    &message.reached_on,
                    parse::past_date(context.today()),
                );
                let (Some(plg_id), Some(phase), Some(reached_on)) = (plg_id, phase, reached_on)
                else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    plg_id,
                    self.ledger.plg_subject(plg_id).await?,
                    PlgCommand::RecordPhase { phase, reached_on },
                ))
            })
            .await?;
        Ok(Response::new(v1::RecordPhaseResponse {
            result: Some(written.result()),
        }))
    }

    async fn hold_session(
        &self,
        request: Request<v1::HoldSessionRequest>,
    ) -> Result<Response<v1::HoldSessionResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let session = session(&mut violations, context.today(), &message);
                let (Some(plg_id), Some(session)) = (plg_id, session) else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    plg_id,
                    self.ledger.plg_subject(plg_id).await?,
                    PlgCommand::HoldSession(session),
                ))
            })
            .await?;
        let PlgEvent::SessionHeld(session) = written.first()? else {
            return Err(ServiceError::unexpected(&written.outcome.stream, "SessionHeld").into());
        };
        Ok(Response::new(v1::HoldSessionResponse {
            session_id: session.session_id.to_string(),
            result: Some(written.result()),
        }))
    }

    async fn dissolve_plg(
        &self,
        request: Request<v1::DissolvePlgRequest>,
    ) -> Result<Response<v1::DissolvePlgResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let dissolved_on = violations.required(
                    "dissolved_on",
                    &message.dissolved_on,
                    parse::past_date(context.today()),
                );
                let reason = violations.required("reason", &message.reason, Text::parse);
                let (Some(plg_id), Some(dissolved_on), Some(reason)) =
                    (plg_id, dissolved_on, reason)
                else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    plg_id,
                    self.ledger.plg_subject(plg_id).await?,
                    PlgCommand::Dissolve {
                        dissolved_on,
                        reason,
                    },
                ))
            })
            .await?;
        Ok(Response::new(v1::DissolvePlgResponse {
            result: Some(written.result()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_must_be_one_of_the_listed_values() {
        assert!(kind(v1::PlgKind::Unspecified.into()).is_err());
        assert!(kind(42).is_err());
        assert_eq!(
            kind(v1::PlgKind::CrossSchool.into()),
            Ok(PlgKind::CrossSchool)
        );
    }
}
