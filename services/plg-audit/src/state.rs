//! A school as the ledger knew it at a moment: everything recorded about it up to then, folded
//! into its registry record, interventions, PLGs and scan scores.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use plg_domain::{
    Aggregate,
    consent::ConsentEvent,
    dimension::Dimension,
    intervention::{ContributionDegree, InterventionCategory, InterventionEvent},
    plg::{Plg, PlgEvent},
    scan::ScanEvent,
    school::SchoolEvent,
    study::{StudyEvent, Wave},
};
use plg_eventstore::RecordedEvent;
use plg_projections::{LogEvent, Payload};
use plg_proto::v1;
use plg_research_view::{
    context::{SchoolRef, StudyContext, WaveInfo},
    scores::{ItemAnswer, Response, wave_scores},
};
use plg_runtime::{
    ServiceError,
    parse::{
        contribution_degree_to_proto, dimension_to_proto, intervention_category_to_proto,
        plg_phase_to_proto, timestamp_to_proto,
    },
};

fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

#[derive(Debug, Default)]
struct InterventionFold {
    title: String,
    categories: BTreeSet<InterventionCategory>,
    status: &'static str,
    contributions: BTreeMap<Dimension, (bool, ContributionDegree)>,
}

#[derive(Debug, Default)]
struct PlgFold {
    name: String,
    state: Plg,
    sessions: u32,
}

/// A study's definition as far as scores need it.
#[derive(Debug)]
struct StudyFold {
    min_group_size: u32,
    waves: Vec<WaveInfo>,
}

/// Folds the school's events recorded by the moment (`events` is its whole history, in log
/// order) and the definitions of the studies it was enrolled in (each study's events up to the
/// moment). A respondent who withdrew consent never counts, whenever the withdrawal came: their
/// scans may not be processed again, not even to show a past state.
pub fn state_at(
    school_id: &str,
    at: DateTime<Utc>,
    events: &[RecordedEvent],
    studies: &BTreeMap<String, Vec<RecordedEvent>>,
) -> Result<v1::GetSchoolStateAtResponse, ServiceError> {
    let decode = |recorded: &RecordedEvent| {
        LogEvent::decode(recorded).map_err(|error| ServiceError::Internal(error.to_string()))
    };
    let mut school = None;
    let mut interventions: BTreeMap<String, InterventionFold> = BTreeMap::new();
    let mut plgs: BTreeMap<String, PlgFold> = BTreeMap::new();
    // Per study, per response: the submission that counts (none after a retraction).
    let mut scans: BTreeMap<String, BTreeMap<String, Option<ScanEvent>>> = BTreeMap::new();
    let mut enrolled = BTreeSet::new();
    let mut withdrawn = BTreeSet::new();
    for recorded in events {
        let event = decode(recorded)?;
        if let Payload::Consent(ConsentEvent::ConsentWithdrawn {
            study_id,
            respondent,
            ..
        }) = &event.payload
        {
            withdrawn.insert((study_id.to_string(), respondent.to_string()));
        }
        if recorded.recorded_at > at {
            continue;
        }
        match event.payload {
            Payload::School(SchoolEvent::SchoolRegistered {
                school_id,
                name: school_name,
                country,
                sector,
                school_code,
                board,
            }) => {
                school = Some(v1::SchoolRecord {
                    school_id: school_id.to_string(),
                    name: school_name.to_string(),
                    country: name(&country),
                    sector: name(&sector),
                    school_code: school_code.to_string(),
                    board: board.map(String::from).unwrap_or_default(),
                });
            }
            Payload::Study(StudyEvent::SchoolEnrolled { .. }) => {
                enrolled.insert(event.entity_id.clone());
            }
            Payload::Intervention(change) => {
                let fold = interventions.entry(event.entity_id.clone()).or_default();
                match change {
                    InterventionEvent::InterventionLogged {
                        title, categories, ..
                    } => {
                        fold.title = title.to_string();
                        fold.categories = categories;
                        fold.status = "planned";
                    }
                    InterventionEvent::InterventionStarted { .. } => fold.status = "started",
                    InterventionEvent::InterventionCompleted { .. } => fold.status = "completed",
                    InterventionEvent::InterventionAbandoned { .. } => fold.status = "abandoned",
                    InterventionEvent::ContributionAssessed {
                        dimension,
                        intended,
                        realised,
                        ..
                    } => {
                        fold.contributions.insert(dimension, (intended, realised));
                    }
                }
            }
            Payload::Plg(change) => {
                let fold = plgs.entry(event.entity_id.clone()).or_default();
                match &change {
                    PlgEvent::PlgFormed { name: plg_name, .. } => fold.name = plg_name.to_string(),
                    PlgEvent::SessionHeld(_) => fold.sessions += 1,
                    _ => {}
                }
                fold.state.evolve(&change);
            }
            Payload::Scan(change) => {
                let study_id = match &change {
                    ScanEvent::ScanSubmitted { study_id, .. } => study_id.to_string(),
                    ScanEvent::ScanRetracted { .. } => scans
                        .iter()
                        .find(|(_, responses)| responses.contains_key(&event.entity_id))
                        .map(|(study_id, _)| study_id.clone())
                        .unwrap_or_default(),
                };
                let counted = match change {
                    submitted @ ScanEvent::ScanSubmitted { .. } => Some(submitted),
                    ScanEvent::ScanRetracted { .. } => None,
                };
                scans
                    .entry(study_id)
                    .or_default()
                    .insert(event.entity_id.clone(), counted);
            }
            _ => {}
        }
    }
    let school =
        school.ok_or_else(|| ServiceError::not_found("school at that moment", school_id))?;
    let mut study_states = Vec::new();
    for study_id in &enrolled {
        let Some(study) = study_fold(
            studies.get(study_id).map(Vec::as_slice).unwrap_or_default(),
            &decode,
        )?
        else {
            continue;
        };
        let school_ref = SchoolRef {
            school_id: school.school_id.clone(),
            pseudonym: String::new(),
            name: school.name.clone(),
        };
        let context = StudyContext {
            study_id: study_id.clone(),
            min_group_size: study.min_group_size,
            // Administrators audit a school they may see by name.
            identify_schools: true,
            waves: study.waves,
            schools: vec![school_ref],
            // Administrators audit the school's own history, released or not.
            withheld: BTreeSet::new(),
        };
        let responses: Vec<Response> = scans
            .get(study_id)
            .into_iter()
            .flat_map(BTreeMap::values)
            .flatten()
            .filter_map(response)
            .filter(|response| {
                !withdrawn.contains(&(study_id.clone(), response.respondent.clone()))
            })
            .collect();
        let scores = wave_scores(&context, &responses);
        study_states.push(v1::StudyState {
            study_id: study_id.clone(),
            scores: scores
                .iter()
                .map(|score| plg_research::wave_score_to_proto(&context, score))
                .collect(),
        });
    }
    Ok(v1::GetSchoolStateAtResponse {
        at: Some(timestamp_to_proto(at)),
        as_of_position: events
            .iter()
            .rfind(|event| event.recorded_at <= at)
            .map_or(0, |event| event.position.0),
        school: Some(school),
        interventions: interventions
            .into_iter()
            .filter(|(_, fold)| !fold.status.is_empty())
            .map(|(intervention_id, fold)| v1::InterventionState {
                intervention_id,
                title: fold.title,
                categories: fold
                    .categories
                    .into_iter()
                    .map(intervention_category_to_proto)
                    .collect(),
                status: fold.status.to_owned(),
                contributions: fold
                    .contributions
                    .into_iter()
                    .map(|(dimension, (intended, realised))| v1::Contribution {
                        dimension: dimension_to_proto(dimension),
                        intended,
                        realised: contribution_degree_to_proto(realised),
                    })
                    .collect(),
            })
            .collect(),
        plgs: plgs
            .into_iter()
            .filter(|(_, fold)| fold.state.plg_id.is_some())
            .map(|(plg_id, fold)| v1::PlgState {
                plg_id,
                name: fold.name,
                phase: fold.state.phase.map_or(0, plg_phase_to_proto),
                members: u32::try_from(fold.state.members.len()).unwrap_or(u32::MAX),
                coach_id: fold
                    .state
                    .coach
                    .map(|coach| coach.person_id.to_string())
                    .unwrap_or_default(),
                coach_kind: fold
                    .state
                    .coach
                    .map(|coach| name(&coach.kind))
                    .unwrap_or_default(),
                sessions: fold.sessions,
                dissolved: fold.state.dissolved,
            })
            .collect(),
        studies: study_states,
    })
}

