//! Measures `ImportScans` against a running plgd: registers a school, defines a study with a
//! wave open today and enrols the school, then imports `scans` scans (every item of the
//! built-in instrument answered, each respondent new) in one call, and prints how many it
//! wrote per second; then sends the same import again, which replays every scan.
//!
//! ```sh
//! cargo run --release -p plgd -- --data-dir /tmp/plg-import     # prints the operator key
//! PLG_OPERATOR_KEY=plg_… cargo run --release -p plg-demo --example import_wave -- \
//!     http://127.0.0.1:50051 5000
//! ```
//!
//! With `PLG_OPERATOR_KEY` it first issues itself a partner tool key whose scope is
//! everything; with `PLG_API_KEY` it uses that partner tool key; with neither, none (a plgd in
//! insecure local mode).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use chrono::{Days, Utc};
use plg_proto::v1::{
    self, admin_service_client::AdminServiceClient, import_scans_response::Outcome,
    registry_service_client::RegistryServiceClient, scan_service_client::ScanServiceClient,
};
use tonic::{Request, metadata::MetadataValue, service::Interceptor};

#[derive(Clone)]
struct Key(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Key {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        if let Some(key) = &self.0 {
            request.metadata_mut().insert("authorization", key.clone());
        }
        request
            .metadata_mut()
            .insert("plg-tool", MetadataValue::from_static("import-wave/1"));
        Ok(request)
    }
}

/// Now, in nanoseconds: tells runs apart.
fn nanos() -> anyhow::Result<u128> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos())
}

/// A Dutch school code (two digits, two letters) of this run, so runs do not collide.
fn school_code(run: u128) -> String {
    let letter = |shift: u32| char::from(b'A' + (run >> shift).rem_euclid(26) as u8);
    format!("{:02}{}{}", run % 100, letter(20), letter(30))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let scans: usize = args.next().map_or(Ok(5_000), |n| n.parse())?;
    let channel = plg_demo::connect(&address, None).await?;
    let key = match (
        std::env::var("PLG_OPERATOR_KEY"),
        std::env::var("PLG_API_KEY"),
    ) {
        (Ok(operator), _) => {
            let operator = Key(Some(format!("Bearer {operator}").parse()?));
            let issued = AdminServiceClient::with_interceptor(channel.clone(), operator)
                .issue_api_key(v1::IssueApiKeyRequest {
                    options: Some(v1::WriteOptions {
                        request_id: format!("import-wave-key-{}", nanos()?),
                        ..Default::default()
                    }),
                    identity: "import measurement".into(),
                    role: v1::Role::PartnerTool.into(),
                    scope: Some(v1::Scope {
                        everything: true,
                        ..Default::default()
                    }),
                })
                .await?
                .into_inner();
            Some(format!("Bearer {}", issued.api_key).parse()?)
        }
        (_, Ok(key)) => Some(format!("Bearer {key}").parse()?),
        _ => None,
    };
    let mut registry = RegistryServiceClient::with_interceptor(channel.clone(), Key(key.clone()));
    let mut scan_service = ScanServiceClient::with_interceptor(channel, Key(key));

    let run = nanos()?;
    let options = |id: String| {
        Some(v1::WriteOptions {
            request_id: format!("import-wave-{run}-{id}"),
            ..Default::default()
        })
    };
    let today = Utc::now().date_naive();
    let school_id = registry
        .register_school(v1::RegisterSchoolRequest {
            options: options("school".into()),
            name: "Importschool".into(),
            country: v1::Country::Nl.into(),
            sector: v1::Sector::Secondary.into(),
            school_code: school_code(run),
            board: String::new(),
        })
        .await?
        .into_inner()
        .school_id;
    let study_id = registry
        .define_study(v1::DefineStudyRequest {
            options: options("study".into()),
            title: "Import measurement".into(),
            waves: vec![v1::Wave {
                label: "T1".into(),
                opens_on: (today - Days::new(30)).to_string(),
                closes_on: (today + Days::new(30)).to_string(),
            }],
            ..Default::default()
        })
        .await?
        .into_inner()
        .study_id;
    registry
        .enrol_school(v1::EnrolSchoolRequest {
            options: options("enrolment".into()),
            study_id: study_id.clone(),
            school_id: school_id.clone(),
        })
        .await?;
    let items: Vec<String> = registry
        .get_instrument(v1::GetInstrumentRequest::default())
        .await?
        .into_inner()
        .items
        .into_iter()
        .map(|item| item.code)
        .collect();

    let requests: Vec<v1::ImportScansRequest> = (0..scans)
        .map(|n| v1::ImportScansRequest {
            scan: Some(v1::SubmitScanRequest {
                options: options(format!("scan-{n}")),
                study_id: study_id.clone(),
                school_id: school_id.clone(),
                wave: "T1".into(),
                respondent: format!("r{n:06}"),
                role: v1::RespondentRole::Teacher.into(),
                answers: items
                    .iter()
                    .enumerate()
                    .map(|(i, code)| v1::ItemAnswer {
                        item_code: code.clone(),
                        current: Some(1 + ((n + i) % 5) as u32),
                        desired: Some(1 + ((n + 2 * i) % 5) as u32).filter(|d| *d >= 3),
                    })
                    .collect(),
                instrument_version: String::new(),
            }),
        })
        .collect();
    for pass in ["import", "again (replays)"] {
        let started = Instant::now();
        let mut reports = scan_service
            .import_scans(futures::stream::iter(requests.clone()))
            .await?
            .into_inner();
        let (mut written, mut replayed, mut failed) = (0, 0, 0);
        while let Some(report) = reports.message().await? {
            match report.outcome.context("a report without an outcome")? {
                Outcome::Scan(scan)
                    if scan.result.as_ref().is_some_and(|result| result.replayed) =>
                {
                    replayed += 1
                }
                Outcome::Scan(_) => written += 1,
                Outcome::Error(error) => {
                    if failed == 0 {
                        eprintln!("scan {} failed: {}", report.index, error.message);
                    }
                    failed += 1
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let per_second = scans as f64 / seconds;
        println!(
            "{pass}: {scans} scans ({written} written, {replayed} replayed, {failed} failed) in \
             {seconds:.2} s: {per_second:.0} scans/s, {:.0} scans/min",
            per_second * 60.0
        );
    }
    Ok(())
}
