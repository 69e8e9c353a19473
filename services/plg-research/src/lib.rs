//! ResearchService: the longitudinal research view over gRPC. Queries run on the blocking
//! pool (SQLite); every reply says up to which log position the view was current.

use chrono::Utc;
use plg_domain::{
    access::Role, dimension::Dimension, ids::StudyId, scan::RespondentRole, values::school_date,
};
use plg_eventstore::EventStore;
use plg_projections::{ProjectionError, Projections, RESEARCH_DB_FILE};
use plg_proto::v1::{
    self,
    research_service_server::{ResearchService, ResearchServiceServer},
};
use plg_research_view::{
    ResearchError, ResearchView,
    chart::{Axis, Line, Series, SpiderChart},
    context::StudyContext,
    export::Format,
    growth::Relation,
    scores::{Shown, WaveScore},
    timeline::Entry,
};
use plg_runtime::{
    Caller, Ledger, ServiceError,
    parse::{
        Violations, contribution_degree_to_proto, dimension_to_proto,
        intervention_category_to_proto, plg_phase_to_proto, respondent_role_to_proto,
        theme_phase_to_proto,
    },
    server::ServiceSet,
    streams::{ReplyStream, Streams},
};
use std::{path::Path, sync::Arc};
use tonic::{Request, Response, Status};

/// Chunks of an export queued for a slow client at most: with the chunk being written, what
/// bounds an export's memory beyond its working set.
const EXPORT_BUFFER: usize = 2;

pub fn server(view: ResearchView, streams: Streams) -> ResearchServiceServer<Research> {
    ResearchServiceServer::new(Research { view, streams })
}

/// The research view's owner: the projections that keep it current and the service that
/// queries it. One process per data directory should host it.
#[derive(Debug)]
pub struct ResearchHost {
    projections: Projections,
    view: ResearchView,
}

impl ResearchHost {
    /// Opens (creating if needed) the research view beside the event store.
    pub fn open(store: Arc<dyn EventStore>, data_dir: &Path) -> Result<Self, ProjectionError> {
        let projections = Projections::open(store, data_dir.join(RESEARCH_DB_FILE))?;
        let view = ResearchView::new(projections.db().clone());
        Ok(Self { projections, view })
    }

    /// The research view's database, for services that read its indexes (the audit).
    pub fn db(&self) -> &plg_projections::ResearchDb {
        self.projections.db()
    }

    /// The services `services` builds, writing through a ledger that reports (and can wait
    /// for) the view's progress, plus ResearchService and the projections following the log.
    pub fn attach(
        self,
        ledger: &Ledger,
        services: impl FnOnce(&Ledger) -> ServiceSet,
    ) -> ServiceSet {
        let ledger = ledger
            .clone()
            .with_research_view(self.projections.progress());
        let projections = self.projections;
        let streams = ledger.streams().clone();
        services(&ledger)
            .with(server(self.view, streams))
            .with_background(move |stopping| projections.run(stopping.wait()))
    }
}

#[derive(Debug, Clone)]
pub struct Research {
    view: ResearchView,
    /// Bounds exports: how many run, per key and in all, and how long one waits for its client.
    streams: Streams,
}

/// The one mapping of the research view's errors into the service's.
fn service_error(error: ResearchError) -> ServiceError {
    match error {
        ResearchError::NotFound { kind, id } => ServiceError::not_found(kind, id),
        ResearchError::InvalidArgument { field, message } => ServiceError::invalid(field, message),
        other => ServiceError::Internal(other.to_string()),
    }
}

impl Research {
    /// The request's message and study, once the caller is known to be a researcher scoped to
    /// that study, and the view as that caller may see it.
    fn open<M>(
        &self,
        request: Request<M>,
        study_id: impl FnOnce(&M) -> &str,
    ) -> Result<(Self, M, String), ServiceError> {
        let caller = Caller::of(&request)?;
        caller.require(Role::Researcher)?;
        let message = request.into_inner();
        let mut violations = Violations::default();
        let Some(study) = violations.required("study_id", study_id(&message), StudyId::parse)
        else {
            return Err(violations.into_error());
        };
        caller.require_study_in_scope(study)?;
        let view = if caller.may_identify_schools() {
            self.view.clone()
        } else {
            self.view.clone().pseudonymised()
        };
        let research = Self {
            view,
            streams: self.streams.clone(),
        };
        Ok((research, message, study.to_string()))
    }

