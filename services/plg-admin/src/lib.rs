//! AdminService: operators issue, re-scope and revoke API keys. Each change is an event in
//! the key's own stream, so who gave whom access, and when, is part of the audited log.

use plg_domain::{
    Aggregate,
    access::{ApiKey, ApiKeyCommand, ApiKeyEvent, Role, Scope},
    event,
    ids::{ApiKeyId, SchoolId, StudyId},
    values::{Label, Text},
};
use plg_eventstore::{Direction, ReadFrom};
use plg_proto::v1::{
    self,
    admin_service_server::{AdminService, AdminServiceServer},
};
use plg_runtime::{
    Caller, EventMetadata, Ledger, ServiceError, Subject, Target, WriteContext,
    auth::issue_api_key,
    parse::{self, Violations},
};
use tonic::{Request, Response, Status};

/// A key's stream is short: issued, a few scope changes, perhaps revoked.
const KEY_EVENTS: usize = 1000;

pub fn server(ledger: &Ledger) -> AdminServiceServer<Admin> {
    AdminServiceServer::new(Admin {
        ledger: ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Admin {
    ledger: Ledger,
}

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

impl Admin {
    /// A key as listed: its state after its whole stream, and who issued it when.
    async fn describe(
        &self,
        stream: &plg_eventstore::StreamName,
    ) -> Result<Option<v1::ApiKeyInfo>, ServiceError> {
        let recorded = self
            .ledger
            .store()
            .read_stream(stream, Direction::Forward, ReadFrom::Start, KEY_EVENTS)
            .await?;
        let Some(first) = recorded.first() else {
            return Ok(None);
        };
        let issued_at = parse::timestamp_to_proto(first.recorded_at);
        let issued_by = serde_json::from_value::<EventMetadata>(first.metadata.clone())
            .map(|metadata| metadata.actor)
            .unwrap_or_default();
        let events = recorded
            .into_iter()
            .map(|event| event::decode(&event.event_type, event.schema_version, event.data))
            .collect::<Result<Vec<ApiKeyEvent>, _>>()?;
        Ok(ApiKey::replay(&events).issued.map(|key| v1::ApiKeyInfo {
            key_id: key.key_id.to_string(),
            identity: key.identity.to_string(),
            role: parse::role_to_proto(key.role),
            scope: Some(scope_to_proto(&key.scope)),
            revoked: key.revoked,
            issued_at: Some(issued_at),
            issued_by,
        }))
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn issue_api_key(
        &self,
        request: Request<v1::IssueApiKeyRequest>,
    ) -> Result<Response<v1::IssueApiKeyResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let mut violations = Violations::default();
        let identity = violations.required("identity", &message.identity, Label::parse);
        let role = violations.check("role", parse::role(message.role));
        let scope = scope(&mut violations, message.scope.as_ref());
        let (Some(identity), Some(role), Some(scope)) = (identity, role, scope) else {
            return Err(violations.into_error().into());
        };
        let issued = issue_api_key(&self.ledger, &context, identity, role, scope).await?;
        let ApiKeyEvent::ApiKeyIssued { key_id, .. } = issued.written.first()? else {
            return Err(
                ServiceError::unexpected(&issued.written.outcome.stream, "ApiKeyIssued").into(),
            );
        };
        Ok(Response::new(v1::IssueApiKeyResponse {
            key_id: key_id.to_string(),
            api_key: issued.api_key.unwrap_or_default(),
            result: Some(issued.written.result()),
        }))
    }

    async fn change_api_key_scope(
        &self,
        request: Request<v1::ChangeApiKeyScopeRequest>,
    ) -> Result<Response<v1::ChangeApiKeyScopeResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<ApiKey>(&context, async {
                let mut violations = Violations::default();
                let key_id = key_id(&mut violations, &message.key_id);
                let scope = scope(&mut violations, message.scope.as_ref());
                let (Some(key_id), Some(scope)) = (key_id, scope) else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    key_id,
                    Subject::Anyone,
                    ApiKeyCommand::ChangeScope { scope },
                ))
            })
            .await?;
        Ok(Response::new(v1::ChangeApiKeyScopeResponse {
            result: Some(written.result()),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<v1::RevokeApiKeyRequest>,
    ) -> Result<Response<v1::RevokeApiKeyResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<ApiKey>(&context, async {
                let mut violations = Violations::default();
                let key_id = key_id(&mut violations, &message.key_id);
                let reason = violations.optional("reason", &message.reason, Text::parse);
                let (Some(key_id), Some(reason)) = (key_id, reason) else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    key_id,
                    Subject::Anyone,
                    ApiKeyCommand::Revoke { reason },
                ))
            })
            .await?;
        Ok(Response::new(v1::RevokeApiKeyResponse {
            result: Some(written.result()),
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<v1::ListApiKeysRequest>,
    ) -> Result<Response<v1::ListApiKeysResponse>, Status> {
        Caller::of(&request)?.require(Role::Operator)?;
        let streams = self
            .ledger
            .store()
            .streams_in_category(ApiKey::CATEGORY)
            .await
            .map_err(ServiceError::from)?;
        let mut keys = Vec::with_capacity(streams.len());
        for stream in &streams {
            keys.extend(self.describe(stream).await?);
        }
        Ok(Response::new(v1::ListApiKeysResponse { keys }))
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
