//! Research statistics for the PLG Ledger, pure: functions over `f64` with no I/O and no
//! dependencies beyond `std`.
//!
//! They serve the research view over the "Scan School als PLG": answers on a five-point scale,
//! respondents nested in schools, three waves. Every formula is documented where it is
//! implemented, with its source.
//!
//! - [`Summary`]: n, mean and sample standard deviation; [`mean_of_answered`] for a respondent's
//!   score on a dimension.
//! - [`cohens_d`] and [`difference_of_means`]: standardised mean differences (Cohen 1988).
//! - [`pearson`]: the Pearson correlation with a Fisher-z 95% confidence interval (Fisher 1921).
//! - [`icc()`]: ICC(1) and ICC(2) for respondents nested in groups (Shrout & Fleiss 1979;
//!   Bliese 2000).
//! - [`rwg_j`]: within-group agreement on a multi-item scale (James, Demaree & Wolf 1984;
//!   LeBreton & Senter 2008).
//!
//! A statistic that is undefined for its input (too few observations, no variance, a division
//! by zero) is `None`; nothing here panics. Inputs are expected to be finite: a NaN or infinite
//! value is not detected and makes the result meaningless (typically NaN).

pub mod agreement;
pub mod correlation;
pub mod effect;
pub mod icc;
pub mod summary;

pub use agreement::{rwg_j, uniform_null_variance};
pub use correlation::{Correlation, Z_975, pearson};
pub use effect::{Comparison, cohens_d, difference_of_means, pooled_sd};
pub use icc::{Icc, icc};
pub use summary::{Summary, mean_of_answered};

#[cfg(test)]
pub(crate) mod testutil {
    /// Asserts that `actual` is within `tolerance` of `expected`, with a readable message.
    #[track_caller]
    pub(crate) fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "expected {expected}, got {actual} (difference {}, tolerance {tolerance})",
            (actual - expected).abs()
        );
    }
}
