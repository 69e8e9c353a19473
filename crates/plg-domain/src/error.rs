/// Why a value could not be parsed; the boundary attaches the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl ValueError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Why a command may not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value in the command is invalid in combination with others (such as an end before a
    /// start). `field` names the command's field.
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The aggregate the command addresses does not exist. The decider cannot know the id of
    /// what is not there; the caller, who asked for it, adds it.
    #[error("{kind} not found")]
    NotFound { kind: &'static str },
    /// The aggregate the command would create exists already.
    #[error("{kind} {id} already exists")]
    AlreadyExists { kind: &'static str, id: String },
    /// A business rule forbids the command in the aggregate's current state. `rule` is a
    /// stable, machine-readable name of the rule.
    #[error("{message}")]
    RuleViolated { rule: &'static str, message: String },
}

impl DomainError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str) -> Self {
        Self::NotFound { kind }
    }

    pub fn already_exists(kind: &'static str, id: impl ToString) -> Self {
        Self::AlreadyExists {
            kind,
            id: id.to_string(),
        }
    }

    pub fn rule(rule: &'static str, message: impl Into<String>) -> Self {
        Self::RuleViolated {
            rule,
            message: message.into(),
        }
    }
}
