//! The one mapping from the write core's errors to gRPC statuses, with details a client can
//! act on, bounded so that no error reply grows past what every client accepts.

use std::collections::HashMap;

use plg_domain::DomainError;
use plg_eventstore::{ExpectedRevision, StoreError};
use plg_ledger::{FieldViolation, ServiceError};
use plg_proto::v1;
use prost::Message as _;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::limits;

/// The error domain reported in `google.rpc.ErrorInfo`.
const ERROR_DOMAIN: &str = "plg.ledger";

fn describe(violations: &[FieldViolation]) -> String {
    let listed = bounded(violations)
        .iter()
        .map(|violation| match violation.field.as_str() {
            "" => violation.description.clone(),
            field => format!("{field}: {}", violation.description),
        })
        .collect::<Vec<_>>()
        .join("; ");
    limits::truncate(&listed, limits::MAX_MESSAGE_BYTES)
}

/// The violations a reply lists: the first [`limits::MAX_VIOLATIONS`], each cut to its bound,
/// and one entry counting the rest, so a request with a million problems gets a small reply.
fn bounded(violations: &[FieldViolation]) -> Vec<tonic_types::FieldViolation> {
    let mut listed: Vec<tonic_types::FieldViolation> = violations
        .iter()
        .take(limits::MAX_VIOLATIONS)
        .map(|violation| {
            tonic_types::FieldViolation::new(
                limits::truncate(&violation.field, limits::MAX_FIELD_BYTES),
                limits::truncate(&violation.description, limits::MAX_DESCRIPTION_BYTES),
            )
        })
        .collect();
    if violations.len() > limits::MAX_VIOLATIONS {
        let more = violations.len() - limits::MAX_VIOLATIONS;
        listed.push(tonic_types::FieldViolation::new(
            "",
            format!("and {more} more violations not listed"),
        ));
    }
    listed
}

fn resource(code: Code, message: String, kind: &str, id: &str) -> Status {
    let details = ErrorDetails::with_resource_info(kind, id, "", message.clone());
    Status::with_error_details(code, message, details)
}

