//! Value types that parse: once constructed, a value is valid.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ValueError;

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident, $parse:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, ValueError> {
                let parse: fn(&str) -> Result<String, ValueError> = $parse;
                parse(value).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn bounded_text(value: &str, max_chars: usize, single_line: bool) -> Result<String, ValueError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValueError::new("must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(ValueError::new(format!(
            "must be at most {max_chars} characters"
        )));
    }
    if single_line && trimmed.chars().any(char::is_control) {
        return Err(ValueError::new(
            "must be a single line without control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

fn token(value: &str, max_chars: usize, extra: &[char]) -> Result<String, ValueError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValueError::new("must not be empty"));
    }
    if trimmed.len() > max_chars {
        return Err(ValueError::new(format!(
            "must be at most {max_chars} characters"
        )));
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
    {
        let allowed: String = extra.iter().map(|c| format!(" `{c}`")).collect();
        return Err(ValueError::new(format!(
            "may hold only letters, digits and{allowed}"
        )));
    }
    Ok(trimmed.to_owned())
}

string_value!(
    /// A short single-line text: a name, a title, a label (1 to 200 characters).
    Label,
    |value| bounded_text(value, 200, true)
);
string_value!(
    /// A free text: a description, a reason, a summary (1 to 10,000 characters).
    Text,
    |value| bounded_text(value, 10_000, false)
);
string_value!(
    /// A wave's label, unique within its study, such as `T1`.
    WaveLabel,
    |value| token(value, 32, &['-', '_', '.'])
);
string_value!(
    /// An instrument item's code, such as `E1.1`.
    ItemCode,
    |value| token(value, 32, &['-', '_', '.'])
);
string_value!(
    /// A version of a scan instrument, such as `scan-school-als-plg/1`.
    InstrumentVersion,
    |value| token(value, 64, &['-', '_', '.', '/'])
);
string_value!(
    /// A respondent's pseudonym within a study. Only letters, digits, `-`, `_` and `.`, which
    /// also keeps names with spaces and email addresses out.
    Pseudonym,
    |value| token(value, 64, &['-', '_', '.'])
);
string_value!(
    /// The SHA-256 of an API key's secret, as 64 lowercase hexadecimal digits: all the log
    /// keeps of a key's secret.
    SecretHash,
    |value| {
        let trimmed = value.trim();
        if trimmed.len() == 64 && trimmed.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            Ok(trimmed.to_owned())
        } else {
            Err(ValueError::new("must be 64 lowercase hexadecimal digits"))
        }
    }
);
string_value!(
    /// An email address: personal data.
    Email,
    |value| {
        let trimmed = value.trim();
        let well_formed = trimmed.len() <= 254
            && !trimmed.chars().any(char::is_whitespace)
            && trimmed.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if well_formed {
            Ok(trimmed.to_owned())
        } else {
            Err(ValueError::new("must be an email address"))
        }
    }
);

/// An answer on the scan's five-point scale: 1 = not at all applicable … 5 = fully applicable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Score(u8);

impl Score {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 5;

    pub fn new(value: u32) -> Result<Self, ValueError> {
        match u8::try_from(value) {
            Ok(value) if (Self::MIN..=Self::MAX).contains(&value) => Ok(Self(value)),
            _ => Err(ValueError::new(format!(
                "must be between {} and {}",
                Self::MIN,
                Self::MAX
            ))),
        }
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Score {
    type Error = ValueError;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::new(u32::from(value))
    }
}

impl From<Score> for u8 {
    fn from(value: Score) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Country {
    #[serde(rename = "NL")]
    Netherlands,
    #[serde(rename = "BE")]
    Belgium,
}

// The ISO 3166 codes.
crate::names::stored_names!(Country {
    Netherlands => "NL",
    Belgium => "BE",
});

/// The calendar date at a moment, as schools see it: the Netherlands and Belgium both keep
/// Central European time, so "today" and "the day it happened" are dates in Europe/Amsterdam.
pub fn school_date(at: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    at.with_timezone(&chrono_tz::Europe::Amsterdam).date_naive()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sector {
    Primary,
    Secondary,
}

crate::names::stored_names!(Sector {
    Primary => "primary",
    Secondary => "secondary",
});

/// A school's official code: in the Netherlands the BRIN code (`12AB`, optionally with a
/// two-digit branch number, `12AB00`), in Belgium the institution number (5 or 6 digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchoolCode(String);

impl SchoolCode {
    pub fn parse(country: Country, value: &str) -> Result<Self, ValueError> {
        let code = value.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        let valid = match country {
            Country::Netherlands => {
                (bytes.len() == 4 || bytes.len() == 6)
                    && bytes[..2].iter().all(u8::is_ascii_digit)
                    && bytes[2..4].iter().all(u8::is_ascii_uppercase)
                    && bytes[4..].iter().all(u8::is_ascii_digit)
            }
            Country::Belgium => {
                (bytes.len() == 5 || bytes.len() == 6) && bytes.iter().all(u8::is_ascii_digit)
            }
        };
        if valid {
            Ok(Self(code))
        } else {
            Err(ValueError::new(match country {
                Country::Netherlands => {
                    "must be a BRIN code: two digits and two letters, optionally followed by two digits"
                }
                Country::Belgium => "must be an institution number of 5 or 6 digits",
            }))
        }
    }
}

impl fmt::Display for SchoolCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses an ISO calendar date, `YYYY-MM-DD`.
pub fn parse_date(value: &str) -> Result<NaiveDate, ValueError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| ValueError::new("must be a date as YYYY-MM-DD"))
}

/// A date on which something already happened: never after `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PastDate(NaiveDate);

impl PastDate {
    pub fn new(date: NaiveDate, today: NaiveDate) -> Result<Self, ValueError> {
        if date > today {
            Err(ValueError::new(format!(
                "must not be in the future (today is {today})"
            )))
        } else {
            Ok(Self(date))
        }
    }

