//! Stored events as the contract shows them: with who wrote each, through which tool and when,
//! and personal data opened with its subject's key, or shown erased.

use std::sync::Arc;

use plg_eventstore::RecordedEvent;
use plg_ledger::{EventMetadata, ServiceError};
use plg_proto::v1;
use plg_vault::{Vault, VaultError};

use crate::values::timestamp_to_proto;

/// Events as the contract shows them, each as `event_to_proto` shows it. Opening personal
/// data reads the key store, which can wait for a commit's lock, so events that hold any are
/// converted on a blocking thread, inside the caller's span; others never leave the caller's
/// thread.
pub async fn events_to_proto(
    events: Vec<RecordedEvent>,
    vault: Option<&Arc<Vault>>,
) -> Result<Vec<v1::Event>, ServiceError> {
    let convert = |events: Vec<RecordedEvent>, vault: Option<&Vault>| {
        events
            .into_iter()
            .map(|event| event_to_proto(event, vault))
            .collect::<Result<Vec<_>, _>>()
    };
    let converted = match vault {
        Some(vault)
            if events
                .iter()
                .any(|event| plg_vault::holds_personal_data(&event.data)) =>
        {
            let vault = Arc::clone(vault);
            let span = tracing::Span::current();
            tokio::task::spawn_blocking(move || span.in_scope(|| convert(events, Some(&vault))))
                .await
                .map_err(|error| ServiceError::failed("opening personal data", error))?
        }
        vault => convert(events, vault.map(AsRef::as_ref)),
    };
    converted.map_err(|error| ServiceError::failed("opening personal data", error))
}

/// An event as the contract shows it, with its metadata.
/// Personal data sealed in the payload is opened with its subject's key, or shown as
/// `"erased"` once that key is gone. Fails only when the vault cannot be read.
fn event_to_proto(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use plg_eventstore::{Position, StreamName, StreamRevision};
    use serde_json::json;

    use super::*;

    fn recorded(data: serde_json::Value) -> RecordedEvent {
        RecordedEvent {
            id: Default::default(),
            stream: StreamName::new("person-p-1").expect("a stream name"),
            revision: StreamRevision(0),
            position: Position(1),
            event_type: "PersonRegistered".to_owned(),
            schema_version: 1,
            data,
            metadata: json!({}),
            recorded_at: chrono::Utc::now(),
            hash: String::new(),
            unreadable: None,
        }
    }

    /// On a runtime with one thread: opening personal data waits for the key store off that
    /// thread, so the runtime goes on meanwhile (here, to let the key store go).
    #[tokio::test(flavor = "current_thread")]
    async fn opening_personal_data_waits_for_the_key_store_without_holding_up_the_runtime() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(plg_vault::VAULT_FILE);
        let vault = Arc::new(Vault::open(&path).expect("opens"));
        let mut data = json!({ "details": { "personal": { "revealed": "Anna" } } });
        vault.seal("person-p-1", &mut data).expect("seals");
        // Another process commits: no one reads the file meanwhile.
        let other = rusqlite::Connection::open(&path).expect("opens");
        other.execute_batch("BEGIN EXCLUSIVE").expect("locks");
        let opening = tokio::spawn({
            let vault = Arc::clone(&vault);
            async move { events_to_proto(vec![recorded(data)], Some(&vault)).await }
        });
        // Had the reading blocked this runtime's one thread, the lock would be let go only
        // after the read had given up.
        tokio::time::sleep(Duration::from_millis(200)).await;
        other.execute_batch("ROLLBACK").expect("unlocks");
        let events = opening
            .await
            .expect("joins")
            .expect("opens once the lock is free");
        assert_eq!(
            events[0].data_json,
            json!({ "details": { "personal": { "revealed": "Anna" } } }).to_string()
        );
    }
}
