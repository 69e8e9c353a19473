//! The shared test kit: a real plgd, served on port 0 over a temporary data directory, with
//! authentication on; real tonic clients holding API keys that the server's first operator key
//! issued; fixtures for the common setup, and assertions on gRPC error details.

use std::{marker::PhantomData, net::SocketAddr, path::Path};

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use plg_contract::TOOL_HEADER;
use plg_domain::values::school_date;
use plg_eventstore::{AppendOutcome, AppendRequest, sqlite::Sharing};
use plg_proto::v1::{
    self, admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
    coaching_service_client::CoachingServiceClient,
    event_log_service_client::EventLogServiceClient,
    intervention_service_client::InterventionServiceClient,
    registry_service_client::RegistryServiceClient, research_service_client::ResearchServiceClient,
    scan_service_client::ScanServiceClient, session_service_client::SessionServiceClient,
};
use plg_server::{
    app::AppError,
    config::{Config, KeyBudget},
    store::{EVENT_STORE_FILE, OpenStore},
};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;
use tokio::{
    sync::{OnceCell, oneshot},
    task::JoinHandle,
};
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};
use tonic_types::StatusExt;

/// Where the test kit keeps the keys it holds, beside the store, so a restarted server's
/// clients are the same keys (request ids are scoped by key).
const KEYS_FILE: &str = "testkit-keys.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Keys {
    operator: Option<String>,
    partner_tool: Option<String>,
}

/// `config` with budgets no key of a test reaches, for tests that call many RPCs with one key
/// as fast as they are answered and are not about the budget (plgd's `tests/limits.rs` is).
/// The others keep the default budget, as a real plgd.
pub fn without_budget(config: Config) -> Config {
    Config {
        budget: KeyBudget {
            requests_per_second: 1_000_000,
            burst: 1_000_000,
            concurrent_requests: 10_000,
        },
        ..config
    }
}

/// `config` for a stand-in KurrentDB node: plgd serving KurrentDB's protocol with raw writes
/// on a free loopback port, without budgets, in insecure local mode so that its log starts
/// empty (with keys, plgd's first start writes its own first operator key to the log).
pub fn kurrentdb_node(config: Config) -> Config {
    Config {
        insecure_local: true,
        kurrentdb_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        kurrentdb_allow_raw_writes: true,
        ..without_budget(config)
    }
}

/// The event store a test server's plgd runs on.
pub trait StoreUnderTest: Send + Sync + 'static {
    /// Starts what the store needs beside plgd, keeping its files in `data_dir`, and points
    /// `config` at it.
    fn prepare(
        data_dir: &Path,
        config: Config,
    ) -> impl Future<Output = anyhow::Result<(Config, Option<Backing>)>> + Send;

    /// Fails when plgd, started over `data_dir`, runs on another store than this one: a
    /// test's `configure` that set the store back would otherwise pass on the wrong one.
    fn check_ran_on(_data_dir: &Path) -> anyhow::Result<()> {
        Ok(())
    }
}

/// plgd's embedded store, `events.db` in its data directory: the default.
#[derive(Debug)]
pub struct Embedded;

impl StoreUnderTest for Embedded {
    async fn prepare(_: &Path, config: Config) -> anyhow::Result<(Config, Option<Backing>)> {
        Ok((config, None))
    }
}

/// The KurrentDB backend (`store = "kurrentdb://…"`), pointed at a second plgd's KurrentDB
/// listener with raw writes: a stand-in for a KurrentDB node, whose own embedded store lives
/// in [`KURRENTDB_BACKING_DIR`] inside the test server's data directory, so that it survives
/// restarts with it.
#[derive(Debug)]
pub struct OnKurrentDb;

/// Where [`OnKurrentDb`]'s backing plgd keeps its data, inside the test server's.
pub const KURRENTDB_BACKING_DIR: &str = "kurrentdb-node";

