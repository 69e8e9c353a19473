//! Computing stale kept school-waves before a researcher asks (`docs/research-view.md`,
//! "Warming"): after a start, a release or a change of a study's minimum group size, the first
//! study query would otherwise compute every school-wave of the study.
//!
//! Warming only fills the caches earlier, with the same code and stamps as a query; a query
//! still checks every stamp in its own snapshot. It works a chunk of school-waves at a time,
//! each chunk in a read snapshot of its own (so no read transaction stays open for long), and
//! its caller pauses between chunks.

use std::{collections::BTreeMap, time::Duration};

use plg_domain::{dimension::Dimension, ids::StudyId};
use rusqlite::Transaction;

use crate::{
    ResearchError, ResearchView,
    cache::{Stamped, compute_cells, stamps},
    context::StudyContext,
    reliability::agreements,
    scores::PooledCells,
};

/// School-waves computed in one snapshot, between two pauses.
const CHUNK: usize = 128;

/// Warming replaces outdated kept values (in place: it evicts nothing), but computes the
/// school-waves the caches keep nothing of only while each holds less than this share of its
/// limit: filling a full cache would push out what researchers use, and recomputing what the
/// cache let go on every pass would never settle.
const ROOM_TO_FILL: f64 = 0.5;

/// What a warming pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Warmed {
    pub studies: usize,
    pub school_waves: usize,
}

impl ResearchView {
    /// Computes and keeps the cells, and reliability's figures, of every released school-wave
    /// whose kept value is stale or missing: the studies the view holds values of first (the
    /// most recently used first), then the others while there is room. `pause` runs after each
    /// chunk with the time it took, and stops the pass by returning false. A study that fails
    /// is skipped, and the first failure returned once the others are warmed.
    pub fn warm(&self, mut pause: impl FnMut(Duration) -> bool) -> Result<Warmed, ResearchError> {
        let kept = self.cells.studies();
        let mut studies = kept.clone();
        for study in self.study_ids()? {
            if !studies.contains(&study) {
                studies.push(study);
            }
        }
        let mut warmed = Warmed::default();
        let mut failed = None;
        for study in studies {
            if !kept.contains(&study) && !self.room_to_fill() {
                break;
            }
            let Ok(study) = StudyId::parse(&study) else {
                continue;
            };
            // One study that fails (a damaged row, say) must not keep the others cold.
            let (school_waves, finished) = match self.warm_study(study, &mut pause) {
                Ok(warmed) => warmed,
                Err(error) => {
                    failed.get_or_insert(error);
                    continue;
                }
            };
            warmed.studies += usize::from(school_waves > 0);
            warmed.school_waves += school_waves;
            if !finished {
                break;
            }
        }
        failed.map_or(Ok(warmed), Err)
    }

    /// Every study of the view.
    fn study_ids(&self) -> Result<Vec<String>, ResearchError> {
        let connection = self.db.read_connection()?;
        let mut statement = connection.prepare("SELECT study_id FROM studies ORDER BY study_id")?;
        let studies = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(studies)
    }

    /// Warms one study, a chunk at a time: how many school-waves it computed, and whether it
    /// went through (rather than being stopped by `pause`).
    fn warm_study(
        &self,
        study: StudyId,
        pause: &mut impl FnMut(Duration) -> bool,
    ) -> Result<(usize, bool), ResearchError> {
        let (outdated, missing) = self.on_snapshot(study, |transaction, context| {
            let stamped = stamps(transaction, context, None, None)?;
            let (mut outdated, mut missing) = self.cells.outdated_and_missing(context, &stamped);
            let (outdated_agreement, missing_agreement) =
                self.agreement.outdated_and_missing(context, &stamped);
            outdated.extend(outdated_agreement);
            missing.extend(missing_agreement);
            let released = |stamped: Vec<Stamped>| -> Vec<(usize, usize)> {
                let mut at: Vec<_> = stamped
                    .into_iter()
                    .filter(|stamped| context.is_released(stamped.at.0, stamped.at.1))
                    .map(|stamped| stamped.at)
                    .collect();
                at.sort_unstable();
                at.dedup();
                at
            };
            let outdated = released(outdated);
            let missing = released(missing)
                .into_iter()
                .filter(|at| outdated.binary_search(at).is_err())
                .collect::<Vec<_>>();
            Ok((outdated, missing))
        })?;
        let mut computed = 0;
        let chunks = outdated
            .chunks(CHUNK)
            .map(|chunk| (chunk, false))
            .chain(missing.chunks(CHUNK).map(|chunk| (chunk, true)));
        for (chunk, fills) in chunks {
            if fills && !self.room_to_fill() {
                break;
            }
            let started = std::time::Instant::now();
            self.on_snapshot(study, |transaction, context| {
                self.warm_chunk(transaction, context, chunk)
            })?;
            computed += chunk.len();
            if !pause(started.elapsed()) {
                return Ok((computed, false));
            }
        }
        Ok((computed, true))
    }

    /// Whether both caches have room for school-waves they keep nothing of.
    fn room_to_fill(&self) -> bool {
        self.cells.below(ROOM_TO_FILL) && self.agreement.below(ROOM_TO_FILL)
    }

    /// Runs `work` on a snapshot of its own with the study's context as it stands there.
    fn on_snapshot<T>(
        &self,
        study: StudyId,
        work: impl FnOnce(&Transaction<'_>, &StudyContext) -> Result<T, ResearchError>,
    ) -> Result<T, ResearchError> {
        let mut connection = self.db.read_connection()?;
        let transaction = connection.transaction()?;
        let context = StudyContext::load(&transaction, study)?;
        work(&transaction, &context)
    }

    /// Keeps the cells and reliability's figures of the school-waves at `chunk` as this
    /// snapshot has them (those it still has, at the same indexes).
    fn warm_chunk(
        &self,
        transaction: &Transaction<'_>,
        context: &StudyContext,
        chunk: &[(usize, usize)],
    ) -> Result<(), ResearchError> {
        let stamped: Vec<Stamped> = stamps(transaction, context, None, None)?
            .into_iter()
            .filter(|stamped| chunk.binary_search(&stamped.at).is_ok())
            .collect();
        let cells = self.cells.values(context, &stamped, |stale| {
            compute_cells(transaction, context, (None, None), stale, false)
        })?;
        // Reliability's figures per wave, with what the cells just kept say is shown.
        let mut pooled = PooledCells::new(context.schools.len(), context.waves.len());
        let mut by_wave: BTreeMap<usize, Vec<Stamped>> = BTreeMap::new();
        for (stamped, cells) in stamped.iter().zip(&cells) {
            let (school, wave) = stamped.at;
            pooled.insert(school, wave, cells);
            by_wave.entry(wave).or_default().push(*stamped);
        }
        for (wave, stamped) in by_wave {
            let is_shown =
                |school: usize, dimension: Dimension| pooled.is_shown(school, wave, dimension);
            self.agreement.values(context, &stamped, |stale| {
                agreements(
                    transaction,
                    context,
                    &context.waves[wave],
                    stale,
                    false,
                    &is_shown,
                )
            })?;
        }
        Ok(())
    }
}
