//! The research view's queries over the projections' tables: what researchers came for.
//!
//! Every query reads one consistent snapshot (one read transaction) and reports the log
//! position the view was current to in it. Groups of respondents smaller than the study's
//! minimum are suppressed (see [`suppression`]); schools appear under their study pseudonym
//! unless the study identifies them.

pub mod activity;
mod cache;
pub mod chart;
pub mod context;
mod error;
pub mod export;
#[cfg(test)]
mod fixture;
pub mod growth;
pub mod impact;
pub mod reliability;
mod school_chart;
pub mod scores;
pub mod suppression;
pub mod timeline;
mod warm;

use chrono::NaiveDate;
use plg_domain::{ids::StudyId, values::WaveLabel};
use plg_projections::{ResearchDb, view_position};
use rusqlite::Transaction;

pub use error::ResearchError;
pub use warm::Warmed;

pub use cache::DEFAULT_LIMIT as DEFAULT_CACHE_LIMIT;

use crate::{
    cache::SchoolWaveCache,
    context::{NamedSchool, StudyContext},
};

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
    /// School-waves' cells, shared by the view's clones.
    cells: SchoolWaveCache<Box<[scores::Cell]>>,
    /// School-waves' figures for reliability, shared likewise.
    agreement: SchoolWaveCache<reliability::Agreement>,
}

impl ResearchView {
    pub fn new(db: ResearchDb) -> Self {
        Self::with_cache_limit(db, DEFAULT_CACHE_LIMIT)
    }

    /// A view keeping at most about `bytes` of school-waves' cells, and as much of their
    /// figures for reliability, between queries.
    pub fn with_cache_limit(db: ResearchDb, bytes: usize) -> Self {
        Self {
            db,
            pseudonymised_only: false,
            cells: SchoolWaveCache::new(bytes),
            agreement: SchoolWaveCache::new(bytes),
        }
    }

