//! End-to-end tests: every RPC through a real tonic client against a real plgd on port 0 with
//! a temporary data directory.

#[path = "kit/embedded.rs"]
mod kit;

mod access;
mod admin;
mod audit;
mod coaching;
mod consent;
mod damaged_file;
mod disclosure;
mod erasure;
mod health;
mod import;
mod intervention;
mod limits;
mod paging;
mod registry;
mod research;
mod scan;
mod session;
mod transport;
mod write_semantics;
