//! Stored events as the contract shows them: with who wrote each, through which tool and when,
//! and personal data opened with its subject's key, or shown erased.

use plg_eventstore::RecordedEvent;
use plg_ledger::EventMetadata;
use plg_proto::v1;
use plg_vault::{Vault, VaultError};

use crate::values::timestamp_to_proto;

/// An event as the contract shows it, with its metadata.
/// Personal data sealed in the payload is opened with its subject's key, or shown as
/// `"erased"` once that key is gone. Fails only when the vault cannot be read.
pub fn event_to_proto(
    mut event: RecordedEvent,
    vault: Option<&Vault>,
) -> Result<v1::Event, VaultError> {
    if let Some(vault) = vault
        && event.unreadable.is_none()
    {
        match vault.unseal(&mut event.data) {
            Ok(()) => {}
            // Sealed data altered in the store spoils only its event, like a bad payload.
            Err(error @ (VaultError::Malformed(_) | VaultError::Tampered)) => {
                event.unreadable = Some(error.to_string());
            }
            Err(error) => return Err(error),
        }
    }
    if let Some(reason) = &event.unreadable {
        tracing::warn!(
            stream = %event.stream,
            revision = event.revision.0,
            position = event.position.0,
            reason,
            "shown without data: its payload is unreadable"
        );
    }
    // Metadata that does not parse is shown as recorded fields only; the payload stays intact.
    let metadata: Option<EventMetadata> = serde_json::from_value(event.metadata).ok();
    Ok(v1::Event {
        event_id: event.id.to_string(),
        stream: event.stream.to_string(),
        revision: event.revision.0,
        position: event.position.0,
        event_type: event.event_type,
        schema_version: event.schema_version,
        data_json: match event.unreadable {
            Some(_) => String::new(),
            None => event.data.to_string(),
        },
        hash: event.hash,
        unreadable: event.unreadable.unwrap_or_default(),
        metadata: Some(v1::EventMetadata {
            actor: metadata
                .as_ref()
                .map(|m| m.actor.clone())
                .unwrap_or_default(),
            tool: metadata
                .as_ref()
                .map(|m| m.tool.clone())
                .unwrap_or_default(),
            correlation_id: metadata
                .as_ref()
                .map(|m| m.correlation_id.clone())
                .unwrap_or_default(),
            request_id: metadata
                .as_ref()
                .map(|m| m.request_id.clone())
                .unwrap_or_default(),
            key_id: metadata
                .as_ref()
                .and_then(|m| m.key_id.clone())
                .unwrap_or_default(),
            occurred_at: metadata.map(|m| timestamp_to_proto(m.occurred_at)),
            recorded_at: Some(timestamp_to_proto(event.recorded_at)),
        }),
    })
}
