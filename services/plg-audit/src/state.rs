//! A school as the ledger knew it at a moment: each of its streams replayed, by the domain's
//! own `evolve`, up to what had been recorded by then, and its scan scores as they stood.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use plg_contract::{
    research::wave_score_to_proto,
    values::{
        contribution_degree_to_proto, dimension_to_proto, intervention_category_to_proto,
        plg_phase_to_proto, timestamp_to_proto,
    },
};
use plg_domain::{
    Aggregate,
    consent::Consent,
    event::decode,
    ids::{ConsentId, SchoolId, StudyId},
    intervention::Intervention,
    plg::Plg,
    scan::{ScanResponse, Submission},
    school::School,
    study::{Study, Wave},
};
use plg_eventstore::{RecordedEvent, StoreError, StreamName};
use plg_ledger::ServiceError;
use plg_projections::DimensionScores;
use plg_proto::v1;
use plg_research_view::{
    context::{SchoolRef, StudyContext, WaveInfo},
    scores::{Scored, wave_scores},
};

/// The aggregate a stream's events leave, decoded and folded as the ledger loads it. An event
/// that cannot be read fails it: a state with a gap would be a state that never was.
fn replay<'a, A: Aggregate>(
    events: impl IntoIterator<Item = &'a RecordedEvent>,
) -> Result<A, ServiceError> {
    let mut state = A::default();
    for recorded in events {
        if let Some(reason) = &recorded.unreadable {
            return Err(StoreError::Corrupt(format!(
                "{} revision {}: {reason}",
                recorded.stream, recorded.revision
            ))
            .into());
        }
        let event = decode(
            &recorded.event_type,
            recorded.schema_version,
            recorded.data.clone(),
        )?;
        state.evolve(&event);
    }
    Ok(state)
}

/// The school's aggregates as recorded by the moment, each kind in the order of its streams.
#[derive(Debug, Default)]
struct Replayed {
    school: School,
    interventions: Vec<Intervention>,
    plgs: Vec<Plg>,
    responses: Vec<ScanResponse>,
    /// Consents withdrawn whenever: a respondent who withdrew never counts, whenever the
    /// withdrawal came, as their scans may not be processed again, not even to show a past
    /// state.
    withdrawn: BTreeSet<ConsentId>,
}

impl Replayed {
    fn of(events: &[RecordedEvent], at: DateTime<Utc>) -> Result<Self, ServiceError> {
        let mut streams: BTreeMap<&StreamName, Vec<&RecordedEvent>> = BTreeMap::new();
        for event in events {
            streams.entry(&event.stream).or_default().push(event);
        }
        let mut replayed = Self::default();
        for (stream, events) in streams {
            let recorded_by = || {
                events
                    .iter()
                    .copied()
                    .filter(|event| event.recorded_at <= at)
            };
            match stream.category() {
                School::CATEGORY => replayed.school = replay(recorded_by())?,
                Intervention::CATEGORY => replayed.interventions.push(replay(recorded_by())?),
                Plg::CATEGORY => replayed.plgs.push(replay(recorded_by())?),
                ScanResponse::CATEGORY => replayed.responses.push(replay(recorded_by())?),
                Consent::CATEGORY => {
                    let consent: Consent = replay(events.iter().copied())?;
                    replayed.withdrawn.extend(consent.withdrawn);
                }
                // Its studies come whole, beside the history; its plan shows no state here.
                _ => {}
            }
        }
        Ok(replayed)
    }

    /// The counted submissions to a study, with the school each answers for.
    fn responses(&self, study_id: StudyId) -> Vec<(SchoolId, &Submission)> {
        self.responses
            .iter()
            .filter(|response| response.study_id == Some(study_id))
            .filter_map(|response| {
                let school_id = response.school_id?;
                let counted = response.current.as_ref()?;
                let consent = ConsentId::derive(study_id, school_id, &counted.respondent);
                (!self.withdrawn.contains(&consent)).then_some((school_id, counted))
            })
            .collect()
    }
}