    /// Runs a blocking query of the view.
    async fn query<T: Send + 'static>(
        &self,
        query: impl FnOnce(&ResearchView) -> Result<T, ResearchError> + Send + 'static,
    ) -> Result<T, Status> {
        let view = self.view.clone();
        tokio::task::spawn_blocking(move || query(&view))
            .await
            .map_err(|error| ServiceError::Internal(error.to_string()))?
            .map_err(|error| service_error(error).into())
    }
}

fn summary(cell: &Shown) -> v1::ScoreSummary {
    v1::ScoreSummary {
        n: u32::try_from(cell.n).unwrap_or(u32::MAX),
        mean: cell.mean,
        sd: cell.sd,
        suppressed: cell.suppressed,
    }
}

/// A wave score as the contract shows it, the school named as the study allows.
pub fn wave_score_to_proto(context: &StudyContext, score: &WaveScore) -> v1::WaveScore {
    v1::WaveScore {
        school: context.label(&score.school),
        wave: score.wave.clone(),
        role: role(score.role),
        dimension: dimension_to_proto(score.dimension),
        current: Some(summary(&score.current)),
        desired: Some(summary(&score.desired)),
        gap: score.gap(),
    }
}

/// UNSPECIFIED stands for "pooled over roles".
fn role(role: Option<RespondentRole>) -> i32 {
    role.map_or(
        v1::RespondentRole::Unspecified.into(),
        respondent_role_to_proto,
    )
}