impl StoreUnderTest for OnKurrentDb {
    async fn prepare(data_dir: &Path, config: Config) -> anyhow::Result<(Config, Option<Backing>)> {
        let node = plgd::build(kurrentdb_node(Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.join(KURRENTDB_BACKING_DIR),
            shutdown_grace_seconds: 5,
            ..Config::default()
        }))
        .await?;
        let address = node
            .side_addr(plgd::KURRENTDB_LISTENER)
            .context("the backing plgd serves no KurrentDB listener")?;
        let store = format!("kurrentdb://{address}?tls=false")
            .parse()
            .map_err(anyhow::Error::msg)?;
        Ok((Config { store, ..config }, Some(Backing::serve(node))))
    }

    fn check_ran_on(data_dir: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            !data_dir.join(EVENT_STORE_FILE).exists(),
            "plgd opened its embedded store in {}, not the KurrentDB node",
            data_dir.display()
        );
        Ok(())
    }
}

/// Something a test server runs beside its plgd, stopped after it.
#[derive(Debug)]
pub struct Backing(Serving);

impl Backing {
    fn serve(app: plg_server::app::App) -> Self {
        Self(Serving::start(app))
    }
}

/// A plgd served by a task of its own until told to stop.
#[derive(Debug)]
struct Serving {
    stop: oneshot::Sender<()>,
    served: JoinHandle<Result<(), AppError>>,
}

impl Serving {
    fn start(app: plg_server::app::App) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self { stop, served }
    }

    /// Shuts down gracefully.
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.served.await.context("server task panicked")??;
        Ok(())
    }
}

/// A plgd serving on a free port over its own temporary data directory, on the embedded store.
pub type TestServer = Server<Embedded>;

/// A plgd serving on a free port over its own temporary data directory, on the event store
/// `S`.
#[derive(Debug)]
pub struct Server<S> {
    address: SocketAddr,
    kurrentdb_address: Option<SocketAddr>,
    metrics_address: Option<SocketAddr>,
    data_dir: TempDir,
    serving: Serving,
    backing: Option<Backing>,
    operator_key: Option<String>,
    partner_tool_key: OnceCell<String>,
    store: PhantomData<S>,
}

