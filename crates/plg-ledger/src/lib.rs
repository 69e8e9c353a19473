//! The write core: a caller's command becomes events in the log, idempotently, within the
//! caller's scope, decided by the pure domain. It knows no wire type, so gRPC, a CLI or an
//! importer drive it alike.

mod cache;
mod caller;
mod command;
pub mod commands;
mod context;
mod error;
mod keys;
mod ledger;
mod scope;
mod telemetry;

pub use caller::{Caller, Subject};
pub use command::{Command, EventOf, SubjectOf, Written};
pub use context::{CommandContext, Delivery, EventMetadata};
pub use error::{FieldViolation, ServiceError};
pub use keys::{IssueApiKey, IssuedApiKey, ListedApiKey, Refused};
pub use ledger::Ledger;
