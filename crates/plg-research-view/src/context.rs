//! What every query needs to know about a study: its waves, its schools as researchers may
//! see them, and how small a group may be shown.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    str::FromStr,
};

use plg_domain::{
    ValueError,
    ids::{SchoolId, StudyId},
    values::WaveLabel,
};
use rusqlite::{OptionalExtension, Transaction};

use crate::{
    ResearchError,
    scores::{flag, int},
};

/// A school as a researcher names it in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedSchool {
    /// By id: found only where the study identifies schools.
    Id(SchoolId),
    /// By its pseudonym in the study (`S01`, in any case) or, where the study identifies
    /// schools, by its name.
    Label(String),
}

impl NamedSchool {
    /// A school named in a request.
    pub fn parse(named: &str) -> Result<Self, ValueError> {
        let named = named.trim();
        if named.is_empty() {
            return Err(ValueError::new("must not be empty"));
        }
        // Ids are matched in the one form replies show them in; any other text is a label.
        Ok(match SchoolId::parse(named) {
            Ok(id) if id.to_string() == named => Self::Id(id),
            _ => Self::Label(named.to_owned()),
        })
    }
}

/// Whether a researcher's `named` is this school: by id or name only where schools are
/// identified.
fn names(named: &NamedSchool, school: &SchoolRef, identify_schools: bool) -> bool {
    match named {
        NamedSchool::Id(id) => identify_schools && school.school_id == id.to_string(),
        NamedSchool::Label(label) => {
            school.pseudonym.eq_ignore_ascii_case(label)
                || (identify_schools && school.name == *label)
        }
    }
}

fn not_in_study(named: &NamedSchool) -> ResearchError {
    ResearchError::NotFound {
        kind: "school in study",
        id: named.to_string(),
    }
}

