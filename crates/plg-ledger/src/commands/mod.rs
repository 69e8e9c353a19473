//! The commands partner tools, administrators and operators send, one module per area. Each
//! names its target, its subject and what else it reads; the edge parses requests into them.

pub mod intervention;
pub mod keys;
pub mod plg;
pub mod registry;
pub mod scan;
