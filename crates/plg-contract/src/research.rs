//! The research view's answers as ResearchService replies: schools named as the study allows,
//! suppressed cells with their size only, and the log position each answer is current to.

use plg_proto::v1;
use plg_research_view::{
    Current, Impact, Relations, Reliability, Timeline,
    activity::PlgActivity,
    context::StudyContext,
    growth::{Growth, Relation},
    scores::{Shown, WaveScore},
    timeline::Entry,
};
use plg_stats::Summary;

use crate::values::{
    contribution_degree_to_proto, dimension_to_proto, intervention_category_to_proto,
    plg_phase_to_proto, respondent_role_to_proto, theme_phase_to_proto,
};

fn count(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn summary(cell: &Shown) -> v1::ScoreSummary {
    v1::ScoreSummary {
        n: count(cell.n),
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
        // UNSPECIFIED stands for "pooled over roles".
        role: score.role.map_or(
            v1::RespondentRole::Unspecified.into(),
            respondent_role_to_proto,
        ),
        dimension: dimension_to_proto(score.dimension),
        current: Some(summary(&score.current)),
        desired: Some(summary(&score.desired)),
        gap: score.gap(),
    }
}

pub fn wave_scores(current: &Current<Vec<WaveScore>>) -> v1::GetWaveScoresResponse {
    let context = &current.context;
    v1::GetWaveScoresResponse {
        scores: current
            .value
            .iter()
            .map(|score| wave_score_to_proto(context, score))
            .collect(),
        min_group_size: context.min_group_size,
        current_to_position: current.position,
    }
}

pub fn growth(current: &Current<Vec<Growth>>) -> v1::GetGrowthResponse {
    let context = &current.context;
    v1::GetGrowthResponse {
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
    }
}

/// r and its 95% interval, where there is one.
fn interval(relation: &Relation) -> (Option<f64>, Option<f64>, Option<f64>) {
    let correlation = relation.correlation.as_ref();
    let ci = correlation.and_then(|c| c.ci);
    (
        correlation.map(|c| c.r),
        ci.map(|(low, _)| low),
        ci.map(|(_, high)| high),
    )
}

pub fn relations(current: Current<Relations>) -> v1::GetRelationsResponse {
    let relations = current.value;
    v1::GetRelationsResponse {
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
    }
}

fn group(summary: Option<Summary>, schools: usize) -> v1::GroupGrowth {
    v1::GroupGrowth {
        schools: count(schools),
        mean: summary.map(|s| s.mean),
        sd: summary.and_then(|s| s.sd),
    }
}

pub fn intervention_impact(current: &Current<Impact>) -> v1::GetInterventionImpactResponse {
    v1::GetInterventionImpactResponse {
        impacts: current
            .value
            .impacts
            .iter()
            .map(|impact| {
                let comparison = impact.comparison.as_ref();
                v1::CategoryImpact {
                    category: intervention_category_to_proto(impact.category),
                    dimension: dimension_to_proto(impact.dimension),
                    with_category: Some(group(comparison.map(|c| c.treated), impact.with_schools)),
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
    }
}

pub fn reliability(current: &Current<Reliability>) -> v1::GetReliabilityResponse {
    let context = &current.context;
    v1::GetReliabilityResponse {
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
    }
}

pub fn plg_activity(current: &Current<Vec<PlgActivity>>) -> v1::GetPlgActivityResponse {
    v1::GetPlgActivityResponse {
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
    }
}

pub fn school_timeline(current: Current<Timeline>) -> v1::GetSchoolTimelineResponse {
    v1::GetSchoolTimelineResponse {
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
    }
}

pub fn spider_chart(current: Current<String>) -> v1::RenderSpiderChartResponse {
    v1::RenderSpiderChartResponse {
        svg: current.value,
        current_to_position: current.position,
    }
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
