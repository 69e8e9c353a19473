//! API keys: issued as a token whose secret the log keeps only as a hash, checked against
//! the key's own stream, whose hash chain must verify, and listed for operators.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use plg_domain::{
    Aggregate,
    access::{ApiKey, ApiKeyCommand, ApiKeyEvent, IssuedKey, Role, Scope},
    event,
    ids::ApiKeyId,
    values::{Label, SecretHash},
};
use plg_eventstore::{Direction, ReadFrom, StreamName};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    Caller, Command, CommandContext, EventMetadata, Ledger, ServiceError, Subject, SubjectOf,
    Written,
};

/// Every key starts with this, so a leaked key is recognisable (for secret scanners, too).
const KEY_PREFIX: &str = "plg_";
const SECRET_BYTES: usize = 32;
/// A key's stream is short: issued, a few scope changes, perhaps revoked.
const KEY_EVENTS: usize = 1000;

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
            .map_err(|error| ServiceError::failed("no randomness", error))?;
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

/// Why a token names no caller, with the key id when one parsed (for the log).
#[derive(Debug)]
pub struct Refused {
    pub key_id: Option<ApiKeyId>,
    pub error: ServiceError,
}

/// A new key for `identity` with `role` and `scope`.
#[derive(Debug)]
pub struct IssueApiKey {
    pub identity: Label,
    pub role: Role,
    pub scope: Scope,
}

/// A key issued through the ledger, with the token to hand its holder: absent when the
/// request was a retry, since the log keeps only the secret's hash.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub written: Written<ApiKeyEvent>,
    pub api_key: Option<String>,
}

/// The issue command once its key is drawn.
struct Issue {
    request: IssueApiKey,
    key_id: ApiKeyId,
    secret_hash: SecretHash,
}

impl Command for Issue {
    type Aggregate = ApiKey;

    fn target(&self) -> String {
        self.key_id.to_string()
    }

    fn subject(&self) -> SubjectOf<ApiKey> {
        SubjectOf::Request(Subject::Anyone)
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<ApiKeyCommand, ServiceError> {
        Ok(ApiKeyCommand::Issue {
            key_id: self.key_id,
            identity: self.request.identity,
            role: self.request.role,
            scope: self.request.scope,
            secret_hash: self.secret_hash,
        })
    }
}

impl Ledger {
    /// Issues a key; `request` as parsed (see [`Ledger::execute`]).
    pub async fn issue_api_key(
        &self,
        context: &CommandContext,
        request: Result<IssueApiKey, ServiceError>,
    ) -> Result<IssuedApiKey, ServiceError> {
        let new_key = NewApiKey::generate()?;
        let command = request.map(|request| Issue {
            request,
            key_id: new_key.key_id,
            secret_hash: new_key.secret_hash,
        });
        let written = self.execute(context, command).await?;
        let api_key = (!written.outcome.replayed).then_some(new_key.token);
        Ok(IssuedApiKey { written, api_key })
    }

    /// The caller a bearer token names: a key that exists, whose secret matches, that is not
    /// revoked and whose stored history verifies.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, Refused> {
        let Some((key_id, secret)) = parse_token(token) else {
            return Err(Refused {
                key_id: None,
                error: ServiceError::Unauthenticated(
                    "the authorization header must be `Bearer plg_<key id>_<secret>`".into(),
                ),
            });
        };
        self.check_key(key_id, secret)
            .await
            .map_err(|error| Refused {
                key_id: Some(key_id),
                error,
            })
    }

    async fn check_key(&self, id: ApiKeyId, secret: &str) -> Result<Caller, ServiceError> {
        let stream = Ledger::stream::<ApiKey>(id);
        let (key, _) = match self.load_verified::<ApiKey>(&stream).await {
            Err(ServiceError::Tampered { stream, broken }) => {
                tracing::error!(%stream, revision = broken.revision.0, reason = %broken.reason, "api key refused: its stored history was altered");
                return Err(ServiceError::Unauthenticated(
                    "the API key cannot be trusted: its stored history was altered".into(),
                ));
            }
            loaded => loaded?,
        };
        let invalid = || ServiceError::Unauthenticated("the API key is not valid".into());
        let key = key.issued.as_ref().ok_or_else(invalid)?;
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
        Ok(Caller::with_key(
            key.key_id,
            key.identity.to_string(),
            key.role,
            key.scope.clone(),
        ))
    }
}

/// A key as listed: its state after its whole stream, and who issued it when.
#[derive(Debug)]
pub struct ListedApiKey {
    pub key: IssuedKey,
    pub issued_at: DateTime<Utc>,
    /// The issuer's identity; empty when the issue's metadata does not say.
    pub issued_by: String,
}

impl Ledger {
    /// Every key ever issued, revoked ones included, in the order they were issued.
    pub async fn api_keys(&self) -> Result<Vec<ListedApiKey>, ServiceError> {
        let streams = self.store().streams_in_category(ApiKey::CATEGORY).await?;
        let mut keys = Vec::with_capacity(streams.len());
        for stream in &streams {
            keys.extend(self.listed_api_key(stream).await?);
        }
        Ok(keys)
    }

    async fn listed_api_key(
        &self,
        stream: &StreamName,
    ) -> Result<Option<ListedApiKey>, ServiceError> {
        let recorded = self
            .store()
            .read_stream(stream, Direction::Forward, ReadFrom::Start, KEY_EVENTS)
            .await?;
        let Some(first) = recorded.first() else {
            return Ok(None);
        };
        let issued_at = first.recorded_at;
        let issued_by = serde_json::from_value::<EventMetadata>(first.metadata.clone())
            .map(|metadata| metadata.actor)
            .unwrap_or_default();
        let events = recorded
            .into_iter()
            .map(|event| event::decode(&event.event_type, event.schema_version, event.data))
            .collect::<Result<Vec<ApiKeyEvent>, _>>()?;
        Ok(ApiKey::replay(&events).issued.map(|key| ListedApiKey {
            key,
            issued_at,
            issued_by,
        }))
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
