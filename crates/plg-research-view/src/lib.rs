//! The research view's queries over the projections' tables: what researchers came for.
//!
//! Every query reads one consistent snapshot (one read transaction) and reports the log
//! position the view was current to in it. Groups of respondents smaller than the study's
//! minimum are suppressed (see [`suppression`]); schools appear under their study pseudonym
//! unless the study identifies them.

pub mod activity;
pub mod chart;
pub mod context;
mod error;
pub mod export;
pub mod growth;
pub mod impact;
pub mod reliability;
pub mod scores;
pub mod suppression;
pub mod timeline;

use chrono::NaiveDate;
use plg_projections::{ResearchDb, view_position};
use rusqlite::Transaction;

pub use error::ResearchError;

use crate::context::StudyContext;

/// A query's answer, with the study it is about and the log position it is current to.
#[derive(Debug, Clone)]
pub struct Current<T> {
    pub value: T,
    pub context: StudyContext,
    pub position: u64,
}

#[derive(Debug, Clone)]
pub struct Relations {
    pub wave: String,
    /// Conditions with elements at `wave`.
    pub at_wave: Vec<growth::Relation>,
    /// Conditions at the first wave with elements' growth to each later wave.
    pub with_growth: Vec<growth::Relation>,
}

#[derive(Debug, Clone)]
pub struct Impact {
    pub impacts: Vec<impact::CategoryImpact>,
    pub combinations: Vec<impact::Combination>,
}

#[derive(Debug, Clone)]
pub struct Reliability {
    pub wave: String,
    pub dimensions: Vec<reliability::DimensionReliability>,
}

#[derive(Debug, Clone)]
pub struct Timeline {
    /// The school as the study names it.
    pub school: String,
    pub entries: Vec<timeline::TimelineEntry>,
}

/// The research view, read-only.
#[derive(Debug, Clone)]
pub struct ResearchView {
    db: ResearchDb,
    /// Names schools by pseudonym even in studies that identify them.
    pseudonymised_only: bool,
}

impl ResearchView {
    pub fn new(db: ResearchDb) -> Self {
        Self {
            db,
            pseudonymised_only: false,
        }
    }

    /// The same view, naming every school by its pseudonym whatever its study allows.
    pub fn pseudonymised(self) -> Self {
        Self {
            pseudonymised_only: true,
            ..self
        }
    }

