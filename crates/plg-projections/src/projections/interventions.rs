//! Interventions with their categories, targets, status and assessed contributions; the
//! development plan's revisions and reflection conversations.

use plg_domain::{
    development_plan::DevelopmentPlanEvent,
    intervention::{InterventionEvent, InterventionStatus},
};
use rusqlite::{Transaction, params};

use crate::{
    Projection, ProjectionError,
    batch::{sql_count, sql_position},
    event::{LogEvent, Payload},
};

#[derive(Debug)]
pub struct Interventions;

impl Projection for Interventions {
    fn name(&self) -> &'static str {
        "interventions"
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS interventions (
            intervention_id TEXT PRIMARY KEY,
            school_id       TEXT NOT NULL,
            title           TEXT NOT NULL,
            description     TEXT,
            level           TEXT NOT NULL,
            starts_on       TEXT NOT NULL,
            planned_end_on  TEXT,
            status          TEXT NOT NULL CHECK (status IN ('planned', 'started', 'completed', 'abandoned')),
            started_on      TEXT,
            ended_on        TEXT,
            end_note        TEXT,
            position        INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX IF NOT EXISTS interventions_by_school ON interventions (school_id);
        CREATE TABLE IF NOT EXISTS intervention_categories (
            intervention_id TEXT NOT NULL,
            category        TEXT NOT NULL,
            PRIMARY KEY (intervention_id, category)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS intervention_targets (
            intervention_id TEXT NOT NULL,
            dimension       TEXT NOT NULL,
            PRIMARY KEY (intervention_id, dimension)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS contribution_assessments (
            intervention_id TEXT NOT NULL,
            dimension       TEXT NOT NULL,
            intended        INTEGER NOT NULL,
            realised        TEXT NOT NULL,
            realised_rank   INTEGER NOT NULL,
            notes           TEXT,
            assessed_on     TEXT NOT NULL,
            PRIMARY KEY (intervention_id, dimension)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS plan_revisions (
            school_id    TEXT NOT NULL,
            plan_version INTEGER NOT NULL,
            revised_on   TEXT NOT NULL,
            summary      TEXT NOT NULL,
            choices      TEXT NOT NULL,
            rationale    TEXT,
            PRIMARY KEY (school_id, plan_version)
        ) STRICT;
        CREATE TABLE IF NOT EXISTS reflection_conversations (
            school_id    TEXT NOT NULL,
            position     INTEGER NOT NULL,
            held_on      TEXT NOT NULL,
            summary      TEXT NOT NULL,
            participants INTEGER NOT NULL,
            agreements   TEXT NOT NULL,
            PRIMARY KEY (school_id, position)
        ) STRICT;"
    }

    /// 2: `interventions.position`, the log position of `InterventionLogged`, which orders a
    /// school's interventions.
    fn version(&self) -> u32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "interventions",
            "intervention_categories",
            "intervention_targets",
            "contribution_assessments",
            "plan_revisions",
            "reflection_conversations",
        ]
    }

    fn apply(
        &self,
        transaction: &Transaction<'_>,
        event: &LogEvent,
    ) -> Result<(), ProjectionError> {
        let id = event.entity_id.as_str();
        match &event.payload {
            Payload::Intervention(InterventionEvent::InterventionLogged {
                intervention_id,
                school_id,
                title,
                description,
                categories,
                targets,
                level,
                starts_on,
                planned_end_on,
            }) => {
                let intervention_id = intervention_id.to_string();
                transaction.prepare_cached(
                    "INSERT INTO interventions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, NULL, ?9)")?
.execute(
                    params![
                        intervention_id,
                        school_id.to_string(),
                        title.as_str(),
                        description.as_ref().map(|text| text.as_str()),
                        level.as_str(),
                        starts_on.to_string(),
                        planned_end_on.map(|date| date.to_string()),
                        InterventionStatus::Planned.as_str(),
                        sql_position(event.position),
                    ],
                )?;
                for category in categories {
                    transaction
                        .prepare_cached("INSERT INTO intervention_categories VALUES (?1, ?2)")?
                        .execute(params![intervention_id, category.as_str()])?;
                }
                for target in targets {
                    transaction
                        .prepare_cached("INSERT INTO intervention_targets VALUES (?1, ?2)")?
                        .execute(params![intervention_id, target.as_str()])?;
                }
            }
            Payload::Intervention(InterventionEvent::InterventionStarted { started_on }) => {
                transaction.prepare_cached(
                    "UPDATE interventions SET status = ?3, started_on = ?2 WHERE intervention_id = ?1")?
.execute(
                    params![id, started_on.to_string(), InterventionStatus::Started.as_str()],
                )?;
            }
            Payload::Intervention(InterventionEvent::InterventionCompleted {
                completed_on,
                notes,
            }) => {
                transaction.prepare_cached(
                    "UPDATE interventions SET status = ?4, ended_on = ?2, end_note = ?3 WHERE intervention_id = ?1")?
.execute(
                    params![
                        id,
                        completed_on.to_string(),
                        notes.as_ref().map(|text| text.as_str()),
                        InterventionStatus::Completed.as_str(),
                    ],
                )?;
            }
            Payload::Intervention(InterventionEvent::InterventionAbandoned {
                abandoned_on,
                reason,
            }) => {
                transaction.prepare_cached(
                    "UPDATE interventions SET status = ?4, ended_on = ?2, end_note = ?3 WHERE intervention_id = ?1")?
.execute(
                    params![
                        id,
                        abandoned_on.to_string(),
                        reason.as_str(),
                        InterventionStatus::Abandoned.as_str(),
                    ],
                )?;
            }
            Payload::Intervention(InterventionEvent::ContributionAssessed {
                dimension,
                intended,
                realised,
                notes,
            }) => {
                transaction
                    .prepare_cached(
                        "INSERT INTO contribution_assessments VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (intervention_id, dimension) DO UPDATE SET
                        intended = excluded.intended, realised = excluded.realised,
                        realised_rank = excluded.realised_rank, notes = excluded.notes,
                        assessed_on = excluded.assessed_on",
                    )?
                    .execute(params![
                        id,
                        dimension.as_str(),
                        i64::from(*intended),
                        realised.as_str(),
                        i64::from(realised.rank()),
                        notes.as_ref().map(|text| text.as_str()),
                        event.occurred_on().to_string(),
                    ])?;
            }
            Payload::DevelopmentPlan(DevelopmentPlanEvent::DevelopmentPlanRevised {
                school_id,
                plan_version,
                revised_on,
                summary,
                choices,
                rationale,
            }) => {
                transaction
                    .prepare_cached("INSERT INTO plan_revisions VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                    .execute(params![
                        school_id.to_string(),
                        i64::from(*plan_version),
                        revised_on.to_string(),
                        summary.as_str(),
                        serde_json::to_string(choices).unwrap_or_default(),
                        rationale.as_ref().map(|text| text.as_str()),
                    ])?;
            }
            Payload::DevelopmentPlan(DevelopmentPlanEvent::ReflectionConversationRecorded {
                school_id,
                held_on,
                participant_ids,
                summary,
                agreements,
            }) => {
                transaction
                    .prepare_cached(
                        "INSERT INTO reflection_conversations VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        school_id.to_string(),
                        sql_position(event.position),
                        held_on.to_string(),
                        summary.as_str(),
                        sql_count(participant_ids.len()),
                        serde_json::to_string(agreements).unwrap_or_default(),
                    ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's check, fixed in its schema text, admits exactly the statuses stored.
    #[test]
    fn the_status_check_lists_every_status() {
        let listed = InterventionStatus::ALL
            .iter()
            .map(|status| format!("'{}'", status.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            Interventions
                .schema()
                .contains(&format!("CHECK (status IN ({listed}))"))
        );
    }
}
