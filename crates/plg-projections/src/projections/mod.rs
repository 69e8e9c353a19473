//! The research view's projections, one per area of the domain.

pub mod answers;
pub mod audit;
mod interventions;
mod plgs;
#[cfg(test)]
pub(crate) mod rebuild_limit;
mod registry;
pub mod scans;

use std::sync::Arc;

use crate::Projection;

/// Every projection, in the order their tables are created.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(registry::Registry),
        Arc::new(scans::Scans),
        Arc::new(interventions::Interventions),
        Arc::new(plgs::Plgs),
        Arc::new(audit::Audit),
    ]
}