fn count(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn interval(relation: &Relation) -> (Option<f64>, Option<f64>, Option<f64>) {
    let correlation = relation.correlation.as_ref();
    let ci = correlation.and_then(|c| c.ci);
    (
        correlation.map(|c| c.r),
        ci.map(|(low, _)| low),
        ci.map(|(_, high)| high),
    )
}

fn dimension_title(dimension: Dimension) -> String {
    let title = match dimension {
        Dimension::InternalProfessionalisation => "Internal professionalisation",
        Dimension::ExternalProfessionalisation => "External professionalisation",
        Dimension::SharingKnowledge => "Sharing knowledge and experience",
        Dimension::DevelopingEducationTogether => "Developing education together",
        Dimension::InquiringAttitude => "Inquiring attitude",
        Dimension::Support => "Support / buy-in",
        Dimension::ProfessionalRoom => "Professional room",
        Dimension::ExecutiveLeadership => "Leadership from the executive",
        Dimension::TeamLeadership => "Leadership from team leaders",
        Dimension::HrPolicy => "HR policy",
        Dimension::Communication => "Communication",
        Dimension::CollegialSupport => "Collegial support",
    };
    format!("{} {title}", dimension.code())
}

fn timeline_entry(entry: Entry) -> v1::timeline_entry::Entry {
    use v1::timeline_entry::Entry as Proto;
    match entry {
        Entry::ScanWave {
            wave,
            respondents,
            scores,
        } => Proto::ScanWave(v1::TimelineScanWave {
            wave,
            respondents: count(respondents),
            scores: scores
                .iter()
                .map(|(d, current, desired)| v1::DimensionScore {
                    dimension: dimension_to_proto(*d),
                    current: Some(summary(current)),
                    desired: Some(summary(desired)),
                })
                .collect(),
        }),
        Entry::Intervention {
            intervention_id,
            title,
            categories,
            change,
            contributions,
        } => Proto::Intervention(v1::TimelineIntervention {
            intervention_id,
            title,
            categories: categories
                .into_iter()
                .map(intervention_category_to_proto)
                .collect(),
            change,
            contributions: contributions
                .into_iter()
                .map(|(d, intended, realised)| v1::Contribution {
                    dimension: dimension_to_proto(d),
                    intended,
                    realised: contribution_degree_to_proto(realised),
                })
                .collect(),
        }),
        Entry::PlanRevision {
            plan_version,
            summary,
            rationale,
        } => Proto::PlanRevision(v1::TimelinePlanRevision {
            plan_version,
            summary,
            rationale: rationale.unwrap_or_default(),
        }),
        Entry::Reflection {
            summary,
            participants,
        } => Proto::Reflection(v1::TimelineReflection {
            summary,
            participants,
        }),
        Entry::Plg {
            plg_id,
            name,
            change,
            learning_question,
        } => Proto::Plg(v1::TimelinePlg {
            plg_id,
            name,
            change: change.to_owned(),
            learning_question,
        }),
        Entry::Session {
            plg_id,
            session_id,
            duration_minutes,
            present,
            absent,
            goals,
            goals_reached,
            theme_phases,
        } => Proto::Session(v1::TimelineSession {
            plg_id,
            session_id,
            duration_minutes,
            present,
            absent,
            goals,
            goals_reached,
            theme_phases: theme_phases.into_iter().map(theme_phase_to_proto).collect(),
        }),
        Entry::Phase {
            plg_id,
            phase: reached,
        } => Proto::Phase(v1::TimelinePhase {
            plg_id,
            phase: plg_phase_to_proto(reached),
        }),
        Entry::Coach {
            plg_id,
            change,
            kind,
        } => Proto::Coach(v1::TimelineCoach {
            plg_id,
            change: change.to_owned(),
            kind,
        }),
    }
}

#[tonic::async_trait]
impl ResearchService for Research {
    async fn get_school_timeline(
        &self,
        request: Request<v1::GetSchoolTimelineRequest>,
    ) -> Result<Response<v1::GetSchoolTimelineResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        if message.school.trim().is_empty() {
            return Err(ServiceError::invalid("school", "is required").into());
        }
        let current = research
            .query(move |view| view.school_timeline(&study, &message.school))
            .await?;
        Ok(Response::new(v1::GetSchoolTimelineResponse {
            school: current.value.school,
            entries: current
                .value
                .entries
                .into_iter()
                .map(|entry| v1::TimelineEntry {
                    date: entry.date,
                    entry: Some(timeline_entry(entry.entry)),
                })
                .collect(),
            current_to_position: current.position,
        }))
    }

    async fn get_wave_scores(
        &self,
        request: Request<v1::GetWaveScoresRequest>,
    ) -> Result<Response<v1::GetWaveScoresResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        let current = research
            .query(move |view| view.wave_scores(&study, &message.school, &message.wave))
            .await?;
        let context = &current.context;
        Ok(Response::new(v1::GetWaveScoresResponse {
            scores: current
                .value
                .iter()
                .map(|score| wave_score_to_proto(context, score))
                .collect(),
            min_group_size: context.min_group_size,
            current_to_position: current.position,
        }))
    }

    async fn get_growth(
        &self,
        request: Request<v1::GetGrowthRequest>,
    ) -> Result<Response<v1::GetGrowthResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        let current = research
            .query(move |view| view.growth(&study, &message.school))
            .await?;
        let context = &current.context;
        Ok(Response::new(v1::GetGrowthResponse {
            growth: current
                .value
                .iter()
                .map(|growth| v1::Growth {
                    school: context.label(&growth.school),
                    dimension: dimension_to_proto(growth.dimension),
                    from_wave: growth.from_wave.clone(),
                    to_wave: growth.to_wave.clone(),
                    from: Some(summary(&growth.from)),
                    to: Some(summary(&growth.to)),
                    change: growth.change(),
                    effect_size: growth.effect_size(),
                })
                .collect(),
            current_to_position: current.position,
        }))
    }

    async fn get_relations(
        &self,
        request: Request<v1::GetRelationsRequest>,
    ) -> Result<Response<v1::GetRelationsResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        let current = research
            .query(move |view| view.relations(&study, &message.wave))
            .await?;
        let relations = current.value;
        Ok(Response::new(v1::GetRelationsResponse {
            wave: relations.wave,
            correlations: relations
                .at_wave
                .iter()
                .map(|relation| {
                    let (r, ci_low, ci_high) = interval(relation);
                    v1::Correlation {
                        condition: dimension_to_proto(relation.condition),
                        element: dimension_to_proto(relation.element),
                        r,
                        ci_low,
                        ci_high,
                        schools: count(relation.schools),
                    }
                })
                .collect(),
            first_wave: current
                .context
                .waves
                .first()
                .map(|wave| wave.label.clone())
                .unwrap_or_default(),
            growth_relations: relations
                .with_growth
                .iter()
                .map(|relation| {
                    let (r, ci_low, ci_high) = interval(relation);
                    v1::GrowthRelation {
                        condition: dimension_to_proto(relation.condition),
                        element: dimension_to_proto(relation.element),
                        to_wave: relation.to_wave.clone().unwrap_or_default(),
                        r,
                        ci_low,
                        ci_high,
                        schools: count(relation.schools),
                    }
                })
                .collect(),
            current_to_position: current.position,
        }))
    }

    async fn get_intervention_impact(
        &self,
        request: Request<v1::GetInterventionImpactRequest>,
    ) -> Result<Response<v1::GetInterventionImpactResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        let current = research
            .query(move |view| {
                view.intervention_impact(&study, &message.from_wave, &message.to_wave)
            })
            .await?;
        let group = |summary: Option<plg_stats::Summary>, schools: usize| v1::GroupGrowth {
            schools: count(schools),
            mean: summary.map(|s| s.mean),
            sd: summary.and_then(|s| s.sd),
        };
        Ok(Response::new(v1::GetInterventionImpactResponse {
            impacts: current
                .value
                .impacts
                .iter()
                .map(|impact| {
                    let comparison = impact.comparison.as_ref();
                    v1::CategoryImpact {
                        category: intervention_category_to_proto(impact.category),
                        dimension: dimension_to_proto(impact.dimension),
                        with_category: Some(group(
                            comparison.map(|c| c.treated),
                            impact.with_schools,
                        )),
                        without_category: Some(group(
                            comparison.map(|c| c.untreated),
                            impact.without_schools,
                        )),
                        difference: comparison.map(|c| c.difference),
                        effect_size: comparison.and_then(|c| c.d),
                    }
                })
                .collect(),
            combinations: current
                .value
                .combinations
                .iter()
                .map(|combination| v1::CategoryCombination {
                    categories: combination
                        .categories
                        .iter()
                        .copied()
                        .map(intervention_category_to_proto)
                        .collect(),
                    interventions: count(combination.interventions),
                    schools: count(combination.schools),
                })
                .collect(),
            current_to_position: current.position,
        }))
    }

    async fn get_reliability(
        &self,
        request: Request<v1::GetReliabilityRequest>,
    ) -> Result<Response<v1::GetReliabilityResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        let current = research
            .query(move |view| view.reliability(&study, &message.wave))
            .await?;
        let context = &current.context;
        Ok(Response::new(v1::GetReliabilityResponse {
            wave: current.value.wave.clone(),
            dimensions: current
                .value
                .dimensions
                .iter()
                .map(|reliability| v1::DimensionReliability {
                    dimension: dimension_to_proto(reliability.dimension),
                    icc1: reliability.icc.map(|icc| icc.icc1),
                    icc2: reliability.icc.and_then(|icc| icc.icc2),
                    schools: count(reliability.schools),
                    respondents: count(reliability.respondents),
                    mean_rwg_j: reliability.mean_rwg_j(),
                    agreement: reliability
                        .agreement
                        .iter()
                        .map(|school| v1::SchoolAgreement {
                            school: context.label(&school.school),
                            respondents: count(school.respondents),
                            rwg_j: school.rwg_j,
                            suppressed: school.suppressed,
                        })
                        .collect(),
                })
                .collect(),
            current_to_position: current.position,
        }))
    }

    async fn get_plg_activity(
        &self,
        request: Request<v1::GetPlgActivityRequest>,
    ) -> Result<Response<v1::GetPlgActivityResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        let today = school_date(Utc::now());
        let current = research
            .query(move |view| view.plg_activity(&study, &message.school, today))
            .await?;
        Ok(Response::new(v1::GetPlgActivityResponse {
            plgs: current
                .value
                .iter()
                .map(|plg| v1::PlgActivity {
                    plg_id: plg.plg_id.clone(),
                    name: plg.name.clone(),
                    schools: plg.schools.clone(),
                    formed_on: plg.formed_on.clone(),
                    dissolved_on: plg.dissolved_on.clone().unwrap_or_default(),
                    sessions: plg.sessions,
                    minutes: plg.minutes,
                    attendance_rate: plg.attendance_rate(),
                    goals_reached_share: plg.goals_reached_share(),
                    phases: plg
                        .phases
                        .iter()
                        .map(|(reached, days)| v1::PhaseDuration {
                            phase: plg_phase_to_proto(*reached),
                            days: u32::try_from(*days).unwrap_or(0),
                        })
                        .collect(),
                    days_to_internal_handover: plg
                        .days_to_internal_handover
                        .and_then(|days| u32::try_from(days).ok()),
                })
                .collect(),
            current_to_position: current.position,
        }))
    }

    async fn render_spider_chart(
        &self,
        request: Request<v1::RenderSpiderChartRequest>,
    ) -> Result<Response<v1::RenderSpiderChartResponse>, Status> {
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        if message.school.trim().is_empty() {
            return Err(ServiceError::invalid("school", "is required").into());
        }
        let school = message.school.clone();
        let current = research
            .query(move |view| view.wave_scores(&study, &school, ""))
            .await?;
        let context = &current.context;
        let waves: Vec<&str> = if message.waves.is_empty() {
            context
                .waves
                .iter()
                .map(|wave| wave.label.as_str())
                .collect()
        } else {
            for wave in &message.waves {
                context.wave(wave).map_err(service_error)?;
            }
            message.waves.iter().map(String::as_str).collect()
        };
        let label = context
            .resolve_school(&message.school)
            .map_err(service_error)?;
        let mut chart = SpiderChart::new(
            format!("Scan School als PLG: {}", context.label(label)),
            Dimension::ALL
                .iter()
                .map(|d| Axis::new(dimension_title(*d)))
                .collect(),
        );
        for wave in waves {
            let pooled = |pick: fn(&WaveScore) -> Shown| -> Vec<Option<f64>> {
                Dimension::ALL
                    .iter()
                    .map(|d| {
                        current
                            .value
                            .iter()
                            .find(|score| {
                                score.role.is_none() && score.wave == wave && score.dimension == *d
                            })
                            .and_then(|score| pick(score).mean)
                    })
                    .collect()
            };
            chart = chart.with_series(Series::new(
                format!("{wave} current"),
                pooled(|s| s.current),
                Line::Solid,
            ));
            if message.include_desired {
                chart = chart.with_series(Series::new(
                    format!("{wave} desired"),
                    pooled(|s| s.desired),
                    Line::Dashed,
                ));
            }
        }
        Ok(Response::new(v1::RenderSpiderChartResponse {
            svg: chart.render(),
            current_to_position: current.position,
        }))
    }

    type ExportStudyStream = ReplyStream<v1::ExportStudyResponse>;

    async fn export_study(
        &self,
        request: Request<v1::ExportStudyRequest>,
    ) -> Result<Response<Self::ExportStudyStream>, Status> {
        let caller = Caller::of(&request)?;
        let (research, message, study) = self.open(request, |message| &message.study_id)?;
        let format = match v1::ExportFormat::try_from(message.format) {
            Ok(v1::ExportFormat::Long) => Format::Long,
            Ok(v1::ExportFormat::Items) => {
                caller.require_respondent_data()?;
                Format::Items
            }
            _ => {
                return Err(ServiceError::invalid(
                    "format",
                    "is required and must be one of the listed values",
                )
                .into());
            }
        };
        // Check the study exists before the stream starts, so a bad id is a clean NOT_FOUND.
        let probe = study.clone();
        research
            .query(move |view| view.wave_scores(&probe, "", "").map(drop))
            .await?;
        // Taken before the blocking thread: an export over the limits never occupies one.
        let (mut outbox, reply) = research
            .streams
            .open_export(&caller, EXPORT_BUFFER)
            .map_err(Status::from)?;
        let view = research.view;
        tokio::task::spawn_blocking(move || {
            let mut stopped = None;
            let exported = view.export(&study, format, |chunk, current_to_position| {
                let chunk = v1::ExportStudyResponse {
                    chunk,
                    current_to_position,
                };
                outbox.blocking_send(Ok(chunk)).map_err(|error| {
                    let message = error.to_string();
                    stopped = Some(error);
                    ResearchError::Export(message)
                })
            });
            match (exported, stopped) {
                (Ok(()), _) => {}
                (Err(_), Some(stopped)) => tracing::info!(%stopped, study, "export stopped"),
                (Err(error), None) => {
                    tracing::warn!(%error, study, "export failed");
                    let _ = outbox.blocking_send(Err(service_error(error).into()));
                }
            }
        });
        Ok(Response::new(reply))
    }
}
