//! Who is calling: the API key every request carries, checked by a layer in front of all
//! services, which also checks the caller's role against the one table of RPCs and opens the
//! request's tracing span. Scopes are checked by the write core and the read services against
//! what a request touches.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use plg_contract::CORRELATION_HEADER;
use plg_domain::{
    access::{Role, Scope},
    values::Label,
};
use plg_ledger::{Caller, IssueApiKey, Ledger, Refused, ServiceError};
use plg_proto::v1;
use tonic::body::Body;
use tracing::Instrument as _;

use crate::{
    access,
    budget::{self, Budgets},
    config::KeyBudget,
    context::context_by,
    error::status,
    metrics::{self, Refusal},
    rpc_span,
};

/// What the first operator key is recorded as.
const FIRST_OPERATOR: &str = "operator (created on first start)";
/// The request id of the first operator key: issuing it again on a later start replays.
const FIRST_OPERATOR_REQUEST: &str = "first-operator-key";

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

/// plgd's own key issue is an `IssueApiKeyRequest` as AdminService would receive it, so its
/// fingerprint is the one data directories already hold for the first key.
async fn operator_key(
    ledger: &Ledger,
    request_id: &str,
    identity: &str,
) -> Result<Option<String>, ServiceError> {
    let request = v1::IssueApiKeyRequest {
        options: Some(v1::WriteOptions {
            request_id: request_id.into(),
            ..Default::default()
        }),
        identity: identity.into(),
        role: v1::Role::Operator.into(),
        scope: None,
    };
    let context = context_by(Caller::plgd(), &request)?;
    let identity =
        Label::parse(identity).map_err(|error| ServiceError::invalid("identity", error.0))?;
    let command = IssueApiKey {
        identity,
        role: Role::Operator,
        scope: Scope::default(),
    };
    let issued = ledger.issue_api_key(&context, Ok(command)).await?;
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

    /// Counts requests against `budgets`, shared with whatever else serves the same keys.
    pub fn with_budgets(self, budgets: Budgets) -> Self {
        Self { budgets, ..self }
    }

    /// The caller a request's key names, or why it has none, with the key id if one parsed.
    async fn caller(&self, headers: &http::HeaderMap) -> Result<Caller, Refused> {
        let Some(ledger) = &self.keys else {
            return Ok(Caller::insecure_local());
        };
        let header = headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| Refused {
                key_id: None,
                error: ServiceError::Unauthenticated(
                    "an API key is required: send `authorization: Bearer <api key>`".into(),
                ),
            })?
            .to_str()
            .unwrap_or_default();
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token.trim());
        ledger.authenticate(token).await
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
        let rpc = request.uri().path().to_owned();
        if is_public(&rpc) {
            return Box::pin(async move { inner.call(request).await });
        }
        let correlation_id = request
            .headers()
            .get(CORRELATION_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(|value| crate::limits::truncate(value, crate::limits::MAX_FIELD_BYTES));
        let call = rpc_span::open(&rpc, request.headers(), correlation_id.as_deref());
        let span = call.span.clone();
        let served = async move {
            let caller = match authentication.caller(request.headers()).await {
                Ok(caller) => caller,
                Err(Refused { key_id, error }) => {
                    let status = status(error);
                    metrics::count_refusal(status.code(), Refusal::Unauthenticated);
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
            if let Some(key_id) = caller.key_id() {
                tracing::Span::current().record("key_id", key_id.to_string());
            }
            // Fail closed: an RPC the table does not list is served to nobody.
            let allowed = access::roles(&rpc).map_or_else(
                || {
                    Err(ServiceError::PermissionDenied(
                        "this call is not served".into(),
                    ))
                },
                |roles| caller.require_any(roles),
            );
            if let Err(error) = allowed {
                let status = status(error);
                metrics::count_refusal(status.code(), Refusal::Role);
                tracing::warn!(
                    %rpc,
                    key_id = caller.key_id().map(|id| id.to_string()),
                    identity = caller.identity(),
                    code = ?status.code(),
                    reason = status.message(),
                    "request refused"
                );
                return Ok(status.into_http());
            }
            let permit = match authentication.budgets.admit(&caller.principal()) {
                Ok(permit) => permit,
                Err(status) => {
                    metrics::count_refusal(status.code(), Refusal::Budget);
                    return Ok(status.into_http());
                }
            };
            request.extensions_mut().insert(caller.clone());
            let response = inner
                .call(request)
                .await?
                .map(|body| budget::hold(body, permit));
            let code = rpc_span::grpc_status(response.headers());
            if let Some(code @ (tonic::Code::PermissionDenied | tonic::Code::Unauthenticated)) =
                code
            {
                metrics::count_refusal(code, Refusal::Scope);
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
            Ok::<_, S::Error>(response)
        }
        .instrument(span);
        Box::pin(async move {
            served
                .await
                .map(|response| rpc_span::until_sent(response, call))
        })
    }
}
