//! What every query needs to know about a study: its waves, its schools as researchers may
//! see them, and how small a group may be shown.

use std::{collections::BTreeSet, str::FromStr};

use rusqlite::{OptionalExtension, Transaction};

use crate::ResearchError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveInfo {
    pub label: String,
    pub ordinal: u32,
    pub opens_on: String,
    pub closes_on: String,
}

/// A school as researchers see it in a study.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolRef {
    pub school_id: String,
    pub pseudonym: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct StudyContext {
    pub study_id: String,
    pub min_group_size: u32,
    pub identify_schools: bool,
    /// In order of their opening dates.
    pub waves: Vec<WaveInfo>,
    /// In enrolment order.
    pub schools: Vec<SchoolRef>,
    /// School-waves (school id, wave label) whose scores are withheld: their wave is not
    /// released yet, or they changed after it was (`docs/disclosure-control.md`).
    pub withheld: BTreeSet<(String, String)>,
}

impl StudyContext {
    pub fn load(transaction: &Transaction<'_>, study_id: &str) -> Result<Self, ResearchError> {
        let settings: Option<(u32, bool)> = transaction
            .query_row(
                "SELECT min_group_size, identify_schools FROM studies WHERE study_id = ?1",
                [study_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((min_group_size, identify_schools)) = settings else {
            return Err(ResearchError::NotFound {
                kind: "study",
                id: study_id.to_owned(),
            });
        };
        let mut waves = transaction.prepare(
            "SELECT label, ordinal, opens_on, closes_on FROM waves WHERE study_id = ?1 ORDER BY ordinal",
        )?;
        let waves = waves
            .query_map([study_id], |row| {
                Ok(WaveInfo {
                    label: row.get(0)?,
                    ordinal: row.get(1)?,
                    opens_on: row.get(2)?,
                    closes_on: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut schools = transaction.prepare(
            "SELECT e.school_id, e.pseudonym, s.name FROM enrolments e JOIN schools s USING (school_id)
             WHERE e.study_id = ?1 ORDER BY e.ordinal",
        )?;
        let schools = schools
            .query_map([study_id], |row| {
                Ok(SchoolRef {
                    school_id: row.get(0)?,
                    pseudonym: row.get(1)?,
                    name: row.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut withheld = transaction.prepare(
            "SELECT s.school_id, s.wave FROM scan_submissions s
             JOIN waves w ON w.study_id = s.study_id AND w.label = s.wave
             WHERE s.study_id = ?1 GROUP BY s.school_id, s.wave
             HAVING MAX(w.released_at) IS NULL OR MAX(s.changed_at) > MAX(w.released_at)",
        )?;
        let withheld = withheld
            .query_map([study_id], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(Self {
            study_id: study_id.to_owned(),
            min_group_size,
            identify_schools,
            waves,
            schools,
            withheld,
        })
    }

    /// Whether the school-wave at these indexes into `schools` and `waves` may show scores.
    pub fn is_released(&self, school: usize, wave: usize) -> bool {
        let key = (
            self.schools[school].school_id.clone(),
            self.waves[wave].label.clone(),
        );
        !self.withheld.contains(&key)
    }

    /// How a school is named in replies: its name when the study identifies schools, else
    /// its pseudonym.
    pub fn label(&self, school: &SchoolRef) -> String {
        if self.identify_schools {
            school.name.clone()
        } else {
            school.pseudonym.clone()
        }
    }

    pub fn school_by_id(&self, school_id: &str) -> Option<&SchoolRef> {
        self.schools
            .iter()
            .find(|school| school.school_id == school_id)
    }

    /// A school named by a researcher: its pseudonym, or (when the study identifies schools)
    /// its id or name.
    pub fn resolve_school(&self, named: &str) -> Result<&SchoolRef, ResearchError> {
        let named = named.trim();
        self.schools
            .iter()
            .find(|school| {
                school.pseudonym.eq_ignore_ascii_case(named)
                    || (self.identify_schools
                        && (school.school_id == named || school.name == named))
            })
            .ok_or_else(|| ResearchError::NotFound {
                kind: "school in study",
                id: named.to_owned(),
            })
    }

    /// Optional school filter: none when empty.
    pub fn resolve_optional_school(
        &self,
        named: &str,
    ) -> Result<Option<&SchoolRef>, ResearchError> {
        if named.trim().is_empty() {
            Ok(None)
        } else {
            self.resolve_school(named).map(Some)
        }
    }

    pub fn wave(&self, label: &str) -> Result<&WaveInfo, ResearchError> {
        self.waves
            .iter()
            .find(|wave| wave.label == label.trim())
            .ok_or_else(|| {
                ResearchError::invalid(
                    "wave",
                    format!("study {} has no wave {}", self.study_id, label.trim()),
                )
            })
    }

    /// A wave named by a researcher, or the first when empty.
    pub fn wave_or_first(&self, label: &str) -> Result<&WaveInfo, ResearchError> {
        if label.trim().is_empty() {
            self.waves
                .first()
                .ok_or_else(|| ResearchError::invalid("wave", "the study has no waves"))
        } else {
            self.wave(label)
        }
    }
}

/// A domain value from the name the projections stored it under.
pub(crate) fn parse_name<T: FromStr>(name: &str) -> Result<T, ResearchError> {
    name.parse()
        .map_err(|_| ResearchError::UnknownValue(name.to_owned()))
}
