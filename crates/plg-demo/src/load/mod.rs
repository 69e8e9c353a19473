//! The client side: connecting (over TLS when the address is https), the demo's identity on
//! every call, pacing and retrying within the key's budget ([`polite`]), and writing the plan
//! with several calls in flight where the order does not matter.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context as _, bail};
use chrono::{Duration, NaiveDate, NaiveTime};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use plg_proto::v1::{
    self, coaching_service_client::CoachingServiceClient,
    intervention_service_client::InterventionServiceClient,
    registry_service_client::RegistryServiceClient, scan_service_client::ScanServiceClient,
    session_service_client::SessionServiceClient,
};
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};

use crate::{
    DemoSize, DemoSummary, TOOL,
    model::{
        instrument::{Item, instrument_items},
        schools::date,
    },
    plan::Plan,
};
use polite::Polite;

mod interventions;
mod plgs;
mod polite;
mod registry;
mod scans;

/// How many requests are in flight at once: half of a key's default budget
/// (`[budget] concurrent_requests`, 32), leaving room for the key's other work.
const IN_FLIGHT: usize = 16;

/// The header naming the tool that writes: the contract's `plg-tool` (docs/architecture.md,
/// the write path), which plgd reads into every event's metadata.
const TOOL_HEADER: &str = "plg-tool";

/// Connects to the plgd at `address`. An https address needs `ca_cert`, the certificate to
/// verify the server against: this build trusts no system roots.
pub async fn connect(address: &str, ca_cert: Option<&Path>) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("{address} is not an address"))?;
    match (endpoint.uri().scheme_str(), ca_cert) {
        (Some("https"), Some(ca_cert)) => {
            let pem = std::fs::read(ca_cert)
                .with_context(|| format!("reading the certificate {}", ca_cert.display()))?;
            let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            endpoint = endpoint.tls_config(tls)?;
        }
        (Some("https"), None) => {
            bail!("{address} is https: give --ca-cert, the certificate to trust")
        }
        (_, Some(_)) => bail!("--ca-cert needs an https address, not {address}"),
        (_, None) => {}
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to plgd at {address}"))
}

/// Loads the plan for `seed` and `size` into the plgd behind `channel`, with `api_key`.
pub(crate) async fn run(
    channel: Channel,
    api_key: Option<&str>,
    seed: u64,
    size: DemoSize,
) -> anyhow::Result<DemoSummary> {
    let identity = DemoIdentity::new(api_key)?;
    let api = Api::new(channel, &identity);
    let built_in = api
        .registry
        .clone()
        .get_instrument(v1::GetInstrumentRequest::default())
        .await
        .context("reading the built-in instrument")?
        .into_inner();
    let items = instrument_items(&built_in.items)?;
    let plan = Plan::generate(seed, size, &items);
    let study_id = api.write(&plan, &items).await?;
    Ok(plan.summary(
        study_id,
        api.tally.writes.load(Ordering::Relaxed),
        api.tally.replayed.load(Ordering::Relaxed),
    ))
}

/// Sends the demo's API key and names the demo as the tool on every call.
#[derive(Debug, Clone)]
struct DemoIdentity {
    authorization: Option<MetadataValue<Ascii>>,
}

impl DemoIdentity {
    fn new(api_key: Option<&str>) -> anyhow::Result<Self> {
        let authorization = api_key
            .map(|key| format!("Bearer {key}").parse())
            .transpose()
            .context("the API key is not a valid header value")?;
        Ok(Self { authorization })
    }
}

impl Interceptor for DemoIdentity {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        if let Some(authorization) = &self.authorization {
            metadata.insert("authorization", authorization.clone());
        }
        metadata.insert(TOOL_HEADER, MetadataValue::from_static(TOOL));
        Ok(request)
    }
}

/// A client's channel: paced, with the demo's identity on every call.
type Authed = InterceptedService<Polite, DemoIdentity>;

/// The writes sent, and how many of them the server replayed.
#[derive(Debug, Default)]
struct Tally {
    writes: AtomicU64,
    replayed: AtomicU64,
}

/// One client per service, sharing a connection, and a tally of the writes.
#[derive(Debug, Clone)]
struct Api {
    registry: RegistryServiceClient<Authed>,
    scans: ScanServiceClient<Authed>,
    interventions: InterventionServiceClient<Authed>,
    sessions: SessionServiceClient<Authed>,
    coaching: CoachingServiceClient<Authed>,
    tally: Arc<Tally>,
}

/// The ids the server gave what the plan refers to by index.
#[derive(Debug)]
struct Ids {
    study: String,
    schools: Vec<String>,
    persons: Vec<String>,
}

/// A write's options: its request id, and noon UTC on the day it happened.
fn options(request_id: &str, on: NaiveDate) -> Option<v1::WriteOptions> {
    let at = on.and_time(NaiveTime::MIN).and_utc() + Duration::hours(12);
    Some(v1::WriteOptions {
        request_id: request_id.to_owned(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        ..Default::default()
    })
}

impl Api {
    fn new(channel: Channel, identity: &DemoIdentity) -> Self {
        let channel = Polite::new(channel, IN_FLIGHT);
        Self {
            registry: RegistryServiceClient::with_interceptor(channel.clone(), identity.clone()),
            scans: ScanServiceClient::with_interceptor(channel.clone(), identity.clone()),
            interventions: InterventionServiceClient::with_interceptor(
                channel.clone(),
                identity.clone(),
            ),
            sessions: SessionServiceClient::with_interceptor(channel.clone(), identity.clone()),
            coaching: CoachingServiceClient::with_interceptor(channel, identity.clone()),
            tally: Arc::default(),
        }
    }

    /// Counts a write and whether the server replayed it.
    fn count(&self, result: Option<v1::WriteResult>) -> anyhow::Result<()> {
        let result = result.context("a write reply without a write result")?;
        self.tally.writes.fetch_add(1, Ordering::Relaxed);
        if result.replayed {
            self.tally.replayed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes the whole plan; returns the study's id.
    async fn write(&self, plan: &Plan, items: &[Item]) -> anyhow::Result<String> {
        let schools = stream::iter(
            plan.schools
                .iter()
                .map(|school| self.register_school(school)),
        )
        .buffered(IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
        let study = self.define_study(plan).await?;
        self.check_instrument(&study, items).await?;
        // One at a time, so the research view's pseudonyms (S01, S02, …) follow the plan.
        for (school, school_id) in plan.schools.iter().zip(&schools) {
            let response = self
                .registry
                .clone()
                .enrol_school(v1::EnrolSchoolRequest {
                    options: options(&school.enrol_rid, date(2014, 12, 15)),
                    study_id: study.clone(),
                    school_id: school_id.clone(),
                })
                .await
                .with_context(|| format!("enrolling {}", school.name))?;
            self.count(response.into_inner().result)?;
        }
        let persons = stream::iter(
            plan.persons
                .iter()
                .map(|person| self.register_person(person)),
        )
        .buffered(IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
        let ids = Ids {
            study,
            schools,
            persons,
        };
        futures::try_join!(
            self.write_scans(plan, &ids),
            self.write_interventions(plan, &ids),
            self.write_devplans(plan, &ids),
            self.write_plgs(plan, &ids),
        )?;
        self.release_waves(plan, &ids.study).await?;
        Ok(ids.study)
    }
}
