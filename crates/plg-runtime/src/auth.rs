//! Who is calling: API keys, checked on every request by a layer in front of all services,
//! and the caller's role and scope, checked by each RPC against what it touches.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use plg_domain::{
    access::{ApiKey, ApiKeyCommand, ApiKeyEvent, Role, Scope},
    ids::{ApiKeyId, InterventionId, PlgId, ResponseId, SchoolId, StudyId},
    intervention::Intervention,
    plg::Plg,
    scan::ScanResponse,
    school::School,
    values::{Label, SecretHash},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::{Status, body::Body};

use crate::{
    Ledger, ServiceError, Target, WriteContext, Written,
    budget::{self, Budgets},
    config::KeyBudget,
};

/// Every key starts with this, so a leaked key is recognisable (for secret scanners, too).
const KEY_PREFIX: &str = "plg_";
const SECRET_BYTES: usize = 32;
/// What the first operator key is recorded as.
const FIRST_OPERATOR: &str = "operator (created on first start)";
/// The request id of the first operator key: issuing it again on a later start replays.
const FIRST_OPERATOR_REQUEST: &str = "first-operator-key";

/// A key as issued: its id, the token callers send, and the hash the log keeps.
#[derive(Debug)]
struct NewApiKey {
    key_id: ApiKeyId,
    token: String,
    secret_hash: SecretHash,
}

impl NewApiKey {
    fn generate() -> Result<Self, ServiceError> {
        let mut secret = [0_u8; SECRET_BYTES];
        getrandom::fill(&mut secret)
            .map_err(|error| ServiceError::Internal(format!("no randomness: {error}")))?;
        let secret = URL_SAFE_NO_PAD.encode(secret);
        let key_id = ApiKeyId::new_random();
        Ok(Self {
            token: format!("{KEY_PREFIX}{}_{secret}", key_id.as_uuid().simple()),
            secret_hash: hash(&secret),
            key_id,
        })
    }
}

/// A random 256-bit secret needs no slow hash: SHA-256 cannot be brute-forced back to it.
fn hash(secret: &str) -> SecretHash {
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    SecretHash::parse(&hex).unwrap_or_else(|_| unreachable!("a SHA-256 digest is 64 hex digits"))
}

/// `plg_<key id, 32 hex digits>_<secret>`; the secret may itself contain `_`.
fn parse_token(token: &str) -> Option<(ApiKeyId, &str)> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = (rest.get(..32)?, rest.get(32..)?.strip_prefix('_')?);
    if secret.is_empty() || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    Some((ApiKeyId::parse(id).ok()?, secret))
}

/// The authenticated caller of a request, which the authentication layer puts into the
/// request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    key_id: Option<ApiKeyId>,
    identity: String,
    access: Access,
}

#[derive(Debug, Clone)]
enum Access {
    Key {
        role: Role,
        scope: Scope,
    },
    /// Insecure local mode, and plgd itself.
    Unrestricted,
}

impl Caller {
    /// Every caller in insecure local mode.
    pub fn insecure_local() -> Self {
        Self {
            key_id: None,
            identity: "insecure-local".to_owned(),
            access: Access::Unrestricted,
        }
    }

    fn plgd() -> Self {
        Self {
            key_id: None,
            identity: "plgd".to_owned(),
            access: Access::Unrestricted,
        }
    }

    /// The caller the authentication layer found; its absence means the layer is missing,
    /// which must fail closed.
    pub fn of<M>(request: &tonic::Request<M>) -> Result<Self, ServiceError> {
        request
            .extensions()
            .get::<Self>()
            .cloned()
            .ok_or_else(|| ServiceError::Unauthenticated("the request is not authenticated".into()))
    }