    /// Entries kept, and the bytes they take: of cells, and of figures for reliability.
    pub fn cache_usage(&self) -> [(usize, usize); 2] {
        [self.cells.usage(), self.agreement.usage()]
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
        study: StudyId,
        query: impl FnOnce(&Transaction<'_>, &StudyContext, u64) -> Result<T, ResearchError>,
    ) -> Result<Current<T>, ResearchError> {
        self.read_about(study, None, query)
    }

    /// `read`, with a context of only the school `school` names when it names one (a query
    /// about one school then reads none of the study's other enrolments).
    fn read_about<T>(
        &self,
        study: StudyId,
        school: Option<&NamedSchool>,
        query: impl FnOnce(&Transaction<'_>, &StudyContext, u64) -> Result<T, ResearchError>,
    ) -> Result<Current<T>, ResearchError> {
        let mut connection = self.db.read_connection()?;
        let transaction = connection.transaction()?;
        let position = view_position(&transaction)?;
        let identify_allowed = !self.pseudonymised_only;
        let context = match school {
            Some(school) => {
                StudyContext::load_school(&transaction, study, school, identify_allowed)?
            }
            None => {
                let mut context = StudyContext::load(&transaction, study)?;
                context.identify_schools &= identify_allowed;
                context
            }
        };
        let value = query(&transaction, &context, position)?;
        Ok(Current {
            value,
            context,
            position,
        })
    }

    /// The cells of the study's school-waves (optionally of one school and one wave), or only
    /// their pooled cells: all that reliability reads.
    fn scores(
        &self,
        transaction: &Transaction<'_>,
        context: &StudyContext,
        range: (Option<&str>, Option<&str>),
        pooled_only: bool,
    ) -> Result<Vec<scores::WaveScore>, ResearchError> {
        cache::wave_scores(&self.cells, transaction, context, range, pooled_only)
    }

    /// The pooled current cells of the study's school-waves (optionally of one school), by
    /// index: all that growth, relations and impact read.
    fn pooled(
        &self,
        transaction: &Transaction<'_>,
        context: &StudyContext,
        school: Option<&str>,
    ) -> Result<scores::PooledCells, ResearchError> {
        cache::pooled_cells(&self.cells, transaction, context, (school, None))
    }

    /// Scores of every school and wave, or of the one named.
    pub fn wave_scores(
        &self,
        study: StudyId,
        school: Option<&NamedSchool>,
        wave: Option<&WaveLabel>,
    ) -> Result<Current<Vec<scores::WaveScore>>, ResearchError> {
        self.read_about(study, school, |transaction, context, _| {
            let school = context.resolve_optional_school(school)?;
            let wave = wave.map(|wave| context.wave(wave)).transpose()?;
            let school = school.map(|school| school.school_id.as_str());
            let wave = wave.map(|wave| wave.label.as_str());
            self.scores(transaction, context, (school, wave), false)
        })
    }

    pub fn growth(
        &self,
        study: StudyId,
        school: Option<&NamedSchool>,
    ) -> Result<Current<Vec<growth::Growth>>, ResearchError> {
        self.read_about(study, school, |transaction, context, _| {
            let school = context
                .resolve_optional_school(school)?
                .map(|school| school.school_id.as_str());
            let pooled = self.pooled(transaction, context, school)?;
            let mut rows = growth::growth(context, &pooled);
            if let Some(school) = school {
                rows.retain(|row| row.school.school_id == school);
            }
            Ok(rows)
        })
    }

    /// Cross-school correlations at `wave` (the first when none), and with growth from the
    /// first wave.
    pub fn relations(
        &self,
        study: StudyId,
        wave: Option<&WaveLabel>,
    ) -> Result<Current<Relations>, ResearchError> {
        self.read(study, |transaction, context, _| {
            let wave = context.wave_index_or_first(wave)?;
            let pooled = self.pooled(transaction, context, None)?;
            Ok(Relations {
                at_wave: growth::relations(context, &pooled, wave),
                with_growth: growth::growth_relations(context, &pooled),
                wave: context.waves[wave].label.clone(),
            })
        })
    }

    /// Whether schools that ran interventions of a category grew more, from `from_wave` (the
    /// first when none) to `to_wave` (the last when none).
    pub fn intervention_impact(
        &self,
        study: StudyId,
        from_wave: Option<&WaveLabel>,
        to_wave: Option<&WaveLabel>,
    ) -> Result<Current<Impact>, ResearchError> {
        self.read(study, |transaction, context, _| {
            let from = context.wave_index_or_first(from_wave)?;
            let to =
                match to_wave {
                    Some(to_wave) => context.wave_index(to_wave)?,
                    None => context.waves.len().checked_sub(1).ok_or_else(|| {
                        ResearchError::invalid("to_wave", "the study has no waves")
                    })?,
                };
            if context.waves[to].ordinal <= context.waves[from].ordinal {
                return Err(ResearchError::invalid(
                    "to_wave",
                    "must come after from_wave",
                ));
            }
            let waves = (from, to);
            let pooled = self.pooled(transaction, context, None)?;
            let interventions = impact::load_interventions(transaction, context)?;
            Ok(Impact {
                impacts: impact::impact(context, &pooled, &interventions, waves),
                combinations: impact::combinations(&interventions),
            })
        })
    }

    /// Agreement within schools and differences between them at `wave` (the first when none).
    pub fn reliability(
        &self,
        study: StudyId,
        wave: Option<&WaveLabel>,
    ) -> Result<Current<Reliability>, ResearchError> {
        self.read(study, |transaction, context, _| {
            let wave = context.wave_or_first(wave)?.clone();
            let scores = self.scores(transaction, context, (None, Some(&wave.label)), true)?;
            Ok(Reliability {
                dimensions: reliability::reliability(
                    transaction,
                    context,
                    &wave,
                    &scores,
                    &self.agreement,
                )?,
                wave: wave.label,
            })
        })
    }

    pub fn plg_activity(
        &self,
        study: StudyId,
        school: Option<&NamedSchool>,
        today: NaiveDate,
    ) -> Result<Current<Vec<activity::PlgActivity>>, ResearchError> {
        self.read(study, |transaction, context, _| {
            let school = context.resolve_optional_school(school)?;
            activity::activity(transaction, context, school, today)
        })
    }

    /// Streams a study's CSV export to `emit`, chunk by chunk, each with the log position the
    /// snapshot it comes from is current to.
    pub fn export(
        &self,
        study: StudyId,
        format: export::Format,
        mut emit: impl FnMut(Vec<u8>, u64) -> Result<(), ResearchError>,
    ) -> Result<(), ResearchError> {
        self.read(study, |transaction, context, position| {
            export::export(transaction, context, format, |chunk| emit(chunk, position))
        })
        .map(drop)
    }

    pub fn school_timeline(
        &self,
        study: StudyId,
        school: &NamedSchool,
    ) -> Result<Current<Timeline>, ResearchError> {
        self.read_about(study, Some(school), |transaction, context, _| {
            let school = context.resolve_school(school)?;
            let scores =
                self.scores(transaction, context, (Some(&school.school_id), None), false)?;
            Ok(Timeline {
                entries: timeline::timeline(transaction, &context.study_id, school, &scores)?,
                school: context.label(school),
            })
        })
    }

    /// A school's pooled scores as a spider chart (SVG): one series per wave (the study's
    /// waves when none are named), and the desired situation beside the current if asked.
    pub fn spider_chart(
        &self,
        study: StudyId,
        school: &NamedSchool,
        waves: &[WaveLabel],
        include_desired: bool,
    ) -> Result<Current<String>, ResearchError> {
        self.read_about(study, Some(school), |transaction, context, _| {
            let school = context.resolve_school(school)?;
            let scores =
                self.scores(transaction, context, (Some(&school.school_id), None), false)?;
            let waves: Vec<&str> = if waves.is_empty() {
                context
                    .waves
                    .iter()
                    .map(|wave| wave.label.as_str())
                    .collect()
            } else {
                waves
                    .iter()
                    .map(|wave| Ok(context.wave(wave)?.label.as_str()))
                    .collect::<Result<_, ResearchError>>()?
            };
            let label = context.label(school);
            Ok(school_chart::school_chart(&label, &scores, &waves, include_desired).render())
        })
    }
}
