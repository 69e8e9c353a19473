//! The research view's projections, one per area of the domain.

mod audit;
mod interventions;
mod plgs;
mod registry;
mod scans;

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

/// Domain values stored as their serde names (`snake_case`), the same words the events use.
pub(crate) fn name_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
