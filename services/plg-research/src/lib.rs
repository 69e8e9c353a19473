//! ResearchService: the longitudinal research view over gRPC. Requests parse into the view's
//! typed queries, which run on the blocking pool (SQLite); every reply says up to which log
//! position the view was current.

use chrono::Utc;
use plg_contract::parse::{Violations, enumeration};
use plg_contract::research as reply;
use plg_domain::{
    ValueError,
    ids::StudyId,
    values::{WaveLabel, school_date},
};
use plg_eventstore::EventStore;
use plg_ledger::ServiceError;
use plg_projections::{ProjectionError, Projections, RESEARCH_DB_FILE, ResearchDb};
use plg_proto::v1::{
    self,
    research_service_server::{ResearchService, ResearchServiceServer},
};
use plg_research_view::{ResearchError, ResearchView, context::NamedSchool, export::Format};
use plg_server::{
    Runtime, caller_of,
    health::{Check, HealthSettings},
    read,
    server::ServiceSet,
    streams::{ReplyStream, Streams},
};
use std::{path::Path, sync::Arc, time::Duration};
use tonic::{Request, Response, Status};

mod warm;

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
    pub fn db(&self) -> &ResearchDb {
        self.projections.db()
    }

    /// The services `services` builds, writing through a ledger that reports (and can wait
    /// for) the view's progress, plus ResearchService, the projections following the log and
    /// the task that keeps the view's kept school-waves warm.
    pub fn attach(
        self,
        runtime: &Runtime,
        services: impl FnOnce(&Runtime) -> ServiceSet,
    ) -> ServiceSet {
        let runtime = Runtime {
            ledger: runtime
                .ledger
                .clone()
                .with_research_view(self.projections.progress()),
            streams: runtime.streams.clone(),
            budgets: runtime.budgets.clone(),
            health: runtime.health,
        };
        let check = view_check(
            self.projections.db().clone(),
            self.projections.following(),
            runtime.health,
        );
        let projections = self.projections;
        let (view, moved) = (self.view.clone(), projections.progress());
        services(&runtime)
            .with(server(self.view, runtime.streams.clone()))
            .with_check(check)
            .with_background(move |stopping| projections.run(stopping.wait()))
            .with_background(move |stopping| warm::keep_warm(view, moved, stopping))
    }
}

/// The services that read the research view: ResearchService, and AuditService (the view's
/// indexes of a school's streams) when the process serves it.
const READING_THE_VIEW: [&str; 2] = [
    <ResearchServiceServer<Research> as tonic::server::NamedService>::NAME,
    "plg.v1.AuditService",
];

/// The research view's follower runs, the view answers a read, and it lags the log by no more
/// than `settings` allow.
fn view_check(
    db: ResearchDb,
    following: impl Fn() -> bool + Send + Sync + 'static,
    settings: HealthSettings,
) -> Check {
    let following = Arc::new(following);
    let allowed = Duration::from_secs(settings.max_view_lag_seconds);
    Check::for_services("research view", &READING_THE_VIEW, move || {
        let (db, following) = (db.clone(), Arc::clone(&following));
        async move {
            if !following() {
                return Err("its follower has stopped: restart plgd".to_owned());
            }
            let lag = plg_projections::view_lag();
            if lag > allowed {
                return Err(format!(
                    "it lags the log by {} s, more than the {} s allowed",
                    lag.as_secs(),
                    allowed.as_secs()
                ));
            }
            tokio::task::spawn_blocking(move || {
                let connection = db.read_connection()?;
                plg_projections::view_position(&connection).map(drop)
            })
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())
        }
    })
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
        other => ServiceError::failed("research view", other),
    }
}

/// A research request: every one names its study.
trait StudyRequest {
    fn study_id(&self) -> &str;
}

macro_rules! study_requests {
    ($($request:ident),* $(,)?) => {
        $(impl StudyRequest for v1::$request {
            fn study_id(&self) -> &str {
                &self.study_id
            }
        })*
    };
}

