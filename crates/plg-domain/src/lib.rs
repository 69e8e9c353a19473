//! The PLG Ledger domain, pure: value types that cannot hold invalid values, the events of each
//! aggregate, and deciders (`decide` turns a command into events against the current state,
//! `evolve` folds an event into the state without any logic).
//!
//! Every aggregate lives in its own stream, named `<CATEGORY>-<id>`.

pub mod access;
pub mod consent;
pub mod decider;
pub mod development_plan;
pub mod dimension;
pub mod error;
pub mod event;
pub mod ids;
pub mod instrument;
pub mod intervention;
mod names;
pub mod person;
pub mod plg;
pub mod scan;
pub mod school;
pub mod study;
pub mod values;

pub use decider::Aggregate;
pub use error::{DomainError, ValueError};
pub use event::{DomainEvent, EncodedEvent, EventDecodeError};
