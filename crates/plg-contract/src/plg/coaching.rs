//! A PLG's process coach, assigned once and then handed over from coach to coach.

use plg_domain::{
    ValueError,
    ids::PersonId,
    plg::{CoachKind, PlgEvent},
    values::Text,
};
use plg_ledger::{
    CommandContext, ServiceError, Written,
    commands::plg::{AssignCoach, HandOverCoaching},
};
use plg_proto::v1;

use super::plg_id;
use crate::{
    IntoCommand,
    parse::{self, Violations, enumeration},
    write_result,
};

fn coach_kind(value: i32) -> Result<CoachKind, ValueError> {
    enumeration(value, |kind: v1::CoachKind| match kind {
        v1::CoachKind::Unspecified => None,
        v1::CoachKind::Internal => Some(CoachKind::Internal),
        v1::CoachKind::External => Some(CoachKind::External),
    })
}

impl IntoCommand for v1::AssignCoachRequest {
    type Command = AssignCoach;
    type Reply = v1::AssignCoachResponse;

    fn into_command(self, context: &CommandContext) -> Result<AssignCoach, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let coach_id = violations.required("coach_id", &self.coach_id, PersonId::parse);
        let kind = violations.check("kind", coach_kind(self.kind));
        let assigned_on = violations.required(
            "assigned_on",
            &self.assigned_on,
            parse::past_date(context.today()),
        );
        violations.finish(|| {
            Some(AssignCoach {
                plg_id: plg_id?,
                coach_id: coach_id?,
                kind: kind?,
                assigned_on: assigned_on?,
            })
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::AssignCoachResponse, ServiceError> {
        Ok(v1::AssignCoachResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::HandOverCoachingRequest {
    type Command = HandOverCoaching;
    type Reply = v1::HandOverCoachingResponse;

    fn into_command(self, context: &CommandContext) -> Result<HandOverCoaching, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let from_coach_id =
            violations.required("from_coach_id", &self.from_coach_id, PersonId::parse);
        let to_coach_id = violations.required("to_coach_id", &self.to_coach_id, PersonId::parse);
        let to_kind = violations.check("to_kind", coach_kind(self.to_kind));
        let handed_over_on = violations.required(
            "handed_over_on",
            &self.handed_over_on,
            parse::past_date(context.today()),
        );
        let reason = violations.optional("reason", &self.reason, Text::parse);
        violations.finish(|| {
            Some(HandOverCoaching {
                plg_id: plg_id?,
                from_coach_id: from_coach_id?,
                to_coach_id: to_coach_id?,
                to_kind: to_kind?,
                handed_over_on: handed_over_on?,
                reason: reason?,
            })
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::HandOverCoachingResponse, ServiceError> {
        Ok(v1::HandOverCoachingResponse {
            result: write_result(&written),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coach_kind_must_be_specified() {
        assert!(coach_kind(v1::CoachKind::Unspecified.into()).is_err());
        assert!(coach_kind(7).is_err());
        assert_eq!(
            coach_kind(v1::CoachKind::Internal.into()),
            Ok(CoachKind::Internal)
        );
        assert_eq!(
            coach_kind(v1::CoachKind::External.into()),
            Ok(CoachKind::External)
        );
    }
}