study_requests!(
    GetSchoolTimelineRequest,
    GetWaveScoresRequest,
    GetGrowthRequest,
    GetRelationsRequest,
    GetInterventionImpactRequest,
    GetReliabilityRequest,
    GetPlgActivityRequest,
    RenderSpiderChartRequest,
    ExportStudyRequest,
);

/// An optional school: every school when blank.
fn school(violations: &mut Violations, named: &str) -> Option<Option<NamedSchool>> {
    violations.optional("school", named, NamedSchool::parse)
}

/// An optional wave: the query's default when blank.
fn wave(violations: &mut Violations, field: &str, label: &str) -> Option<Option<WaveLabel>> {
    violations.optional(field, label, WaveLabel::parse)
}

impl Research {
    /// The request's study and other fields parsed, once the caller is known to be
    /// scoped to that study (the layer checked the role), and the view as that caller may see
    /// it. Every invalid field comes in one reply.
    fn open<M: StudyRequest, T>(
        &self,
        request: Request<M>,
        fields: impl FnOnce(&M, &mut Violations) -> Option<T>,
    ) -> Result<(Self, StudyId, T), ServiceError> {
        let caller = caller_of(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::default();
        let study = violations.required("study_id", message.study_id(), StudyId::parse);
        let fields = fields(&message, &mut violations);
        let (Some(study), Some(fields)) = (study, fields) else {
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
        Ok((research, study, fields))
    }

    /// One query RPC: the study and the request's other `fields` parsed and in scope
    /// ([`Self::open`]), `query` run on the view as the caller may see it, its answer
    /// converted by `reply`.
    async fn answer<M, T, V, R>(
        &self,
        request: Request<M>,
        fields: impl FnOnce(&M, &mut Violations) -> Option<T>,
        query: impl FnOnce(&ResearchView, StudyId, T) -> Result<V, ResearchError> + Send + 'static,
        reply: impl FnOnce(V) -> R,
    ) -> Result<Response<R>, Status>
    where
        M: StudyRequest,
        T: Send + 'static,
        V: Send + 'static,
    {
        read(async move {
            let (research, study, fields) = self.open(request, fields)?;
            let answer = research
                .query(move |view| query(view, study, fields))
                .await?;
            Ok(reply(answer))
        })
        .await
    }

    /// Runs a blocking query of the view.
    async fn query<T: Send + 'static>(
        &self,
        query: impl FnOnce(&ResearchView) -> Result<T, ResearchError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let view = self.view.clone();
        tokio::task::spawn_blocking(move || query(&view))
            .await
            .map_err(|error| ServiceError::failed("research query", error))?
            .map_err(service_error)
    }
}

#[tonic::async_trait]
impl ResearchService for Research {
    async fn get_school_timeline(
        &self,
        request: Request<v1::GetSchoolTimelineRequest>,
    ) -> Result<Response<v1::GetSchoolTimelineResponse>, Status> {
        self.answer(
            request,
            |message, violations| {
                violations.required("school", &message.school, NamedSchool::parse)
            },
            |view, study, school| view.school_timeline(study, &school),
            reply::school_timeline,
        )
        .await
    }

    async fn get_wave_scores(
        &self,
        request: Request<v1::GetWaveScoresRequest>,
    ) -> Result<Response<v1::GetWaveScoresResponse>, Status> {
        self.answer(
            request,
            |message, violations| {
                let school = school(violations, &message.school);
                let wave = wave(violations, "wave", &message.wave);
                Some((school?, wave?))
            },
            |view, study, (school, wave)| view.wave_scores(study, school.as_ref(), wave.as_ref()),
            |current| reply::wave_scores(&current),
        )
        .await
    }

    async fn get_growth(
        &self,
        request: Request<v1::GetGrowthRequest>,
    ) -> Result<Response<v1::GetGrowthResponse>, Status> {
        self.answer(
            request,
            |message, violations| school(violations, &message.school),
            |view, study, school| view.growth(study, school.as_ref()),
            |current| reply::growth(&current),
        )
        .await
    }

