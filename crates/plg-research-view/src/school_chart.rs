//! How a school gets its scan results back: its pooled scores per dimension, a series per wave.

use plg_domain::dimension::Dimension;

use crate::{
    chart::{Axis, Line, Series, SpiderChart},
    scores::{Shown, WaveScore},
};

/// The school's chart from its scores (already suppressed): a solid series of the current
/// situation per wave, in the order given, and a dashed one of the desired if asked for.
pub fn school_chart(
    school: &str,
    scores: &[WaveScore],
    waves: &[&str],
    include_desired: bool,
) -> SpiderChart {
    let axes = Dimension::ALL
        .iter()
        .map(|dimension| Axis::new(format!("{} {}", dimension.code(), dimension.title())))
        .collect();
    let mut chart = SpiderChart::new(format!("Scan School als PLG: {school}"), axes);
    for wave in waves {
        let pooled = |pick: fn(&WaveScore) -> Shown| -> Vec<Option<f64>> {
            Dimension::ALL
                .iter()
                .map(|dimension| {
                    scores
                        .iter()
                        .find(|score| {
                            score.role.is_none()
                                && score.wave == *wave
                                && score.dimension == *dimension
                        })
                        .and_then(|score| pick(score).mean)
                })
                .collect()
        };
        chart = chart.with_series(Series::new(
            format!("{wave} current"),
            pooled(|score| score.current),
            Line::Solid,
        ));
        if include_desired {
            chart = chart.with_series(Series::new(
                format!("{wave} desired"),
                pooled(|score| score.desired),
                Line::Dashed,
            ));
        }
    }
    chart
}
