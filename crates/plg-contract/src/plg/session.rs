//! A session a PLG held: who attended, what it worked on, what it agreed.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use plg_domain::{
    ids::{PersonId, SessionId},
    plg::{Attendance, PlgEvent, Session, SessionGoal, SessionMinutes},
    values::{Label, Text},
};
use plg_ledger::{CommandContext, ServiceError, Written, commands::plg::HoldSession};
use plg_proto::v1;

use super::plg_id;
use crate::{
    IntoCommand,
    parse::{self, Violations},
    write_result,
};

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

impl IntoCommand for v1::HoldSessionRequest {
    type Command = HoldSession;
    type Reply = v1::HoldSessionResponse;

    fn into_command(self, context: &CommandContext) -> Result<HoldSession, ServiceError> {
        let mut violations = Violations::default();
        let plg_id = plg_id(&mut violations, &self.plg_id);
        let session = session(&mut violations, context.today(), &self);
        violations.finish(|| {
            Some(HoldSession {
                plg_id: plg_id?,
                session: session?,
            })
        })
    }

    fn reply(written: Written<PlgEvent>) -> Result<v1::HoldSessionResponse, ServiceError> {
        let PlgEvent::SessionHeld(session) = written.first()? else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "SessionHeld",
            ));
        };
        Ok(v1::HoldSessionResponse {
            session_id: session.session_id.to_string(),
            result: write_result(&written),
        })
    }
}
