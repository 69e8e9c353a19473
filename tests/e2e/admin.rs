//! API keys over their life: issued once with a secret shown once, re-scoped and revoked with
//! immediate effect, every change an event, and the writes of each key its own.

use crate::kit::{Clients, Identity, TestServer, everything, options, violated_fields};
use plg_proto::v1;
use tonic::Code;

fn schools(school_ids: &[&str]) -> v1::Scope {
    v1::Scope {
        school_ids: school_ids.iter().map(|id| (*id).to_owned()).collect(),
        ..Default::default()
    }
}

fn log(school_id: &str) -> v1::LogInterventionRequest {
    v1::LogInterventionRequest {
        options: options(),
        school_id: school_id.into(),
        title: "Lesson study".into(),
        categories: vec![v1::InterventionCategory::Professionalisation.into()],
        level: v1::InterventionLevel::School.into(),
        starts_on: crate::kit::day(-10),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_key_works_as_scoped_until_rescoped_or_revoked_and_each_change_is_an_event()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut setup = server.clients().await?;
    let first = setup.register_school().await?;
    let second = setup.register_school().await?;
    let mut operator = server.operator().await?;

    let issued = operator
        .admin
        .issue_api_key(v1::IssueApiKeyRequest {
            options: options(),
            identity: "coaching tool".into(),
            role: v1::Role::PartnerTool.into(),
            scope: Some(schools(&[&first])),
        })
        .await?
        .into_inner();
    assert!(issued.api_key.starts_with("plg_"));
    let mut tool = server
        .clients_with(Identity::bearer(&issued.api_key)?)
        .await?;
    tool.interventions.log_intervention(log(&first)).await?;
    let refused = tool
        .interventions
        .log_intervention(log(&second))
        .await
        .expect_err("out of scope");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // A new scope takes effect on the next call.
    operator
        .admin
        .change_api_key_scope(v1::ChangeApiKeyScopeRequest {
            options: options(),
            key_id: issued.key_id.clone(),
            scope: Some(schools(&[&second])),
        })
        .await?;
    tool.interventions.log_intervention(log(&second)).await?;
    let refused = tool
        .interventions
        .log_intervention(log(&first))
        .await
        .expect_err("no longer in scope");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The key reads back its own writes only: two interventions, not the schools.
    let (_, own) = tool.read_all().await?;
    assert_eq!(
        own.iter()
            .map(|event| event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["InterventionLogged", "InterventionLogged"]
    );
    assert!(own.iter().all(|event| {
        event.metadata.as_ref().is_some_and(|metadata| {
            metadata.actor == "coaching tool" && metadata.key_id == issued.key_id
        })
    }));

    operator
        .admin
        .revoke_api_key(v1::RevokeApiKeyRequest {
            options: options(),
            key_id: issued.key_id.clone(),
            reason: "the contract ended".into(),
        })
        .await?;
    let revoked = tool
        .interventions
        .log_intervention(log(&second))
        .await
        .expect_err("revoked");
    assert_eq!(revoked.code(), Code::Unauthenticated);
    let again = operator
        .admin
        .revoke_api_key(v1::RevokeApiKeyRequest {
            options: options(),
            key_id: issued.key_id.clone(),
            reason: String::new(),
        })
        .await
        .expect_err("revoked already");
    assert_eq!(again.code(), Code::FailedPrecondition);

    // The key's life is in its own stream, recorded as the operator's doing, with no secret.
    let mut auditor = server.administrator().await?;
    let events = auditor
        .read_stream(&format!("apikey-{}", issued.key_id))
        .await?;
    assert_eq!(
        events
            .iter()
            .map(|event| event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["ApiKeyIssued", "ApiKeyScopeChanged", "ApiKeyRevoked"]
    );
    // `plg_<key id, 32 hex digits>_<secret>`; the secret may hold `_` itself.
    let secret = issued.api_key.get(37..).expect("plg_<key id>_<secret>");
    assert!(secret.len() >= 32, "{secret}");
    assert!(events.iter().all(|event| !event.data_json.contains(secret)));
    assert!(events.iter().all(|event| {
        event
            .metadata
            .as_ref()
            .is_some_and(|metadata| metadata.actor == "operator (created on first start)")
    }));

    let listed = operator
        .admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await?
        .into_inner()
        .keys;
    let identities: Vec<_> = listed.iter().map(|key| key.identity.as_str()).collect();
    assert_eq!(
        identities,
        [
            "operator (created on first start)",
            "test-tool",
            "coaching tool",
            "test-key"
        ]
    );
    let coaching = &listed[2];
    assert!(coaching.revoked);
    assert_eq!(coaching.scope, Some(schools(&[&second])));
    assert_eq!(coaching.issued_by, "operator (created on first start)");
    Ok(())
}

#[tokio::test]
async fn a_retried_issue_replays_without_the_secret_and_scopes_must_suit_roles()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut operator = server.operator().await?;
    let request = v1::IssueApiKeyRequest {
        options: options(),
        identity: "researcher".into(),
        role: v1::Role::Researcher.into(),
        scope: Some(everything()),
    };
    let first = operator
        .admin
        .issue_api_key(request.clone())
        .await?
        .into_inner();
    let retried = operator.admin.issue_api_key(request).await?.into_inner();
    assert_eq!(retried.key_id, first.key_id);
    assert!(retried.api_key.is_empty(), "the secret is shown only once");
    assert!(retried.result.is_some_and(|result| result.replayed));

    let before = server.clients().await?.last_position().await?;
    for (role, scope, field) in [
        (v1::Role::Researcher, v1::Scope::default(), "scope"),
        (
            v1::Role::Researcher,
            schools(&["4b0f3a52-0d53-4f43-9a59-1f3c8f0e0c11"]),
            "scope",
        ),
        (v1::Role::Operator, everything(), "scope"),
        (v1::Role::Unspecified, everything(), "role"),
        (
            v1::Role::PartnerTool,
            schools(&["x"]),
            "scope.school_ids[0]",
        ),
    ] {
        let status = operator
            .admin
            .issue_api_key(v1::IssueApiKeyRequest {
                options: options(),
                identity: "someone".into(),
                role: role.into(),
                scope: Some(scope),
            })
            .await
            .expect_err("invalid scope or role");
        assert_eq!(status.code(), Code::InvalidArgument, "{role:?}");
        assert_eq!(violated_fields(&status), [field], "{role:?}");
    }
    let unknown = operator
        .admin
        .revoke_api_key(v1::RevokeApiKeyRequest {
            options: options(),
            key_id: "4b0f3a52-0d53-4f43-9a59-1f3c8f0e0c11".into(),
            reason: String::new(),
        })
        .await
        .expect_err("unknown key");
    assert_eq!(unknown.code(), Code::NotFound);
    // The partner key for this check was issued before `before`; nothing after.
    assert_eq!(server.clients().await?.last_position().await?, before);
    Ok(())
}

#[tokio::test]
async fn request_ids_belong_to_the_key_that_chose_them() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut first = server.clients().await?;
    let mut second: Clients = server
        .clients_as(v1::Role::PartnerTool, everything())
        .await?;
    let request = v1::RegisterPersonRequest {
        options: options(),
        name: "Coach".into(),
        email: String::new(),
    };
    let by_first = first
        .registry
        .register_person(request.clone())
        .await?
        .into_inner();
    let by_second = second.registry.register_person(request).await?.into_inner();
    assert_ne!(
        by_first.person_id, by_second.person_id,
        "another key's request id is another request"
    );
    assert!(by_second.result.is_some_and(|result| !result.replayed));
    Ok(())
}

#[tokio::test]
async fn the_first_start_issues_an_operator_key_once() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    TestServer::offline(data_dir.path(), |config| async move {
        let config = plg_server::config::Config {
            listen: "127.0.0.1:0".parse()?,
            ..config
        };
        let first = plgd::build(config.clone()).await?;
        let key = first.first_operator_key().map(str::to_owned);
        assert!(key.as_deref().is_some_and(|key| key.starts_with("plg_")));
        first.run_until(async {}).await?;
        let second = plgd::build(config).await?;
        assert_eq!(
            second.first_operator_key(),
            None,
            "shown on the first start only"
        );
        second.run_until(async {}).await?;
        Ok(())
    })
    .await?;

    // Without keys only on this machine: refused before anything is opened.
    let exposed = plgd::build(plg_server::config::Config {
        listen: "0.0.0.0:0".parse()?,
        data_dir: tempfile::tempdir()?.path().join("never-created"),
        insecure_local: true,
        ..Default::default()
    })
    .await;
    assert!(matches!(
        exposed,
        Err(plg_server::app::AppError::InsecureNotLocal(_))
    ));
    Ok(())
}

/// Editing a key's role in `events.db` grants nothing: the key's stream no longer verifies,
/// so the key is refused.
#[tokio::test]
async fn a_key_whose_stored_history_was_altered_is_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let issued = server
        .issue_key("researcher", v1::Role::Researcher, everything())
        .await?;
    let data_dir = server.stop().await?;
    let altered = rusqlite::Connection::open(crate::kit::event_log_file(data_dir.path()))?
        .execute(
            "UPDATE events SET data = json_set(data, '$.role', 'operator') WHERE stream = ?1",
            [format!("apikey-{}", issued.key_id)],
        )?;
    assert_eq!(altered, 1);

    let server = TestServer::start_in(data_dir).await?;
    let mut promoted = server
        .clients_with(Identity::bearer(&issued.api_key)?)
        .await?;
    let refused = promoted
        .admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await
        .expect_err("an altered key grants nothing");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    Ok(())
}
