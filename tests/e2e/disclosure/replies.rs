//! Everything a researcher key can get for the study, and the checks that the cells it shows
//! are exact and the long export is nothing more than they are.

use std::collections::{BTreeMap, BTreeSet};

use crate::kit::Authed;
use plg_proto::v1::{self, research_service_client::ResearchServiceClient};

use super::study::{
    CODES, MEASURES, MIN, Measure, ROLES, SCHOOLS, Truth, WAVES, code_of, label, role_of,
};

/// Everything a researcher key can get for the study.
pub struct Replies {
    pub scores: Vec<v1::WaveScore>,
    pub growth: Vec<v1::Growth>,
    pub relations: Vec<v1::GetRelationsResponse>,
    pub impact: Vec<(usize, usize, v1::GetInterventionImpactResponse)>,
    pub reliability: Vec<v1::GetReliabilityResponse>,
    pub timelines: Vec<v1::GetSchoolTimelineResponse>,
    pub long: String,
    pub items: String,
}

pub async fn export(
    research: &mut ResearchServiceClient<Authed>,
    study_id: &str,
    format: v1::ExportFormat,
) -> Result<String, tonic::Status> {
    let mut stream = research
        .export_study(v1::ExportStudyRequest {
            study_id: study_id.into(),
            format: format.into(),
        })
        .await?
        .into_inner();
    let mut csv = Vec::new();
    while let Some(message) = stream.message().await? {
        csv.extend(message.chunk);
    }
    Ok(String::from_utf8(csv).expect("utf-8"))
}

