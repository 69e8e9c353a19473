//! What the KurrentDB listener's tests share: a plgd serving it, and clients of it.

use std::{net::SocketAddr, time::Duration};

use kurrentdb::{Client, ClientSettings, ReadStream, ResolvedEvent};
use plg_server::config::Config;
use plg_testkit::{TestServer, without_budget};

/// Long enough for any step here, short enough that a hang fails the test.
pub const WAIT: Duration = Duration::from_secs(20);

/// A plgd serving KurrentDB's protocol on a free loopback port, raw writes allowed or not.
pub async fn start_serving_kurrentdb(raw_writes: bool) -> anyhow::Result<TestServer> {
    TestServer::start_with(tempfile::tempdir()?, |config| Config {
        kurrentdb_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        kurrentdb_allow_raw_writes: raw_writes,
        ..without_budget(config)
    })
    .await
}

/// A client of the listener, sending `key` (`plg_<id>_<secret>`) as basic credentials.
pub fn client(server: &TestServer, key: &str) -> anyhow::Result<Client> {
    let (id, secret) = key
        .strip_prefix("plg_")
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(|| anyhow::anyhow!("not an api key"))?;
    let address = server
        .kurrentdb_address()
        .ok_or_else(|| anyhow::anyhow!("no kurrentdb listener"))?;
    let settings: ClientSettings =
        format!("kurrentdb://{id}:{secret}@{address}?tls=false").parse()?;
    Client::new(settings).map_err(|error| anyhow::anyhow!("{error}"))
}

pub async fn all_of(mut read: ReadStream) -> anyhow::Result<Vec<ResolvedEvent>> {
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(WAIT, read.next()).await?? {
        events.push(event);
    }
    Ok(events)
}