/// The status a failed call answers with. Caller mistakes never become INTERNAL; what does
/// is logged here, and the caller learns only that it happened.
pub fn status(error: ServiceError) -> Status {
    let message = match &error {
        ServiceError::InvalidArgument(violations) => {
            format!("invalid request: {}", describe(violations))
        }
        other => other.to_string(),
    };
    let message = limits::truncate(&message, limits::MAX_MESSAGE_BYTES);
    match error {
        ServiceError::InvalidArgument(violations) => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request(bounded(&violations)),
        ),
        ServiceError::NotFound { kind, id } => resource(Code::NotFound, message, kind, &id),
        ServiceError::Domain(DomainError::NotFound { kind }) => {
            resource(Code::NotFound, message, kind, "")
        }
        ServiceError::Domain(DomainError::AlreadyExists { kind, id }) => {
            resource(Code::AlreadyExists, message, kind, &id)
        }
        ServiceError::Domain(DomainError::InvalidField {
            field,
            message: description,
        }) => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request_violation(field, description),
        ),
        ServiceError::Domain(DomainError::RuleViolated {
            rule,
            message: description,
        }) => Status::with_error_details(
            Code::FailedPrecondition,
            message,
            ErrorDetails::with_precondition_failure_violation(rule, "", description),
        ),
        ServiceError::Store(StoreError::WrongExpectedRevision {
            stream,
            expected,
            actual,
        }) => {
            let metadata = HashMap::from([
                ("stream".to_owned(), stream.to_string()),
                (
                    "expected_revision".to_owned(),
                    match expected {
                        ExpectedRevision::Exact(revision) => revision.to_string(),
                        ExpectedRevision::Any => "any".to_owned(),
                        ExpectedRevision::NoStream => "no_stream".to_owned(),
                        ExpectedRevision::StreamExists => "stream_exists".to_owned(),
                    },
                ),
                (
                    "actual_revision".to_owned(),
                    actual.map_or_else(|| "none".to_owned(), |revision| revision.to_string()),
                ),
            ]);
            Status::with_error_details(
                Code::Aborted,
                message,
                ErrorDetails::with_error_info("WRONG_EXPECTED_REVISION", ERROR_DOMAIN, metadata),
            )
        }
        ServiceError::Store(StoreError::IdempotencyKeyReused(_)) => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request_violation(
                "options.request_id",
                "was already used for a different request",
            ),
        ),
        ServiceError::Store(StoreError::InvalidStreamName(name)) => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request_violation(
                "stream",
                format!("{} is not a valid stream name", limits::echo(&name)),
            ),
        ),
        ServiceError::Store(StoreError::DuplicateEventId(id)) => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request_violation(
                "id",
                format!("event id {id} is already stored (event ids are unique in the store)"),
            ),
        ),
        ServiceError::Unauthenticated(_) => Status::unauthenticated(message),
        ServiceError::PermissionDenied(_) => Status::permission_denied(message),
        ServiceError::ResourceExhausted(_) => Status::resource_exhausted(message),
        // Larger than the store takes: a limit, as gRPC's own message size limit is, and
        // never worth retrying unchanged. What the store said stays in the log.
        ServiceError::Store(StoreError::AppendRefused(_)) => {
            tracing::warn!(error = %message, "the event store refused a write");
            Status::resource_exhausted(
                "the event store refused this write as larger than it takes; it cannot succeed \
                 as sent",
            )
        }
        ServiceError::Store(StoreError::Storage(_) | StoreError::Closed) => {
            tracing::error!(error = %message, "storage unavailable");
            Status::unavailable("storage is unavailable; retry with the same request id")
        }
        ServiceError::Store(StoreError::EmptyAppend | StoreError::Corrupt(_))
        | ServiceError::Corrupt(_)
        | ServiceError::Tampered { .. }
        | ServiceError::UnexpectedEvent { .. }
        | ServiceError::Internal(_)
        | ServiceError::Failed { .. } => {
            tracing::error!(error = %message, "internal error");
            Status::internal("internal error")
        }
    }
}