impl<S: StoreUnderTest> Server<S> {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_in(tempfile::tempdir()?).await
    }

    /// Starts with budgets no key of a test reaches ([`without_budget`]).
    pub async fn start_without_budget() -> anyhow::Result<Self> {
        Self::start_with(tempfile::tempdir()?, without_budget).await
    }

    /// Starts over an existing data directory, as after a restart.
    pub async fn start_in(data_dir: TempDir) -> anyhow::Result<Self> {
        Self::start_with(data_dir, |config| config).await
    }

    /// Starts with a configuration adjusted by `configure`.
    pub async fn start_with(
        data_dir: TempDir,
        configure: impl FnOnce(Config) -> Config,
    ) -> anyhow::Result<Self> {
        let (config, backing) = S::prepare(
            data_dir.path(),
            Config {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                data_dir: data_dir.path().to_owned(),
                shutdown_grace_seconds: 5,
                ..Config::default()
            },
        )
        .await?;
        let app = plgd::build(configure(config)).await?;
        S::check_ran_on(data_dir.path())?;
        let keys_file = data_dir.path().join(KEYS_FILE);
        let mut keys: Keys = match std::fs::read(&keys_file) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(_) => Keys::default(),
        };
        if let Some(first) = app.first_operator_key() {
            keys.operator = Some(first.to_owned());
            std::fs::write(&keys_file, serde_json::to_vec(&keys)?)?;
        }
        let address = app.local_addr();
        let kurrentdb_address = app.side_addr(plgd::KURRENTDB_LISTENER);
        let metrics_address = app.metrics_addr();
        let partner_tool_key = OnceCell::new_with(keys.partner_tool);
        Ok(Self {
            address,
            kurrentdb_address,
            metrics_address,
            data_dir,
            serving: Serving::start(app),
            backing,
            operator_key: keys.operator,
            partner_tool_key,
            store: PhantomData,
        })
    }

    /// The operator key the server issued on its first start.
    pub fn operator_key(&self) -> anyhow::Result<&str> {
        self.operator_key
            .as_deref()
            .context("this data directory's first start was not the test kit's")
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where KurrentDB's client protocol is served, when the configuration asked for it.
    /// Where metrics are served for Prometheus, when `metrics_listen` is configured.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    pub fn kurrentdb_address(&self) -> Option<SocketAddr> {
        self.kurrentdb_address
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Runs `task` with the configuration a server over `data_dir` starts with, while its
    /// store can be reached but no plgd serves: for plgd's offline commands (`rebuild`), and
    /// for writing behind plgd's back.
    pub async fn offline<T, F>(data_dir: &Path, task: impl FnOnce(Config) -> F) -> anyhow::Result<T>
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        let (config, backing) = S::prepare(
            data_dir,
            Config {
                data_dir: data_dir.to_owned(),
                ..Config::default()
            },
        )
        .await?;
        let done = task(config).await;
        if let Some(Backing(backing)) = backing {
            backing.stop().await?;
        }
        S::check_ran_on(data_dir)?;
        done
    }

    /// Appends to the event log of a server stopped over `data_dir`, behind plgd's back: as
    /// a crash between two of plgd's steps leaves it.
    pub async fn append_while_stopped(
        data_dir: &Path,
        request: AppendRequest,
    ) -> anyhow::Result<AppendOutcome> {
        Self::offline(data_dir, |config| async move {
            let store =
                OpenStore::open(&config.store, &config.data_dir, Sharing::Exclusive).await?;
            let appended = store.shared().append(request).await;
            store.close().await;
            Ok(appended?)
        })
        .await
    }

    /// Shuts down gracefully, then what runs beside it, and hands back the data directory.
    pub async fn stop(self) -> anyhow::Result<TempDir> {
        self.serving.stop().await?;
        if let Some(Backing(backing)) = self.backing {
            backing.stop().await?;
        }
        Ok(self.data_dir)
    }

    /// Stops, then starts a new server over the same data directory.
    pub async fn restart(self) -> anyhow::Result<Self> {
        Self::start_in(self.stop().await?).await
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(format!("http://{}", self.address))?
            .connect()
            .await?)
    }

    /// Clients of the partner tool `test-tool`, whose key's scope is everything: the key
    /// every test sets up its data with. The same key on every call and after restarts.
    pub async fn clients(&self) -> anyhow::Result<Clients> {
        let key = self.partner_tool_key().await?;
        self.clients_with(Identity::bearer(key)?).await
    }

    /// The key behind [`TestServer::clients`].
    pub async fn partner_tool_key(&self) -> anyhow::Result<&str> {
        let key = self
            .partner_tool_key
            .get_or_try_init(|| async {
                let issued = self
                    .issue_key("test-tool", v1::Role::PartnerTool, everything())
                    .await?;
                let keys_file = self.data_dir().join(KEYS_FILE);
                let keys = Keys {
                    operator: self.operator_key.clone(),
                    partner_tool: Some(issued.api_key.clone()),
                };
                std::fs::write(keys_file, serde_json::to_vec(&keys)?)?;
                anyhow::Ok(issued.api_key)
            })
            .await?;
        Ok(key)
    }

    /// Clients holding the operator key.
    pub async fn operator(&self) -> anyhow::Result<Clients> {
        self.clients_with(Identity::bearer(self.operator_key()?)?)
            .await
    }

    /// Clients holding a new key of `role` with `scope`, issued by the operator.
    pub async fn clients_as(&self, role: v1::Role, scope: v1::Scope) -> anyhow::Result<Clients> {
        let issued = self.issue_key("test-key", role, scope).await?;
        self.clients_with(Identity::bearer(&issued.api_key)?).await
    }

    /// A researcher whose scope is every study.
    pub async fn researcher(&self) -> anyhow::Result<Clients> {
        self.clients_as(v1::Role::Researcher, everything()).await
    }

    /// A researcher whose scope is every study, granted respondent-level data too.
    pub async fn respondent_data_researcher(&self) -> anyhow::Result<Clients> {
        let scope = v1::Scope {
            respondent_data: true,
            ..everything()
        };
        self.clients_as(v1::Role::Researcher, scope).await
    }

    /// An administrator whose scope is every school.
    pub async fn administrator(&self) -> anyhow::Result<Clients> {
        self.clients_as(v1::Role::Administrator, everything()).await
    }

    pub async fn clients_with(&self, identity: Identity) -> anyhow::Result<Clients> {
        Ok(Clients::new(self.channel().await?, identity))
    }

    /// Issues a key through AdminService with the operator key.
    pub async fn issue_key(
        &self,
        identity: &str,
        role: v1::Role,
        scope: v1::Scope,
    ) -> anyhow::Result<v1::IssueApiKeyResponse> {
        self.operator()
            .await?
            .issue_api_key(identity, role, scope)
            .await
    }
}

