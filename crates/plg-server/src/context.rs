//! A write request's context, read at the edge: the caller the authentication layer found,
//! the client's declared headers and the request's `WriteOptions`, checked into the write
//! core's `CommandContext`. A streaming write call reads its caller and headers once
//! ([`CallContext`]), and each message's options as it arrives.

use chrono::{DateTime, Duration, Utc};
use plg_contract::{
    CORRELATION_HEADER, TOOL_HEADER, WriteRequest,
    parse::{self, Violations},
};
use plg_eventstore::StreamRevision;
use plg_ledger::{Caller, CommandContext, Delivery, ServiceError};
use plg_proto::v1::WriteOptions;
use tonic::metadata::MetadataMap;

pub(crate) const MAX_REQUEST_ID_LEN: usize = 128;
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

/// One write's context: the call's and the message's parts, every violation of both at once.
fn new_context<M: WriteRequest>(
    caller: Caller,
    headers: &MetadataMap,
    message: &M,
    now: DateTime<Utc>,
) -> Result<CommandContext, ServiceError> {
    let mut violations = Violations::default();
    let call = CallContext::read(caller, headers, &mut violations);
    let delivery = call.delivery(&mut violations, message, now);
    violations.finish(|| Some(CommandContext::new(call.caller, delivery?)))
}

/// What a call declares for every write it carries: its caller and its headers. A streaming
/// call (`ImportScans`) reads it once, then gives each of its messages a context of its own
/// with [`CallContext::command_context`], checked as a unary write's.
#[derive(Debug, Clone)]
pub struct CallContext {
    caller: Caller,
    tool: String,
    /// The client's, or one generated for the whole call.
    correlation_id: String,
}

impl CallContext {
    /// The context of the call `request` opens (its message is not looked at); malformed
    /// headers are the call's `INVALID_ARGUMENT`.
    pub fn of<M>(request: &tonic::Request<M>) -> Result<Self, ServiceError> {
        let caller = caller_of(request)?;
        let mut violations = Violations::default();
        let call = Self::read(caller, request.metadata(), &mut violations);
        violations.finish(|| Some(call))
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The context of one write of the call, received now: the call's caller and headers with
    /// the message's own options.
    pub fn command_context<M: WriteRequest>(
        &self,
        message: &M,
    ) -> Result<CommandContext, ServiceError> {
        let mut violations = Violations::default();
        let delivery = self.delivery(&mut violations, message, Utc::now());
        violations.finish(|| Some(CommandContext::new(self.caller.clone(), delivery?)))
    }

    /// Reads the client's declared tool and correlation id from the metadata.
    fn read(caller: Caller, headers: &MetadataMap, violations: &mut Violations) -> Self {
        let tool = optional_header(violations, headers, TOOL_HEADER).unwrap_or_default();
        let correlation_id = optional_header(violations, headers, CORRELATION_HEADER)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Self {
            caller,
            tool,
            correlation_id,
        }
    }

    /// Reads the write options from the message and fingerprints it, so a reused request id
    /// is caught.
    fn delivery<M: WriteRequest>(
        &self,
        violations: &mut Violations,
        message: &M,
        now: DateTime<Utc>,
    ) -> Option<Delivery> {
        let default_options = WriteOptions::default();
        let options = message.options().unwrap_or(&default_options);
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
        Some(Delivery {
            request_id: request_id.to_owned(),
            expected_revision: options.expected_revision.map(StreamRevision),
            wait_for_research_view: options.wait_for_research_view,
            occurred_at: occurred_at?,
            received_at: now,
            tool: self.tool.clone(),
            correlation_id: self.correlation_id.clone(),
            fingerprint: message.fingerprint(),
        })
    }
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
    fn a_calls_writes_share_its_headers_and_keep_their_own_options() {
        let mut headers = MetadataMap::new();
        headers.insert(TOOL_HEADER, "importer/1".parse().expect("valid header"));
        let mut opened = tonic::Request::from_parts(headers, Default::default(), ());
        opened.extensions_mut().insert(Caller::insecure_local());
        let call = CallContext::of(&opened).expect("a valid call");
        let first = call.command_context(&request("r-1")).expect("valid");
        let second = call.command_context(&request("r-2")).expect("valid");
        assert_eq!(first.metadata.tool, "importer/1");
        assert_eq!(
            first.metadata.correlation_id,
            second.metadata.correlation_id
        );
        assert_eq!(
            (first.request_id.as_str(), second.request_id.as_str()),
            ("r-1", "r-2")
        );
        // One write's options fail that write alone.
        let error = call.command_context(&request("")).expect_err("no id");
        assert!(
            matches!(error, ServiceError::InvalidArgument(v) if v[0].field == "options.request_id")
        );

        // A malformed header is the call's.
        let mut headers = MetadataMap::new();
        headers.insert(TOOL_HEADER, "".parse().expect("valid header"));
        let mut opened = tonic::Request::from_parts(headers, Default::default(), ());
        opened.extensions_mut().insert(Caller::insecure_local());
        let error = CallContext::of(&opened).expect_err("malformed");
        assert!(
            matches!(error, ServiceError::InvalidArgument(v) if v[0].field == "metadata.plg-tool")
        );
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
