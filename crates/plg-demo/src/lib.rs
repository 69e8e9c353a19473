//! `plgd demo`: a realistic synthetic study of schools developing as PLGs, loaded through
//! plgd's own gRPC API as partner tools would record it.
//!
//! A client of plgd, as a partner tool is: [`model`] says what the data looks like, `plan`
//! generates every write from the seed before the first is sent, and `load` connects
//! ([`connect`]) and sends the plan, paced to the key's budget ([`load()`], [`load_sized`]).
//!
//! The study "De school als PLG (demo)" follows 15 Dutch and Flemish schools (mostly secondary)
//! over three scan waves (T1 in spring 2015, T2 in 2016, T3 in 2017). Around the scans it
//! records interventions, development plans, reflection conversations and PLGs with their
//! sessions, phases and coach handovers, all with the dates on which they happened.
//!
//! Everything is generated from a seed (a seeded [`StdRng`](rand::rngs::StdRng)) before
//! anything is written, and every write carries a request id derived from the seed, the size
//! and a counter, so loading the same seed into the same server again replays every request
//! and writes nothing.
//!
//! # The data-generating model
//!
//! The parameters live in [`model`]. Per school:
//!
//! * **Conditions at T1** (all standard-normal factors, SD ≈ 0.5, clamped to 1.8..4.6):
//!   support, HR policy and executive leadership are `3.2 + 0.2·g + 0.3·f + 0.35·u_k`, the other
//!   four `3.2 + 0.2·g + 0.45·u_k`, with a school climate `g`, a school policy `f` shared by the
//!   three and a condition's own `u_k`. The three correlate about 0.5 among themselves, every
//!   other pair about 0.16.
//! * **Elements at T1** (clamped to 1.5..4.7): `3.0 + 0.4·Σ(c − 3.2)` over support, HR policy
//!   and executive leadership, `+ 0.15·h + 0.15·v_j` with a school factor `h` and an element's
//!   own `v_j`. Expected cross-school correlations: about 0.75 for those three conditions with
//!   an element, about 0.2 for the other four (over 30 seeds with 15 schools, the three's mean
//!   correlation has a median of about 0.75 and a 10th percentile of about 0.6).
//! * **Growth per interval** (T1→T2, T2→T3): every element grows `0.08 + N(0, 0.15)`;
//!   *inquiring attitude* grows `0.5·(support at T1 − 3.2)` more, *developing education
//!   together* `0.5·(HR policy at T1 − 3.2)` more; every element grows 0.3 more in an interval
//!   in which the school ran a (not abandoned) *working and learning together* intervention (by
//!   the research view's rule: started before the later wave opened, not ended before the
//!   earlier one opened), so about 0.6 more from T1 to T3 when it did in both. Conditions drift
//!   `0.03 + N(0, 0.08)`; executive leadership, team leadership and HR policy grow 0.2 more in
//!   an interval with a *leadership development* intervention. Levels stay within 1.5..4.7, a
//!   ceiling that dampens the growth of the best schools. Over 30 seeds the correlations of
//!   support at T1 with the growth of inquiring attitude T1→T3, and of HR policy with that of
//!   developing education together, have medians of about 0.7 (10th percentiles 0.35..0.45).
//! * **Interventions**: 2..5 per school, starting between 2015-05-01 and 2016-12-31 and lasting
//!   90..445 days (one or two abandoned after 45..150 days). Two thirds of the schools are
//!   *collaborative*: all their interventions but one (of three or more) include working and
//!   learning together; the other schools' never do. The combinations are dealt in fixed shares:
//!   with working and learning together, 60% also professionalisation, 25% structure and
//!   professionalisation, 10% vision development, 5% nothing else; without it, 50%
//!   professionalisation alone and the rest leadership development, communication, vision
//!   development and their combinations. So professionalisation + working and learning together
//!   is the most frequent, then professionalisation alone, then structure, professionalisation
//!   and working and learning together, as in the study. Realised contributions are larger for
//!   working-and-learning-together interventions and small or none for abandoned ones.
//!
//! Per respondent: a stable offset `N(0, 0.5)` plus a role offset (school leaders +0.3, team
//! leaders +0.15, support staff −0.1); per item a fixed difficulty `N(0, 0.15)`. An answer is
//! `round(clamp(level + respondent offset + role offset + item difficulty + N(0, 0.5), 1, 5))`;
//! the desired score is the current one plus 0 (25%), 1 (55%) or 2 (20%), at most 5. About 5%
//! of the items are left unanswered and 3% of the answered ones have no desired score.
//!
//! Each wave about 30..50 staff answer per school: the 2 school leaders (a group below the
//! minimum size of 5, so the research view suppresses it, as intended), 2..4 team leaders and
//! 2..4 support staff (each with a 90% chance), and teachers drawn from a pool a little larger
//! than needed, so most teachers answer again under the same pseudonym (`s03-r017`).

