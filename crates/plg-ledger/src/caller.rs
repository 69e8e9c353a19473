//! Who acts, and what an action touches: a caller's role and scope against a command's
//! subject.

use plg_domain::{
    access::{Role, Scope},
    ids::{ApiKeyId, SchoolId, StudyId},
};

use crate::ServiceError;

/// The authenticated caller of a command or query.
#[derive(Debug, Clone)]
pub struct Caller {
    key_id: Option<ApiKeyId>,
    identity: String,
    pub(crate) access: Access,
}

#[derive(Debug, Clone)]
pub(crate) enum Access {
    Key {
        role: Role,
        scope: Scope,
    },
    /// Insecure local mode, and plgd itself.
    Unrestricted,
}

impl Caller {
    /// Every caller in insecure local mode.
    pub fn insecure_local() -> Self {
        Self {
            key_id: None,
            identity: "insecure-local".to_owned(),
            access: Access::Unrestricted,
        }
    }

    /// plgd itself, writing on its own account (the first operator key).
    pub fn plgd() -> Self {
        Self {
            key_id: None,
            identity: "plgd".to_owned(),
            access: Access::Unrestricted,
        }
    }

    pub(crate) fn with_key(key_id: ApiKeyId, identity: String, role: Role, scope: Scope) -> Self {
        Self {
            key_id: Some(key_id),
            identity,
            access: Access::Key { role, scope },
        }
    }

    /// Recorded as the actor of what the caller writes.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn key_id(&self) -> Option<ApiKeyId> {
        self.key_id
    }

    /// Whose request ids these are: a key's own, so no key can replay another's requests.
    pub fn principal(&self) -> String {
        self.key_id
            .map_or_else(|| self.identity.clone(), |id| id.to_string())
    }

    /// Passes for keys of one of `roles` (and unrestricted callers).
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ServiceError> {
        match &self.access {
            Access::Unrestricted => Ok(()),
            Access::Key { role: held, .. } if roles.contains(held) => Ok(()),
            Access::Key { role: held, .. } => {
                let needed = roles
                    .iter()
                    .map(|role| role.name())
                    .collect::<Vec<_>>()
                    .join(" or ");
                Err(ServiceError::PermissionDenied(format!(
                    "this call needs the {needed} role; this key's role is {}",
                    held.name()
                )))
            }
        }
    }

    /// Which events of the log the caller may read: partner tools only those written with
    /// their own key (`Some`), unrestricted administrators all (`None`).
    pub fn event_log_filter(&self) -> Result<Option<ApiKeyId>, ServiceError> {
        match &self.access {
            Access::Unrestricted => Ok(None),
            Access::Key {
                role: Role::PartnerTool,
                ..
            } => Ok(self.key_id),
            Access::Key {
                role: Role::Administrator,
                scope,
            } if scope.everything => Ok(None),
            Access::Key { .. } => Err(ServiceError::PermissionDenied(
                "the event log is for partner tools, which read back their own writes, and for \
                 administrators whose scope is everything"
                    .into(),
            )),
        }
    }

    /// Researchers always see pseudonymised schools, whatever the study allows.
    pub fn may_identify_schools(&self) -> bool {
        matches!(self.access, Access::Unrestricted)
    }

    /// Passes for researchers granted respondent-level data (and unrestricted callers).
    pub fn require_respondent_data(&self) -> Result<(), ServiceError> {
        match &self.access {
            Access::Key { scope, .. } if !scope.respondent_data => {
                Err(ServiceError::PermissionDenied(
                    "respondent-level data needs a researcher key granted respondent_data; \
                     cell-level queries and the long export need only the study"
                        .into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether the caller's scope reaches a study; its role is checked on its own, first.
    pub fn require_study_in_scope(&self, study: StudyId) -> Result<(), ServiceError> {
        match &self.access {
            Access::Key { scope, .. } if !scope.everything && !scope.studies.contains(&study) => {
                Err(out_of_scope(format!("study {study}")))
            }
            _ => Ok(()),
        }
    }
}

pub(crate) fn out_of_scope(what: String) -> ServiceError {
    ServiceError::PermissionDenied(format!("{what} is outside this key's scope"))
}

/// What a command touches, so that the caller's scope can be checked against it.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// Open to every caller with the RPC's role: people, who belong to no school, and keys.
    Anyone,
    /// The registry's reference data, which scopes themselves rest on (registering a school
    /// decides its board; a new study has no id to be scoped to), erasing a person's data
    /// (people belong to no school) and verifying the whole store: unrestricted keys only.
    Registry,
    /// Schools, and the study the request concerns, if any: in scope when the study is, or
    /// every school is.
    Schools {
        schools: Vec<SchoolId>,
        study: Option<StudyId>,
    },
    /// A school entering a study: both must be in scope, so no key brings a school it does
    /// not reach into its study, or its school into a study it does not reach.
    Enrolment { school: SchoolId, study: StudyId },
}

impl Subject {
    pub fn school(school: SchoolId) -> Self {
        Self::schools([school])
    }

    pub fn schools(schools: impl IntoIterator<Item = SchoolId>) -> Self {
        Self::Schools {
            schools: schools.into_iter().collect(),
            study: None,
        }
    }

    pub fn in_study(self, study_id: StudyId) -> Self {
        match self {
            Self::Schools { schools, .. } => Self::Schools {
                schools,
                study: Some(study_id),
            },
            other => other,
        }
    }
}