    /// Recorded as the actor of what the caller writes.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn key_id(&self) -> Option<ApiKeyId> {
        self.key_id
    }

    /// Whose request ids these are: a key's own, so no key can replay another's requests.
    pub fn principal(&self) -> String {
        self.key_id
            .map_or_else(|| self.identity.clone(), |id| id.to_string())
    }

    /// Passes only for keys of `role` (and unrestricted callers).
    pub fn require(&self, role: Role) -> Result<(), ServiceError> {
        match &self.access {
            Access::Unrestricted => Ok(()),
            Access::Key { role: held, .. } if *held == role => Ok(()),
            Access::Key { role: held, .. } => Err(ServiceError::PermissionDenied(format!(
                "this call needs the {} role; this key's role is {}",
                role.name(),
                held.name()
            ))),
        }
    }

    /// Which events of the log the caller may read: partner tools only those written with
    /// their own key (`Some`), unrestricted administrators all (`None`).
    pub fn event_log_filter(&self) -> Result<Option<ApiKeyId>, ServiceError> {
        match &self.access {
            Access::Unrestricted => Ok(None),
            Access::Key {
                role: Role::PartnerTool,
                ..
            } => Ok(self.key_id),
            Access::Key {
                role: Role::Administrator,
                scope,
            } if scope.everything => Ok(None),
            Access::Key { .. } => Err(ServiceError::PermissionDenied(
                "the event log is for partner tools, which read back their own writes, and for \
                 administrators whose scope is everything"
                    .into(),
            )),
        }
    }

    /// Researchers always see pseudonymised schools, whatever the study allows.
    pub fn may_identify_schools(&self) -> bool {
        matches!(self.access, Access::Unrestricted)
    }

    /// Passes for researchers granted respondent-level data (and unrestricted callers).
    pub fn require_respondent_data(&self) -> Result<(), ServiceError> {
        match &self.access {
            Access::Key { scope, .. } if !scope.respondent_data => {
                Err(ServiceError::PermissionDenied(
                    "respondent-level data needs a researcher key granted respondent_data; \
                     cell-level queries and the long export need only the study"
                        .into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether the caller's scope reaches a study; its role is checked on its own, first.
    pub fn require_study_in_scope(&self, study: StudyId) -> Result<(), ServiceError> {
        match &self.access {
            Access::Key { scope, .. } if !scope.everything && !scope.studies.contains(&study) => {
                Err(out_of_scope(format!("study {study}")))
            }
            _ => Ok(()),
        }
    }
}

fn out_of_scope(what: String) -> ServiceError {
    ServiceError::PermissionDenied(format!("{what} is outside this key's scope"))
}

/// What a request touches, so that the caller's scope can be checked against it.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// Open to every caller with the RPC's role: people, who belong to no school, and keys.
    Anyone,
    /// The registry's reference data, which scopes themselves rest on (registering a school
    /// decides its board; a new study has no id to be scoped to), erasing a person's data
    /// (people belong to no school) and verifying the whole store: unrestricted keys only.
    Registry,
    /// Schools, and the study the request concerns, if any: in scope when the study is, or
    /// every school is.
    Schools {
        schools: Vec<SchoolId>,
        study: Option<StudyId>,
    },
    /// A school entering a study: both must be in scope, so no key brings a school it does
    /// not reach into its study, or its school into a study it does not reach.
    Enrolment { school: SchoolId, study: StudyId },
}

impl Subject {
    pub fn school(school: SchoolId) -> Self {
        Self::schools([school])
    }

    pub fn schools(schools: impl IntoIterator<Item = SchoolId>) -> Self {
        Self::Schools {
            schools: schools.into_iter().collect(),
            study: None,
        }
    }

    pub fn in_study(self, study_id: StudyId) -> Self {
        match self {
            Self::Schools { schools, .. } => Self::Schools {
                schools,
                study: Some(study_id),
            },
            other => other,
        }
    }
}

impl Ledger {
    /// Whether the caller's scope reaches `subject`. Denials are PERMISSION_DENIED.
    pub async fn authorize(&self, caller: &Caller, subject: &Subject) -> Result<(), ServiceError> {
        let Access::Key { scope, .. } = &caller.access else {
            return Ok(());
        };
        if scope.everything {
            return Ok(());
        }
        match subject {
            Subject::Anyone => Ok(()),
            Subject::Registry => Err(ServiceError::PermissionDenied(
                "this call needs a key whose scope is everything".into(),
            )),
            Subject::Schools { study, .. }
                if study.is_some_and(|study| scope.studies.contains(&study)) =>
            {
                Ok(())
            }
            Subject::Schools { schools, .. } if schools.is_empty() => {
                Err(out_of_scope("the request".into()))
            }
            Subject::Schools { schools, .. } => {
                for school in schools {
                    self.reaches_school(scope, *school).await?;
                }
                Ok(())
            }
            Subject::Enrolment { study, .. } if !scope.studies.contains(study) => {
                Err(out_of_scope(format!("study {study}")))
            }
            Subject::Enrolment { school, .. } => self.reaches_school(scope, *school).await,
        }
    }

    /// Checks a write's scope as soon as its subject is known, before anything else is read,
    /// so a refused caller learns nothing about what lies outside its scope. The ledger checks
    /// the subject again before deciding, so no write can skip the check.
    pub async fn authorized(
        &self,
        context: &WriteContext,
        subject: Subject,
    ) -> Result<Subject, ServiceError> {
        self.authorize(&context.caller, &subject).await?;
        Ok(subject)
    }

    /// A school is in scope when it is listed, or its board is.
    async fn reaches_school(&self, scope: &Scope, school: SchoolId) -> Result<(), ServiceError> {
        if scope.schools.contains(&school) {
            return Ok(());
        }
        if !scope.boards.is_empty() {
            let (record, _) = self.load::<School>(&Self::stream::<School>(school)).await?;
            if record
                .board
                .is_some_and(|board| scope.boards.contains(&board))
            {
                return Ok(());
            }
        }
        Err(out_of_scope(format!("school {school}")))
    }
}

/// What existing aggregates concern, for commands that address them by id. One that does not
/// exist concerns nothing, so only unrestricted keys learn that it does not exist.
impl Ledger {
    pub async fn plg_subject(&self, plg_id: PlgId) -> Result<Subject, ServiceError> {
        let (plg, _) = self.load::<Plg>(&Self::stream::<Plg>(plg_id)).await?;
        Ok(Subject::schools(plg.school_ids))
    }

    pub async fn intervention_subject(
        &self,
        intervention_id: InterventionId,
    ) -> Result<Subject, ServiceError> {
        let stream = Self::stream::<Intervention>(intervention_id);
        let (intervention, _) = self.load::<Intervention>(&stream).await?;
        Ok(Subject::schools(intervention.school_id))
    }

    pub async fn scan_subject(&self, response_id: ResponseId) -> Result<Subject, ServiceError> {
        let stream = Self::stream::<ScanResponse>(response_id);
        let (scan, _) = self.load::<ScanResponse>(&stream).await?;
        Ok(match scan.study_id {
            Some(study_id) => Subject::schools(scan.school_id).in_study(study_id),
            None => Subject::schools([]),
        })
    }
}

/// A key issued through the ledger, with the token to hand its holder: absent when the
/// request was a retry, since the log keeps only the secret's hash.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub written: Written<ApiKeyEvent>,
    pub api_key: Option<String>,
}

pub async fn issue_api_key(
    ledger: &Ledger,
    context: &WriteContext,
    identity: Label,
    role: Role,
    scope: Scope,
) -> Result<IssuedApiKey, ServiceError> {
    let new_key = NewApiKey::generate()?;
    let written = ledger
        .write::<ApiKey>(context, async {
            Ok(Target::new(
                new_key.key_id,
                Subject::Anyone,
                ApiKeyCommand::Issue {
                    key_id: new_key.key_id,
                    identity,
                    role,
                    scope,
                    secret_hash: new_key.secret_hash.clone(),
                },
            ))
        })
        .await?;
    let api_key = (!written.outcome.replayed).then_some(new_key.token);
    Ok(IssuedApiKey { written, api_key })
}

/// Issues the first operator key, once per data directory: later calls replay the first and
/// return `None`, since its secret was shown only then.
pub async fn first_operator_key(ledger: &Ledger) -> Result<Option<String>, ServiceError> {
    operator_key(ledger, FIRST_OPERATOR_REQUEST, FIRST_OPERATOR).await
}

/// Issues another operator key, for when every operator key is lost or revoked. Whoever can
/// open the data directory may do this, with the server stopped.
pub async fn another_operator_key(ledger: &Ledger, identity: &str) -> Result<String, ServiceError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    operator_key(ledger, &request_id, identity)
        .await?
        .ok_or_else(|| ServiceError::Internal("a new request id replayed".into()))
}

async fn operator_key(
    ledger: &Ledger,
    request_id: &str,
    identity: &str,
) -> Result<Option<String>, ServiceError> {
    let request = plg_proto::v1::IssueApiKeyRequest {
        options: Some(plg_proto::v1::WriteOptions {
            request_id: request_id.into(),
            ..Default::default()
        }),
        identity: identity.into(),
        role: plg_proto::v1::Role::Operator.into(),
        scope: None,
    };
    let context = WriteContext::by(Caller::plgd(), &request)?;
    let identity =
        Label::parse(identity).map_err(|error| ServiceError::invalid("identity", error.0))?;
    let issued =
        issue_api_key(ledger, &context, identity, Role::Operator, Scope::default()).await?;
    Ok(issued.api_key)
}

/// Authenticates every request before any service sees it, except health checks and
/// reflection, which load balancers and tools ask without a key.
#[derive(Debug, Clone)]
pub struct Authentication {
    /// Where keys are looked up; `None` in insecure local mode.
    keys: Option<Ledger>,
    /// What each key may ask; in insecure local mode everyone shares one budget.
    budgets: Budgets,
}

impl Authentication {
    pub fn with_keys(ledger: Ledger) -> Self {
        Self {
            keys: Some(ledger),
            budgets: Budgets::new(KeyBudget::default()),
        }
    }

    pub fn insecure_local() -> Self {
        Self {
            keys: None,
            budgets: Budgets::new(KeyBudget::default()),
        }
    }

    pub fn with_budget(self, budget: KeyBudget) -> Self {
        Self {
            budgets: Budgets::new(budget),
            ..self
        }
    }

    /// The caller a request's key names, or why it has none, with the key id if one parsed.
    async fn caller(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Caller, (Option<ApiKeyId>, ServiceError)> {
        let Some(ledger) = &self.keys else {
            return Ok(Caller::insecure_local());
        };
        let header = headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| {
                let required = "an API key is required: send `authorization: Bearer <api key>`";
                (None, ServiceError::Unauthenticated(required.into()))
            })?
            .to_str()
            .unwrap_or_default();
        let (id, secret) = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .and_then(|(_, token)| parse_token(token.trim()))
            .ok_or_else(|| {
                let shape = "the authorization header must be `Bearer plg_<key id>_<secret>`";
                (None, ServiceError::Unauthenticated(shape.into()))
            })?;
        Self::check(ledger, id, secret)
            .await
            .map_err(|error| (Some(id), error))
    }

    async fn check(ledger: &Ledger, id: ApiKeyId, secret: &str) -> Result<Caller, ServiceError> {
        let stream = Ledger::stream::<ApiKey>(id);
        let (key, _) = match ledger.load_verified::<ApiKey>(&stream).await {
            Err(ServiceError::Tampered { stream, broken }) => {
                tracing::error!(%stream, revision = broken.revision.0, reason = %broken.reason, "api key refused: its stored history was altered");
                return Err(ServiceError::Unauthenticated(
                    "the API key cannot be trusted: its stored history was altered".into(),
                ));
            }
            loaded => loaded?,
        };
        let invalid = || ServiceError::Unauthenticated("the API key is not valid".into());
        let key = key.issued.ok_or_else(invalid)?;
        let matches: bool = hash(secret)
            .as_str()
            .as_bytes()
            .ct_eq(key.secret_hash.as_str().as_bytes())
            .into();
        if !matches {
            return Err(invalid());
        }
        if key.revoked {
            return Err(ServiceError::Unauthenticated(
                "the API key was revoked".into(),
            ));
        }
        Ok(Caller {
            key_id: Some(key.key_id),
            identity: key.identity.to_string(),
            access: Access::Key {
                role: key.role,
                scope: key.scope,
            },
        })
    }
}

fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

impl<S> tower_layer::Layer<S> for Authentication {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Authenticated<S> {
        Authenticated {
            inner,
            authentication: self.clone(),
        }
    }
}

/// A service behind [`Authentication`].
#[derive(Debug, Clone)]
pub struct Authenticated<S> {
    inner: S,
    authentication: Authentication,
}

type ResponseFuture<E> =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, E>> + Send + 'static>>;

impl<S, B> tower_service::Service<http::Request<B>> for Authenticated<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was polled ready serves this request; the clone waits for the next.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let authentication = self.authentication.clone();
        Box::pin(async move {
            let rpc = request.uri().path().to_owned();
            if is_public(&rpc) {
                return inner.call(request).await;
            }
            let caller = match authentication.caller(request.headers()).await {
                Ok(caller) => caller,
                Err((key_id, error)) => {
                    let status = Status::from(error);
                    tracing::warn!(
                        %rpc,
                        key_id = key_id.map(|id| id.to_string()),
                        code = ?status.code(),
                        reason = status.message(),
                        "request refused"
                    );
                    return Ok(status.into_http());
                }
            };
            let permit = match authentication.budgets.admit(&caller.principal()) {
                Ok(permit) => permit,
                Err(status) => return Ok(status.into_http()),
            };
            request.extensions_mut().insert(caller.clone());
            let response = inner
                .call(request)
                .await?
                .map(|body| budget::hold(body, permit));
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|code| code.to_str().ok()?.parse::<i32>().ok())
                .map(tonic::Code::from);
            if let Some(code @ (tonic::Code::PermissionDenied | tonic::Code::Unauthenticated)) =
                code
            {
                // Percent-encoded on the wire (gRPC's own encoding of the message).
                let reason = response
                    .headers()
                    .get("grpc-message")
                    .and_then(|message| message.to_str().ok())
                    .unwrap_or_default();
                tracing::warn!(
                    %rpc,
                    key_id = caller.key_id().map(|id| id.to_string()),
                    identity = caller.identity(),
                    ?code,
                    reason,
                    "request refused"
                );
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_to_its_id_and_hashes_to_its_hash() {
        let key = NewApiKey::generate().expect("randomness");
        let (id, secret) = parse_token(&key.token).expect("parses");
        assert_eq!(id, key.key_id);
        assert_eq!(hash(secret), key.secret_hash);
        assert_ne!(
            NewApiKey::generate().expect("randomness").token,
            key.token,
            "secrets are random"
        );
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let key = NewApiKey::generate().expect("randomness");
        for token in [
            "",
            "plg_",
            &key.token[..36],
            &key.token[..37],
            &key.token.replacen("plg_", "xyz_", 1),
            &key.token.replacen('_', "", 2),
        ] {
            assert!(parse_token(token).is_none(), "{token:?}");
        }
    }
}