/// A failed write of a streaming call as a message: the status its unary RPC would have
/// answered, with its field violations at hand and the whole `google.rpc.Status` (encoded
/// here when the status carries no details).
pub fn write_error(status: &Status) -> v1::WriteError {
    let field_violations = status
        .get_details_bad_request()
        .map(|bad_request| bad_request.field_violations)
        .unwrap_or_default()
        .into_iter()
        .map(|violation| v1::FieldViolation {
            field: violation.field,
            description: violation.description,
        })
        .collect();
    let encoded = match status.details() {
        [] => tonic_types::Status {
            code: status.code().into(),
            message: status.message().to_owned(),
            details: Vec::new(),
        }
        .encode_to_vec(),
        details => details.to_vec(),
    };
    v1::WriteError {
        code: status.code().into(),
        message: status.message().to_owned(),
        field_violations,
        status: encoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plg_eventstore::{StreamName, StreamRevision};

    #[test]
    fn caller_mistakes_never_become_internal() {
        let stream = StreamName::new("plg-1").expect("valid name");
        let cases: Vec<(ServiceError, Code)> = vec![
            (
                ServiceError::invalid("name", "must not be empty"),
                Code::InvalidArgument,
            ),
            (ServiceError::not_found("school", "x"), Code::NotFound),
            (
                DomainError::invalid("held_on", "future").into(),
                Code::InvalidArgument,
            ),
            (
                DomainError::rule("plg_dissolved", "dissolved").into(),
                Code::FailedPrecondition,
            ),
            (
                DomainError::already_exists("school", "x").into(),
                Code::AlreadyExists,
            ),
            (
                StoreError::WrongExpectedRevision {
                    stream,
                    expected: ExpectedRevision::Exact(StreamRevision(1)),
                    actual: Some(StreamRevision(3)),
                }
                .into(),
                Code::Aborted,
            ),
            (
                StoreError::IdempotencyKeyReused("k".into()).into(),
                Code::InvalidArgument,
            ),
            (
                ServiceError::Unauthenticated("no key".into()),
                Code::Unauthenticated,
            ),
            (
                ServiceError::PermissionDenied("out of scope".into()),
                Code::PermissionDenied,
            ),
            // Not UNAVAILABLE, which callers retry: the same write is refused every time.
            (
                StoreError::AppendRefused("Maximum Append Size of 1048576 Exceeded.".into()).into(),
                Code::ResourceExhausted,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(status(error).code(), code);
        }
    }

    #[test]
    fn a_conflict_reports_the_actual_revision() {
        let status = status(ServiceError::from(StoreError::WrongExpectedRevision {
            stream: StreamName::new("plg-1").expect("valid name"),
            expected: ExpectedRevision::Exact(StreamRevision(1)),
            actual: Some(StreamRevision(3)),
        }));
        let info = status
            .get_details_error_info()
            .expect("error info attached");
        assert_eq!(
            info.metadata.get("actual_revision").map(String::as_str),
            Some("3")
        );
        assert_eq!(
            info.metadata.get("expected_revision").map(String::as_str),
            Some("1")
        );
    }

    #[test]
    fn field_violations_travel_as_bad_request_details() {
        let status = status(ServiceError::InvalidArgument(vec![
            FieldViolation::new("name", "must not be empty"),
            FieldViolation::new("country", "is required"),
        ]));
        let bad_request = status
            .get_details_bad_request()
            .expect("bad request attached");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "country"]);
    }

    #[test]
    fn an_error_reply_stays_small_however_much_is_wrong() {
        let long = "x".repeat(6_000);
        let violations = (0..1_000)
            .map(|index| FieldViolation::new(format!("{long}[{index}]"), long.clone()))
            .collect();
        let status = status(ServiceError::InvalidArgument(violations));
        let listed = status
            .get_details_bad_request()
            .expect("bad request attached")
            .field_violations;
        assert_eq!(listed.len(), limits::MAX_VIOLATIONS + 1);
        assert_eq!(listed[20].description, "and 980 more violations not listed");
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).expect("encodes");
        let size: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        assert!(size < 8 * 1024, "{size} bytes of metadata");
    }

    #[test]
    fn a_write_error_carries_the_status_a_unary_write_would_have_answered() {
        let invalid = status(ServiceError::InvalidArgument(vec![FieldViolation::new(
            "answers[3].current",
            "must be 1 to 5",
        )]));
        let error = write_error(&invalid);
        assert_eq!(error.code, i32::from(Code::InvalidArgument));
        assert_eq!(error.message, invalid.message());
        let fields: Vec<_> = error.field_violations.iter().map(|v| &v.field).collect();
        assert_eq!(fields, ["answers[3].current"]);
        let rebuilt =
            Status::with_details(Code::from(error.code), error.message, error.status.into());
        let bad_request = rebuilt.get_details_bad_request().expect("bad request");
        assert_eq!(bad_request.field_violations[0].field, "answers[3].current");

        // A status without details still comes whole.
        let denied = write_error(&status(ServiceError::PermissionDenied(
            "out of scope".into(),
        )));
        assert!(denied.field_violations.is_empty());
        let decoded = tonic_types::Status::decode(denied.status.as_slice()).expect("decodes");
        assert_eq!(decoded.code, i32::from(Code::PermissionDenied));
        assert_eq!(decoded.message, denied.message);
    }

    #[test]
    fn an_invalid_stream_name_is_echoed_cut_short() {
        let status = status(ServiceError::from(StoreError::InvalidStreamName(
            "s".repeat(6_000),
        )));
        let violation = &status
            .get_details_bad_request()
            .expect("bad request attached")
            .field_violations[0];
        assert!(
            violation.description.len() < 100,
            "{}",
            violation.description
        );
        assert!(status.message().len() <= limits::MAX_MESSAGE_BYTES);
    }
}
