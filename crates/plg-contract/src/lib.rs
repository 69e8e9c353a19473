//! One home for the conversions between the public contract (`plg.v1`) and the domain: requests
//! parse into commands or field violations, and results become messages. Services depend on this
//! crate, never on each other.

pub mod events;
pub mod research;
pub mod values;