pub async fn collect(
    research: &mut ResearchServiceClient<Authed>,
    study_id: &str,
) -> anyhow::Result<Replies> {
    let study = || study_id.to_owned();
    let scores = research
        .get_wave_scores(v1::GetWaveScoresRequest {
            study_id: study(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .scores;
    // Narrower queries must answer exactly what the study-wide one does, or they could be
    // differenced against it.
    for school in 0..SCHOOLS.len() {
        for (wave, ..) in WAVES {
            let narrow = research
                .get_wave_scores(v1::GetWaveScoresRequest {
                    study_id: study(),
                    school: label(school),
                    wave: wave.into(),
                })
                .await?
                .into_inner()
                .scores;
            let wide: Vec<&v1::WaveScore> = scores
                .iter()
                .filter(|s| s.school == label(school) && s.wave == wave)
                .collect();
            assert_eq!(narrow.iter().collect::<Vec<_>>(), wide);
        }
    }
    let growth = research
        .get_growth(v1::GetGrowthRequest {
            study_id: study(),
            school: String::new(),
        })
        .await?
        .into_inner()
        .growth;
    let (mut relations, mut impact, mut reliability, mut timelines) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (from, (wave, ..)) in WAVES.iter().enumerate() {
        let request = v1::GetRelationsRequest {
            study_id: study(),
            wave: (*wave).into(),
        };
        relations.push(research.get_relations(request).await?.into_inner());
        let request = v1::GetReliabilityRequest {
            study_id: study(),
            wave: (*wave).into(),
        };
        reliability.push(research.get_reliability(request).await?.into_inner());
        for (to, (later, ..)) in WAVES.iter().enumerate().skip(from + 1) {
            let request = v1::GetInterventionImpactRequest {
                study_id: study(),
                from_wave: (*wave).into(),
                to_wave: (*later).into(),
            };
            let reply = research
                .get_intervention_impact(request)
                .await?
                .into_inner();
            impact.push((from, to, reply));
        }
    }
    for school in 0..SCHOOLS.len() {
        let request = v1::GetSchoolTimelineRequest {
            study_id: study(),
            school: label(school),
        };
        timelines.push(research.get_school_timeline(request).await?.into_inner());
    }
    Ok(Replies {
        scores,
        growth,
        relations,
        impact,
        reliability,
        timelines,
        long: export(research, study_id, v1::ExportFormat::Long).await?,
        items: export(research, study_id, v1::ExportFormat::Items).await?,
    })
}

pub type CellKey = (String, String, Option<usize>, &'static str);

pub fn cells(replies: &Replies) -> BTreeMap<CellKey, &v1::WaveScore> {
    replies
        .scores
        .iter()
        .map(|score| {
            let key = (
                score.school.clone(),
                score.wave.clone(),
                role_of(score.role),
                code_of(score.dimension),
            );
            (key, score)
        })
        .collect()
}

pub fn part(score: &v1::WaveScore, measure: Measure) -> &v1::ScoreSummary {
    let summary = match measure {
        Measure::Current => &score.current,
        Measure::Desired => &score.desired,
    };
    summary.as_ref().expect("a summary")
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

pub fn mean_sd(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.len() > 1)
        .then(|| (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, sd)
}

/// Every cell shown is exact; every cell of fewer respondents than the minimum is hidden; a
/// hidden role's row says nothing that differs by dimension.
pub fn check_cells(truths: &[Truth], replies: &Replies) {
    for ((school, wave, role, code), score) in cells(replies) {
        let members: Vec<&Truth> = truths
            .iter()
            .filter(|t| label(t.school) == school && WAVES[t.wave].0 == wave)
            .filter(|t| role.is_none_or(|role| t.role == role))
            .collect();
        for measure in MEASURES {
            let summary = part(score, measure);
            let values: Vec<f64> = members
                .iter()
                .filter_map(|t| t.score(code, measure))
                .collect();
            let school_wave = truths
                .iter()
                .filter(|t| label(t.school) == school && WAVES[t.wave].0 == wave)
                .count();
            if school_wave < MIN {
                // Too small to show: pooled rows with the school-wave's size, nothing per role.
                assert!(summary.suppressed && role.is_none(), "{score:?}");
                assert_eq!(summary.n as usize, school_wave, "{score:?}");
            }
            if summary.suppressed {
                assert!(summary.mean.is_none() && summary.sd.is_none(), "{score:?}");
                if role.is_some() && (summary.n as usize) != values.len() {
                    assert_eq!(summary.n as usize, members.len(), "a hidden role's size");
                }
                continue;
            }
            assert!(
                values.len() >= MIN,
                "a group below the minimum shown: {score:?}"
            );
            let (mean, sd) = mean_sd(&values);
            assert_eq!(summary.n as usize, values.len(), "{score:?}");
            assert!(summary.mean.is_some_and(|m| close(m, mean)), "{score:?}");
            assert_eq!(summary.sd.is_some(), sd.is_some(), "{score:?}");
            assert!(
                summary.sd.zip(sd).is_none_or(|(a, b)| close(a, b)),
                "{score:?}"
            );
        }
    }
    // A hidden role has the same row, with the same n, in every dimension the school-wave has.
    let cells = cells(replies);
    for ((school, wave, role, code), score) in &cells {
        let Some(role) = role else { continue };
        let pooled = &cells[&(school.clone(), wave.clone(), None, *code)];
        // A role is hidden where its cell is although the pooled cell is shown.
        if part(pooled, Measure::Current).suppressed || !part(score, Measure::Current).suppressed {
            continue;
        }
        let pooled_codes: BTreeSet<&str> = cells
            .keys()
            .filter(|(s, w, r, _)| s == school && w == wave && r.is_none())
            .map(|(.., code)| *code)
            .collect();
        for code in pooled_codes {
            let row = cells
                .get(&(school.clone(), wave.clone(), Some(*role), code))
                .unwrap_or_else(|| panic!("{school} {wave}: hidden role {role} has no {code} row"));
            for measure in MEASURES {
                assert_eq!(
                    part(row, measure).n,
                    part(score, Measure::Current).n,
                    "{school} {wave} {code}: a hidden role's n differs by dimension"
                );
            }
        }
    }
}

/// The long export says exactly what the views say, flagging each part on its own.
pub fn check_long_export(replies: &Replies) {
    let cells = cells(replies);
    let mut lines = replies.long.lines();
    let header = lines.next().expect("header");
    assert!(
        header.ends_with(",gap,current_suppressed,desired_suppressed"),
        "{header}"
    );
    let mut rows = 0;
    for line in lines {
        rows += 1;
        let fields: Vec<&str> = line.split(',').collect();
        let role = match fields[3] {
            "all" => None,
            name => Some(ROLES.iter().position(|(_, n)| *n == name).expect("a role")),
        };
        let key = (
            fields[0].to_owned(),
            fields[1].to_owned(),
            role,
            code_of_name(fields[4]),
        );
        let score = cells
            .get(&key)
            .unwrap_or_else(|| panic!("no view cell for {line}"));
        for (measure, n, mean, sd, flag) in [
            (Measure::Current, 7, 8, 9, 14),
            (Measure::Desired, 10, 11, 12, 15),
        ] {
            let summary = part(score, measure);
            assert_eq!(fields[n], summary.n.to_string(), "{line}");
            assert_eq!(
                fields[flag],
                if summary.suppressed { "1" } else { "0" },
                "{line}"
            );
            for (field, value) in [(fields[mean], summary.mean), (fields[sd], summary.sd)] {
                match value {
                    Some(value) => assert!(
                        field.parse::<f64>().is_ok_and(|f| (f - value).abs() < 1e-4),
                        "{line}"
                    ),
                    None => assert_eq!(field, "", "{line}"),
                }
            }
        }
    }
    assert_eq!(rows, cells.len());
}

pub fn code_of_name(code: &str) -> &'static str {
    CODES
        .iter()
        .find(|c| **c == code)
        .expect("a dimension code")
}
