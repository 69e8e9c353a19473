#[derive(Debug, thiserror::Error)]
pub enum ResearchError {
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    #[error("research view: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("research view: {0}")]
    View(#[from] plg_projections::ProjectionError),
    #[error("export failed: {0}")]
    Export(String),
    #[error("research view holds an unknown value {0:?}")]
    UnknownValue(String),
}

impl ResearchError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            message: message.into(),
        }
    }
}
