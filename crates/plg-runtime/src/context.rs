use chrono::{DateTime, Duration, NaiveDate, Utc};
use plg_domain::values::school_date;
use plg_eventstore::{IdempotencyKey, StreamRevision};
use plg_proto::v1::{self, WriteOptions};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

// Its readers, the read services, share it through the contract crate.
pub use plg_contract::events::EventMetadata;

use crate::{
    Caller, ServiceError,
    parse::{self, Violations},
};
use plg_domain::access::Role;

/// The client software, as the client declares it: optional, recorded, never trusted.
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
    /// Who writes: the authenticated key, whose identity the events record as their actor.
    pub caller: Caller,
    pub request_id: String,
    pub expected_revision: Option<StreamRevision>,
    /// Whether the reply waits until the research view includes the write.
    pub wait_for_research_view: bool,
    pub metadata: EventMetadata,
    received_at: DateTime<Utc>,
    fingerprint: String,
}

/// A write RPC's request: it carries `WriteOptions`, its type names it in fingerprints, and
/// it declares which role may send it.
pub trait WriteRequest: prost::Message + Sized {
    const NAME: &'static str;
    const ROLE: Role;
    fn options(&self) -> Option<&WriteOptions>;
    /// The request with its personal fields (listed in braces in `write_requests!`) blanked:
    /// what its fingerprint covers. The fingerprint stays in the log after an erasure, so it
    /// must not let anyone confirm a guessed name.
    fn without_personal_data(&self) -> Self;
}

macro_rules! write_requests {
    ($($role:ident: [$($request:ident $({ $($personal:ident),* })?),* $(,)?]),* $(,)?) => {
        $($(impl WriteRequest for v1::$request {
            const NAME: &'static str = stringify!($request);
            const ROLE: Role = Role::$role;
            fn options(&self) -> Option<&WriteOptions> {
                self.options.as_ref()
            }
            fn without_personal_data(&self) -> Self {
                Self {
                    $($($personal: Default::default(),)*)?
                    ..self.clone()
                }
            }
        })*)*
    };
}

write_requests!(
    PartnerTool: [
    RegisterSchoolRequest,
    DefineStudyRequest,
    RegisterInstrumentRequest,
    EnrolSchoolRequest,
    ReleaseWaveRequest,
    RegisterPersonRequest { name, email },
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
    ],
    Administrator: [ErasePersonalDataRequest],
    Operator: [
        IssueApiKeyRequest,
        ChangeApiKeyScopeRequest,
        RevokeApiKeyRequest,
    ],
);

impl WriteContext {
    /// The context of a write RPC, received now, and its message, once the caller is known
    /// to hold the role the RPC needs.
    pub fn from_request<M: WriteRequest>(
        request: tonic::Request<M>,
    ) -> Result<(Self, M), ServiceError> {
        let caller = Caller::of(&request)?;
        caller.require(M::ROLE)?;
        let (headers, _, message) = request.into_parts();
        let context = Self::new(caller, &headers, &message, Utc::now())?;
        Ok((context, message))
    }

    /// The context of a write the server makes itself, as `caller`.
    pub fn by<M: WriteRequest>(caller: Caller, message: &M) -> Result<Self, ServiceError> {
        Self::new(caller, &MetadataMap::new(), message, Utc::now())
    }

    /// Reads the client's declared tool from the metadata and the write options from the
    /// request, and fingerprints the request, so a reused request id is caught. Personal
    /// fields are left out of the fingerprint: a request id reused with other personal data
    /// (and nothing else changed) replays the original instead of being refused.
    pub fn new<M: WriteRequest>(
        caller: Caller,
        headers: &MetadataMap,
        message: &M,
        now: DateTime<Utc>,
    ) -> Result<Self, ServiceError> {
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
        let (Some(occurred_at), true) = (occurred_at, violations.is_empty()) else {
            return Err(violations.into_error());
        };
        Ok(Self {
            request_id: request_id.to_owned(),
            expected_revision: options.expected_revision.map(StreamRevision),
            wait_for_research_view: options.wait_for_research_view,
            received_at: now,
            fingerprint: fingerprint(M::NAME, &message.without_personal_data()),
            metadata: EventMetadata {
                actor: caller.identity().to_owned(),
                key_id: caller.key_id().map(|id| id.to_string()),
                tool,
                correlation_id,
                request_id: request_id.to_owned(),
                occurred_at,
            },
            caller,
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
    ) -> Result<WriteContext, ServiceError> {
        WriteContext::new(Caller::insecure_local(), headers, message, now)
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
    fn personal_data_leaves_no_trace_in_the_fingerprint() {
        let now = Utc::now();
        let first = request("r-1");
        let fingerprint = |message: &RegisterPersonRequest| {
            context(&MetadataMap::new(), message, now)
                .expect("valid context")
                .idempotency_key()
                .fingerprint
        };
        let mut other = first.clone();
        other.name = "B. Coach".into();
        other.email = "b.coach@example.org".into();
        assert_eq!(fingerprint(&other), fingerprint(&first));
        // Nor can a guess of the whole request be confirmed against it.
        assert_ne!(
            fingerprint(&first),
            super::fingerprint("RegisterPersonRequest", &first)
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
