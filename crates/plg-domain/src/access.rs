//! API keys: who may call the service, in which role, for which schools, boards and studies.
//! Issuing, re-scoping and revoking a key are events like any other, so access is audited too.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    ids::{ApiKeyId, SchoolId, StudyId},
    values::{Label, SecretHash, Text},
};

/// What a key's holder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A school-scan, coaching or meeting tool: writes, and reads back its own writes.
    PartnerTool,
    /// Queries and exports the research view, pseudonymised.
    Researcher,
    /// Audits schools' histories and erases personal data.
    Administrator,
    /// Manages keys.
    Operator,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::PartnerTool => "partner tool",
            Self::Researcher => "researcher",
            Self::Administrator => "administrator",
            Self::Operator => "operator",
        }
    }
}

/// What a key's holder may reach: everything, or the listed schools, boards and studies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub everything: bool,
    pub schools: BTreeSet<SchoolId>,
    /// Boards by name, as schools register them: every school of the board is in scope.
    pub boards: BTreeSet<Label>,
    pub studies: BTreeSet<StudyId>,
    /// Researchers only: may also export respondent-level data, not just cells.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub respondent_data: bool,
}

impl Scope {
    /// Unrestricted.
    pub fn everything() -> Self {
        Self {
            everything: true,
            ..Self::default()
        }
    }

    fn is_empty(&self) -> bool {
        !self.everything
            && self.schools.is_empty()
            && self.boards.is_empty()
            && self.studies.is_empty()
    }

