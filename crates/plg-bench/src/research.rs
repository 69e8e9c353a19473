//! The research figures: a larger data set loaded first when asked, then the queries and the
//! exports on the largest study the run loaded.

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

use anyhow::Context as _;
use plg_proto::v1;
use plg_testkit::Clients;
use tokio::time::Instant;

use crate::{
    fixtures::{Study, WAVES},
    load::{Outcome, Until, closed_loop},
    target::Target,
};

/// `--dataset SCHOOLSxWAVESxRESPONDENTS`, such as `1000x3x40`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub schools: usize,
    pub waves: usize,
    pub respondents: usize,
}

impl Dataset {
    pub fn scans(self) -> u64 {
        (self.schools * self.waves * self.respondents) as u64
    }
}

impl FromStr for Dataset {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let parts: Vec<usize> = value
            .split('x')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{value:?} is not SCHOOLSxWAVESxRESPONDENTS"))?;
        match parts[..] {
            [schools, waves, respondents]
                if schools > 0 && (1..=WAVES.len()).contains(&waves) && respondents > 0 =>
            {
                Ok(Self {
                    schools,
                    waves,
                    respondents,
                })
            }
            _ => Err(format!(
                "{value:?}: give schools (1 or more) x waves (1 to 3) x respondents (1 or more)"
            )),
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.schools, self.waves, self.respondents)
    }
}

/// Registers and enrols the data set's schools and submits every scan with `clients` clients:
/// the study, and how fast the scans went in.
pub async fn load_dataset(
    target: &Target,
    dataset: Dataset,
    items: &Arc<Vec<String>>,
    clients: usize,
) -> anyhow::Result<(Arc<Study>, Outcome)> {
    let mut study = Study::set_up(target, "plg-bench data set", dataset.schools).await?;
    study.waves = dataset.waves;
    let study = Arc::new(study);
    let loaded = crate::writes::scans(
        target,
        &study,
        items,
        clients,
        Until::calls(dataset.scans()),
    )
    .await?
    .outcome;
    Ok((study, loaded))
}

/// One query's latency over its repeats.
#[derive(Debug)]
pub struct Query {
    pub name: String,
    /// Whether it asks about one school (the target is 20 ms) or the study (200 ms).
    pub one_school: bool,
    /// The first call's latency; `outcome` holds the repeats after it. Only the run's first
    /// query meets a view that has kept nothing: later ones find the cells earlier ones kept
    /// (the study's GetWaveScores keeps every school-wave's).
    pub first: Duration,
    pub outcome: Outcome,
}

/// An export's time to its first chunk and its rate after it.
#[derive(Debug)]
pub struct Export {
    pub format: &'static str,
    pub first_chunk: Duration,
    pub rows: u64,
    pub rows_per_second: f64,
    pub error: Option<String>,
}

/// The queries on `study` (released), each once and then `repeats` times one after another,
/// stopping a query's repeats after `limit`.
pub async fn queries(
    researcher: &Clients,
    study: &Study,
    repeats: u64,
    limit: Duration,
) -> anyhow::Result<Vec<Query>> {
    let study_id = study.id.clone();
    let first = "S01".to_owned();
    let asks = [
        ("GetWaveScores, one school", Ask::WaveScores(first.clone())),
        ("GetWaveScores, the study", Ask::WaveScores(String::new())),
        ("GetGrowth, one school", Ask::Growth(first.clone())),
        ("GetGrowth, the study", Ask::Growth(String::new())),
        (
            "GetSchoolTimeline, one school",
            Ask::Timeline(first.clone()),
        ),
        ("RenderSpiderChart, one school", Ask::Chart(first)),
        ("GetRelations, the study", Ask::Relations),
        ("GetReliability, the study", Ask::Reliability),
        ("GetInterventionImpact, the study", Ask::Impact),
    ];
    let mut queries = Vec::new();
    // Impact compares two waves: a data set of one has none.
    let asks = asks
        .into_iter()
        .filter(|(_, ask)| study.waves > 1 || !matches!(ask, Ask::Impact));
    for (name, ask) in asks {
        let (researcher, study_id, ask) = (researcher.clone(), study_id.clone(), ask.clone());
        let one_school = ask.one_school();
        let started = Instant::now();
        // An error shows in the repeats' outcome too.
        let _ = ask.clone().call(researcher.clone(), study_id.clone()).await;
        let first = started.elapsed();
        let outcome = closed_loop(
            1,
            Until {
                calls: repeats,
                elapsed: limit,
            },
            move |_| ask.clone().call(researcher.clone(), study_id.clone()),
        )
        .await?;
        queries.push(Query {
            name: name.to_owned(),
            one_school,
            first,
            outcome,
        });
    }
    Ok(queries)
}

/// A research query of the figures (and of the soak's mix); an empty school asks about the
/// whole study.
#[derive(Debug, Clone)]
pub(crate) enum Ask {
    WaveScores(String),
    Growth(String),
    Timeline(String),
    Chart(String),
    Relations,
    Reliability,
    Impact,
}

