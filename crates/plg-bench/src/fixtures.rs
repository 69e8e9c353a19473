//! What the benchmark writes: schools enrolled in a study whose three waves lie in the past
//! (so that scans carry their answer date and the waves can be released for the queries),
//! scans answering every item of the built-in instrument, and the lighter commands.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use plg_proto::v1;
use plg_testkit::{Clients, day, options};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::target::Target;

/// The waves: label, opens, closes, and the day (noon UTC) on which scans are answered.
pub const WAVES: [(&str, &str, &str, i64); 3] = [
    ("T1", "2021-01-01", "2021-12-31", 1_623_758_400),
    ("T2", "2022-01-01", "2022-12-31", 1_655_294_400),
    ("T3", "2023-01-01", "2023-12-31", 1_686_830_400),
];

/// Setting-up calls in flight at once (registrations), where order does not matter.
const SETUP_IN_FLIGHT: usize = 16;

/// A study with its enrolled schools.
#[derive(Debug)]
pub struct Study {
    pub id: String,
    pub schools: Vec<String>,
    /// How many of [`WAVES`] its scans go to.
    pub waves: usize,
    /// Tells this run's respondents from those of earlier runs against the same plgd.
    tag: String,
    /// The next scan's number: every scan of the run has a respondent of its own.
    scans: AtomicU64,
}