    async fn get_relations(
        &self,
        request: Request<v1::GetRelationsRequest>,
    ) -> Result<Response<v1::GetRelationsResponse>, Status> {
        self.answer(
            request,
            |message, violations| wave(violations, "wave", &message.wave),
            |view, study, wave| view.relations(study, wave.as_ref()),
            reply::relations,
        )
        .await
    }

    async fn get_intervention_impact(
        &self,
        request: Request<v1::GetInterventionImpactRequest>,
    ) -> Result<Response<v1::GetInterventionImpactResponse>, Status> {
        self.answer(
            request,
            |message, violations| {
                let from = wave(violations, "from_wave", &message.from_wave);
                let to = wave(violations, "to_wave", &message.to_wave);
                Some((from?, to?))
            },
            |view, study, (from, to)| view.intervention_impact(study, from.as_ref(), to.as_ref()),
            |current| reply::intervention_impact(&current),
        )
        .await
    }

    async fn get_reliability(
        &self,
        request: Request<v1::GetReliabilityRequest>,
    ) -> Result<Response<v1::GetReliabilityResponse>, Status> {
        self.answer(
            request,
            |message, violations| wave(violations, "wave", &message.wave),
            |view, study, wave| view.reliability(study, wave.as_ref()),
            |current| reply::reliability(&current),
        )
        .await
    }

    async fn get_plg_activity(
        &self,
        request: Request<v1::GetPlgActivityRequest>,
    ) -> Result<Response<v1::GetPlgActivityResponse>, Status> {
        let today = school_date(Utc::now());
        self.answer(
            request,
            |message, violations| school(violations, &message.school),
            move |view, study, school| view.plg_activity(study, school.as_ref(), today),
            |current| reply::plg_activity(&current),
        )
        .await
    }

    async fn render_spider_chart(
        &self,
        request: Request<v1::RenderSpiderChartRequest>,
    ) -> Result<Response<v1::RenderSpiderChartResponse>, Status> {
        self.answer(
            request,
            |message, violations| {
                let school = violations.required("school", &message.school, NamedSchool::parse);
                let waves = violations.each("waves", &message.waves, |violations, field, wave| {
                    violations.check(field, WaveLabel::parse(wave))
                });
                Some((school?, waves?, message.include_desired))
            },
            |view, study, (school, waves, include_desired)| {
                view.spider_chart(study, &school, &waves, include_desired)
            },
            reply::spider_chart,
        )
        .await
    }

    type ExportStudyStream = ReplyStream<v1::ExportStudyResponse>;

    async fn export_study(
        &self,
        request: Request<v1::ExportStudyRequest>,
    ) -> Result<Response<Self::ExportStudyStream>, Status> {
        read(async move {
            let caller = caller_of(&request)?;
            let (research, study, format) = self.open(request, |message, violations| {
                violations.check("format", export_format(message.format))
            })?;
            if format == Format::Items {
                caller.require_respondent_data()?;
            }
            // Check the study exists before the stream starts, so a bad id is a clean NOT_FOUND.
            research
                .query(move |view| view.wave_scores(study, None, None).map(drop))
                .await?;
            // Taken before the blocking thread: an export over the limits never occupies one.
            let (mut outbox, reply) = research.streams.open_export(&caller, EXPORT_BUFFER)?;
            let view = research.view;
            tokio::task::spawn_blocking(move || {
                let mut stopped = None;
                let exported = view.export(study, format, |chunk, current_to_position| {
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
                    (Err(_), Some(stopped)) => tracing::info!(%stopped, %study, "export stopped"),
                    (Err(error), None) => {
                        tracing::warn!(%error, %study, "export failed");
                        let _ = outbox.blocking_send(Err(plg_server::status(service_error(error))));
                    }
                }
            });
            Ok(reply)
        })
        .await
    }
}

/// The export's format; unspecified is a violation.
fn export_format(format: i32) -> Result<Format, ValueError> {
    enumeration(format, |format: v1::ExportFormat| match format {
        v1::ExportFormat::Long => Some(Format::Long),
        v1::ExportFormat::Items => Some(Format::Items),
        v1::ExportFormat::Unspecified => None,
    })
}
