//! plgd stays reachable under load and abuse: bounded connections, each closed when silent.

mod support;

use std::time::Duration;

use anyhow::Context as _;
use plg_proto::v1;
use tokio::io::AsyncReadExt as _;

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
