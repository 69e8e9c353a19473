use chrono::{DateTime, Duration, NaiveDate, Utc};
use plg_domain::values::school_date;
use plg_eventstore::{IdempotencyKey, StreamRevision};
use plg_proto::v1::{self, WriteOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use crate::{
    ServiceError,
    parse::{self, Violations},
};

/// Who writes: required on every write.
pub const ACTOR_HEADER: &str = "plg-actor";
/// Through which partner tool: required on every write.
pub const TOOL_HEADER: &str = "plg-tool";
/// Ties events of one business transaction together: generated when absent.
pub const CORRELATION_HEADER: &str = "plg-correlation-id";

const MAX_REQUEST_ID_LEN: usize = 128;
const MAX_HEADER_LEN: usize = 200;
/// How far a caller's clock may run ahead of the server's.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// Everything about a write that is not the command itself; it becomes the events' metadata.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub request_id: String,
    pub expected_revision: Option<StreamRevision>,
    /// Whether the reply waits until the research view includes the write.
    pub wait_for_research_view: bool,
    pub metadata: EventMetadata,
    received_at: DateTime<Utc>,
    fingerprint: String,
}

/// Stored with every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub actor: String,
    pub tool: String,
    pub correlation_id: String,
    pub request_id: String,
    /// When it happened in the school.
    pub occurred_at: DateTime<Utc>,
}

/// A write RPC's request: it carries `WriteOptions`, and its type names it in fingerprints.
pub trait WriteRequest: prost::Message {
    const NAME: &'static str;
    fn options(&self) -> Option<&WriteOptions>;
}

macro_rules! write_requests {
    ($($request:ident),* $(,)?) => {
        $(impl WriteRequest for v1::$request {
            const NAME: &'static str = stringify!($request);
            fn options(&self) -> Option<&WriteOptions> {
                self.options.as_ref()
            }
        })*
    };
}

write_requests!(
    RegisterSchoolRequest,
    DefineStudyRequest,
    RegisterInstrumentRequest,
    EnrolSchoolRequest,
    RegisterPersonRequest,
    ErasePersonalDataRequest,
    SubmitScanRequest,
    RetractScanRequest,
    WithdrawConsentRequest,
    LogInterventionRequest,
    StartInterventionRequest,
    CompleteInterventionRequest,
    AbandonInterventionRequest,
    AssessContributionRequest,
    ReviseDevelopmentPlanRequest,
    RecordReflectionConversationRequest,
    FormPlgRequest,
    RefineLearningQuestionRequest,
    AddMemberRequest,
    RemoveMemberRequest,
    RecordPhaseRequest,
    HoldSessionRequest,
    DissolvePlgRequest,
    AssignCoachRequest,
    HandOverCoachingRequest,
);

impl WriteContext {
    /// The context of a write RPC, received now, and its message.
    pub fn from_request<M: WriteRequest>(
        request: tonic::Request<M>,
    ) -> Result<(Self, M), ServiceError> {
        let (headers, _, message) = request.into_parts();
        let context = Self::new(M::NAME, &headers, message.options(), &message, Utc::now())?;
        Ok((context, message))
    }

    /// Reads the caller's identity from the metadata and the write options from the request.
    /// `method` and `message` fingerprint the request, so a reused request id is caught.
    pub fn new<M: prost::Message>(
        method: &str,
        headers: &MetadataMap,
        options: Option<&WriteOptions>,
        message: &M,
        now: DateTime<Utc>,
    ) -> Result<Self, ServiceError> {
        let mut violations = Violations::default();
        let actor = header(&mut violations, headers, ACTOR_HEADER);
        let tool = header(&mut violations, headers, TOOL_HEADER);
        let correlation_id = match headers.get(CORRELATION_HEADER).map(|value| value.to_str()) {
            None => Some(uuid::Uuid::new_v4().to_string()),
            Some(Ok(value)) if !value.is_empty() && value.len() <= MAX_HEADER_LEN => {
                Some(value.to_owned())
            }
            Some(_) => {
                violations.add(
                    format!("metadata.{CORRELATION_HEADER}"),
                    format!("must be printable ASCII of 1 to {MAX_HEADER_LEN} characters"),
                );
                None
            }
        };
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
        let (Some(actor), Some(tool), Some(correlation_id), Some(occurred_at), true) = (
            actor,
            tool,
            correlation_id,
            occurred_at,
            violations.is_empty(),
        ) else {
            return Err(violations.into_error());
        };
        Ok(Self {
            request_id: request_id.to_owned(),
            expected_revision: options.expected_revision.map(StreamRevision),
            wait_for_research_view: options.wait_for_research_view,
            received_at: now,
            fingerprint: fingerprint(method, message),
            metadata: EventMetadata {
                actor,
                tool,
                correlation_id,
                request_id: request_id.to_owned(),
                occurred_at,
            },
        })
    }