fn study_fold(
    events: &[RecordedEvent],
    decode: &impl Fn(&RecordedEvent) -> Result<LogEvent, ServiceError>,
) -> Result<Option<StudyFold>, ServiceError> {
    for recorded in events {
        if let Payload::Study(StudyEvent::StudyDefined {
            waves,
            confidentiality,
            ..
        }) = decode(recorded)?.payload
        {
            let waves = Wave::in_order(&waves)
                .into_iter()
                .enumerate()
                .map(|(index, wave)| WaveInfo {
                    label: wave.label.to_string(),
                    ordinal: u32::try_from(index + 1).unwrap_or(u32::MAX),
                    opens_on: wave.opens_on.to_string(),
                    closes_on: wave.closes_on.to_string(),
                })
                .collect();
            return Ok(Some(StudyFold {
                min_group_size: confidentiality.min_group_size.value(),
                waves,
            }));
        }
    }
    Ok(None)
}

/// The counted submission as the research view's scoring reads it.
fn response(submitted: &ScanEvent) -> Option<Response> {
    let ScanEvent::ScanSubmitted {
        submission_id,
        school_id,
        wave,
        respondent,
        role,
        answers,
        ..
    } = submitted
    else {
        return None;
    };
    let mut dimensions: BTreeMap<Dimension, Vec<ItemAnswer>> = BTreeMap::new();
    for answer in answers {
        dimensions
            .entry(answer.dimension)
            .or_default()
            .push(ItemAnswer {
                item_code: answer.item_code.to_string(),
                current: answer.current.map(|score| f64::from(score.value())),
                desired: answer.desired.map(|score| f64::from(score.value())),
            });
    }
    Some(Response {
        submission_id: submission_id.to_string(),
        school_id: school_id.to_string(),
        wave: wave.to_string(),
        respondent: respondent.to_string(),
        role: *role,
        dimensions,
    })
}