impl Ask {
    fn one_school(&self) -> bool {
        match self {
            Self::WaveScores(school)
            | Self::Growth(school)
            | Self::Timeline(school)
            | Self::Chart(school) => !school.is_empty(),
            Self::Relations | Self::Reliability | Self::Impact => false,
        }
    }

    pub(crate) async fn call(
        self,
        mut researcher: Clients,
        study_id: String,
    ) -> Result<(), tonic::Status> {
        match self {
            Self::WaveScores(school) => {
                let request = v1::GetWaveScoresRequest {
                    study_id,
                    school,
                    wave: WAVES[0].0.to_owned(),
                };
                researcher.research.get_wave_scores(request).await.map(drop)
            }
            Self::Growth(school) => {
                let request = v1::GetGrowthRequest { study_id, school };
                researcher.research.get_growth(request).await.map(drop)
            }
            Self::Timeline(school) => {
                let request = v1::GetSchoolTimelineRequest { study_id, school };
                researcher
                    .research
                    .get_school_timeline(request)
                    .await
                    .map(drop)
            }
            Self::Chart(school) => {
                let request = v1::RenderSpiderChartRequest {
                    study_id,
                    school,
                    waves: Vec::new(),
                    include_desired: true,
                };
                researcher
                    .research
                    .render_spider_chart(request)
                    .await
                    .map(drop)
            }
            Self::Relations => {
                let request = v1::GetRelationsRequest {
                    study_id,
                    wave: String::new(),
                };
                researcher.research.get_relations(request).await.map(drop)
            }
            Self::Reliability => {
                let request = v1::GetReliabilityRequest {
                    study_id,
                    wave: WAVES[0].0.to_owned(),
                };
                researcher.research.get_reliability(request).await.map(drop)
            }
            Self::Impact => {
                let request = v1::GetInterventionImpactRequest {
                    study_id,
                    from_wave: String::new(),
                    to_wave: String::new(),
                };
                researcher
                    .research
                    .get_intervention_impact(request)
                    .await
                    .map(drop)
            }
        }
    }
}

/// Exports `study` whole in both formats, one after the other.
pub async fn exports(researcher: &Clients, study: &Study) -> anyhow::Result<Vec<Export>> {
    let mut exports = Vec::new();
    for (format, name) in [
        (v1::ExportFormat::Long, "long"),
        (v1::ExportFormat::Items, "items"),
    ] {
        exports.push(export(researcher.clone(), &study.id, format, name).await?);
    }
    Ok(exports)
}

async fn export(
    mut researcher: Clients,
    study_id: &str,
    format: v1::ExportFormat,
    name: &'static str,
) -> anyhow::Result<Export> {
    let started = Instant::now();
    let mut first_chunk = None;
    let mut lines = 0_u64;
    let request = v1::ExportStudyRequest {
        study_id: study_id.to_owned(),
        format: format.into(),
    };
    let error = match researcher.research.export_study(request).await {
        Ok(reply) => {
            let mut stream = reply.into_inner();
            loop {
                match stream.message().await {
                    Ok(Some(message)) => {
                        first_chunk.get_or_insert_with(|| started.elapsed());
                        lines += message.chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
                    }
                    Ok(None) => break None,
                    Err(status) => break Some(status),
                }
            }
        }
        Err(status) => Some(status),
    };
    let first_chunk = first_chunk.unwrap_or_else(|| started.elapsed());
    // The header is a line, not a row.
    let rows = lines.saturating_sub(1);
    // Rows per second after the first chunk; over the whole export when it was one chunk.
    let after_first = match started.elapsed().saturating_sub(first_chunk) {
        span if span.is_zero() => started.elapsed(),
        span => span,
    };
    Ok(Export {
        format: name,
        first_chunk,
        rows,
        rows_per_second: crate::load::per_second(rows, after_first),
        error: error.map(|status| format!("{:?}: {}", status.code(), status.message())),
    })
}

/// How long the view may take to catch up with a data set before the queries: a bound, so a
/// view that never does ends the run instead of hanging it.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The study's waves, released so that the queries show them, once the research view has
/// caught up with the releases: queries on a view still applying the load would measure a
/// busy view over part of the data.
pub async fn release(target: &Target, study: &Study) -> anyhow::Result<()> {
    let released = study
        .release(&mut target.partner(0))
        .await
        .context("releasing the waves for the queries")?;
    let mut researcher = target.researcher.clone();
    let started = Instant::now();
    loop {
        let request = v1::GetWaveScoresRequest {
            study_id: study.id.clone(),
            school: "S01".to_owned(),
            wave: WAVES[0].0.to_owned(),
        };
        let current = researcher
            .research
            .get_wave_scores(request)
            .await
            .context("asking how far the research view is")?
            .into_inner()
            .current_to_position;
        if current >= released {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < CATCH_UP_LIMIT,
            "the research view is at position {current}, short of {released}, after {CATCH_UP_LIMIT:?}"
        );
        eprintln!("plg-bench: research view at position {current} of {released}, waiting");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