    /// Today, in the schools' time zone: a date after it is in the future.
    pub fn today(&self) -> NaiveDate {
        school_date(self.received_at)
    }

    /// The date on which the write's subject happened, in the schools' time zone.
    pub fn occurred_on(&self) -> NaiveDate {
        school_date(self.metadata.occurred_at)
    }

    /// Request ids are scoped by the tool that chose them. The tool's length comes first, so
    /// no tool name and request id can combine into another pair's key.
    pub fn idempotency_key(&self) -> IdempotencyKey {
        let tool = &self.metadata.tool;
        IdempotencyKey {
            key: format!("{}:{tool}/{}", tool.len(), self.request_id),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

fn header(violations: &mut Violations, headers: &MetadataMap, name: &str) -> Option<String> {
    match headers.get(name).map(|value| value.to_str().map(str::trim)) {
        Some(Ok(value)) if !value.is_empty() && value.len() <= MAX_HEADER_LEN => {
            Some(value.to_owned())
        }
        _ => {
            violations.add(
                format!("metadata.{name}"),
                format!("is required: printable ASCII of 1 to {MAX_HEADER_LEN} characters"),
            );
            None
        }
    }
}

fn fingerprint<M: prost::Message>(method: &str, message: &M) -> String {
    let digest = Sha256::new()
        .chain_update(method.as_bytes())
        .chain_update([0])
        .chain_update(message.encode_to_vec())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plg_proto::v1::RegisterPersonRequest;

    fn headers() -> MetadataMap {
        let mut headers = MetadataMap::new();
        headers.insert(ACTOR_HEADER, "coach-7".parse().expect("valid header"));
        headers.insert(TOOL_HEADER, "scan-tool".parse().expect("valid header"));
        headers
    }

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

    #[test]
    fn identity_and_request_id_are_required() {
        let message = request("");
        let error = WriteContext::new(
            "RegisterPerson",
            &MetadataMap::new(),
            message.options.as_ref(),
            &message,
            Utc::now(),
        )
        .expect_err("nothing given");
        let ServiceError::InvalidArgument(violations) = error else {
            panic!("expected violations")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.plg-actor",
                "metadata.plg-tool",
                "options.request_id"
            ]
        );
    }

    #[test]
    fn the_same_request_has_the_same_key_and_another_request_another_fingerprint() {
        let now = Utc::now();
        let first = request("r-1");
        let context = |message: &RegisterPersonRequest| {
            WriteContext::new(
                "RegisterPerson",
                &headers(),
                message.options.as_ref(),
                message,
                now,
            )
            .expect("valid context")
            .idempotency_key()
        };
        assert_eq!(context(&first), context(&first.clone()));
        let mut changed = first.clone();
        changed.name = "B. Coach".into();
        assert_eq!(context(&changed).key, context(&first).key);
        assert_ne!(context(&changed).fingerprint, context(&first).fingerprint);
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
        let error = WriteContext::new(
            "RegisterPerson",
            &headers(),
            message.options.as_ref(),
            &message,
            now,
        )
        .expect_err("future");
        assert!(
            matches!(error, ServiceError::InvalidArgument(v) if v[0].field == "options.occurred_at")
        );
    }
}