    /// Runs `query` on one snapshot of the view.
    fn read<T>(
        &self,
        study_id: &str,
        query: impl FnOnce(&Transaction<'_>, &StudyContext, u64) -> Result<T, ResearchError>,
    ) -> Result<Current<T>, ResearchError> {
        let mut connection = self.db.read_connection()?;
        let transaction = connection.transaction()?;
        let position = view_position(&transaction)?;
        let mut context = StudyContext::load(&transaction, study_id)?;
        context.identify_schools &= !self.pseudonymised_only;
        let value = query(&transaction, &context, position)?;
        Ok(Current {
            value,
            context,
            position,
        })
    }

    fn scores(
        transaction: &Transaction<'_>,
        context: &StudyContext,
        school_id: Option<&str>,
        wave: Option<&str>,
    ) -> Result<Vec<scores::WaveScore>, ResearchError> {
        let responses = scores::load_responses(transaction, &context.study_id, school_id, wave)?;
        Ok(scores::wave_scores(context, &responses))
    }

    pub fn wave_scores(
        &self,
        study_id: &str,
        school: &str,
        wave: &str,
    ) -> Result<Current<Vec<scores::WaveScore>>, ResearchError> {
        self.read(study_id, |transaction, context, _| {
            let school = context
                .resolve_optional_school(school)?
                .map(|school| school.school_id.clone());
            let wave = if wave.trim().is_empty() {
                None
            } else {
                Some(context.wave(wave)?.label.clone())
            };
            Self::scores(transaction, context, school.as_deref(), wave.as_deref())
        })
    }

    pub fn growth(
        &self,
        study_id: &str,
        school: &str,
    ) -> Result<Current<Vec<growth::Growth>>, ResearchError> {
        self.read(study_id, |transaction, context, _| {
            let school = context
                .resolve_optional_school(school)?
                .map(|school| school.school_id.clone());
            let scores = Self::scores(transaction, context, school.as_deref(), None)?;
            let mut rows = growth::growth(context, &scores);
            if let Some(school) = school {
                rows.retain(|row| row.school.school_id == school);
            }
            Ok(rows)
        })
    }

    /// Cross-school correlations at `wave` (the first when empty), and with growth from the
    /// first wave.
    pub fn relations(
        &self,
        study_id: &str,
        wave: &str,
    ) -> Result<Current<Relations>, ResearchError> {
        self.read(study_id, |transaction, context, _| {
            let wave = context.wave_or_first(wave)?.clone();
            let scores = Self::scores(transaction, context, None, None)?;
            Ok(Relations {
                at_wave: growth::relations(context, &scores, &wave),
                with_growth: growth::growth_relations(context, &scores),
                wave: wave.label,
            })
        })
    }

    pub fn intervention_impact(
        &self,
        study_id: &str,
        from_wave: &str,
        to_wave: &str,
    ) -> Result<Current<Impact>, ResearchError> {
        self.read(study_id, |transaction, context, _| {
            let from = context.wave_or_first(from_wave)?.clone();
            let to =
                if to_wave.trim().is_empty() {
                    context.waves.last().cloned().ok_or_else(|| {
                        ResearchError::invalid("to_wave", "the study has no waves")
                    })?
                } else {
                    context.wave(to_wave)?.clone()
                };
            if to.ordinal <= from.ordinal {
                return Err(ResearchError::invalid(
                    "to_wave",
                    "must come after from_wave",
                ));
            }
            let scores = Self::scores(transaction, context, None, None)?;
            let interventions = impact::load_interventions(transaction, context)?;
            Ok(Impact {
                impacts: impact::impact(context, &scores, &interventions, &from, &to),
                combinations: impact::combinations(&interventions),
            })
        })
    }

    pub fn reliability(
        &self,
        study_id: &str,
        wave: &str,
    ) -> Result<Current<Reliability>, ResearchError> {
        self.read(study_id, |transaction, context, _| {
            let wave = context.wave_or_first(wave)?.clone();
            let responses =
                scores::load_responses(transaction, &context.study_id, None, Some(&wave.label))?;
            Ok(Reliability {
                dimensions: reliability::reliability(context, &responses, &wave),
                wave: wave.label,
            })
        })
    }

    pub fn plg_activity(
        &self,
        study_id: &str,
        school: &str,
        today: NaiveDate,
    ) -> Result<Current<Vec<activity::PlgActivity>>, ResearchError> {
        self.read(study_id, |transaction, context, _| {
            let school = context.resolve_optional_school(school)?.cloned();
            activity::activity(transaction, context, school.as_ref(), today)
        })
    }

    /// Streams a study's CSV export to `emit`, chunk by chunk, each with the log position the
    /// snapshot it comes from is current to.
    pub fn export(
        &self,
        study_id: &str,
        format: export::Format,
        mut emit: impl FnMut(Vec<u8>, u64) -> Result<(), ResearchError>,
    ) -> Result<(), ResearchError> {
        self.read(study_id, |transaction, context, position| {
            export::export(transaction, context, format, |chunk| emit(chunk, position))
        })
        .map(drop)
    }

    pub fn school_timeline(
        &self,
        study_id: &str,
        school: &str,
    ) -> Result<Current<Timeline>, ResearchError> {
        self.read(study_id, |transaction, context, _| {
            let school = context.resolve_school(school)?.clone();
            let scores = Self::scores(transaction, context, Some(&school.school_id), None)?;
            Ok(Timeline {
                entries: timeline::timeline(transaction, &context.study_id, &school, &scores)?,
                school: context.label(&school),
            })
        })
    }
}
