//! End-to-end tests: every RPC through a real tonic client against a real plgd on port 0 with
//! a temporary data directory.

mod audit;
mod coaching;
mod consent;
mod erasure;
mod intervention;
mod registry;
mod research;
mod scan;
mod session;
mod write_semantics;
