//! CoachingService: the process coach of a PLG, assigned once and then handed over from coach
//! to coach.

use plg_domain::{
    ValueError,
    ids::{PersonId, PlgId},
    person::Person,
    plg::{CoachKind, Plg, PlgCommand},
    values::Text,
};
use plg_proto::v1::{
    self,
    coaching_service_server::{CoachingService, CoachingServiceServer},
};
use plg_runtime::{
    Ledger, Target, WriteContext,
    parse::{self, Violations, enumeration},
};
use tonic::{Request, Response, Status};

pub fn server(ledger: &Ledger) -> CoachingServiceServer<Coaching> {
    CoachingServiceServer::new(Coaching {
        ledger: ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Coaching {
    ledger: Ledger,
}

fn coach_kind(value: i32) -> Result<CoachKind, ValueError> {
    enumeration(value, |kind: v1::CoachKind| match kind {
        v1::CoachKind::Unspecified => None,
        v1::CoachKind::Internal => Some(CoachKind::Internal),
        v1::CoachKind::External => Some(CoachKind::External),
    })
}

fn plg_id(violations: &mut Violations, value: &str) -> Option<PlgId> {
    violations.required("plg_id", value, PlgId::parse)
}

#[tonic::async_trait]
impl CoachingService for Coaching {
    async fn assign_coach(
        &self,
        request: Request<v1::AssignCoachRequest>,
    ) -> Result<Response<v1::AssignCoachResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let coach_id = violations.required("coach_id", &message.coach_id, PersonId::parse);
                let kind = violations.check("kind", coach_kind(message.kind));
                let assigned_on = violations.required(
                    "assigned_on",
                    &message.assigned_on,
                    parse::past_date(context.today()),
                );
                let (Some(plg_id), Some(coach_id), Some(kind), Some(assigned_on)) =
                    (plg_id, coach_id, kind, assigned_on)
                else {
                    return Err(violations.into_error());
                };
                let subject = self.ledger.plg_subject(plg_id).await?;
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<Person, _>("person", [coach_id])
                    .await?;
                Ok(Target::new(
                    plg_id,
                    subject,
                    PlgCommand::AssignCoach {
                        coach_id,
                        kind,
                        assigned_on,
                    },
                ))
            })
            .await?;
        Ok(Response::new(v1::AssignCoachResponse {
            result: Some(written.result()),
        }))
    }

    async fn hand_over_coaching(
        &self,
        request: Request<v1::HandOverCoachingRequest>,
    ) -> Result<Response<v1::HandOverCoachingResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Plg>(&context, async {
                let mut violations = Violations::default();
                let plg_id = plg_id(&mut violations, &message.plg_id);
                let from_coach_id =
                    violations.required("from_coach_id", &message.from_coach_id, PersonId::parse);
                let to_coach_id =
                    violations.required("to_coach_id", &message.to_coach_id, PersonId::parse);
                let to_kind = violations.check("to_kind", coach_kind(message.to_kind));
                let handed_over_on = violations.required(
                    "handed_over_on",
                    &message.handed_over_on,
                    parse::past_date(context.today()),
                );
                let reason = violations.optional("reason", &message.reason, Text::parse);
                let (
                    Some(plg_id),
                    Some(from_coach_id),
                    Some(to_coach_id),
                    Some(to_kind),
                    Some(handed_over_on),
                    Some(reason),
                ) = (
                    plg_id,
                    from_coach_id,
                    to_coach_id,
                    to_kind,
                    handed_over_on,
                    reason,
                )
                else {
                    return Err(violations.into_error());
                };
                let subject = self.ledger.plg_subject(plg_id).await?;
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<Person, _>("person", [to_coach_id])
                    .await?;
                let command = PlgCommand::HandOver {
                    from_coach_id,
                    to_coach_id,
                    to_kind,
                    handed_over_on,
                    reason,
                };
                Ok(Target::new(plg_id, subject, command))
            })
            .await?;
        Ok(Response::new(v1::HandOverCoachingResponse {
            result: Some(written.result()),
        }))
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
