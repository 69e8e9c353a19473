//! One home for the conversions between the public contract (`plg.v1`) and the domain: requests
//! parse into commands or field violations, and results become messages. Services depend on this
//! crate, never on each other.

pub mod events;
mod intervention;
mod keys;
pub mod limits;
pub mod parse;
mod plg;
mod registry;
pub mod research;
mod scan;
pub mod values;
mod write;

pub use keys::{api_key_info, issue_api_key_reply, parse_issue_api_key};
pub use registry::instrument_to_proto;
pub use write::{IntoCommand, StreamedWrite, WriteRequest, write_result};

/// The client software, as the client declares it: optional, recorded, never trusted.
pub const TOOL_HEADER: &str = "plg-tool";
/// Ties events of one business transaction together: generated when absent.
pub const CORRELATION_HEADER: &str = "plg-correlation-id";
