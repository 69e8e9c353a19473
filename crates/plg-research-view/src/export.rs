//! A study's data as CSV for R, SPSS and pandas; docs/codebook.md describes every column.

use std::sync::LazyLock;

use opentelemetry::{KeyValue, metrics::Counter};
use plg_domain::scan::RespondentRole;
use rusqlite::Transaction;

use crate::{
    ResearchError,
    context::StudyContext,
    scores::{Scored, Shown, WaveScore, load_answers, load_scored, school_waves, wave_scores},
    suppression::{Disclosure, Measure},
};

/// Rows per flush of the writer: bounds memory while streaming a large export.
const ROWS_PER_CHUNK: usize = 256;

/// Rows exported, made on first use from the global provider as telemetry left it.
static EXPORTED_ROWS: LazyLock<Counter<u64>> = LazyLock::new(|| {
    opentelemetry::global::meter("plg-research-view")
        .u64_counter("plg.export.rows")
        .with_unit("{row}")
        .with_description("Rows of study exports handed to their readers, headers not counted")
        .build()
});

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

fn flag(suppressed: bool) -> String {
    u8::from(suppressed).to_string()
}

/// Writes the export, handing out chunks of CSV as they fill.
pub fn export(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    format: Format,
    mut emit: impl FnMut(Vec<u8>) -> Result<(), ResearchError>,
) -> Result<(), ResearchError> {
    let scored = load_scored(transaction, context, None, None)?;
    let format_name = KeyValue::new(
        "format",
        match format {
            Format::Long => "long",
            Format::Items => "items",
        },
    );
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut rows = 0;
    // Rows in the writer that are not the header.
    let mut unsent = 0;
    let sent = |rows: u64| EXPORTED_ROWS.add(rows, std::slice::from_ref(&format_name));
    let mut write = |record: &[String]| -> Result<(), ResearchError> {
        writer
            .write_record(record)
            .map_err(|error| ResearchError::Export(error.to_string()))?;
        unsent += u64::from(rows > 0);
        rows += 1;
        if rows % ROWS_PER_CHUNK == 0 {
            let full = std::mem::replace(&mut writer, csv::Writer::from_writer(Vec::new()));
            emit(
                full.into_inner()
                    .map_err(|error| ResearchError::Export(error.to_string()))?,
            )?;
            sent(std::mem::take(&mut unsent));
        }
        Ok(())
    };
    match format {
        Format::Long => long(context, &wave_scores(context, &scored), &mut write)?,
        Format::Items => items(transaction, context, &scored, &mut write)?,
    }
    let rest = writer
        .into_inner()
        .map_err(|error| ResearchError::Export(error.to_string()))?;
    if !rest.is_empty() {
        emit(rest)?;
        sent(unsent);
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
            "current_suppressed",
            "desired_suppressed",
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
            score.role.map_or("all", |role| role.as_str()).to_owned(),
            score.dimension.code().to_owned(),
            score.dimension.as_str().to_owned(),
            score.dimension.kind().as_str().to_owned(),
            n,
            current_mean,
            current_sd,
            n_desired,
            desired_mean,
            desired_sd,
            number(score.gap()),
            flag(score.current.suppressed),
            flag(score.desired.suppressed),
        ])?;
    }
    Ok(())
}

/// Respondent × item, as each school-wave's [`Disclosure`] allows. Respondents are numbered
/// anew in every school-wave (`R0001`, … over the whole export), so nobody can be followed
/// from a wave where their role is hidden into one where it is shown. A school-wave's answers
/// are read only when it is written, so the export holds one school-wave's answers at a time.
fn items(
    transaction: &Transaction<'_>,
    context: &StudyContext,
    scored: &[Scored],
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
            "current_suppressed",
            "desired_suppressed",
        ]
        .map(String::from),
    )?;
    let min = context.min_group_size as usize;
    let mut numbered = 0;
    for ((school, wave), group) in school_waves(scored) {
        let disclosure = Disclosure::decide(&group, min, context.is_released(school, wave));
        let wave = &context.waves[wave];
        let (label, ordinal) = (
            context.label(&context.schools[school]),
            wave.ordinal.to_string(),
        );
        if disclosure.group_hidden() {
            // Marked, never silently dropped: the school answered, but too few to show.
            let mut row = vec![label, wave.label.clone(), ordinal];
            row.extend(std::iter::repeat_n(String::new(), 7));
            row.extend([flag(true), flag(true)]);
            write(&row)?;
            continue;
        }
        let mut group = load_answers(
            transaction,
            &context.study_id,
            &context.schools[school].school_id,
            &wave.label,
        )?;
        // By submission id, drawn at random by the server: the list follows neither the scan
        // tool's pseudonyms (which may encode roles) nor the order of submission, is the same
        // on every export, and cannot be rebuilt by anyone who does not hold the answers.
        group.sort_by(|a, b| a.submission_id.cmp(&b.submission_id));
        for response in group {
            numbered += 1;
            let respondent = format!("R{numbered:04}");
            let role_hidden = RespondentRole::ALL
                .iter()
                .position(|role| *role == response.role)
                .is_none_or(|index| disclosure.role_hidden(index));
            let role = if role_hidden {
                ""
            } else {
                response.role.as_str()
            };
            for (dimension, answers) in &response.dimensions {
                let hidden = |measure| disclosure.cell_hidden(*dimension, measure);
                let answer = |value, measure| {
                    if hidden(measure) {
                        String::new()
                    } else {
                        score(value)
                    }
                };
                for item in answers {
                    write(&[
                        label.clone(),
                        wave.label.clone(),
                        ordinal.clone(),
                        respondent.clone(),
                        role.to_owned(),
                        item.item_code.clone(),
                        dimension.code().to_owned(),
                        dimension.as_str().to_owned(),
                        answer(item.current, Measure::Current),
                        answer(item.desired, Measure::Desired),
                        flag(hidden(Measure::Current)),
                        flag(hidden(Measure::Desired)),
                    ])?;
                }
            }
        }
    }
    Ok(())
}
