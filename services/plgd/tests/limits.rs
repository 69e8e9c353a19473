//! plgd stays reachable under load and abuse: bounded connections, each closed when silent.

mod support;

use std::time::Duration;

use anyhow::Context as _;
use plg_proto::v1;
use tokio::io::AsyncReadExt as _;
use tonic_types::StatusExt as _;

use support::spawn_plgd_with;

/// Waits up to `within` for a log line whose message is `message`.
fn logged(plgd: &support::Plgd, message: &str, within: Duration) -> Option<serde_json::Value> {
    let deadline = std::time::Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match plgd.log.recv_timeout(left) {
            Ok(entry) if entry["message"] == message => return Some(entry),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[tokio::test]
async fn silent_connections_over_the_limit_are_refused_and_the_rest_closed() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let plgd = spawn_plgd_with(
        data_dir.path(),
        &[
            ("PLG_CONNECTIONS__MAX", "4"),
            ("PLG_CONNECTIONS__HANDSHAKE_TIMEOUT_SECONDS", "1"),
        ],
    )?;
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tokio::net::TcpStream::connect(&plgd.address).await?);
    }
    // Each is closed: those over the limit at once, the others once the handshake times out.
    for (index, stream) in silent.iter_mut().enumerate() {
        // plgd may first send its HTTP/2 settings; then it closes (or resets) the connection.
        let mut sent = Vec::new();
        let _closed_or_reset =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sent))
                .await
                .with_context(|| format!("silent connection {index} is still open"))?;
    }
    let refused = logged(
        &plgd,
        "connection refused: too many open connections",
        Duration::from_secs(5),
    )
    .context("refused accepts are not logged")?;
    assert_eq!(refused["max_connections"], 4);

    let mut operator = plgd.operator().await?;
    operator
        .admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await
        .context("a well-behaved client is not served once the silent ones are gone")?;
    Ok(())
}

/// The budget test's plgd: operator keys `a` and `b` and their clients.
async fn two_keys(
    plgd: &support::Plgd,
) -> anyhow::Result<(plg_testkit::Clients, plg_testkit::Clients, String)> {
    let mut operator = plgd.operator().await?;
    let mut keys = Vec::new();
    for identity in ["a", "b"] {
        let issued = operator
            .admin
            .issue_api_key(v1::IssueApiKeyRequest {
                options: plg_testkit::options(),
                identity: identity.into(),
                role: v1::Role::Operator.into(),
                scope: None,
            })
            .await?;
        keys.push(issued.into_inner().api_key);
    }
    let (a, b) = (&keys[0], &keys[1]);
    Ok((plgd.clients(a).await?, plgd.clients(b).await?, a.clone()))
}

#[tokio::test]
async fn a_key_over_its_rate_is_told_when_to_retry_while_others_go_on() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let plgd = spawn_plgd_with(
        data_dir.path(),
        &[
            ("PLG_BUDGET__REQUESTS_PER_SECOND", "1"),
            ("PLG_BUDGET__BURST", "5"),
        ],
    )?;
    let (mut a, mut b, _) = two_keys(&plgd).await?;
    let mut refused = None;
    for _ in 0..20 {
        if let Err(status) = a.admin.list_api_keys(v1::ListApiKeysRequest {}).await {
            refused = Some(status);
            break;
        }
    }
    let status = refused.context("twenty calls at once within a rate of 1/s and bursts of 5")?;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("rate"), "{}", status.message());
    let retry = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .context("no RetryInfo delay")?;
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    b.admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await
        .context("another key is starved by the first")?;
    Ok(())
}

#[tokio::test]
async fn a_key_with_its_requests_in_flight_waits_while_others_go_on() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let plgd = spawn_plgd_with(data_dir.path(), &[("PLG_BUDGET__CONCURRENT_REQUESTS", "1")])?;
    let (mut a, mut b, key) = two_keys(&plgd).await?;
    let address = plgd.address.clone();
    // A request whose message never comes stays in flight until the client gives up.
    let stall = move || {
        let (address, key) = (address.clone(), key.clone());
        tokio::spawn(async move {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
                .connect()
                .await?;
            let mut stalled = tonic::client::Grpc::new(channel);
            let mut request =
                tonic::Request::new(futures::stream::pending::<v1::ListApiKeysRequest>());
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {key}").parse()?);
            stalled.ready().await?;
            stalled
                .client_streaming::<_, _, v1::ListApiKeysResponse, _>(
                    request,
                    "/plg.v1.AdminService/ListApiKeys".parse()?,
                    tonic_prost::ProstCodec::default(),
                )
                .await?;
            anyhow::Ok(())
        })
    };
    let mut in_flight = stall();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "a second request of the key was served while its first was in flight"
        );
        let served = a.admin.list_api_keys(v1::ListApiKeysRequest {}).await;
        if in_flight.is_finished() {
            // Refused itself, having come while a call of the loop was still in flight.
            in_flight = stall();
            continue;
        }
        match served {
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("in flight"),
        "{}",
        status.message()
    );
    assert!(status.get_details_retry_info().is_some(), "no RetryInfo");
    b.admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await
        .context("another key waits for the first")?;
    in_flight.abort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Err(status) = a.admin.list_api_keys(v1::ListApiKeysRequest {}).await {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the key stays refused once its request is gone: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
