//! SessionService's and CoachingService's requests and replies: both change a PLG.

mod coaching;
mod session;

use plg_domain::{
    ValueError,
    ids::{PersonId, PlgId, SchoolId},
    plg::{self, PlgEvent, PlgKind},
    values::{Label, PastDate, Text},
};
use plg_ledger::{
    CommandContext, ServiceError, Written,
    commands::plg::{
        AddMember, DissolvePlg, FormPlg, RecordPhase, RefineLearningQuestion, RemoveMember,
    },
};
use plg_proto::v1;

use crate::{
    IntoCommand,
    parse::{self, Violations, enumeration},
    write_result,
};

fn kind(value: i32) -> Result<PlgKind, ValueError> {
    enumeration(value, |kind: v1::PlgKind| match kind {
        v1::PlgKind::Unspecified => None,
        v1::PlgKind::School => Some(PlgKind::School),
        v1::PlgKind::CrossSchool => Some(PlgKind::CrossSchool),
    })
}

/// The PLG a request addresses.
fn plg_id(violations: &mut Violations, value: &str) -> Option<PlgId> {
    violations.required("plg_id", value, PlgId::parse)
}

fn person_id(violations: &mut Violations, value: &str) -> Option<PersonId> {
    violations.required("person_id", value, PersonId::parse)
}

impl IntoCommand for v1::FormPlgRequest {
    type Command = FormPlg;
    type Reply = v1::FormPlgResponse;

    fn into_command(self, context: &CommandContext) -> Result<FormPlg, ServiceError> {
        let mut violations = Violations::default();
        let school_ids = violations.each_required("school_ids", &self.school_ids, SchoolId::parse);
        let school_ids =
            violations.distinct("school_ids", school_ids, "a school appears more than once");
        let kind = violations.check("kind", kind(self.kind));
        let counted = match (kind, &school_ids) {
            (Some(kind), Some(school_ids)) => {
                violations.check("school_ids", kind.check_school_count(school_ids.len()))
            }
            _ => Some(()),
        };
        let name = violations.required("name", &self.name, Label::parse);
        let practice_need = violations.required("practice_need", &self.practice_need, Text::parse);
        let learning_question =
            violations.required("learning_question", &self.learning_question, Text::parse);
        let member_ids = violations.each_required("member_ids", &self.member_ids, PersonId::parse);
        let member_ids =
            violations.distinct("member_ids", member_ids, "a member appears more than once");
        let formed_on = violations.check(
            "options.occurred_at",
            PastDate::new(context.occurred_on(), context.today()),
        );
        violations.finish(|| {
            counted?;
            Some(FormPlg(plg::FormPlg {
                plg_id: PlgId::new_random(),
                kind: kind?,
                school_ids: school_ids?,
                name: name?,
                practice_need: practice_need?,
                learning_question: learning_question?,
                member_ids: member_ids?,
                formed_on: formed_on?,
            }))
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::FormPlgResponse, ServiceError> {
        let PlgEvent::PlgFormed { plg_id, .. } = written.first()? else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "PlgFormed",
            ));
        };
        Ok(v1::FormPlgResponse {
            plg_id: plg_id.to_string(),
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::RefineLearningQuestionRequest {
    type Command = RefineLearningQuestion;
    type Reply = v1::RefineLearningQuestionResponse;

    fn into_command(self, _: &CommandContext) -> Result<RefineLearningQuestion, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let learning_question =
            violations.required("learning_question", &self.learning_question, Text::parse);
        let rationale = violations.optional("rationale", &self.rationale, Text::parse);
        violations.finish(|| {
            Some(RefineLearningQuestion {
                plg_id: plg_id?,
                learning_question: learning_question?,
                rationale: rationale?,
            })
        })
    }

    fn reply(
        written: Written<PlgEvent>,
    ) -> Result<v1::RefineLearningQuestionResponse, ServiceError> {
        Ok(v1::RefineLearningQuestionResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::AddMemberRequest {
    type Command = AddMember;
    type Reply = v1::AddMemberResponse;

    fn into_command(self, _: &CommandContext) -> Result<AddMember, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let person_id = person_id(&mut violations, &self.person_id);
        violations.finish(|| {
            Some(AddMember {
                plg_id: plg_id?,
                person_id: person_id?,
            })
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::AddMemberResponse, ServiceError> {
        Ok(v1::AddMemberResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::RemoveMemberRequest {
    type Command = RemoveMember;
    type Reply = v1::RemoveMemberResponse;

    fn into_command(self, _: &CommandContext) -> Result<RemoveMember, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let person_id = person_id(&mut violations, &self.person_id);
        let reason = violations.optional("reason", &self.reason, Text::parse);
        violations.finish(|| {
            Some(RemoveMember {
                plg_id: plg_id?,
                person_id: person_id?,
                reason: reason?,
            })
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::RemoveMemberResponse, ServiceError> {
        Ok(v1::RemoveMemberResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::RecordPhaseRequest {
    type Command = RecordPhase;
    type Reply = v1::RecordPhaseResponse;

    fn into_command(self, context: &CommandContext) -> Result<RecordPhase, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let phase = violations.check("phase", parse::plg_phase(self.phase));
        let reached_on = violations.required(
            "reached_on",
            &self.reached_on,
            parse::past_date(context.today()),
        );
        violations.finish(|| {
            Some(RecordPhase {
                plg_id: plg_id?,
                phase: phase?,
                reached_on: reached_on?,
            })
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::RecordPhaseResponse, ServiceError> {
        Ok(v1::RecordPhaseResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::DissolvePlgRequest {
    type Command = DissolvePlg;
    type Reply = v1::DissolvePlgResponse;

    fn into_command(self, context: &CommandContext) -> Result<DissolvePlg, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let dissolved_on = violations.required(
            "dissolved_on",
            &self.dissolved_on,
            parse::past_date(context.today()),
        );
        let reason = violations.required("reason", &self.reason, Text::parse);
        violations.finish(|| {
            Some(DissolvePlg {
                plg_id: plg_id?,
                dissolved_on: dissolved_on?,
                reason: reason?,
            })
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::DissolvePlgResponse, ServiceError> {
        Ok(v1::DissolvePlgResponse {
            result: write_result(&written),
        })
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
