//! The gRPC edge every PLG Ledger service shares: configuration, the authentication layer
//! with the one table of which role may call each RPC and a tracing span per RPC, the one
//! mapping from errors to gRPC statuses, write and read RPCs' common shape (and streamed
//! writes', each on the unary write's path), and serving with health and reflection.

pub mod access;
pub mod app;
pub mod auth;
pub mod backup;
mod budget;
mod codec;
pub mod config;
mod connections;
mod context;
mod error;
pub mod health;
pub mod import;
pub mod limits;
pub mod lock;
mod metrics;
mod private;
mod rpc_span;
pub mod server;
pub mod store;
pub mod streams;
mod write;

pub use app::Runtime;
pub use budget::Budgets;
pub use context::{CallContext, caller_of, command_context, context_by};
pub use error::{status, write_error};
pub use import::write_each;
pub use write::{read, write};
