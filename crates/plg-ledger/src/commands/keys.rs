//! Operators re-scope and revoke API keys; issuing one goes through
//! [`Ledger::issue_api_key`], which draws the key's secret.

use plg_domain::{
    access::{ApiKey, ApiKeyCommand, Scope},
    ids::ApiKeyId,
    values::Text,
};

use crate::{Command, CommandContext, Ledger, ServiceError, Subject, SubjectOf};

/// A key's new scope, in place of its old one.
#[derive(Debug)]
pub struct ChangeApiKeyScope {
    pub key_id: ApiKeyId,
    pub scope: Scope,
}

impl Command for ChangeApiKeyScope {
    type Aggregate = ApiKey;

    fn target(&self) -> String {
        self.key_id.to_string()
    }

    fn subject(&self) -> SubjectOf<ApiKey> {
        SubjectOf::Request(Subject::Anyone)
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<ApiKeyCommand, ServiceError> {
        Ok(ApiKeyCommand::ChangeScope { scope: self.scope })
    }
}

/// Takes a key out of use for good; the log keeps what was written with it.
#[derive(Debug)]
pub struct RevokeApiKey {
    pub key_id: ApiKeyId,
    pub reason: Option<Text>,
}

impl Command for RevokeApiKey {
    type Aggregate = ApiKey;

    fn target(&self) -> String {
        self.key_id.to_string()
    }

    fn subject(&self) -> SubjectOf<ApiKey> {
        SubjectOf::Request(Subject::Anyone)
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<ApiKeyCommand, ServiceError> {
        Ok(ApiKeyCommand::Revoke {
            reason: self.reason,
        })
    }
}
