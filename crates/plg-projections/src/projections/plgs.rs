//! PLGs with their schools, membership over time, phases, sessions and coaches.

use plg_domain::plg::{PlgEvent, ThemePhase};
use rusqlite::{Transaction, params};

use crate::{
    Projection, ProjectionError,
    batch::{sql_count, sql_position},
    event::{LogEvent, Payload},
};

#[derive(Debug)]
pub struct Plgs;

impl Projection for Plgs {
    fn name(&self) -> &'static str {
        "plgs"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS plgs (
            plg_id             TEXT PRIMARY KEY,
            kind               TEXT NOT NULL,
            name               TEXT NOT NULL,
            practice_need      TEXT NOT NULL,
            learning_question  TEXT NOT NULL,
            formed_on          TEXT NOT NULL,
            phase              TEXT,
            dissolved_on       TEXT,
            dissolution_reason TEXT,
            position           INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS plg_schools (
            plg_id    TEXT NOT NULL,
            school_id TEXT NOT NULL,
            PRIMARY KEY (plg_id, school_id)
        ) STRICT;
        CREATE INDEX IF NOT EXISTS plg_schools_by_school ON plg_schools (school_id);
        CREATE TABLE IF NOT EXISTS plg_memberships (
            plg_id    TEXT NOT NULL,
            person_id TEXT NOT NULL,
            joined_on TEXT NOT NULL,
            left_on   TEXT,
            position  INTEGER NOT NULL,
            PRIMARY KEY (plg_id, person_id, position)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS plg_phases (
            plg_id     TEXT NOT NULL,
            phase      TEXT NOT NULL,
            reached_on TEXT NOT NULL,
            position   INTEGER NOT NULL,
            PRIMARY KEY (plg_id, position)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS plg_sessions (
            session_id       TEXT PRIMARY KEY,
            plg_id           TEXT NOT NULL,
            held_on          TEXT NOT NULL,
            duration_minutes INTEGER NOT NULL,
            present          INTEGER NOT NULL,
            absent           INTEGER NOT NULL,
            goals            INTEGER NOT NULL,
            goals_reached    INTEGER NOT NULL,
            check_in_held    INTEGER NOT NULL,
            check_out_held   INTEGER NOT NULL,
            theme_phases     TEXT NOT NULL,
            methods          TEXT NOT NULL,
            product          TEXT,
            external_input   TEXT,
            agreements       INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX IF NOT EXISTS plg_sessions_by_plg ON plg_sessions (plg_id, held_on);
        CREATE TABLE IF NOT EXISTS plg_coaches (
            plg_id          TEXT NOT NULL,
            coach_id        TEXT NOT NULL,
            kind            TEXT NOT NULL,
            started_on      TEXT NOT NULL,
            ended_on        TEXT,
            via_handover    INTEGER NOT NULL,
            handover_reason TEXT,
            position        INTEGER NOT NULL,
            PRIMARY KEY (plg_id, position)
        ) STRICT;"
    }

    /// 2: `plgs.position`, the log position of `PlgFormed`, which orders PLGs formed the same
    /// day.
    fn version(&self) -> u32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "plgs",
            "plg_schools",
            "plg_memberships",
            "plg_phases",
            "plg_sessions",
            "plg_coaches",
        ]
    }

    fn apply(
        &self,
        transaction: &Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError> {
        let Payload::Plg(plg_event) = &event.payload else {
            return Ok(());
        };
        let plg_id = event.entity_id.as_str();
        let position = sql_position(event.position);
        let on = event.occurred_on().to_string();
        match plg_event {
            PlgEvent::PlgFormed {
                kind,
                school_ids,
                name,
                practice_need,
                learning_question,
                member_ids,
                formed_on,
                ..
            } => {
                transaction
                    .prepare_cached(
                        "INSERT INTO plgs VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, NULL, ?7)",
                    )?
                    .execute(params![
                        plg_id,
                        kind.as_str(),
                        name.as_str(),
                        practice_need.as_str(),
                        learning_question.as_str(),
                        formed_on.to_string(),
                        position
                    ])?;
                for school_id in school_ids {
                    transaction
                        .prepare_cached("INSERT INTO plg_schools VALUES (?1, ?2)")?
                        .execute(params![plg_id, school_id.to_string()])?;
                }
                for member in member_ids {
                    transaction
                        .prepare_cached(
                            "INSERT INTO plg_memberships VALUES (?1, ?2, ?3, NULL, ?4)",
                        )?
                        .execute(params![
                            plg_id,
                            member.to_string(),
                            formed_on.to_string(),
                            position
                        ])?;
                }
            }
            PlgEvent::LearningQuestionRefined {
                learning_question, ..
            } => {
                transaction
                    .prepare_cached("UPDATE plgs SET learning_question = ?2 WHERE plg_id = ?1")?
                    .execute(params![plg_id, learning_question.as_str()])?;
            }
            PlgEvent::MemberAdded { person_id } => {
                transaction
                    .prepare_cached("INSERT INTO plg_memberships VALUES (?1, ?2, ?3, NULL, ?4)")?
                    .execute(params![plg_id, person_id.to_string(), on, position])?;
            }
            PlgEvent::MemberRemoved { person_id, .. } => {
                transaction.prepare_cached(
                    "UPDATE plg_memberships SET left_on = ?3 WHERE plg_id = ?1 AND person_id = ?2 AND left_on IS NULL")?
.execute(
                    params![plg_id, person_id.to_string(), on],
                )?;
            }
            PlgEvent::PhaseReached { phase, reached_on } => {
                transaction
                    .prepare_cached("INSERT INTO plg_phases VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![
                        plg_id,
                        phase.as_str(),
                        reached_on.to_string(),
                        position
                    ])?;
                transaction
                    .prepare_cached("UPDATE plgs SET phase = ?2 WHERE plg_id = ?1")?
                    .execute(params![plg_id, phase.as_str()])?;
            }
            PlgEvent::SessionHeld(session) => {
                let present = session
                    .attendance
                    .iter()
                    .filter(|attendance| attendance.present)
                    .count();
                let theme_phases: Vec<&str> = session
                    .theme_phases
                    .iter()
                    .map(ThemePhase::as_str)
                    .collect();
                transaction.prepare_cached(
                    "INSERT INTO plg_sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)")?
.execute(
                    params![
                        session.session_id.to_string(),
                        plg_id,
                        session.held_on.to_string(),
                        i64::from(u32::from(session.duration_minutes)),
                        sql_count(present),
                        sql_count(session.attendance.len() - present),
                        sql_count(session.goals.len()),
                        sql_count(session.goals.iter().filter(|goal| goal.reached).count()),
                        i64::from(session.check_in_held),
                        i64::from(session.check_out_held),
                        theme_phases.join(","),
                        serde_json::to_string(&session.methods).unwrap_or_default(),
                        session.product.as_ref().map(|text| text.as_str()),
                        session.external_input.as_ref().map(|text| text.as_str()),
                        sql_count(session.agreements.len()),
                    ],
                )?;
            }
            PlgEvent::PlgDissolved {
                dissolved_on,
                reason,
            } => {
                transaction.prepare_cached(
                    "UPDATE plgs SET dissolved_on = ?2, dissolution_reason = ?3 WHERE plg_id = ?1")?
.execute(
                    params![plg_id, dissolved_on.to_string(), reason.as_str()],
                )?;
            }
            PlgEvent::CoachAssigned {
                coach_id,
                kind,
                assigned_on,
            } => {
                transaction
                    .prepare_cached(
                        "INSERT INTO plg_coaches VALUES (?1, ?2, ?3, ?4, NULL, 0, NULL, ?5)",
                    )?
                    .execute(params![
                        plg_id,
                        coach_id.to_string(),
                        kind.as_str(),
                        assigned_on.to_string(),
                        position
                    ])?;
            }
            PlgEvent::CoachHandedOver {
                to_coach_id,
                to_kind,
                handed_over_on,
                reason,
                ..
            } => {
                transaction.prepare_cached(
                    "UPDATE plg_coaches SET ended_on = ?2 WHERE plg_id = ?1 AND ended_on IS NULL")?
.execute(
                    params![plg_id, handed_over_on.to_string()],
                )?;
                transaction
                    .prepare_cached(
                        "INSERT INTO plg_coaches VALUES (?1, ?2, ?3, ?4, NULL, 1, ?5, ?6)",
                    )?
                    .execute(params![
                        plg_id,
                        to_coach_id.to_string(),
                        to_kind.as_str(),
                        handed_over_on.to_string(),
                        reason.as_ref().map(|text| text.as_str()),
                        position,
                    ])?;
            }
        }
        Ok(())
    }
}