/// A scope that reaches everything.
pub fn everything() -> v1::Scope {
    v1::Scope {
        everything: true,
        ..Default::default()
    }
}

/// What a client sends with every call: its API key, and the tool it declares.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    authorization: Option<MetadataValue<Ascii>>,
}

impl Identity {
    /// Sends `key` as `authorization: Bearer <key>`.
    pub fn bearer(key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            authorization: Some(format!("Bearer {key}").parse()?),
        })
    }

    /// Sends no key at all.
    pub fn anonymous() -> Self {
        Self::default()
    }
}

impl Interceptor for Identity {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        request
            .metadata_mut()
            .insert(TOOL_HEADER, MetadataValue::from_static("test-tool/1"));
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Identity>;

/// One client per service, sharing a connection and an identity.
#[derive(Debug, Clone)]
pub struct Clients {
    pub registry: RegistryServiceClient<Authed>,
    pub scans: ScanServiceClient<Authed>,
    pub interventions: InterventionServiceClient<Authed>,
    pub sessions: SessionServiceClient<Authed>,
    pub coaching: CoachingServiceClient<Authed>,
    pub event_log: EventLogServiceClient<Authed>,
    pub research: ResearchServiceClient<Authed>,
    pub audit: AuditServiceClient<Authed>,
    pub admin: AdminServiceClient<Authed>,
}

/// Write options with a request id never used before.
pub fn options() -> Option<v1::WriteOptions> {
    Some(v1::WriteOptions {
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    })
}

/// Fresh options whose write answers once the research view includes it.
pub fn options_waiting_for_view() -> Option<v1::WriteOptions> {
    options().map(|options| v1::WriteOptions {
        wait_for_research_view: true,
        ..options
    })
}

/// Write options that pin the expected revision.
pub fn options_expecting(revision: u64) -> Option<v1::WriteOptions> {
    options().map(|options| v1::WriteOptions {
        expected_revision: Some(revision),
        ..options
    })
}

/// A date `days` from today in the schools' time zone (negative: in the past), `YYYY-MM-DD`.
pub fn day(days: i64) -> String {
    (school_date(Utc::now()) + Duration::days(days)).to_string()
}

/// A moment `days` days ago, for `WriteOptions.occurred_at`: on the schools' date `day(-days)`.
pub fn days_ago(days: u64) -> Option<prost_types::Timestamp> {
    let at = days_before(Utc::now(), i64::try_from(days).unwrap_or(i64::MAX));
    Some(prost_types::Timestamp::from(std::time::SystemTime::from(
        at,
    )))
}

fn days_before(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let date = school_date(now) - Duration::days(days);
    let mut at = now - Duration::days(days);
    // Across a change of summer time, `days` times 24 hours can end an hour into the next or
    // the previous date in the schools' time zone (the test then compares with `day`).
    while school_date(at) > date {
        at -= Duration::hours(1);
    }
    while school_date(at) < date {
        at += Duration::hours(1);
    }
    at
}

/// Whether a statistic is present and equals the expected value up to rounding.
pub fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|actual| (actual - expected).abs() < 1e-9)
}

/// A valid Dutch school code (BRIN with a location number) that no other call in this process
/// returns, so the schools of one test never collide: random codes of 67,600 did.
pub fn school_code() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let letter = |n: u32| char::from(b'A' + u8::try_from(n % 26).unwrap_or(0));
    format!(
        "{:02}{}{}{:02}",
        n / 67_600 % 100,
        letter(n / 2_600),
        letter(n / 100),
        n % 100
    )
}