use std::fmt;

use anyhow::ensure;
use tonic::transport::Channel;

pub use load::connect;

mod load;
pub mod model;
mod plan;

/// The tool every demo write names (`plg-tool`).
pub const TOOL: &str = "plgd-demo";
/// The study's title.
pub const STUDY_TITLE: &str = "De school als PLG (demo)";

/// How big a study to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSize {
    /// 3 to 15 schools.
    pub schools: usize,
    /// The fewest respondents per school and wave (at least 10).
    pub min_respondents: u32,
    /// The most respondents per school and wave.
    pub max_respondents: u32,
}

impl DemoSize {
    /// The CLI's default: 15 schools × 3 waves × 30..50 respondents.
    pub const FULL: Self = Self {
        schools: 15,
        min_respondents: 30,
        max_respondents: 50,
    };
    /// A quick one for tests: 6 schools × 3 waves × 12..16 respondents.
    pub const SMALL: Self = Self {
        schools: 6,
        min_respondents: 12,
        max_respondents: 16,
    };

    fn check(self) -> anyhow::Result<()> {
        let schools = model::schools::SCHOOLS.len();
        ensure!(
            (3..=schools).contains(&self.schools),
            "a demo has 3 to {schools} schools"
        );
        ensure!(
            self.min_respondents >= 10 && self.min_respondents <= self.max_respondents,
            "a demo has at least 10 respondents per school and wave, and min <= max"
        );
        Ok(())
    }

    /// Part of every request id: sizes of one seed write different requests.
    pub(crate) fn tag(self) -> String {
        format!(
            "{}x{}-{}",
            self.schools, self.min_respondents, self.max_respondents
        )
    }
}

impl Default for DemoSize {
    fn default() -> Self {
        Self::FULL
    }
}

/// What a demo load wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub seed: u64,
    pub study_id: String,
    pub schools: usize,
    /// Distinct respondent pseudonyms.
    pub respondents: usize,
    /// Scan submissions, resubmissions included.
    pub scans: usize,
    pub resubmissions: usize,
    pub retractions: usize,
    pub interventions: usize,
    pub abandoned_interventions: usize,
    pub persons: usize,
    pub plgs: usize,
    pub dissolved_plgs: usize,
    pub sessions: usize,
    pub handovers: usize,
    pub plan_revisions: usize,
    pub reflections: usize,
    /// Write requests sent.
    pub writes: u64,
    /// Of those, how many the server answered as replays of an earlier load.
    pub replayed: u64,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "study          {STUDY_TITLE} ({})", self.study_id)?;
        writeln!(f, "seed           {}", self.seed)?;
        writeln!(f, "schools        {}", self.schools)?;
        writeln!(
            f,
            "scans          {} from {} respondents ({} resubmissions, {} retracted)",
            self.scans, self.respondents, self.resubmissions, self.retractions
        )?;
        writeln!(
            f,
            "interventions  {} ({} abandoned)",
            self.interventions, self.abandoned_interventions
        )?;
        writeln!(
            f,
            "plans          {} revisions, {} reflection conversations",
            self.plan_revisions, self.reflections
        )?;
        writeln!(f, "persons        {}", self.persons)?;
        writeln!(
            f,
            "PLGs           {} ({} dissolved), {} sessions, {} coach handovers",
            self.plgs, self.dissolved_plgs, self.sessions, self.handovers
        )?;
        write!(
            f,
            "writes         {} ({} replayed)",
            self.writes, self.replayed
        )
    }
}

/// Loads the full demo study ([`DemoSize::FULL`]) into the plgd behind `channel`.
pub async fn load(
    channel: Channel,
    api_key: Option<&str>,
    seed: u64,
) -> anyhow::Result<DemoSummary> {
    load_sized(channel, api_key, seed, DemoSize::FULL).await
}

/// Loads a demo study of the given size into the plgd behind `channel`, with a partner tool
/// key whose scope is everything (none for a plgd in insecure local mode). Loading the same
/// seed and size again with the same key replays every request: nothing new is written.
pub async fn load_sized(
    channel: Channel,
    api_key: Option<&str>,
    seed: u64,
    size: DemoSize,
) -> anyhow::Result<DemoSummary> {
    size.check()?;
    load::run(channel, api_key, seed, size).await
}
