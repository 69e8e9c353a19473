//! What every PLG Ledger service shares: configuration, the write path (idempotent,
//! optimistically concurrent, decided by the pure domain), the one mapping from errors to gRPC
//! statuses, request parsing into field violations, and serving with health and reflection.

pub mod app;
pub mod auth;
pub mod backup;
mod budget;
mod codec;
pub mod config;
mod connections;
mod context;
mod error;
mod ledger;
pub mod limits;
pub mod lock;
pub mod parse;
mod private;
pub mod server;
pub mod streams;

pub use auth::{Caller, Subject};
pub use context::{CORRELATION_HEADER, EventMetadata, TOOL_HEADER, WriteContext, WriteRequest};
pub use error::ServiceError;
pub use ledger::{Ledger, Target, Written};
