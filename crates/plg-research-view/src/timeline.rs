//! One school's development in a study, in date order.

use plg_domain::{
    dimension::Dimension,
    intervention::{ContributionDegree, InterventionCategory},
    plg::{PlgPhase, ThemePhase},
};
use rusqlite::Transaction;

use crate::{
    ResearchError,
    context::{SchoolRef, parse_name},
    scores::{Shown, WaveScore, flag, int},
};

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub entry: Entry,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    ScanWave {
        wave: String,
        respondents: usize,
        scores: Vec<(Dimension, Shown, Shown)>,
    },
    Intervention {
        intervention_id: String,
        title: String,
        categories: Vec<InterventionCategory>,
        change: String,
        contributions: Vec<(Dimension, bool, ContributionDegree)>,
    },
    PlanRevision {
        plan_version: u32,
        summary: String,
        rationale: Option<String>,
    },
    Reflection {
        summary: String,
        participants: u32,
    },
    Plg {
        plg_id: String,
        name: String,
        change: &'static str,
        learning_question: String,
    },
    Session {
        plg_id: String,
        session_id: String,
        duration_minutes: u32,
        present: u32,
        absent: u32,
        goals: u32,
        goals_reached: u32,
        theme_phases: Vec<ThemePhase>,
    },
    Phase {
        plg_id: String,
        phase: PlgPhase,
    },
    Coach {
        plg_id: String,
        change: &'static str,
        kind: String,
    },
}

fn names<T: std::str::FromStr>(joined: Option<String>) -> Result<Vec<T>, ResearchError> {
    joined
        .unwrap_or_default()
        .split(',')
        .filter(|name| !name.is_empty())
        .map(parse_name)
        .collect()
}

