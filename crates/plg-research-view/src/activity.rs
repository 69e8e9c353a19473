//! What PLGs did: sessions, attendance, goals, time in each phase, and when coaching passed to
//! an internal coach.

use chrono::NaiveDate;
use plg_domain::{
    plg::{CoachKind, PlgPhase},
    values::parse_date,
};
use rusqlite::Transaction;

use crate::{
    ResearchError,
    context::{SchoolRef, StudyContext, parse_name},
    scores::int,
};

#[derive(Debug, Clone, PartialEq)]
pub struct PlgActivity {
    pub plg_id: String,
    pub name: String,
    /// The PLG's schools as the study names them; schools outside the study are not named.
    pub schools: Vec<String>,
    pub formed_on: String,
    pub dissolved_on: Option<String>,
    pub sessions: u32,
    pub minutes: u32,
    pub present: u32,
    pub absent: u32,
    pub goals: u32,
    pub goals_reached: u32,
    pub phases: Vec<(PlgPhase, i64)>,
    pub days_to_internal_handover: Option<i64>,
}

impl PlgActivity {
    pub fn attendance_rate(&self) -> Option<f64> {
        let recorded = self.present + self.absent;
        (recorded > 0).then(|| f64::from(self.present) / f64::from(recorded))
    }

    pub fn goals_reached_share(&self) -> Option<f64> {
        (self.goals > 0).then(|| f64::from(self.goals_reached) / f64::from(self.goals))
    }
}

fn date(value: &str) -> Result<NaiveDate, ResearchError> {
    parse_date(value).map_err(|_| ResearchError::UnknownValue(value.to_owned()))
}

fn days(from: &str, to: &str) -> Result<i64, ResearchError> {
    Ok((date(to)? - date(from)?).num_days())
}

/// The PLGs of a study's schools (or of one of them). The last phase lasts until the PLG was
/// dissolved, or until `today`.
pub fn activity(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    school: Option<&SchoolRef>,
    today: NaiveDate,
) -> Result<Vec<PlgActivity>, ResearchError> {
    // Sums are cast to BIGINT: PostgreSQL's SUM of BIGINTs is NUMERIC (docs/postgresql.md).
    let mut plgs = transaction.prepare(
        "SELECT p.plg_id, p.name, p.formed_on, p.dissolved_on, COUNT(s.session_id),
                CAST(COALESCE(SUM(s.duration_minutes), 0) AS BIGINT),
                CAST(COALESCE(SUM(s.present), 0) AS BIGINT),
                CAST(COALESCE(SUM(s.absent), 0) AS BIGINT),
                CAST(COALESCE(SUM(s.goals), 0) AS BIGINT),
                CAST(COALESCE(SUM(s.goals_reached), 0) AS BIGINT)
         FROM plgs p LEFT JOIN plg_sessions s USING (plg_id)
         WHERE p.plg_id IN (SELECT plg_id FROM plg_schools WHERE school_id IN
                 (SELECT school_id FROM enrolments
                  WHERE study_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR school_id = ?2)))
         GROUP BY p.plg_id ORDER BY p.formed_on, p.plg_id",
    )?;
    let school_id = school.map(|school| school.school_id.as_str());
    let rows = plgs
        .query_map((&context.study_id, school_id), |row| {
            Ok(PlgActivity {
                plg_id: row.get(0)?,
                name: row.get(1)?,
                schools: Vec::new(),
                formed_on: row.get(2)?,
                dissolved_on: row.get(3)?,
                sessions: int(row, 4)?,
                minutes: int(row, 5)?,
                present: int(row, 6)?,
                absent: int(row, 7)?,
                goals: int(row, 8)?,
                goals_reached: int(row, 9)?,
                phases: Vec::new(),
                days_to_internal_handover: None,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut schools = transaction
        .prepare("SELECT school_id FROM plg_schools WHERE plg_id = ?1 ORDER BY school_id")?;
    let mut phases = transaction
        .prepare("SELECT phase, reached_on FROM plg_phases WHERE plg_id = ?1 ORDER BY position")?;
    let mut handover = transaction.prepare(
        "SELECT MIN(started_on) FROM plg_coaches WHERE plg_id = ?1 AND via_handover = 1 AND kind = ?2",
    )?;
    let today = today.to_string();
    rows.into_iter()
        .map(|mut plg| {
            plg.schools = schools
                .query_map([&plg.plg_id], |row| row.get::<_, String>(0))?
                .filter_map(|school_id| school_id.ok())
                .filter_map(|school_id| {
                    context
                        .school_by_id(&school_id)
                        .map(|school| context.label(school))
                })
                .collect();
            let reached: Vec<(String, String)> = phases
                .query_map([&plg.plg_id], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let end = plg.dissolved_on.clone().unwrap_or_else(|| today.clone());
            plg.phases = reached
                .iter()
                .enumerate()
                .map(|(index, (phase, reached_on))| {
                    let until = reached
                        .get(index + 1)
                        .map_or(end.as_str(), |(_, next)| next.as_str());
                    Ok((parse_name(phase)?, days(reached_on, until)?))
                })
                .collect::<Result<_, ResearchError>>()?;
            let handed_over: Option<String> = handover
                .query_row((&plg.plg_id, CoachKind::Internal.as_str()), |row| {
                    row.get(0)
                })?;
            plg.days_to_internal_handover = handed_over
                .map(|on| days(&plg.formed_on, &on))
                .transpose()?;
            Ok(plg)
        })
        .collect()
}
