use serde::{Deserialize, Serialize};

/// The 5 elements and 7 conditions of the Scan School als PLG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    InternalProfessionalisation,
    ExternalProfessionalisation,
    SharingKnowledge,
    DevelopingEducationTogether,
    InquiringAttitude,
    Support,
    ProfessionalRoom,
    ExecutiveLeadership,
    TeamLeadership,
    HrPolicy,
    Communication,
    CollegialSupport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DimensionKind {
    Element,
    Condition,
}

crate::names::stored_names!(Dimension {
    InternalProfessionalisation => "internal_professionalisation",
    ExternalProfessionalisation => "external_professionalisation",
    SharingKnowledge => "sharing_knowledge",
    DevelopingEducationTogether => "developing_education_together",
    InquiringAttitude => "inquiring_attitude",
    Support => "support",
    ProfessionalRoom => "professional_room",
    ExecutiveLeadership => "executive_leadership",
    TeamLeadership => "team_leadership",
    HrPolicy => "hr_policy",
    Communication => "communication",
    CollegialSupport => "collegial_support",
});

crate::names::stored_names!(DimensionKind {
    Element => "element",
    Condition => "condition",
});

impl Dimension {
    pub fn kind(self) -> DimensionKind {
        match self {
            Self::InternalProfessionalisation
            | Self::ExternalProfessionalisation
            | Self::SharingKnowledge
            | Self::DevelopingEducationTogether
            | Self::InquiringAttitude => DimensionKind::Element,
            Self::Support
            | Self::ProfessionalRoom
            | Self::ExecutiveLeadership
            | Self::TeamLeadership
            | Self::HrPolicy
            | Self::Communication
            | Self::CollegialSupport => DimensionKind::Condition,
        }
    }

    /// The code the scan uses: `E1`..`E5` for elements, `C1`..`C7` for conditions.
    pub fn code(self) -> &'static str {
        match self {
            Self::InternalProfessionalisation => "E1",
            Self::ExternalProfessionalisation => "E2",
            Self::SharingKnowledge => "E3",
            Self::DevelopingEducationTogether => "E4",
            Self::InquiringAttitude => "E5",
            Self::Support => "C1",
            Self::ProfessionalRoom => "C2",
            Self::ExecutiveLeadership => "C3",
            Self::TeamLeadership => "C4",
            Self::HrPolicy => "C5",
            Self::Communication => "C6",
            Self::CollegialSupport => "C7",
        }
    }

    /// The name charts and reports show.
    pub fn title(self) -> &'static str {
        match self {
            Self::InternalProfessionalisation => "Internal professionalisation",
            Self::ExternalProfessionalisation => "External professionalisation",
            Self::SharingKnowledge => "Sharing knowledge and experience",
            Self::DevelopingEducationTogether => "Developing education together",
            Self::InquiringAttitude => "Inquiring attitude",
            Self::Support => "Support / buy-in",
            Self::ProfessionalRoom => "Professional room",
            Self::ExecutiveLeadership => "Leadership from the executive",
            Self::TeamLeadership => "Leadership from team leaders",
            Self::HrPolicy => "HR policy",
            Self::Communication => "Communication",
            Self::CollegialSupport => "Collegial support",
        }
    }
}