/// The school's timeline: its scan waves (from `scores`, already suppressed), interventions,
/// plan revisions, reflections, and its PLGs with their sessions, phases and coaches.
pub fn timeline(
    transaction: &Transaction<'_>,
    study_id: &str,
    school: &SchoolRef,
    scores: &[WaveScore],
) -> Result<Vec<TimelineEntry>, ResearchError> {
    let school_id = school.school_id.as_str();
    let mut entries = Vec::new();

    let mut waves = transaction.prepare(
        // Dated by the wave's close, not by the last answer: a date could single out a small
        // school-wave's last respondent.
        "SELECT s.wave, w.closes_on, COUNT(*) FROM scan_submissions s
         JOIN waves w ON w.study_id = s.study_id AND w.label = s.wave
         WHERE s.study_id = ?1 AND s.school_id = ?2 AND s.status = 'current'
         GROUP BY s.wave, w.closes_on ORDER BY s.wave",
    )?;
    for wave in waves.query_map((study_id, school_id), |row| {
        Ok((row.get::<_, String>(0)?, row.get(1)?, int::<usize>(row, 2)?))
    })? {
        let (wave, date, respondents) = wave?;
        let scores = scores
            .iter()
            .filter(|score| {
                score.role.is_none() && score.wave == wave && score.school.school_id == school_id
            })
            .map(|score| (score.dimension, score.current, score.desired))
            .collect();
        entries.push(TimelineEntry {
            date,
            entry: Entry::ScanWave {
                wave,
                respondents,
                scores,
            },
        });
    }

    // In the order they were logged.
    let mut interventions = transaction.prepare(
        "SELECT i.intervention_id, i.title, i.starts_on, i.started_on, i.ended_on, i.status,
                (SELECT string_agg(c.category, ',' ORDER BY c.category)
                 FROM intervention_categories c WHERE c.intervention_id = i.intervention_id)
         FROM interventions i WHERE i.school_id = ?1 ORDER BY i.position",
    )?;
    let mut contributions = transaction.prepare(
        "SELECT dimension, intended, realised FROM contribution_assessments WHERE intervention_id = ?1 ORDER BY dimension",
    )?;
    let rows = interventions
        .query_map([school_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, Option<String>>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (intervention_id, title, starts_on, started_on, ended_on, status, categories) in rows {
        let categories: Vec<InterventionCategory> = names(categories)?;
        let assessed = contributions
            .query_map([&intervention_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    flag(row, 1)?,
                    row.get::<_, String>(2)?,
                ))
            })?
            .map(|row| {
                let (dimension, intended, realised) = row?;
                Ok((parse_name(&dimension)?, intended, parse_name(&realised)?))
            })
            .collect::<Result<Vec<_>, ResearchError>>()?;
        let entry = |change: &str, contributions: Vec<(Dimension, bool, ContributionDegree)>| {
            Entry::Intervention {
                intervention_id: intervention_id.clone(),
                title: title.clone(),
                categories: categories.clone(),
                change: change.to_owned(),
                contributions,
            }
        };
        entries.push(TimelineEntry {
            date: starts_on,
            entry: entry("logged", assessed),
        });
        if let Some(started_on) = started_on {
            entries.push(TimelineEntry {
                date: started_on,
                entry: entry("started", Vec::new()),
            });
        }
        if let Some(ended_on) = ended_on {
            entries.push(TimelineEntry {
                date: ended_on,
                entry: entry(&status, Vec::new()),
            });
        }
    }

    let mut revisions = transaction.prepare(
        "SELECT plan_version, revised_on, summary, rationale FROM plan_revisions
         WHERE school_id = ?1 ORDER BY plan_version",
    )?;
    for row in revisions.query_map([school_id], |row| {
        Ok((int(row, 0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })? {
        let (plan_version, date, summary, rationale) = row?;
        entries.push(TimelineEntry {
            date,
            entry: Entry::PlanRevision {
                plan_version,
                summary,
                rationale,
            },
        });
    }
    let mut reflections = transaction.prepare(
        "SELECT held_on, summary, participants FROM reflection_conversations
         WHERE school_id = ?1 ORDER BY position",
    )?;
    for row in reflections.query_map([school_id], |row| {
        Ok((row.get(0)?, row.get(1)?, int(row, 2)?))
    })? {
        let (date, summary, participants) = row?;
        entries.push(TimelineEntry {
            date,
            entry: Entry::Reflection {
                summary,
                participants,
            },
        });
    }

    plg_entries(transaction, school_id, &mut entries)?;
    // Same-day entries keep the order they were recorded in within each kind; the sort is stable.
    entries.sort_by(|a, b| a.date.cmp(&b.date));
    Ok(entries)
}

fn plg_entries(
    transaction: &Transaction<'_>,
    school_id: &str,
    entries: &mut Vec<TimelineEntry>,
) -> Result<(), ResearchError> {
    let of_school = "plg_id IN (SELECT plg_id FROM plg_schools WHERE school_id = ?1)";
    let mut plgs = transaction.prepare(&format!(
        "SELECT plg_id, name, formed_on, dissolved_on, learning_question FROM plgs
         WHERE {of_school} ORDER BY formed_on, position"
    ))?;
    for row in plgs.query_map([school_id], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<String>>(3)?,
            row.get::<_, String>(4)?,
        ))
    })? {
        let (plg_id, name, formed_on, dissolved_on, learning_question) = row?;
        let entry = |change| Entry::Plg {
            plg_id: plg_id.clone(),
            name: name.clone(),
            change,
            learning_question: learning_question.clone(),
        };
        entries.push(TimelineEntry {
            date: formed_on,
            entry: entry("formed"),
        });
        if let Some(dissolved_on) = dissolved_on {
            entries.push(TimelineEntry {
                date: dissolved_on,
                entry: entry("dissolved"),
            });
        }
    }
    let mut sessions = transaction.prepare(&format!(
        "SELECT plg_id, session_id, held_on, duration_minutes, present, absent, goals, goals_reached, theme_phases
         FROM plg_sessions WHERE {of_school} ORDER BY held_on, session_id"
    ))?;
    for row in sessions.query_map([school_id], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            (
                int(row, 3)?,
                int(row, 4)?,
                int(row, 5)?,
                int(row, 6)?,
                int(row, 7)?,
            ),
            row.get::<_, String>(8)?,
        ))
    })? {
        let (
            plg_id,
            session_id,
            date,
            (duration_minutes, present, absent, goals, goals_reached),
            theme_phases,
        ) = row?;
        let theme_phases = names(Some(theme_phases))?;
        entries.push(TimelineEntry {
            date,
            entry: Entry::Session {
                plg_id,
                session_id,
                duration_minutes,
                present,
                absent,
                goals,
                goals_reached,
                theme_phases,
            },
        });
    }
    let mut phases = transaction.prepare(&format!(
        "SELECT plg_id, phase, reached_on FROM plg_phases WHERE {of_school} ORDER BY position"
    ))?;
    for row in phases.query_map([school_id], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get(2)?,
        ))
    })? {
        let (plg_id, phase, date) = row?;
        entries.push(TimelineEntry {
            date,
            entry: Entry::Phase {
                plg_id,
                phase: parse_name(&phase)?,
            },
        });
    }
    let mut coaches = transaction.prepare(&format!(
        "SELECT plg_id, kind, started_on, via_handover FROM plg_coaches WHERE {of_school} ORDER BY position"
    ))?;
    for row in coaches.query_map([school_id], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get(1)?,
            row.get(2)?,
            flag(row, 3)?,
        ))
    })? {
        let (plg_id, kind, date, via_handover) = row?;
        let change = if via_handover {
            "handed_over"
        } else {
            "assigned"
        };
        entries.push(TimelineEntry {
            date,
            entry: Entry::Coach {
                plg_id,
                change,
                kind,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use plg_projections::{ResearchDb, all_projections};

    use super::*;

    /// A school's interventions come in the order they were logged (their log position), not
    /// in the order of their ids or rows, each with its categories in name order.
    #[test]
    fn interventions_come_in_log_order_with_their_categories_in_name_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let all = all_projections();
        let projections: Vec<_> = all.iter().map(AsRef::as_ref).collect();
        let db = ResearchDb::open(dir.path().join("research.db"), &projections).expect("opens");
        let mut connection = db.write_connection().expect("connects");
        connection
            .execute_batch(
                "INSERT INTO interventions VALUES ('i-a', 's-1', 'Second', NULL, 'school',
                     '2024-03-01', NULL, 'planned', NULL, NULL, NULL, 20);
                 INSERT INTO interventions VALUES ('i-c', 's-2', 'Elsewhere', NULL, 'school',
                     '2024-03-01', NULL, 'planned', NULL, NULL, NULL, 15);
                 INSERT INTO interventions VALUES ('i-b', 's-1', 'First', NULL, 'school',
                     '2024-03-01', NULL, 'planned', NULL, NULL, NULL, 10);
                 INSERT INTO intervention_categories VALUES ('i-a', 'vision_development');
                 INSERT INTO intervention_categories VALUES ('i-a', 'communication');
                 INSERT INTO intervention_categories VALUES ('i-a', 'professionalisation');",
            )
            .expect("inserts");
        let school = SchoolRef {
            school_id: "s-1".to_owned(),
            pseudonym: "S01".to_owned(),
            name: "School".to_owned(),
        };
        let transaction = connection.transaction().expect("begins");
        let entries = timeline(&transaction, "study", &school, &[]).expect("reads");
        let interventions: Vec<(&str, &[InterventionCategory])> = entries
            .iter()
            .filter_map(|entry| match &entry.entry {
                Entry::Intervention {
                    title, categories, ..
                } => Some((title.as_str(), categories.as_slice())),
                _ => None,
            })
            .collect();
        use InterventionCategory::{Communication, Professionalisation, VisionDevelopment};
        assert_eq!(
            interventions,
            [
                ("First", &[][..]),
                (
                    "Second",
                    &[Communication, Professionalisation, VisionDevelopment][..]
                ),
            ]
        );
    }
}