    pub fn parse(value: &str, today: NaiveDate) -> Result<Self, ValueError> {
        Self::new(parse_date(value)?, today)
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl fmt::Display for PastDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Personal data (a person's name or email). It is kept only in a person's own events, and
/// marked with this type so that it is sealed with the person's own key before it reaches the
/// log, and erased by destroying that key, without reshaping any event. It serialises as
/// `{"personal": …}`, the marker the sealing looks for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personal<T> {
    personal: PersonalState<T>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PersonalState<T> {
    /// Readable: as given, or opened with the subject's key.
    Revealed(T),
    /// Encrypted with the subject's key; opaque to the domain.
    Sealed(serde_json::Value),
    /// The subject's key was destroyed: the data is gone.
    Erased,
}

impl<T> Personal<T> {
    pub fn new(value: T) -> Self {
        Self {
            personal: PersonalState::Revealed(value),
        }
    }

    /// The data, when it is readable here.
    pub fn revealed(&self) -> Option<&T> {
        match &self.personal {
            PersonalState::Revealed(value) => Some(value),
            PersonalState::Sealed(_) | PersonalState::Erased => None,
        }
    }

    pub fn is_erased(&self) -> bool {
        matches!(self.personal, PersonalState::Erased)
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keeps personal data out of logs and panic messages.
        f.write_str("Personal(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_outside_one_to_five_do_not_exist() {
        assert!(Score::new(0).is_err());
        assert!(Score::new(6).is_err());
        assert!(Score::new(300).is_err());
        assert_eq!(Score::new(1).map(Score::value), Ok(1));
        assert_eq!(Score::new(5).map(Score::value), Ok(5));
        assert!(serde_json::from_str::<Score>("7").is_err());
    }

    #[test]
    fn school_codes_follow_the_country() {
        assert!(SchoolCode::parse(Country::Netherlands, "12ab").is_ok());
        assert!(SchoolCode::parse(Country::Netherlands, "12AB01").is_ok());
        assert!(SchoolCode::parse(Country::Netherlands, "1234").is_err());
        assert!(SchoolCode::parse(Country::Belgium, "012345").is_ok());
        assert!(SchoolCode::parse(Country::Belgium, "12AB").is_err());
        assert_eq!(
            SchoolCode::parse(Country::Netherlands, " 12ab ").map(|c| c.to_string()),
            Ok("12AB".to_owned())
        );
    }

    #[test]
    fn pseudonyms_reject_names_and_emails() {
        assert!(Pseudonym::parse("resp-042").is_ok());
        assert!(Pseudonym::parse("jan.jansen@school.nl").is_err());
        assert!(Pseudonym::parse("Jan Jansen").is_err());
        assert!(Pseudonym::parse("").is_err());
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(
            Label::parse("  De Brug ").map(String::from),
            Ok("De Brug".to_owned())
        );
        assert!(Label::parse("   ").is_err());
        assert!(Label::parse(&"x".repeat(201)).is_err());
        assert!(Label::parse("two\nlines").is_err());
        assert!(Text::parse("two\nlines").is_ok());
    }

    #[test]
    fn emails_need_a_domain() {
        assert!(Email::parse("a.coach@example.org").is_ok());
        assert!(Email::parse("a.coach@localhost").is_err());
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@b@c.org").is_err());
    }

    #[test]
    fn school_dates_follow_central_european_time() {
        let at = |value: &str| {
            chrono::DateTime::parse_from_rfc3339(value)
                .expect("valid timestamp")
                .with_timezone(&chrono::Utc)
        };
        let date = |value: &str| parse_date(value).expect("valid date");
        // 23:30 UTC in winter is 00:30 the next day in Amsterdam; in summer 01:30.
        assert_eq!(school_date(at("2016-01-31T23:30:00Z")), date("2016-02-01"));
        assert_eq!(school_date(at("2016-06-30T22:30:00Z")), date("2016-07-01"));
        assert_eq!(school_date(at("2016-06-30T21:30:00Z")), date("2016-06-30"));
    }

    #[test]
    fn past_dates_refuse_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid date");
        assert!(PastDate::parse("2026-03-01", today).is_ok());
        assert!(PastDate::parse("2026-03-02", today).is_err());
        assert!(PastDate::parse("1 March", today).is_err());
    }

    #[test]
    fn personal_data_stays_out_of_debug_output() {
        let email = Personal::new(Email::parse("a.coach@example.org").expect("valid email"));
        assert!(!format!("{email:?}").contains("coach"));
        let stored = serde_json::to_value(&email).expect("encodes");
        assert_eq!(
            stored,
            serde_json::json!({ "personal": { "revealed": "a.coach@example.org" } })
        );
        let erased: Personal<Email> =
            serde_json::from_value(serde_json::json!({ "personal": "erased" })).expect("decodes");
        assert!(erased.is_erased() && erased.revealed().is_none());
    }
}