impl Clients {
    pub fn new(channel: Channel, identity: Identity) -> Self {
        Self {
            registry: RegistryServiceClient::with_interceptor(channel.clone(), identity.clone()),
            scans: ScanServiceClient::with_interceptor(channel.clone(), identity.clone()),
            interventions: InterventionServiceClient::with_interceptor(
                channel.clone(),
                identity.clone(),
            ),
            sessions: SessionServiceClient::with_interceptor(channel.clone(), identity.clone()),
            coaching: CoachingServiceClient::with_interceptor(channel.clone(), identity.clone()),
            event_log: EventLogServiceClient::with_interceptor(channel.clone(), identity.clone()),
            research: ResearchServiceClient::with_interceptor(channel.clone(), identity.clone()),
            audit: AuditServiceClient::with_interceptor(channel.clone(), identity.clone()),
            admin: AdminServiceClient::with_interceptor(channel, identity),
        }
    }

    /// Issues a key through AdminService; these clients must hold an operator key.
    pub async fn issue_api_key(
        &mut self,
        identity: &str,
        role: v1::Role,
        scope: v1::Scope,
    ) -> anyhow::Result<v1::IssueApiKeyResponse> {
        let issued = self
            .admin
            .issue_api_key(v1::IssueApiKeyRequest {
                options: options(),
                identity: identity.into(),
                role: role.into(),
                scope: Some(scope),
            })
            .await?;
        Ok(issued.into_inner())
    }

    pub async fn register_school(&mut self) -> anyhow::Result<String> {
        let response = self
            .registry
            .register_school(v1::RegisterSchoolRequest {
                options: options(),
                name: "Het Baken".into(),
                country: v1::Country::Nl.into(),
                sector: v1::Sector::Secondary.into(),
                school_code: school_code(),
                board: "Stichting Voortgezet Onderwijs".into(),
            })
            .await?;
        Ok(response.into_inner().school_id)
    }

    /// A study with a wave `T0` that closed, `T1` open today and `T2` not yet open.
    pub async fn define_study(&mut self) -> anyhow::Result<String> {
        let wave = |label: &str, opens: i64, closes: i64| v1::Wave {
            label: label.into(),
            opens_on: day(opens),
            closes_on: day(closes),
        };
        let response = self
            .registry
            .define_study(v1::DefineStudyRequest {
                options: options(),
                title: "De school als PLG".into(),
                description: "three waves".into(),
                waves: vec![
                    wave("T0", -400, -300),
                    wave("T1", -30, 30),
                    wave("T2", 180, 240),
                ],
                ..Default::default()
            })
            .await?;
        Ok(response.into_inner().study_id)
    }

    /// Releases a closed wave to researchers, answering once the view shows it.
    pub async fn release_wave(
        &mut self,
        study_id: &str,
        wave: &str,
    ) -> anyhow::Result<v1::WriteResult> {
        let response = self
            .registry
            .release_wave(v1::ReleaseWaveRequest {
                options: options_waiting_for_view(),
                study_id: study_id.into(),
                wave: wave.into(),
            })
            .await?;
        response.into_inner().result.context("no write result")
    }

    pub async fn enrol(
        &mut self,
        study_id: &str,
        school_id: &str,
    ) -> anyhow::Result<v1::WriteResult> {
        let response = self
            .registry
            .enrol_school(v1::EnrolSchoolRequest {
                options: options(),
                study_id: study_id.into(),
                school_id: school_id.into(),
            })
            .await?;
        response.into_inner().result.context("no write result")
    }

    /// A study with one enrolled school: `(study_id, school_id)`.
    pub async fn enrolled_school(&mut self) -> anyhow::Result<(String, String)> {
        let school_id = self.register_school().await?;
        let study_id = self.define_study().await?;
        self.enrol(&study_id, &school_id).await?;
        Ok((study_id, school_id))
    }

    pub async fn register_person(&mut self, name: &str) -> anyhow::Result<String> {
        let response = self
            .registry
            .register_person(v1::RegisterPersonRequest {
                options: options(),
                name: name.into(),
                email: String::new(),
            })
            .await?;
        Ok(response.into_inner().person_id)
    }