impl Study {
    /// Registers `schools` schools, defines a study and enrols them, one at a time (every
    /// enrolment appends to the study's one stream, where concurrent writes only conflict).
    pub async fn set_up(target: &Target, title: &str, schools: usize) -> anyhow::Result<Self> {
        let first = u64::from(uuid::Uuid::new_v4().as_u128() as u32);
        let school_ids: Vec<String> = stream::iter(0..schools as u64)
            .map(|n| register_school(target.partner(n), first + n))
            .buffered(SETUP_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut clients = target.partner(0);
        let study_id = clients
            .registry
            .define_study(v1::DefineStudyRequest {
                options: options(),
                title: title.into(),
                description: "plg-bench".into(),
                waves: WAVES
                    .iter()
                    .map(|(label, opens, closes, _)| v1::Wave {
                        label: (*label).into(),
                        opens_on: (*opens).into(),
                        closes_on: (*closes).into(),
                    })
                    .collect(),
                ..Default::default()
            })
            .await
            .context("defining a study")?
            .into_inner()
            .study_id;
        for school_id in &school_ids {
            clients
                .enrol(&study_id, school_id)
                .await
                .context("enrolling a school")?;
        }
        Ok(Self {
            id: study_id,
            schools: school_ids,
            waves: WAVES.len(),
            tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            scans: AtomicU64::new(0),
        })
    }

    /// The next scan: the schools in turn, then the waves, each by a new respondent; so
    /// schools × waves × n scans give every school n respondents in each wave.
    pub fn scan(&self, items: &[String]) -> v1::SubmitScanRequest {
        let sequence = self.scans.fetch_add(1, Ordering::Relaxed);
        let schools = self.schools.len().max(1) as u64;
        let wave_index = (sequence / schools) % self.waves.clamp(1, WAVES.len()) as u64;
        let wave = WAVES[usize::try_from(wave_index).unwrap_or_default()];
        let answers = items
            .iter()
            .enumerate()
            .map(|(index, code)| {
                let hash = mix(sequence ^ ((index as u64) << 40));
                let current = 1 + (hash % 5) as u32;
                v1::ItemAnswer {
                    item_code: code.clone(),
                    current: Some(current),
                    desired: Some((current + ((hash >> 8) % 3) as u32).min(5)),
                }
            })
            .collect();
        v1::SubmitScanRequest {
            options: options().map(|options| v1::WriteOptions {
                occurred_at: Some(prost_types::Timestamp {
                    seconds: wave.3,
                    nanos: 0,
                }),
                ..options
            }),
            study_id: self.id.clone(),
            school_id: self.schools[usize::try_from(sequence % schools).unwrap_or_default()]
                .clone(),
            wave: wave.0.into(),
            respondent: format!("b{}-{sequence}", self.tag),
            role: v1::RespondentRole::Teacher.into(),
            answers,
            instrument_version: String::new(),
        }
    }

    /// Releases the study's waves to researchers (they have all closed): the log position of
    /// the last release.
    pub async fn release(&self, clients: &mut Clients) -> anyhow::Result<u64> {
        let mut position = 0;
        for (label, ..) in &WAVES[..self.waves] {
            let written = clients
                .release_wave(&self.id, label)
                .await
                .with_context(|| format!("releasing wave {label}"))?;
            position = position.max(written.position);
        }
        Ok(position)
    }
}

/// A school with a Belgian institution number derived from `n` (a million numbers, so a run
/// and the ones before it rarely meet); when one did, the school already registered.
async fn register_school(mut clients: Clients, n: u64) -> anyhow::Result<String> {
    let request = v1::RegisterSchoolRequest {
        options: options(),
        name: format!("Benchmarkschool {n}"),
        country: v1::Country::Be.into(),
        sector: v1::Sector::Secondary.into(),
        school_code: format!("{:06}", 100_000 + n % 900_000),
        board: "plg-bench".into(),
    };
    match clients.registry.register_school(request).await {
        Ok(response) => Ok(response.into_inner().school_id),
        Err(status) if status.code() == Code::AlreadyExists => status
            .get_details_resource_info()
            .map(|info| info.resource_name)
            .context("ALREADY_EXISTS without the registered school's id"),
        Err(status) => Err(status).context("registering a school"),
    }
}

/// The item codes of the study's (the built-in) instrument.
pub async fn instrument_items(clients: &mut Clients) -> anyhow::Result<Vec<String>> {
    let instrument = clients
        .registry
        .get_instrument(v1::GetInstrumentRequest::default())
        .await
        .context("reading the built-in instrument")?
        .into_inner();
    Ok(instrument.items.into_iter().map(|item| item.code).collect())
}

/// A short intervention, as a school logs one.
pub fn intervention(school_id: &str) -> v1::LogInterventionRequest {
    v1::LogInterventionRequest {
        options: options(),
        school_id: school_id.into(),
        title: "Lesson study".into(),
        description: "Teachers prepare, observe and discuss a lesson together.".into(),
        categories: vec![
            v1::InterventionCategory::Professionalisation.into(),
            v1::InterventionCategory::WorkingAndLearningTogether.into(),
        ],
        targets: vec![v1::Dimension::DevelopingEducationTogether.into()],
        level: v1::InterventionLevel::Section.into(),
        starts_on: day(-60),
        planned_end_on: day(120),
    }
}

pub fn person(sequence: u64) -> v1::RegisterPersonRequest {
    v1::RegisterPersonRequest {
        options: options(),
        name: format!("Docent {sequence}"),
        email: format!("docent{sequence}@example.org"),
    }
}

/// A PLG at `school_id` with `members` new members: its id and its members' ids.
pub async fn plg(
    clients: &mut Clients,
    school_id: &str,
    members: usize,
) -> anyhow::Result<(String, Vec<String>)> {
    let mut member_ids = Vec::new();
    for n in 0..members {
        member_ids.push(clients.register_person(&format!("Lid {n}")).await?);
    }
    let plg_id = clients.form_plg(school_id, &member_ids).await?;
    Ok((plg_id, member_ids))
}

/// A session of the PLG held today, every member present, the first facilitating.
pub fn session(plg_id: &str, member_ids: &[String]) -> v1::HoldSessionRequest {
    v1::HoldSessionRequest {
        options: options(),
        plg_id: plg_id.into(),
        held_on: day(0),
        duration_minutes: 90,
        attendance: member_ids
            .iter()
            .map(|person_id| v1::Attendance {
                person_id: person_id.clone(),
                present: true,
            })
            .collect(),
        facilitator_id: member_ids.first().cloned().unwrap_or_default(),
        theme_phases: vec![v1::ThemePhase::Explore.into()],
        goals: vec![v1::SessionGoal {
            description: "sharpen the question".into(),
            reached: true,
        }],
        check_in_held: true,
        check_out_held: true,
        methods: vec!["OASE intervision".into()],
        ..Default::default()
    }
}

/// A well-spread 64-bit hash (splitmix64's finaliser), for answers that vary without a
/// random generator.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
