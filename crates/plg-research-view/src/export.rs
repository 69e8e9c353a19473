//! A study's data as CSV for R, SPSS and pandas; docs/codebook.md describes every column.

use std::collections::BTreeMap;

use plg_domain::dimension::{Dimension, DimensionKind};
use rusqlite::Transaction;

use crate::{
    ResearchError,
    context::StudyContext,
    scores::{ROLES, Response, Shown, WaveScore, load_responses, wave_scores},
    suppression::suppress,
};

/// Rows per flush of the writer: bounds memory while streaming a large export.
const ROWS_PER_CHUNK: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// school × wave × role × dimension, and pooled over roles.
    Long,
    /// respondent × item.
    Items,
}

fn number(value: Option<f64>) -> String {
    value.map(|value| format!("{value:.4}")).unwrap_or_default()
}

/// An answer on the 1..5 scale, blank for no answer.
fn score(value: Option<f64>) -> String {
    value.map(|value| format!("{value:.0}")).unwrap_or_default()
}

fn kind(dimension: Dimension) -> &'static str {
    match dimension.kind() {
        DimensionKind::Element => "element",
        DimensionKind::Condition => "condition",
    }
}

fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Writes the export, handing out chunks of CSV as they fill.
pub fn export(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    format: Format,
    mut emit: impl FnMut(Vec<u8>) -> Result<(), ResearchError>,
) -> Result<(), ResearchError> {
    let responses = load_responses(transaction, &context.study_id, None, None)?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut rows = 0;
    let mut write = |record: &[String]| -> Result<(), ResearchError> {
        writer
            .write_record(record)
            .map_err(|error| ResearchError::Export(error.to_string()))?;
        rows += 1;
        if rows % ROWS_PER_CHUNK == 0 {
            let full = std::mem::replace(&mut writer, csv::Writer::from_writer(Vec::new()));
            emit(
                full.into_inner()
                    .map_err(|error| ResearchError::Export(error.to_string()))?,
            )?;
        }
        Ok(())
    };
    match format {
        Format::Long => long(context, &wave_scores(context, &responses), &mut write)?,
        Format::Items => items(
            context,
            &responses,
            respondent_numbers(transaction, context)?,
            &mut write,
        )?,
    }
    let rest = writer
        .into_inner()
        .map_err(|error| ResearchError::Export(error.to_string()))?;
    if !rest.is_empty() {
        emit(rest)?;
    }
    Ok(())
}

fn long(
    context: &StudyContext,
    scores: &[WaveScore],
    write: &mut impl FnMut(&[String]) -> Result<(), ResearchError>,
) -> Result<(), ResearchError> {
    write(
        &[
            "school",
            "wave",
            "wave_ordinal",
            "role",
            "dimension_code",
            "dimension",
            "dimension_kind",
            "n",
            "current_mean",
            "current_sd",
            "n_desired",
            "desired_mean",
            "desired_sd",
            "gap",
            "suppressed",
        ]
        .map(String::from),
    )?;
    let ordinal = |label: &str| {
        context
            .waves
            .iter()
            .find(|wave| wave.label == label)
            .map_or(0, |wave| wave.ordinal)
    };
    for score in scores {
        let shown = |cell: &Shown| (cell.n.to_string(), number(cell.mean), number(cell.sd));
        let (n, current_mean, current_sd) = shown(&score.current);
        let (n_desired, desired_mean, desired_sd) = shown(&score.desired);
        write(&[
            context.label(&score.school),
            score.wave.clone(),
            ordinal(&score.wave).to_string(),
            score.role.as_ref().map_or_else(|| "all".to_owned(), name),
            score.dimension.code().to_owned(),
            name(&score.dimension),
            kind(score.dimension).to_owned(),
            n,
            current_mean,
            current_sd,
            n_desired,
            desired_mean,
            desired_sd,
            number(score.gap()),
            u8::from(score.current.suppressed || score.desired.suppressed).to_string(),
        ])?;
    }
    Ok(())
}

/// Export-local respondent numbers (`R0001`, …) in order of first submission, so the scan
/// tool's pseudonyms never leave the system.
fn respondent_numbers(
    transaction: &Transaction<'_>,
    context: &StudyContext,
) -> Result<BTreeMap<(String, String), String>, ResearchError> {
    let mut statement = transaction.prepare(
        "SELECT school_id, respondent FROM scan_submissions WHERE study_id = ?1
         GROUP BY school_id, respondent ORDER BY MIN(position)",
    )?;
    let numbered = statement
        .query_map([&context.study_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .enumerate()
        .map(|(index, key)| Ok((key?, format!("R{:04}", index + 1))))
        .collect::<Result<_, rusqlite::Error>>()?;
    Ok(numbered)
}

fn items(
    context: &StudyContext,
    responses: &[Response],
    numbers: BTreeMap<(String, String), String>,
    write: &mut impl FnMut(&[String]) -> Result<(), ResearchError>,
) -> Result<(), ResearchError> {
    write(
        &[
            "school",
            "wave",
            "wave_ordinal",
            "respondent",
            "role",
            "item_code",
            "dimension_code",
            "dimension",
            "current",
            "desired",
            "suppressed",
        ]
        .map(String::from),
    )?;
    let min = context.min_group_size as usize;
    for school in &context.schools {
        for wave in &context.waves {
            let group: Vec<&Response> = responses
                .iter()
                .filter(|response| {
                    response.school_id == school.school_id && response.wave == wave.label
                })
                .collect();
            if group.is_empty() {
                continue;
            }
            let sizes: Vec<usize> = ROLES
                .iter()
                .map(|role| group.iter().filter(|r| r.role == *role).count())
                .collect();
            let (hidden_roles, group_hidden) = suppress(&sizes, group.len(), min);
            let (label, ordinal) = (context.label(school), wave.ordinal.to_string());
            if group_hidden {
                // Marked, never silently dropped: the school answered, but too few to show.
                write(&[
                    label,
                    wave.label.clone(),
                    ordinal,
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    "1".to_owned(),
                ])?;
                continue;
            }
            for response in group {
                let respondent = numbers
                    .get(&(response.school_id.clone(), response.respondent.clone()))
                    .cloned()
                    .unwrap_or_default();
                let role_hidden = ROLES
                    .iter()
                    .position(|role| *role == response.role)
                    .is_some_and(|index| hidden_roles[index]);
                let role = if role_hidden {
                    String::new()
                } else {
                    name(&response.role)
                };
                for (dimension, answers) in &response.dimensions {
                    for answer in answers {
                        write(&[
                            label.clone(),
                            wave.label.clone(),
                            ordinal.clone(),
                            respondent.clone(),
                            role.clone(),
                            answer.item_code.clone(),
                            dimension.code().to_owned(),
                            name(dimension),
                            score(answer.current),
                            score(answer.desired),
                            "0".to_owned(),
                        ])?;
                    }
                }
            }
        }
    }
    Ok(())
}