    /// A school PLG with the given members.
    pub async fn form_plg(
        &mut self,
        school_id: &str,
        member_ids: &[String],
    ) -> anyhow::Result<String> {
        let response = self
            .sessions
            .form_plg(v1::FormPlgRequest {
                options: options(),
                school_ids: vec![school_id.into()],
                kind: v1::PlgKind::School.into(),
                name: "Formatief handelen".into(),
                practice_need: "students do not know where they stand".into(),
                learning_question: "why does our feedback not land?".into(),
                member_ids: member_ids.to_vec(),
            })
            .await?;
        Ok(response.into_inner().plg_id)
    }

    /// Imports `scans` in one `ImportScans` call (`None`: a message without its scan), and
    /// reads every report: sorted by index, so the `n`th report is the `n`th scan's.
    pub async fn import_scans(
        &mut self,
        scans: Vec<Option<v1::SubmitScanRequest>>,
    ) -> Result<Vec<v1::ImportScansResponse>, Status> {
        let requests = scans
            .into_iter()
            .map(|scan| v1::ImportScansRequest { scan });
        let mut reports = self
            .scans
            .import_scans(tokio_stream::iter(requests))
            .await?
            .into_inner();
        let mut all = Vec::new();
        while let Some(report) = reports.message().await? {
            all.push(report);
        }
        all.sort_by_key(|report| report.index);
        Ok(all)
    }

    /// Every event of a stream, oldest first.
    pub async fn read_stream(&mut self, stream: &str) -> anyhow::Result<Vec<v1::Event>> {
        let response = self
            .event_log
            .read_stream(v1::ReadStreamRequest {
                stream: stream.into(),
                max_count: 1000,
                ..Default::default()
            })
            .await?;
        Ok(response.into_inner().events)
    }

    /// The event types of a stream, oldest first.
    pub async fn event_types(&mut self, stream: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .read_stream(stream)
            .await?
            .into_iter()
            .map(|event| event.event_type)
            .collect())
    }

    /// The types of the events this key may read that the global log gained after `after`,
    /// oldest first. Positions order the log but do not count it (KurrentDB's are sparse), so
    /// what a call wrote is read, not computed from positions.
    pub async fn event_types_after(&mut self, after: u64) -> anyhow::Result<Vec<String>> {
        let (_, events) = self.read_all_after(after).await?;
        Ok(events.into_iter().map(|event| event.event_type).collect())
    }

    /// The global log's last position (0 when empty), including events this key may not read.
    pub async fn last_position(&mut self) -> anyhow::Result<u64> {
        Ok(self.read_all_after(0).await?.0)
    }

    /// The events of the global log this key may read, oldest first, and the log's last
    /// position. A page may hold none of this key's events while the log goes on: the
    /// position, not an empty page, tells where it ends.
    pub async fn read_all(&mut self) -> anyhow::Result<(u64, Vec<v1::Event>)> {
        self.read_all_after(0).await
    }

    /// As [`Clients::read_all`], after a position.
    pub async fn read_all_after(
        &mut self,
        mut after: u64,
    ) -> anyhow::Result<(u64, Vec<v1::Event>)> {
        let mut events = Vec::new();
        loop {
            let page = self
                .event_log
                .read_all(v1::ReadAllRequest {
                    after_position: Some(after),
                    max_count: 1000,
                })
                .await?
                .into_inner();
            events.extend(page.events);
            if page.last_position == after {
                return Ok((after, events));
            }
            after = page.last_position;
        }
    }
}

/// One scan's report of an import, as SubmitScan would have answered it: the reply, or the
/// status rebuilt from the report's error (its `google.rpc.Status` details included), so the
/// assertions on statuses apply to it.
pub fn imported(report: &v1::ImportScansResponse) -> Result<v1::SubmitScanResponse, Status> {
    use v1::import_scans_response::Outcome;
    match &report.outcome {
        Some(Outcome::Scan(scan)) => Ok(scan.clone()),
        Some(Outcome::Error(error)) => Err(Status::with_details(
            tonic::Code::from(error.code),
            error.message.clone(),
            error.status.clone().into(),
        )),
        None => Err(Status::unknown("a report without an outcome")),
    }
}

