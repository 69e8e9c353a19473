//! Turning request fields into domain values, collecting every field violation at once so the
//! caller sees all that is wrong in one reply.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::NaiveDate;
use plg_domain::{
    ValueError,
    values::{PastDate, parse_date},
};
use plg_ledger::{FieldViolation, ServiceError};

// Enumerations and moments convert in `values`; request parsing reaches them through here.
pub use crate::values::*;

use crate::limits;

#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Keeps a parsed value, or records why it failed.
    pub fn check<T>(
        &mut self,
        field: impl Into<String>,
        parsed: Result<T, ValueError>,
    ) -> Option<T> {
        parsed.map_err(|error| self.add(field, error.0)).ok()
    }

    /// [`check`](Self::check) of `part` of the list element `element`, named only if it
    /// fails: a scan's answers check several parts each, and naming them all cost more than
    /// the checks.
    pub fn check_part<T>(
        &mut self,
        element: &str,
        part: &str,
        parsed: Result<T, ValueError>,
    ) -> Option<T> {
        parsed
            .map_err(|error| self.add(format!("{element}.{part}"), error.0))
            .ok()
    }

    /// [`required`](Self::required) of `part` of the list element `element`, named only if
    /// it fails.
    pub fn required_part<T>(
        &mut self,
        element: &str,
        part: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        if value.trim().is_empty() {
            self.add(format!("{element}.{part}"), "is required");
            return None;
        }
        self.check_part(element, part, parse(value))
    }

    /// A field that must be present: empty is a violation.
    pub fn required<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        if value.trim().is_empty() {
            self.add(field, "is required");
            return None;
        }
        self.check(field, parse(value))
    }

    /// A field that may be empty: `Some(None)` when it is, `None` when it fails to parse.
    pub fn optional<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<Option<T>> {
        if value.trim().is_empty() {
            return Some(None);
        }
        self.check(field, parse(value)).map(Some)
    }

    /// Parses every element of a repeated field, naming each by its index. A list longer than
    /// its limit is one violation, found before any element is parsed.
    pub fn each<S, T>(
        &mut self,
        field: &str,
        values: &[S],
        mut parse: impl FnMut(&mut Self, &str, &S) -> Option<T>,
    ) -> Option<Vec<T>> {
        if !self.within_limit(field, values.len()) {
            return None;
        }
        // One name, rewritten for each element, rather than one allocated for each.
        let mut element = String::new();
        let parsed: Vec<Option<T>> = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                element.clear();
                // Writing to a String cannot fail.
                let _ = write!(element, "{field}[{index}]");
                parse(self, &element, value)
            })
            .collect();
        parsed.into_iter().collect()
    }

    /// Whether a repeated field of `count` elements stays within its limit; a violation if not.
    pub fn within_limit(&mut self, field: &str, count: usize) -> bool {
        let max = limits::max_items(field);
        let within = count <= max;
        if !within {
            self.add(
                field,
                format!("must hold at most {max} elements, not {count}"),
            );
        }
        within
    }

    /// A repeated string field whose every element is required.
    pub fn each_required<T>(
        &mut self,
        field: &str,
        values: &[String],
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Option<Vec<T>> {
        self.each(field, values, |violations, field, value| {
            violations.required(field, value, &parse)
        })
    }

    /// A repeated enum field read as a set: a repeated value is a violation, not silently merged.
    pub fn each_distinct<T: Ord>(
        &mut self,
        field: &str,
        values: &[i32],
        convert: impl Fn(i32) -> Result<T, ValueError>,
    ) -> Option<BTreeSet<T>> {
        let mut seen = BTreeSet::new();
        let parsed = self.each(field, values, |violations, field, value| {
            let value = violations.check(field, convert(*value))?;
            if !seen.insert(value) {
                violations.add(field, "appears more than once");
                return None;
            }
            Some(())
        });
        parsed.map(|_| seen)
    }

    /// Remembers `value` in `seen`; one seen before is a violation on the whole `list`.
    pub fn first_time<T: Ord + Clone>(
        &mut self,
        seen: &mut BTreeSet<T>,
        list: &str,
        value: &T,
        repeated: impl FnOnce() -> String,
    ) -> bool {
        let first = seen.insert(value.clone());
        if !first {
            self.add(list, repeated());
        }
        first
    }

    /// A parsed list whose elements must differ: a repeat is a violation on the whole list.
    pub fn distinct<T: Ord>(
        &mut self,
        field: &str,
        values: Option<Vec<T>>,
        repeated: &str,
    ) -> Option<Vec<T>> {
        let values = values?;
        if values.iter().collect::<BTreeSet<_>>().len() != values.len() {
            self.add(field, repeated);
            return None;
        }
        Some(values)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations as the error to return. Call it when a parsed value came back `None`,
    /// which always left a violation behind.
    pub fn into_error(self) -> ServiceError {
        ServiceError::InvalidArgument(self.0)
    }

    /// What `build` makes of the parsed fields when none was violated; else every violation.
    /// `build` sees each field as parsed (`None` where it failed).
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ServiceError> {
        match build() {
            Some(built) if self.is_empty() => Ok(built),
            _ => Err(self.into_error()),
        }
    }
}

/// A calendar date that may lie in the future (a planned start).
pub fn date(value: &str) -> Result<NaiveDate, ValueError> {
    parse_date(value)
}

/// A date on which something already happened, judged against `today`.
pub fn past_date(today: NaiveDate) -> impl FnOnce(&str) -> Result<PastDate, ValueError> {
    move |value| PastDate::parse(value, today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plg_domain::values::Label;
    use plg_proto::v1;

    #[test]
    fn every_violation_is_collected_with_its_field() {
        let mut violations = Violations::default();
        let name = violations.required("name", " ", Label::parse);
        let board = violations.optional("board", "", Label::parse);
        let dimension = violations.check("dimension", dimension(0));
        let dates = violations.each("dates", &["2016-01-01", "soon"], |v, field, value| {
            v.check(field, date(value))
        });
        assert!(name.is_none() && dimension.is_none() && dates.is_none());
        assert_eq!(board, Some(None));
        let ServiceError::InvalidArgument(found) = violations.into_error() else {
            panic!("expected violations")
        };
        let fields: Vec<_> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["name", "dimension", "dates[1]"]);
    }

    #[test]
    fn a_repeated_or_unspecified_enum_value_names_its_index() {
        let support = v1::Dimension::Support.into();
        let mut violations = Violations::default();
        let set = violations.each_distinct("targets", &[support, 0, support], dimension);
        assert!(set.is_none());
        let ServiceError::InvalidArgument(found) = violations.into_error() else {
            panic!("expected violations")
        };
        let fields: Vec<_> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["targets[1]", "targets[2]"]);

        let mut violations = Violations::default();
        let set = violations.each_distinct(
            "targets",
            &[support, v1::Dimension::HrPolicy.into()],
            dimension,
        );
        assert_eq!(set.map(|set| set.len()), Some(2));
        assert!(violations.is_empty());
    }

    #[test]
    fn a_list_over_its_limit_is_one_violation_before_any_element_is_parsed() {
        let mut violations = Violations::default();
        let parsed = violations.each("categories", &vec![0; 1_000_000], |_, _, _| -> Option<()> {
            panic!("no element is parsed")
        });
        assert!(parsed.is_none());
        let ServiceError::InvalidArgument(found) = violations.into_error() else {
            panic!("expected violations")
        };
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "categories");
        assert_eq!(
            found[0].description,
            "must hold at most 100 elements, not 1000000"
        );
    }

    #[test]
    fn every_element_of_a_required_list_must_be_present() {
        let mut violations = Violations::default();
        let values = ["one PLG per section".to_owned(), " ".to_owned()];
        assert!(
            violations
                .each_required("choices", &values, Label::parse)
                .is_none()
        );
        let ServiceError::InvalidArgument(found) = violations.into_error() else {
            panic!("expected violations")
        };
        assert_eq!(found[0].field, "choices[1]");
    }
}
