//! Everything about a command that is not the command itself: who sends it, under which
//! request id, when it happened; it becomes the events' metadata.

use chrono::{DateTime, NaiveDate, Utc};
use plg_domain::values::school_date;
use plg_eventstore::{IdempotencyKey, StreamRevision};
use serde::{Deserialize, Serialize};

use crate::Caller;

/// The context of one command, as its transport received it.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// Who writes: the authenticated key, whose identity the events record as their actor.
    pub caller: Caller,
    pub request_id: String,
    pub expected_revision: Option<StreamRevision>,
    /// Whether the reply waits until the research view includes the write.
    pub wait_for_research_view: bool,
    pub metadata: EventMetadata,
    received_at: DateTime<Utc>,
    /// Identifies the request's content, so a request id reused for another request is caught.
    fingerprint: String,
}

/// Stored with every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub actor: String,
    /// The API key written with; absent for plgd's own writes and in insecure local mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// As the client declared it; may be empty.
    pub tool: String,
    pub correlation_id: String,
    pub request_id: String,
    /// When it happened in the school.
    pub occurred_at: DateTime<Utc>,
    /// The W3C trace context of the append that wrote it, when traces are exported: the
    /// research view's span for the event links back to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// What a transport found valid about a command's delivery: the pieces of its context that
/// are not the caller's identity.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// 1 to 128 characters chosen by the client, as the transport checked.
    pub request_id: String,
    pub expected_revision: Option<StreamRevision>,
    pub wait_for_research_view: bool,
    /// When it happened in the school; not after `received_at`, give or take a clock's skew.
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub tool: String,
    pub correlation_id: String,
    /// A digest of the request's content without its personal fields.
    pub fingerprint: String,
}

impl CommandContext {
    pub fn new(caller: Caller, delivery: Delivery) -> Self {
        Self {
            metadata: EventMetadata {
                actor: caller.identity().to_owned(),
                key_id: caller.key_id().map(|id| id.to_string()),
                tool: delivery.tool,
                correlation_id: delivery.correlation_id,
                request_id: delivery.request_id.clone(),
                occurred_at: delivery.occurred_at,
                traceparent: None,
            },
            request_id: delivery.request_id,
            expected_revision: delivery.expected_revision,
            wait_for_research_view: delivery.wait_for_research_view,
            received_at: delivery.received_at,
            fingerprint: delivery.fingerprint,
            caller,
        }
    }

    /// Today, in the schools' time zone: a date after it is in the future.
    pub fn today(&self) -> NaiveDate {
        school_date(self.received_at)
    }

    /// The date on which the write's subject happened, in the schools' time zone.
    pub fn occurred_on(&self) -> NaiveDate {
        school_date(self.metadata.occurred_at)
    }

    /// Request ids are scoped by the key that chose them, so no key can replay another's
    /// request. The principal's length comes first, so no principal and request id can
    /// combine into another pair's key.
    pub fn idempotency_key(&self) -> IdempotencyKey {
        let principal = self.caller.principal();
        IdempotencyKey {
            key: format!("{}:{principal}/{}", principal.len(), self.request_id),
            fingerprint: self.fingerprint.clone(),
        }
    }
}
