//! Opaque identifiers. Each parses from a UUID string, so a malformed id never gets past the
//! boundary, and each kind is its own type, so a school id cannot be passed as a PLG id.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValueError;

/// The namespace for ids derived from natural keys (UUID v5), so that the same natural key
/// always maps to the same id.
const PLG_NAMESPACE: Uuid = Uuid::from_u128(0x6c1e_5a0e_8a43_4c1b_9f0e_7d0a_4b51_2e33);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn parse(value: &str) -> Result<Self, ValueError> {
                Uuid::try_parse(value.trim())
                    .map(Self)
                    .map_err(|_| ValueError::new("must be a UUID"))
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A school; derived from its country and official code.
    SchoolId
);
id_type!(StudyId);
id_type!(PersonId);
id_type!(InterventionId);
id_type!(PlgId);
id_type!(SessionId);
id_type!(
    /// One respondent's response to one wave; derived from study, school, wave and pseudonym,
    /// so resubmissions land in the same stream.
    ResponseId
);
id_type!(
    /// One submission within a response.
    SubmissionId
);
id_type!(
    /// An API key; the public part of the key a caller sends.
    ApiKeyId
);
id_type!(
    /// A respondent's consent in a study at a school; derived from study, school and
    /// pseudonym (not the wave), so it covers every wave's response.
    ConsentId
);

impl SchoolId {
    pub fn derive(country: crate::values::Country, code: &crate::values::SchoolCode) -> Self {
        Self(Uuid::new_v5(
            &PLG_NAMESPACE,
            format!("school:{}:{code}", country.as_str()).as_bytes(),
        ))
    }
}

impl ResponseId {
    pub fn derive(
        study: StudyId,
        school: SchoolId,
        wave: &crate::values::WaveLabel,
        respondent: &crate::values::Pseudonym,
    ) -> Self {
        let key = format!("response:{study}:{school}:{wave}:{respondent}");
        Self(Uuid::new_v5(&PLG_NAMESPACE, key.as_bytes()))
    }
}

impl ConsentId {
    pub fn derive(study: StudyId, school: SchoolId, respondent: &crate::values::Pseudonym) -> Self {
        let key = format!("consent:{study}:{school}:{respondent}");
        Self(Uuid::new_v5(&PLG_NAMESPACE, key.as_bytes()))
    }
}