impl fmt::Display for NamedSchool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Label(label) => f.write_str(label),
        }
    }
}

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
    /// A study of `waves` (in order) and `schools` (named `S01`, …), every wave released and a
    /// minimum group size of 5, for tests that project a log of their own.
    #[cfg(test)]
    pub(crate) fn released(study_id: StudyId, waves: &[&str], schools: &[SchoolId]) -> Self {
        Self {
            study_id: study_id.to_string(),
            min_group_size: 5,
            identify_schools: false,
            waves: waves
                .iter()
                .enumerate()
                .map(|(ordinal, label)| WaveInfo {
                    label: (*label).to_owned(),
                    ordinal: ordinal as u32 + 1,
                    opens_on: String::new(),
                    closes_on: String::new(),
                })
                .collect(),
            schools: schools
                .iter()
                .enumerate()
                .map(|(index, school)| SchoolRef {
                    school_id: school.to_string(),
                    pseudonym: format!("S{:02}", index + 1),
                    name: String::new(),
                })
                .collect(),
            withheld: BTreeSet::new(),
        }
    }

    pub fn load(transaction: &Transaction<'_>, study: StudyId) -> Result<Self, ResearchError> {
        Self::load_about(transaction, study, None)
    }

    /// The study with only the school `named` names: all a query about one school needs,
    /// without reading every enrolment. `identify_allowed`
    /// false hides the schools' identities as `load`'s callers do afterwards, and before
    /// `named` is matched, so a hidden name cannot match.
    pub fn load_school(
        transaction: &Transaction<'_>,
        study: StudyId,
        named: &NamedSchool,
        identify_allowed: bool,
    ) -> Result<Self, ResearchError> {
        Self::load_about(transaction, study, Some((named, identify_allowed)))
    }

    fn load_about(
        transaction: &Transaction<'_>,
        study: StudyId,
        named: Option<(&NamedSchool, bool)>,
    ) -> Result<Self, ResearchError> {
        let study_id = study.to_string();
        let study_id = study_id.as_str();
        let settings: Option<(u32, bool)> = transaction
            .query_row(
                "SELECT min_group_size, identify_schools FROM studies WHERE study_id = ?1",
                [study_id],
                |row| Ok((int(row, 0)?, flag(row, 1)?)),
            )
            .optional()?;
        let Some((min_group_size, mut identify_schools)) = settings else {
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
                    ordinal: int(row, 1)?,
                    opens_on: row.get(2)?,
                    closes_on: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        // A named school is looked for among the candidates SQL finds by its id, pseudonym
        // (ASCII case folded, as `names` does: `lower` folds ASCII only, on SQLite and on
        // PostgreSQL under the "C" collation) or name; `names` then decides.
        let (candidates, candidate) = match named {
            None => ("", None),
            Some((NamedSchool::Id(id), _)) => (" AND e.school_id = ?2", Some(id.to_string())),
            Some((NamedSchool::Label(label), _)) => (
                " AND (lower(e.pseudonym) = lower(?2) OR s.name = ?2)",
                Some(label.clone()),
            ),
        };
        let mut schools = transaction.prepare(&format!(
            "SELECT e.school_id, e.pseudonym, s.name FROM enrolments e JOIN schools s USING (school_id)
             WHERE e.study_id = ?1{candidates} ORDER BY e.ordinal"
        ))?;
        let parameters = std::iter::once(study_id).chain(candidate.as_deref());
        let mut schools: Vec<SchoolRef> = schools
            .query_map(rusqlite::params_from_iter(parameters), |row| {
                Ok(SchoolRef {
                    school_id: row.get(0)?,
                    pseudonym: row.get(1)?,
                    name: row.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        if let Some((named, identify_allowed)) = named {
            identify_schools &= identify_allowed;
            let school = schools
                .into_iter()
                .find(|school| names(named, school, identify_schools))
                .ok_or_else(|| not_in_study(named))?;
            schools = vec![school];
        }
        // A release the scans have not caught up with (their projection was reset, or
        // stopped, while the registry went on) withholds too: until then its school-waves
        // hold part of their respondents, a cell never shown, whose difference with the
        // whole one would single a respondent out.
        let only = named
            .and(schools.first())
            .map(|school| school.school_id.as_str());
        let mut withheld = transaction.prepare(&format!(
            "SELECT s.school_id, s.wave FROM scan_school_waves s
             JOIN waves w ON w.study_id = s.study_id AND w.label = s.wave
             WHERE s.study_id = ?1{}
               AND (w.released_at IS NULL OR s.changed_at > w.released_at
                    OR w.released_at > (SELECT position FROM projection_checkpoints
                                        WHERE projection = 'scans'))",
            if only.is_some() {
                " AND s.school_id = ?2"
            } else {
                ""
            }
        ))?;
        let parameters = std::iter::once(study_id).chain(only);
        let withheld = withheld
            .query_map(rusqlite::params_from_iter(parameters), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
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

    /// Each school's index in `schools`, by its id.
    pub fn school_indexes(&self) -> HashMap<&str, usize> {
        self.schools
            .iter()
            .enumerate()
            .map(|(index, school)| (school.school_id.as_str(), index))
            .collect()
    }

    pub fn school_by_id(&self, school_id: &str) -> Option<&SchoolRef> {
        self.schools
            .iter()
            .find(|school| school.school_id == school_id)
    }

    /// A school named by a researcher: its pseudonym, or (when the study identifies schools)
    /// its id or name.
    pub fn resolve_school(&self, named: &NamedSchool) -> Result<&SchoolRef, ResearchError> {
        self.schools
            .iter()
            .find(|school| names(named, school, self.identify_schools))
            .ok_or_else(|| not_in_study(named))
    }

    /// Optional school filter: none for every school.
    pub fn resolve_optional_school(
        &self,
        named: Option<&NamedSchool>,
    ) -> Result<Option<&SchoolRef>, ResearchError> {
        named.map(|named| self.resolve_school(named)).transpose()
    }

    pub fn wave(&self, label: &WaveLabel) -> Result<&WaveInfo, ResearchError> {
        Ok(&self.waves[self.wave_index(label)?])
    }

    /// The index in `waves` of a wave named by a researcher.
    pub fn wave_index(&self, label: &WaveLabel) -> Result<usize, ResearchError> {
        self.waves
            .iter()
            .position(|wave| wave.label == label.as_str())
            .ok_or_else(|| {
                ResearchError::invalid(
                    "wave",
                    format!("study {} has no wave {label}", self.study_id),
                )
            })
    }

    /// A wave named by a researcher, or the first when none is.
    pub fn wave_or_first(&self, label: Option<&WaveLabel>) -> Result<&WaveInfo, ResearchError> {
        Ok(&self.waves[self.wave_index_or_first(label)?])
    }

    /// The index in `waves` of a wave named by a researcher, or of the first when none is.
    pub fn wave_index_or_first(&self, label: Option<&WaveLabel>) -> Result<usize, ResearchError> {
        match label {
            Some(label) => self.wave_index(label),
            None if self.waves.is_empty() => {
                Err(ResearchError::invalid("wave", "the study has no waves"))
            }
            None => Ok(0),
        }
    }
}

/// A domain value from the name the projections stored it under.
pub(crate) fn parse_name<T: FromStr>(name: &str) -> Result<T, ResearchError> {
    name.parse()
        .map_err(|_| ResearchError::UnknownValue(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use plg_projections::{ResearchDb, all_projections};

    use super::*;

    #[test]
    fn a_release_the_scans_have_not_caught_up_with_withholds_its_school_waves() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("research.db");
        let all = all_projections();
        let projections: Vec<_> = all.iter().map(AsRef::as_ref).collect();
        let db = ResearchDb::open(&path, &projections).expect("opens");
        let study = StudyId::new_random();
        let mut connection = db.write_connection().expect("connects");
        // Wave T1 released at position 100; S01's last scan at 50.
        connection
            .execute_batch(&format!(
                "INSERT INTO schools VALUES ('s-1', 'School', 'nl', 'primary', '01AB', NULL, '2024-01-01');
                 INSERT INTO studies VALUES ('{study}', 'Study', NULL, 3, 0, 'v1', '2024-01-01');
                 INSERT INTO waves VALUES ('{study}', 'T1', 1, '2024-01-01', '2024-02-01', 100);
                 INSERT INTO enrolments VALUES ('{study}', 's-1', 1, 'S01', '2024-01-01');
                 INSERT INTO scan_school_waves VALUES ('{study}', 's-1', 'T1', 50);"
            ))
            .expect("inserts");
        let released = |scans_at: i64, connection: &mut rusqlite::Connection| {
            connection
                .execute(
                    "UPDATE projection_checkpoints SET position = ?1 WHERE projection = 'scans'",
                    [scans_at],
                )
                .expect("moves the checkpoint");
            let transaction = connection.transaction().expect("begins");
            StudyContext::load(&transaction, study)
                .expect("loads")
                .is_released(0, 0)
        };
        assert!(
            !released(60, &mut connection),
            "the scans are behind the release: withheld"
        );
        assert!(released(100, &mut connection), "caught up: released");
    }

    #[test]
    fn a_context_of_one_school_holds_the_school_the_whole_study_would_resolve() {
        let dir = tempfile::tempdir().expect("temp dir");
        let all = all_projections();
        let projections: Vec<_> = all.iter().map(AsRef::as_ref).collect();
        let db = ResearchDb::open(dir.path().join("research.db"), &projections).expect("opens");
        let mut connection = db.write_connection().expect("connects");
        let (a, b, c) = (
            SchoolId::new_random(),
            SchoolId::new_random(),
            SchoolId::new_random(),
        );
        let study = StudyId::new_random();
        // C is named as A's pseudonym. T1 is not released; T2 is, and B changed after it.
        for identify in [false, true] {
            connection
                .execute_batch(&format!(
                    "DELETE FROM schools; DELETE FROM studies; DELETE FROM waves;
                     DELETE FROM enrolments; DELETE FROM scan_school_waves;
                     INSERT INTO schools VALUES ('{a}', 'Het Baken', 'nl', 'primary', '01AB', NULL, '2024-01-01');
                     INSERT INTO schools VALUES ('{b}', 'De Brug', 'nl', 'primary', '02AB', NULL, '2024-01-01');
                     INSERT INTO schools VALUES ('{c}', 'S01', 'nl', 'primary', '03AB', NULL, '2024-01-01');
                     INSERT INTO studies VALUES ('{study}', 'Study', NULL, 3, {identify}, 'v1', '2024-01-01');
                     INSERT INTO waves VALUES ('{study}', 'T1', 1, '2024-01-01', '2024-02-01', NULL);
                     INSERT INTO enrolments VALUES ('{study}', '{a}', 1, 'S01', '2024-01-01');
                     INSERT INTO enrolments VALUES ('{study}', '{b}', 2, 'S02', '2024-01-01');
                     INSERT INTO enrolments VALUES ('{study}', '{c}', 3, 'S03', '2024-01-01');
                     INSERT INTO scan_school_waves VALUES ('{study}', '{a}', 'T1', 50);
                     INSERT INTO scan_school_waves VALUES ('{study}', '{b}', 'T1', 50);
                     INSERT INTO scan_school_waves VALUES ('{study}', '{c}', 'T1', 50);
                     INSERT INTO waves VALUES ('{study}', 'T2', 2, '2024-03-01', '2024-04-01', 100);
                     INSERT INTO scan_school_waves VALUES ('{study}', '{a}', 'T2', 50);
                     INSERT INTO scan_school_waves VALUES ('{study}', '{b}', 'T2', 150);
                     UPDATE projection_checkpoints SET position = 200 WHERE projection = 'scans';",
                    identify = i32::from(identify)
                ))
                .expect("inserts");
            let transaction = connection.transaction().expect("begins");
            let mut names: Vec<NamedSchool> = [a, b, c, SchoolId::new_random()]
                .into_iter()
                .map(NamedSchool::Id)
                .collect();
            for label in [
                "S01",
                "s02",
                "S03",
                "S04",
                "Het Baken",
                "de brug",
                "De Brug",
                "S0",
            ] {
                names.push(NamedSchool::Label(label.into()));
            }
            let whole = StudyContext::load(&transaction, study).expect("loads");
            assert_eq!(whole.withheld.len(), 4, "T1 at every school, and T2 at B");
            for identify_allowed in [false, true] {
                let mut whole = StudyContext::load(&transaction, study).expect("loads");
                whole.identify_schools &= identify_allowed;
                for named in &names {
                    let expected = whole.resolve_school(named).map(|school| {
                        let withheld: BTreeSet<_> = whole
                            .withheld
                            .iter()
                            .filter(|(id, _)| *id == school.school_id)
                            .cloned()
                            .collect();
                        (vec![school.clone()], withheld, whole.identify_schools)
                    });
                    let one =
                        StudyContext::load_school(&transaction, study, named, identify_allowed)
                            .map(|one| (one.schools, one.withheld, one.identify_schools));
                    assert_eq!(
                        format!("{one:?}"),
                        format!("{expected:?}"),
                        "{named:?}, identify {identify}, allowed {identify_allowed}"
                    );
                }
            }
            drop(transaction);
        }
    }

    #[test]
    fn a_school_is_named_by_id_only_in_the_form_replies_show_ids() {
        let id = SchoolId::new_random();
        assert_eq!(
            NamedSchool::parse(&format!(" {id} ")),
            Ok(NamedSchool::Id(id))
        );
        let shouted = id.to_string().to_uppercase();
        assert_eq!(
            NamedSchool::parse(&shouted),
            Ok(NamedSchool::Label(shouted.clone()))
        );
        assert_eq!(
            NamedSchool::parse(" s01 "),
            Ok(NamedSchool::Label("s01".into()))
        );
        assert!(NamedSchool::parse("  ").is_err());
    }
}
