//! Domain values as contract fields, both ways: enumerations from one table each, and moments.

use chrono::{DateTime, Utc};
use plg_domain::{
    ValueError,
    access::Role,
    dimension::Dimension,
    intervention::{ContributionDegree, InterventionCategory},
    plg::{PlgPhase, ThemePhase},
    scan::RespondentRole,
};
use plg_proto::v1;

/// A proto enum field: `UNSPECIFIED` and unknown numbers are violations.
pub fn enumeration<P, T>(value: i32, convert: impl FnOnce(P) -> Option<T>) -> Result<T, ValueError>
where
    P: TryFrom<i32>,
{
    P::try_from(value)
        .ok()
        .and_then(convert)
        .ok_or_else(|| ValueError::new("is required and must be one of the listed values"))
}

/// Maps a proto enum to a domain enum and back from one table, so the two directions cannot
/// drift apart: `$parse` reads a request field (UNSPECIFIED and unknown numbers are
/// violations), `$to_proto` writes a reply field.
macro_rules! enum_mapping {
    ($parse:ident, $to_proto:ident, $proto:ty, $domain:ty { $($variant:ident => $domain_variant:ident),* $(,)? }) => {
        pub fn $parse(value: i32) -> Result<$domain, ValueError> {
            enumeration(value, |value: $proto| match value {
                $(<$proto>::$variant => Some(<$domain>::$domain_variant),)*
                #[allow(unreachable_patterns)]
                _ => None,
            })
        }

        pub fn $to_proto(value: $domain) -> i32 {
            let value: $proto = match value {
                $(<$domain>::$domain_variant => <$proto>::$variant,)*
            };
            value.into()
        }
    };
}
enum_mapping!(dimension, dimension_to_proto, v1::Dimension, Dimension {
    InternalProfessionalisation => InternalProfessionalisation,
    ExternalProfessionalisation => ExternalProfessionalisation,
    SharingKnowledge => SharingKnowledge,
    DevelopingEducationTogether => DevelopingEducationTogether,
    InquiringAttitude => InquiringAttitude,
    Support => Support,
    ProfessionalRoom => ProfessionalRoom,
    ExecutiveLeadership => ExecutiveLeadership,
    TeamLeadership => TeamLeadership,
    HrPolicy => HrPolicy,
    Communication => Communication,
    CollegialSupport => CollegialSupport,
});

enum_mapping!(respondent_role, respondent_role_to_proto, v1::RespondentRole, RespondentRole {
    Teacher => Teacher,
    SchoolLeader => SchoolLeader,
    TeamLeader => TeamLeader,
    SupportStaff => SupportStaff,
});

enum_mapping!(intervention_category, intervention_category_to_proto, v1::InterventionCategory, InterventionCategory {
    OrganisationalStructure => OrganisationalStructure,
    Professionalisation => Professionalisation,
    VisionDevelopment => VisionDevelopment,
    WorkingAndLearningTogether => WorkingAndLearningTogether,
    Communication => Communication,
    LeadershipDevelopment => LeadershipDevelopment,
});

enum_mapping!(contribution_degree, contribution_degree_to_proto, v1::ContributionDegree, ContributionDegree {
    None => None,
    Small => Small,
    Moderate => Moderate,
    Large => Large,
});

enum_mapping!(plg_phase, plg_phase_to_proto, v1::PlgPhase, PlgPhase {
    EngagingSchoolLeaders => EngagingSchoolLeaders,
    MotivatingTeachers => MotivatingTeachers,
    ChoosingThemes => ChoosingThemes,
    LearningToDevelopTogether => LearningToDevelopTogether,
    StableOperation => StableOperation,
});

enum_mapping!(theme_phase, theme_phase_to_proto, v1::ThemePhase, ThemePhase {
    Explore => Explore,
    Condense => Condense,
    Product => Product,
});

enum_mapping!(role, role_to_proto, v1::Role, Role {
    PartnerTool => PartnerTool,
    Researcher => Researcher,
    Administrator => Administrator,
    Operator => Operator,
});

/// A timestamp from a request; out of range is a violation.
pub fn timestamp(value: &prost_types::Timestamp) -> Result<DateTime<Utc>, ValueError> {
    DateTime::from_timestamp(
        value.seconds,
        u32::try_from(value.nanos).unwrap_or(u32::MAX),
    )
    .ok_or_else(|| ValueError::new("is not a valid timestamp"))
}

/// A moment as replies show it.
pub fn timestamp_to_proto(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_value_survives_the_round_trip_and_unspecified_is_refused() {
        for value in Dimension::ALL {
            assert_eq!(dimension(dimension_to_proto(value)), Ok(value));
        }
        for value in RespondentRole::ALL {
            assert_eq!(respondent_role(respondent_role_to_proto(value)), Ok(value));
        }
        for value in ContributionDegree::ALL {
            assert_eq!(
                contribution_degree(contribution_degree_to_proto(value)),
                Ok(value)
            );
        }
        assert!(dimension(0).is_err() && plg_phase(0).is_err() && theme_phase(99).is_err());
    }
}
