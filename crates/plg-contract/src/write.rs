//! What every write request carries and how it becomes a command: its `WriteOptions`, the
//! name and content its fingerprint covers, and the reply it gets.

use plg_ledger::{Command, CommandContext, EventOf, ServiceError, Written};
use plg_proto::v1::{self, WriteOptions};
use sha2::{Digest, Sha256};

/// A write RPC's request: it carries `WriteOptions`, and its type names it in fingerprints.
pub trait WriteRequest: prost::Message + Sized {
    const NAME: &'static str;
    fn options(&self) -> Option<&WriteOptions>;
    /// The request with its personal fields (listed in braces in `write_requests!`) blanked:
    /// what its fingerprint covers. The fingerprint stays in the log after an erasure, so it
    /// must not let anyone confirm a guessed name.
    fn without_personal_data(&self) -> Self;

    /// A digest of the request without its personal fields: a request id reused with other
    /// personal data (and nothing else changed) replays the original instead of being refused.
    fn fingerprint(&self) -> String {
        fingerprint(Self::NAME, &self.without_personal_data())
    }
}

/// A write request that parses into a command of the write core, and the reply to its result.
pub trait IntoCommand: WriteRequest {
    type Command: Command;
    type Reply;

    /// The command the request asks for, or every field violation at once.
    fn into_command(self, context: &CommandContext) -> Result<Self::Command, ServiceError>;

    fn reply(written: Written<EventOf<Self::Command>>) -> Result<Self::Reply, ServiceError>;
}

/// A message of a streaming write RPC (`ImportScans`): it carries one write request, and
/// each write's outcome is reported in a message of its own, by its place in the stream.
pub trait StreamedWrite: Send + 'static {
    type Write: IntoCommand + Send;
    type Report: Send + 'static;
    /// The field that carries the write, which a violation names when it is missing.
    const FIELD: &'static str;

    fn into_write(self) -> Option<Self::Write>;

    /// The report of the write at `index` (0 for the stream's first message), whose request
    /// id is `request_id`: its reply, or the error its unary RPC would have answered.
    fn report(
        index: u64,
        request_id: String,
        outcome: Result<<Self::Write as IntoCommand>::Reply, v1::WriteError>,
    ) -> Self::Report;
}

macro_rules! write_requests {
    ($($request:ident $({ $($personal:ident),* })?),* $(,)?) => {
        $(impl WriteRequest for v1::$request {
            const NAME: &'static str = stringify!($request);
            fn options(&self) -> Option<&WriteOptions> {
                self.options.as_ref()
            }
            fn without_personal_data(&self) -> Self {
                Self {
                    $($($personal: Default::default(),)*)?
                    ..self.clone()
                }
            }
        })*
    };
}

write_requests!(
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
    ErasePersonalDataRequest,
    IssueApiKeyRequest,
    ChangeApiKeyScopeRequest,
    RevokeApiKeyRequest,
);

fn fingerprint<M: prost::Message>(method: &str, message: &M) -> String {
    let digest = Sha256::new()
        .chain_update(method.as_bytes())
        .chain_update([0])
        .chain_update(message.encode_to_vec())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where a write left the log, as every write reply reports it.
pub fn write_result<E>(written: &Written<E>) -> Option<v1::WriteResult> {
    Some(v1::WriteResult {
        stream: written.outcome.stream.to_string(),
        revision: written.outcome.revision.0,
        position: written.outcome.position.0,
        replayed: written.outcome.replayed,
        research_view_position: written.research_view_position.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use plg_proto::v1::RegisterPersonRequest;

    #[test]
    fn personal_data_leaves_no_trace_in_the_fingerprint() {
        let first = RegisterPersonRequest {
            options: Some(WriteOptions {
                request_id: "r-1".into(),
                ..Default::default()
            }),
            name: "A. Coach".into(),
            email: String::new(),
        };
        let mut other = first.clone();
        other.name = "B. Coach".into();
        other.email = "b.coach@example.org".into();
        assert_eq!(other.fingerprint(), first.fingerprint());
        // Nor can a guess of the whole request be confirmed against it.
        assert_ne!(
            first.fingerprint(),
            fingerprint("RegisterPersonRequest", &first)
        );
    }
}