/// The school's scores in a study as they stood, as administrators see them: by name, and
/// released or not.
fn study_state(
    study_id: StudyId,
    study: &Study,
    school: &v1::SchoolRecord,
    responses: &[(SchoolId, &Submission)],
) -> v1::StudyState {
    let waves = Wave::in_order(&study.waves)
        .into_iter()
        .enumerate()
        .map(|(index, wave)| WaveInfo {
            label: wave.label.to_string(),
            ordinal: u32::try_from(index + 1).unwrap_or(u32::MAX),
            opens_on: wave.opens_on.to_string(),
            closes_on: wave.closes_on.to_string(),
        })
        .collect();
    let context = StudyContext {
        study_id: study_id.to_string(),
        min_group_size: study.confidentiality.min_group_size.value(),
        // Administrators audit a school they may see by name.
        identify_schools: true,
        waves,
        schools: vec![SchoolRef {
            school_id: school.school_id.clone(),
            pseudonym: String::new(),
            name: school.name.clone(),
        }],
        // Administrators audit the school's own history, released or not.
        withheld: BTreeSet::new(),
    };
    // Scored as the scans projection scores each submission for the research view.
    let scored: Vec<Scored> = responses
        .iter()
        .filter(|(school_id, _)| school_id.to_string() == school.school_id)
        .filter_map(|(_, submission)| {
            let wave = context
                .waves
                .iter()
                .position(|wave| wave.label == submission.wave.as_str())?;
            Some(Scored {
                school: 0,
                wave,
                role: submission.role,
                scores: DimensionScores::of(&submission.answers),
            })
        })
        .collect();
    v1::StudyState {
        study_id: study_id.to_string(),
        scores: wave_scores(&context, &scored)
            .iter()
            .map(|score| wave_score_to_proto(&context, score))
            .collect(),
    }
}

/// The school's state at the moment, from its history (`events`, every event that concerns
/// it, in log order) and the whole streams of the studies it was enrolled in, in stream order.
pub fn state_at(
    school_id: SchoolId,
    at: DateTime<Utc>,
    events: &[RecordedEvent],
    studies: &[Vec<RecordedEvent>],
) -> Result<v1::GetSchoolStateAtResponse, ServiceError> {
    let replayed = Replayed::of(events, at)?;
    let school = school_record(&replayed.school)
        .ok_or_else(|| ServiceError::not_found("school at that moment", school_id))?;
    let mut study_states = Vec::new();
    for events in studies {
        let study: Study = replay(events.iter().filter(|event| event.recorded_at <= at))?;
        if let Some(study_id) = study.study_id
            && study.enrolled.contains(&school_id)
        {
            let responses = replayed.responses(study_id);
            study_states.push(study_state(study_id, &study, &school, &responses));
        }
    }
    Ok(v1::GetSchoolStateAtResponse {
        at: Some(timestamp_to_proto(at)),
        as_of_position: events
            .iter()
            .rfind(|event| event.recorded_at <= at)
            .map_or(0, |event| event.position.0),
        school: Some(school),
        interventions: replayed
            .interventions
            .into_iter()
            .filter_map(intervention_state)
            .collect(),
        plgs: replayed.plgs.into_iter().filter_map(plg_state).collect(),
        studies: study_states,
    })
}

/// The school's registry record, once registered.
fn school_record(school: &School) -> Option<v1::SchoolRecord> {
    let (school_id, details) = school.registered.zip(school.details.as_ref())?;
    Some(v1::SchoolRecord {
        school_id: school_id.to_string(),
        name: details.name.to_string(),
        country: details.country.as_str().to_owned(),
        sector: details.sector.as_str().to_owned(),
        school_code: details.school_code.to_string(),
        board: school
            .board
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    })
}

/// An intervention, once logged.
fn intervention_state(intervention: Intervention) -> Option<v1::InterventionState> {
    let (intervention_id, status) = intervention.intervention_id.zip(intervention.status)?;
    Some(v1::InterventionState {
        intervention_id: intervention_id.to_string(),
        title: intervention.title.map(String::from).unwrap_or_default(),
        categories: intervention
            .categories
            .into_iter()
            .map(intervention_category_to_proto)
            .collect(),
        status: status.as_str().to_owned(),
        contributions: intervention
            .assessments
            .into_iter()
            .map(|(dimension, assessment)| v1::Contribution {
                dimension: dimension_to_proto(dimension),
                intended: assessment.intended,
                realised: contribution_degree_to_proto(assessment.realised),
            })
            .collect(),
    })
}

/// A PLG, once formed.
fn plg_state(plg: Plg) -> Option<v1::PlgState> {
    Some(v1::PlgState {
        plg_id: plg.plg_id?.to_string(),
        name: plg.name.map(String::from).unwrap_or_default(),
        phase: plg.phase.map_or(0, plg_phase_to_proto),
        members: u32::try_from(plg.members.len()).unwrap_or(u32::MAX),
        coach_id: plg
            .coach
            .map(|coach| coach.person_id.to_string())
            .unwrap_or_default(),
        coach_kind: plg
            .coach
            .map(|coach| coach.kind.as_str().to_owned())
            .unwrap_or_default(),
        sessions: plg.sessions,
        dissolved: plg.dissolved,
    })
}
