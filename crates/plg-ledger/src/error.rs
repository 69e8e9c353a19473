use plg_domain::{DomainError, EventDecodeError};
use plg_eventstore::StoreError;

/// Violations a description lists; a transport lists more in its own details if it wants.
const DESCRIBED_VIOLATIONS: usize = 20;

/// What is wrong with one field of a request, by its path (`answers[3].current`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Every way a command or query can fail, whatever carries it; the gRPC edge maps each to a
/// status in exactly one place.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored event cannot be read: {0}")]
    Corrupt(#[from] EventDecodeError),
    /// A stream's hash chain does not verify where it must: its stored history was altered.
    #[error("the stored history of {stream} was altered: {broken}")]
    Tampered {
        stream: String,
        broken: plg_eventstore::chain::ChainBreak,
    },
    /// A failure of the server's own, such as an unreadable research view.
    #[error("internal error: {0}")]
    Internal(String),
    /// A failure of the server's own, with its cause kept for the log.
    #[error("{what}: {source}")]
    Failed {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("stream {stream} does not start with a {expected} event")]
    UnexpectedEvent {
        stream: String,
        expected: &'static str,
    },
    /// No valid API key came with the request.
    #[error("{0}")]
    Unauthenticated(String),
    /// The key is valid but its role or scope does not reach what the request asks.
    #[error("{0}")]
    PermissionDenied(String),
    /// A limit on streams or exports is reached; the message says which.
    #[error("{0}")]
    ResourceExhausted(String),
}

/// The first violations, so that a request with a million problems does not build a
/// million-line message.
fn describe(violations: &[FieldViolation]) -> String {
    let mut listed = violations
        .iter()
        .take(DESCRIBED_VIOLATIONS)
        .map(|violation| match violation.field.as_str() {
            "" => violation.description.clone(),
            field => format!("{field}: {}", violation.description),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if violations.len() > DESCRIBED_VIOLATIONS {
        listed.push_str(&format!(
            "; and {} more violations not listed",
            violations.len() - DESCRIBED_VIOLATIONS
        ));
    }
    listed
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// A failure of the server's own: `what` failed, because of `source`.
    pub fn failed(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Failed {
            what,
            source: source.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// A write's events are not of the kind its command produces: a bug, never the caller's
    /// doing.
    pub fn unexpected(stream: impl ToString, expected: &'static str) -> Self {
        Self::UnexpectedEvent {
            stream: stream.to_string(),
            expected,
        }
    }
}