/// The field violations an `INVALID_ARGUMENT` status lists, in order.
fn field_violations(status: &Status) -> Vec<tonic_types::FieldViolation> {
    status
        .get_details_bad_request()
        .map(|bad_request| bad_request.field_violations)
        .unwrap_or_default()
}

/// The fields an `INVALID_ARGUMENT` status names, in order.
pub fn violated_fields(status: &Status) -> Vec<String> {
    field_violations(status)
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}

/// What an `INVALID_ARGUMENT` status says of each field, in order.
pub fn violation_descriptions(status: &Status) -> Vec<String> {
    field_violations(status)
        .into_iter()
        .map(|violation| violation.description)
        .collect()
}

/// The rule a `FAILED_PRECONDITION` status names.
pub fn violated_rule(status: &Status) -> Option<String> {
    status
        .get_details_precondition_failure()
        .and_then(|failure| failure.violations.into_iter().next())
        .map(|violation| violation.r#type)
}

/// The actual revision an `ABORTED` status reports.
pub fn actual_revision(status: &Status) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get("actual_revision").cloned())
}

/// An event's JSON payload.
pub fn payload(event: &v1::Event) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(&event.data_json)?)
}

/// Health checking, as a load balancer would ask.
pub async fn health(channel: Channel, service: &str) -> anyhow::Result<i32> {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let response = client
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await?;
    Ok(response.into_inner().status)
}

/// A teacher's scan in wave T1 with one answer (E5.1: 4 now, 5 desired).
pub fn one_answer_scan(study_id: &str, school_id: &str) -> v1::SubmitScanRequest {
    v1::SubmitScanRequest {
        options: options(),
        study_id: study_id.into(),
        school_id: school_id.into(),
        wave: "T1".into(),
        respondent: "resp-0042".into(),
        role: v1::RespondentRole::Teacher.into(),
        answers: vec![v1::ItemAnswer {
            item_code: "E5.1".into(),
            current: Some(4),
            desired: Some(5),
        }],
        instrument_version: String::new(),
    }
}

/// An intervention whose description is near the 10,000-character limit, so that its event is
/// about 10 KB; `n` tells them apart.
pub fn large_intervention(school_id: &str, n: usize) -> v1::LogInterventionRequest {
    v1::LogInterventionRequest {
        options: options(),
        school_id: school_id.into(),
        title: format!("Intervention {n}"),
        description: format!("{n} ") + &"x".repeat(9_900),
        categories: vec![v1::InterventionCategory::Professionalisation.into()],
        targets: vec![v1::Dimension::DevelopingEducationTogether.into()],
        level: v1::InterventionLevel::Section.into(),
        starts_on: day(-60),
        planned_end_on: day(120),
    }
}

/// Reads a server stream to its end: the status that ended it, or `None` when it completed.
pub async fn stream_end<T>(stream: &mut tonic::Streaming<T>) -> Option<Status> {
    loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(status) => return Some(status),
        }
    }
}

/// Tries `attempt` every 200 ms for up to 10 s, until it succeeds: what it gave, if it did.
pub async fn once_ok<T, E, F>(mut attempt: impl FnMut() -> F) -> Option<T>
where
    F: Future<Output = Result<T, E>>,
{
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if let Ok(value) = attempt().await {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_days_ago_falls_on_the_date_as_many_days_ago() {
        // 23:30 in Amsterdam in winter; 100 days earlier was summer time, an hour further on.
        let now = DateTime::parse_from_rfc3339("2026-11-30T22:30:00Z")
            .expect("valid timestamp")
            .with_timezone(&Utc);
        for days in [0, 1, 100, 300] {
            assert_eq!(
                school_date(days_before(now, days)),
                school_date(now) - Duration::days(days),
                "{days} days"
            );
        }
        assert!(days_before(now, 1) < now);
    }

    #[test]
    fn school_codes_never_repeat_in_a_process() {
        let codes: std::collections::HashSet<_> = (0..20_000).map(|_| school_code()).collect();
        assert_eq!(codes.len(), 20_000);
    }
}
