//! AdminService's requests and replies: API keys issued, re-scoped, revoked and listed.

use plg_domain::{
    access::{ApiKeyEvent, Scope},
    ids::{ApiKeyId, SchoolId, StudyId},
    values::{Label, Text},
};
use plg_ledger::{
    CommandContext, IssueApiKey, IssuedApiKey, ListedApiKey, ServiceError, Written,
    commands::keys::{ChangeApiKeyScope, RevokeApiKey},
};
use plg_proto::v1;

use crate::{
    IntoCommand,
    parse::{self, Violations},
    write_result,
};

fn key_id(violations: &mut Violations, value: &str) -> Option<ApiKeyId> {
    violations.required("key_id", value, ApiKeyId::parse)
}

/// A scope as requested; a missing scope is an empty one, which only operators may have.
fn scope(violations: &mut Violations, scope: Option<&v1::Scope>) -> Option<Scope> {
    let Some(scope) = scope else {
        return Some(Scope::default());
    };
    let schools = violations.each_required("scope.school_ids", &scope.school_ids, SchoolId::parse);
    let boards = violations.each_required("scope.boards", &scope.boards, Label::parse);
    let studies = violations.each_required("scope.study_ids", &scope.study_ids, StudyId::parse);
    Some(Scope {
        everything: scope.everything,
        schools: schools?.into_iter().collect(),
        boards: boards?.into_iter().collect(),
        studies: studies?.into_iter().collect(),
        respondent_data: scope.respondent_data,
    })
}

fn scope_to_proto(scope: &Scope) -> v1::Scope {
    v1::Scope {
        everything: scope.everything,
        school_ids: scope.schools.iter().map(ToString::to_string).collect(),
        boards: scope.boards.iter().map(ToString::to_string).collect(),
        study_ids: scope.studies.iter().map(ToString::to_string).collect(),
        respondent_data: scope.respondent_data,
    }
}

/// The key an `IssueApiKeyRequest` asks for. Not an [`IntoCommand`]: the write core draws the
/// key's id and secret itself, in `Ledger::issue_api_key`.
pub fn parse_issue_api_key(request: v1::IssueApiKeyRequest) -> Result<IssueApiKey, ServiceError> {
    let mut violations = Violations::default();
    let identity = violations.required("identity", &request.identity, Label::parse);
    let role = violations.check("role", parse::role(request.role));
    let scope = scope(&mut violations, request.scope.as_ref());
    violations.finish(|| {
        Some(IssueApiKey {
            identity: identity?,
            role: role?,
            scope: scope?,
        })
    })
}

/// The reply to an issued key, with its token (empty for a retry: only its hash was kept).
pub fn issue_api_key_reply(issued: IssuedApiKey) -> Result<v1::IssueApiKeyResponse, ServiceError> {
    let ApiKeyEvent::ApiKeyIssued { key_id, .. } = issued.written.first()? else {
        return Err(ServiceError::unexpected(
            &issued.written.outcome.stream,
            "ApiKeyIssued",
        ));
    };
    Ok(v1::IssueApiKeyResponse {
        key_id: key_id.to_string(),
        api_key: issued.api_key.unwrap_or_default(),
        result: write_result(&issued.written),
    })
}

impl IntoCommand for v1::ChangeApiKeyScopeRequest {
    type Command = ChangeApiKeyScope;
    type Reply = v1::ChangeApiKeyScopeResponse;

    fn into_command(self, _: &CommandContext) -> Result<ChangeApiKeyScope, ServiceError> {
        let mut violations = Violations::default();
        let key_id = key_id(&mut violations, &self.key_id);
        let scope = scope(&mut violations, self.scope.as_ref());
        violations.finish(|| {
            Some(ChangeApiKeyScope {
                key_id: key_id?,
                scope: scope?,
            })
        })
    }

    fn reply(written: Written<ApiKeyEvent>) -> Result<v1::ChangeApiKeyScopeResponse, ServiceError> {
        Ok(v1::ChangeApiKeyScopeResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::RevokeApiKeyRequest {
    type Command = RevokeApiKey;
    type Reply = v1::RevokeApiKeyResponse;

    fn into_command(self, _: &CommandContext) -> Result<RevokeApiKey, ServiceError> {
        let mut violations = Violations::default();
        let key_id = key_id(&mut violations, &self.key_id);
        let reason = violations.optional("reason", &self.reason, Text::parse);
        violations.finish(|| {
            Some(RevokeApiKey {
                key_id: key_id?,
                reason: reason?,
            })
        })
    }

    fn reply(written: Written<ApiKeyEvent>) -> Result<v1::RevokeApiKeyResponse, ServiceError> {
        Ok(v1::RevokeApiKeyResponse {
            result: write_result(&written),
        })
    }
}

/// A key as ListApiKeys shows it: never its secret's hash.
pub fn api_key_info(listed: ListedApiKey) -> v1::ApiKeyInfo {
    let ListedApiKey {
        key,
        issued_at,
        issued_by,
    } = listed;
    v1::ApiKeyInfo {
        key_id: key.key_id.to_string(),
        identity: key.identity.to_string(),
        role: parse::role_to_proto(key.role),
        scope: Some(scope_to_proto(&key.scope)),
        revoked: key.revoked,
        issued_at: Some(parse::timestamp_to_proto(issued_at)),
        issued_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_malformed_scope_entry_is_named() {
        let mut violations = Violations::default();
        let requested = v1::Scope {
            everything: false,
            school_ids: vec!["not-a-uuid".into()],
            boards: vec![" ".into()],
            study_ids: vec![StudyId::new_random().to_string(), "x".into()],
            respondent_data: false,
        };
        assert!(scope(&mut violations, Some(&requested)).is_none());
        let ServiceError::InvalidArgument(violations) = violations.into_error() else {
            panic!("expected field violations");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "scope.school_ids[0]",
                "scope.boards[0]",
                "scope.study_ids[1]"
            ]
        );
    }
}