    /// Whether this scope suits a key of `role`: operators manage keys and reach no data;
    /// researchers work by study; administrators by school or board; partner tools by any.
    pub fn check_for(&self, role: Role) -> Result<(), DomainError> {
        let lists = !self.schools.is_empty() || !self.boards.is_empty() || !self.studies.is_empty();
        let invalid = |message: &str| Err(DomainError::invalid("scope", message));
        match role {
            Role::Operator if !self.is_empty() => {
                invalid("an operator key manages keys and has no scope")
            }
            Role::Operator => Ok(()),
            _ if self.is_empty() => {
                invalid("needs everything, or at least one school, board or study")
            }
            _ if self.everything && lists => {
                invalid("is either everything or a list of schools, boards and studies")
            }
            Role::Researcher if !self.schools.is_empty() || !self.boards.is_empty() => {
                invalid("a researcher key is scoped to studies only")
            }
            Role::PartnerTool | Role::Administrator if self.respondent_data => {
                invalid("respondent_data is a researcher's grant; this role has no use for it")
            }
            Role::Administrator if !self.studies.is_empty() => {
                invalid("an administrator key is scoped to schools and boards only")
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiKeyCommand {
    Issue {
        key_id: ApiKeyId,
        identity: Label,
        role: Role,
        scope: Scope,
        secret_hash: SecretHash,
    },
    ChangeScope {
        scope: Scope,
    },
    Revoke {
        reason: Option<Text>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ApiKeyEvent {
    ApiKeyIssued {
        key_id: ApiKeyId,
        /// Recorded as the actor of everything written with the key.
        identity: Label,
        role: Role,
        scope: Scope,
        secret_hash: SecretHash,
    },
    ApiKeyScopeChanged {
        key_id: ApiKeyId,
        scope: Scope,
    },
    ApiKeyRevoked {
        key_id: ApiKeyId,
        reason: Option<Text>,
    },
}

impl DomainEvent for ApiKeyEvent {}

/// An issued key as the server checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedKey {
    pub key_id: ApiKeyId,
    pub identity: Label,
    pub role: Role,
    pub scope: Scope,
    pub secret_hash: SecretHash,
    pub revoked: bool,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ApiKey {
    pub issued: Option<IssuedKey>,
}

impl ApiKey {
    fn active(&self) -> Result<&IssuedKey, DomainError> {
        match &self.issued {
            None => Err(DomainError::not_found("api key")),
            Some(key) if key.revoked => Err(DomainError::rule(
                "key_revoked",
                "the key is revoked; issue a new one",
            )),
            Some(key) => Ok(key),
        }
    }
}

impl Aggregate for ApiKey {
    const CATEGORY: &'static str = "apikey";
    type Command = ApiKeyCommand;
    type Event = ApiKeyEvent;

    fn decide(&self, command: &ApiKeyCommand) -> Result<Vec<ApiKeyEvent>, DomainError> {
        match command {
            ApiKeyCommand::Issue {
                key_id,
                identity,
                role,
                scope,
                secret_hash,
            } => {
                if let Some(key) = &self.issued {
                    return Err(DomainError::already_exists("api key", key.key_id));
                }
                scope.check_for(*role)?;
                Ok(vec![ApiKeyEvent::ApiKeyIssued {
                    key_id: *key_id,
                    identity: identity.clone(),
                    role: *role,
                    scope: scope.clone(),
                    secret_hash: secret_hash.clone(),
                }])
            }
            ApiKeyCommand::ChangeScope { scope } => {
                let key = self.active()?;
                scope.check_for(key.role)?;
                Ok(vec![ApiKeyEvent::ApiKeyScopeChanged {
                    key_id: key.key_id,
                    scope: scope.clone(),
                }])
            }
            ApiKeyCommand::Revoke { reason } => {
                let key = self.active()?;
                Ok(vec![ApiKeyEvent::ApiKeyRevoked {
                    key_id: key.key_id,
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn evolve(&mut self, event: &ApiKeyEvent) {
        match event {
            ApiKeyEvent::ApiKeyIssued {
                key_id,
                identity,
                role,
                scope,
                secret_hash,
            } => {
                self.issued = Some(IssuedKey {
                    key_id: *key_id,
                    identity: identity.clone(),
                    role: *role,
                    scope: scope.clone(),
                    secret_hash: secret_hash.clone(),
                    revoked: false,
                });
            }
            ApiKeyEvent::ApiKeyScopeChanged { scope, .. } => {
                if let Some(key) = &mut self.issued {
                    key.scope = scope.clone();
                }
            }
            ApiKeyEvent::ApiKeyRevoked { .. } => {
                if let Some(key) = &mut self.issued {
                    key.revoked = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::spec::{given, then_error, then_events};

    fn key_id() -> ApiKeyId {
        ApiKeyId::parse("6f1c1a52-0d53-4f43-9a59-1f3c8f0e0c11").expect("valid id")
    }

    fn hash() -> SecretHash {
        SecretHash::parse(&"ab".repeat(32)).expect("valid hash")
    }

    fn studies() -> Scope {
        Scope {
            studies: BTreeSet::from([StudyId::new_random()]),
            ..Scope::default()
        }
    }

    fn issue(role: Role, scope: Scope) -> ApiKeyCommand {
        ApiKeyCommand::Issue {
            key_id: key_id(),
            identity: Label::parse("schoolscan").expect("valid label"),
            role,
            scope,
            secret_hash: hash(),
        }
    }

    fn issued(role: Role, scope: Scope) -> ApiKeyEvent {
        ApiKeyEvent::ApiKeyIssued {
            key_id: key_id(),
            identity: Label::parse("schoolscan").expect("valid label"),
            role,
            scope,
            secret_hash: hash(),
        }
    }

    #[test]
    fn a_key_is_issued_once() {
        let events = then_events(&given::<ApiKey>(&[]), &issue(Role::Researcher, studies()));
        assert!(matches!(
            &events[..],
            [ApiKeyEvent::ApiKeyIssued {
                role: Role::Researcher,
                ..
            }]
        ));
        let state = given::<ApiKey>(&events);
        let error = then_error(&state, &issue(Role::Researcher, studies()));
        assert!(matches!(error, DomainError::AlreadyExists { .. }));
    }

    #[test]
    fn a_scope_must_suit_the_role() {
        let schools = Scope {
            schools: BTreeSet::from([SchoolId::new_random()]),
            ..Scope::default()
        };
        let mixed = Scope {
            everything: true,
            ..studies()
        };
        for (role, scope) in [
            (Role::Operator, Scope::everything()),
            (Role::Researcher, schools.clone()),
            (Role::Administrator, studies()),
            (Role::PartnerTool, Scope::default()),
            (Role::PartnerTool, mixed),
            (
                Role::Administrator,
                Scope {
                    respondent_data: true,
                    ..Scope::everything()
                },
            ),
        ] {
            let error = then_error(&given::<ApiKey>(&[]), &issue(role, scope.clone()));
            assert!(
                matches!(error, DomainError::InvalidField { field: "scope", .. }),
                "{role:?} with {scope:?}"
            );
        }
        for (role, scope) in [
            (Role::Operator, Scope::default()),
            (Role::Researcher, studies()),
            (Role::Administrator, schools),
            (Role::PartnerTool, Scope::everything()),
        ] {
            then_events(&given::<ApiKey>(&[]), &issue(role, scope));
        }
    }

    #[test]
    fn a_revoked_key_can_be_neither_rescoped_nor_revoked_again() {
        let state = given::<ApiKey>(&[
            issued(Role::Researcher, studies()),
            ApiKeyEvent::ApiKeyRevoked {
                key_id: key_id(),
                reason: None,
            },
        ]);
        assert!(state.issued.as_ref().is_some_and(|key| key.revoked));
        for command in [
            ApiKeyCommand::ChangeScope { scope: studies() },
            ApiKeyCommand::Revoke { reason: None },
        ] {
            let error = then_error(&state, &command);
            assert!(matches!(
                error,
                DomainError::RuleViolated {
                    rule: "key_revoked",
                    ..
                }
            ));
        }
    }

    #[test]
    fn a_rescoped_key_keeps_its_role() {
        let state = given::<ApiKey>(&[issued(Role::Researcher, studies())]);
        let new_scope = studies();
        let events = then_events(
            &state,
            &ApiKeyCommand::ChangeScope {
                scope: new_scope.clone(),
            },
        );
        let state = given::<ApiKey>(&[issued(Role::Researcher, studies()), events[0].clone()]);
        assert_eq!(
            state.issued.map(|key| (key.role, key.scope)),
            Some((Role::Researcher, new_scope))
        );
        let error = then_error(
            &given::<ApiKey>(&[issued(Role::Researcher, studies())]),
            &ApiKeyCommand::ChangeScope {
                scope: Scope::default(),
            },
        );
        assert!(matches!(error, DomainError::InvalidField { .. }));
    }

    #[test]
    fn an_unknown_key_cannot_be_changed() {
        let error = then_error(
            &given::<ApiKey>(&[]),
            &ApiKeyCommand::Revoke { reason: None },
        );
        assert!(matches!(error, DomainError::NotFound { kind: "api key" }));
    }
}
