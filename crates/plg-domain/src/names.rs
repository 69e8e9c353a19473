//! The names domain enums are stored and shown under, written once per enum.

/// Gives a domain enum, from one table, `ALL` its variants in declaration order, `as_str` the
/// stable name it is stored under (the word its events use: a test holds the two equal) and
/// `FromStr` back from that name.
macro_rules! stored_names {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            /// The stable name it is stored under: events, the research view, exports.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::ValueError;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == name)
                    .ok_or_else(|| crate::ValueError::new(format!("{name:?} is not a known name")))
            }
        }
    };
}

pub(crate) use stored_names;

#[cfg(test)]
mod tests {
    use std::{fmt::Debug, str::FromStr};

    use serde::{Serialize, de::DeserializeOwned};

    use crate::{
        dimension::{Dimension, DimensionKind},
        intervention::{
            ContributionDegree, InterventionCategory, InterventionLevel, InterventionStatus,
        },
        plg::{CoachKind, PlgKind, PlgPhase, ThemePhase},
        scan::RespondentRole,
        values::{Country, Sector},
    };

    /// The stored name is the one serde writes into events, and reads back.
    fn names_match_serde<T>(all: &[T], as_str: fn(&T) -> &'static str)
    where
        T: Serialize + DeserializeOwned + FromStr + PartialEq + Debug + Copy,
    {
        for value in all {
            let name = as_str(value);
            assert_eq!(
                serde_json::to_value(value).ok(),
                Some(serde_json::json!(name))
            );
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(name)).ok(),
                Some(*value)
            );
            assert_eq!(T::from_str(name).ok(), Some(*value));
        }
    }

    #[test]
    fn every_stored_name_is_the_events_name() {
        names_match_serde(&Dimension::ALL, Dimension::as_str);
        names_match_serde(&DimensionKind::ALL, DimensionKind::as_str);
        names_match_serde(&RespondentRole::ALL, RespondentRole::as_str);
        names_match_serde(&InterventionCategory::ALL, InterventionCategory::as_str);
        names_match_serde(&InterventionLevel::ALL, InterventionLevel::as_str);
        names_match_serde(&ContributionDegree::ALL, ContributionDegree::as_str);
        names_match_serde(&InterventionStatus::ALL, InterventionStatus::as_str);
        names_match_serde(&PlgKind::ALL, PlgKind::as_str);
        names_match_serde(&PlgPhase::ALL, PlgPhase::as_str);
        names_match_serde(&ThemePhase::ALL, ThemePhase::as_str);
        names_match_serde(&CoachKind::ALL, CoachKind::as_str);
        names_match_serde(&Country::ALL, Country::as_str);
        names_match_serde(&Sector::ALL, Sector::as_str);
    }

    #[test]
    fn an_unknown_name_is_refused() {
        assert!(Dimension::from_str("Support").is_err());
        assert!(Country::from_str("nl").is_err());
    }
}
