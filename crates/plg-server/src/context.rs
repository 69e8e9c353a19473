//! A write request's context, read at the edge: the caller the authentication layer found,
//! the client's declared headers and the request's `WriteOptions`, checked into the write
//! core's `CommandContext`.

use chrono::{DateTime, Duration, Utc};
use plg_contract::{
    CORRELATION_HEADER, TOOL_HEADER, WriteRequest,
    parse::{self, Violations},
};
use plg_eventstore::StreamRevision;
use plg_ledger::{Caller, CommandContext, Delivery, ServiceError};
use plg_proto::v1::WriteOptions;
use tonic::metadata::MetadataMap;

const MAX_REQUEST_ID_LEN: usize = 128;
const MAX_HEADER_LEN: usize = 200;
/// How far a caller's clock may run ahead of the server's.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// The caller the authentication layer found; its absence means the layer is missing, which
/// must fail closed.
pub fn caller_of<M>(request: &tonic::Request<M>) -> Result<Caller, ServiceError> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ServiceError::Unauthenticated("the request is not authenticated".into()))
}

/// The context of a write RPC, received now, and its message. (The caller's role was
/// checked by the authentication layer, against the one table of RPCs.)
pub fn command_context<M: WriteRequest>(
    request: tonic::Request<M>,
) -> Result<(CommandContext, M), ServiceError> {
    let caller = caller_of(&request)?;
    let (headers, _, message) = request.into_parts();
    let context = new_context(caller, &headers, &message, Utc::now())?;
    Ok((context, message))
}

/// The context of a write the server makes itself, as `caller`.
pub fn context_by<M: WriteRequest>(
    caller: Caller,
    message: &M,
) -> Result<CommandContext, ServiceError> {
    new_context(caller, &MetadataMap::new(), message, Utc::now())
}

/// Reads the client's declared tool from the metadata and the write options from the
/// request, and fingerprints the request, so a reused request id is caught.
fn new_context<M: WriteRequest>(
    caller: Caller,
    headers: &MetadataMap,
    message: &M,
    now: DateTime<Utc>,
) -> Result<CommandContext, ServiceError> {
    let options = message.options();
    let mut violations = Violations::default();
    let tool = optional_header(&mut violations, headers, TOOL_HEADER).unwrap_or_default();
    let correlation_id = optional_header(&mut violations, headers, CORRELATION_HEADER)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let default_options = WriteOptions::default();
    let options = options.unwrap_or(&default_options);
    // Not trimmed: the key must be exactly what the fingerprinted request carries.
    let request_id = options.request_id.as_str();
    if request_id.trim().is_empty()
        || request_id.len() > MAX_REQUEST_ID_LEN
        || request_id.chars().any(char::is_control)
    {
        violations.add(
            "options.request_id",
            format!("is required: 1 to {MAX_REQUEST_ID_LEN} characters chosen by the client"),
        );
    }
    let occurred_at = match &options.occurred_at {
        None => Some(now),
        Some(timestamp) => match parse::timestamp(timestamp) {
            Ok(at) if at <= now + CLOCK_SKEW => Some(at),
            Ok(_) => {
                violations.add("options.occurred_at", "must not be in the future");
                None
            }
            Err(error) => {
                violations.add("options.occurred_at", error.0);
                None
            }
        },
    };
    let delivery = violations.finish(|| {
        Some(Delivery {
            request_id: request_id.to_owned(),
            expected_revision: options.expected_revision.map(StreamRevision),
            wait_for_research_view: options.wait_for_research_view,
            occurred_at: occurred_at?,
            received_at: now,
            tool,
            correlation_id,
            fingerprint: message.fingerprint(),
        })
    })?;
    Ok(CommandContext::new(caller, delivery))
}

fn optional_header(
    violations: &mut Violations,
    headers: &MetadataMap,
    name: &str,
) -> Option<String> {
    match headers.get(name).map(|value| value.to_str().map(str::trim)) {
        None => None,
        Some(Ok(value)) if !value.is_empty() && value.len() <= MAX_HEADER_LEN => {
            Some(value.to_owned())
        }
        Some(_) => {
            violations.add(
                format!("metadata.{name}"),
                format!("must be printable ASCII of 1 to {MAX_HEADER_LEN} characters"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plg_proto::v1::RegisterPersonRequest;

    fn request(request_id: &str) -> RegisterPersonRequest {
        RegisterPersonRequest {
            options: Some(WriteOptions {
                request_id: request_id.into(),
                ..Default::default()
            }),
            name: "A. Coach".into(),
            email: String::new(),
        }
    }

    fn context(
        headers: &MetadataMap,
        message: &RegisterPersonRequest,
        now: DateTime<Utc>,
    ) -> Result<CommandContext, ServiceError> {
        new_context(Caller::insecure_local(), headers, message, now)
    }

    #[test]
    fn a_request_id_is_required_and_declared_headers_must_be_printable() {
        let mut headers = MetadataMap::new();
        headers.insert(TOOL_HEADER, "".parse().expect("valid header"));
        let error = context(&headers, &request(""), Utc::now()).expect_err("nothing given");
        let ServiceError::InvalidArgument(violations) = error else {
            panic!("expected violations")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["metadata.plg-tool", "options.request_id"]);
    }

    #[test]
    fn the_actor_is_the_callers_identity_and_the_tool_is_optional() {
        let context =
            context(&MetadataMap::new(), &request("r-1"), Utc::now()).expect("valid context");
        assert_eq!(context.metadata.actor, "insecure-local");
        assert_eq!(context.metadata.tool, "");
        assert_eq!(context.metadata.key_id, None);
    }

    #[test]
    fn the_same_request_has_the_same_key_and_another_request_another_fingerprint() {
        let now = Utc::now();
        let first = request("r-1");
        let key = |message: &RegisterPersonRequest| {
            context(&MetadataMap::new(), message, now)
                .expect("valid context")
                .idempotency_key()
        };
        assert_eq!(key(&first), key(&first.clone()));
        let mut changed = first.clone();
        if let Some(options) = changed.options.as_mut() {
            options.expected_revision = Some(0);
        }
        assert_eq!(key(&changed).key, key(&first).key);
        assert_ne!(key(&changed).fingerprint, key(&first).fingerprint);
    }

    #[test]
    fn events_cannot_occur_in_the_future() {
        let now = Utc::now();
        let mut message = request("r-1");
        let later = now + Duration::hours(1);
        if let Some(options) = message.options.as_mut() {
            options.occurred_at = Some(prost_types::Timestamp {
                seconds: later.timestamp(),
                nanos: 0,
            });
        }
        let error = context(&MetadataMap::new(), &message, now).expect_err("future");
        assert!(
            matches!(error, ServiceError::InvalidArgument(v) if v[0].field == "options.occurred_at")
        );
    }
}
