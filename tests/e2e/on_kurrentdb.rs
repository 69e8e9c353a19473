//! The end-to-end suite of `main.rs` again, with plgd on the KurrentDB backend
//! (`store = "kurrentdb://…"`) pointed at a second plgd's KurrentDB listener, a stand-in for a
//! KurrentDB node: every service and the research view run unchanged on it. Every module but
//! `damaged_file`, which edits the embedded store's file in place; tests that alter stored
//! events behind plgd's back alter them in the node's store.

#[path = "kit/kurrentdb.rs"]
mod kit;

#[path = "access.rs"]
mod access;
#[path = "admin.rs"]
mod admin;
#[path = "audit.rs"]
mod audit;
#[path = "coaching.rs"]
mod coaching;
#[path = "consent.rs"]
mod consent;
#[path = "disclosure/mod.rs"]
mod disclosure;
#[path = "erasure.rs"]
mod erasure;
#[path = "health.rs"]
mod health;
#[path = "import.rs"]
mod import;
#[path = "intervention.rs"]
mod intervention;
#[path = "limits.rs"]
mod limits;
#[path = "paging.rs"]
mod paging;
#[path = "registry.rs"]
mod registry;
#[path = "research.rs"]
mod research;
#[path = "scan.rs"]
mod scan;
#[path = "session.rs"]
mod session;
#[path = "transport.rs"]
mod transport;
#[path = "write_semantics.rs"]
mod write_semantics;
