//! Random draws.

use chrono::{Duration, NaiveDate};
use rand::{RngExt as _, rngs::StdRng};

/// A standard normal draw (Box–Muller).
pub(crate) fn normal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A date from `from` to `to`, inclusive.
pub(crate) fn random_date(rng: &mut StdRng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0);
    from + Duration::days(rng.random_range(0..=span))
}

/// `n` days.
pub(crate) fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// An index drawn with the given weights.
pub(crate) fn weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut pick = rng.random_range(0..total);
    for (index, weight) in weights.iter().enumerate() {
        if pick < *weight {
            return index;
        }
        pick -= weight;
    }
    weights.len() - 1
}

/// An index drawn with the given probabilities.
pub(crate) fn weighted_f64(rng: &mut StdRng, probabilities: &[f64]) -> usize {
    let mut pick = rng.random::<f64>();
    for (index, probability) in probabilities.iter().enumerate() {
        if pick < *probability {
            return index;
        }
        pick -= probability;
    }
    probabilities.len() - 1
}

/// `value` within `(low, high)`.
pub(crate) fn clamp(value: f64, (low, high): (f64, f64)) -> f64 {
    value.clamp(low, high)
}
