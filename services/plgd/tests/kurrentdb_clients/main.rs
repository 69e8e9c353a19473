//! KurrentDB's official Node (`@kurrent/kurrentdb-client`) and Python (`kurrentdbclient`)
//! clients against plgd's KurrentDB listener, each through a script under `tests/clients`
//! that prints what it read and wrote as JSON lines, which this side compares with the event
//! log: reads of a stream and of `$all`, both ways; the client's own errors for a missing
//! stream and a wrong secret; catch-up subscriptions to `$all` and to a stream that catch up
//! and go live; appends (`BatchAppend` and `Append`), idempotent by event id, with the
//! client's own error for a wrong expected revision. The clients are installed on first use
//! (`kurrentdb_clients/install.rs`); without node or python3 these tests fail, saying what to
//! install.

mod install;
mod script;

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use plg_proto::v1;
use plg_server::config::{Config, TlsConfig};
use plg_testkit::{Clients, Identity, TestServer, everything, without_budget};
use serde_json::{Value, json};
use tempfile::TempDir;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use script::Script;

/// plgd serving KurrentDB's protocol over TLS: both clients send credentials only over TLS.
struct Served {
    server: TestServer,
    /// The server's self-signed certificate, which the clients trust.
    ca: PathBuf,
    _certs: TempDir,
    tool: Clients,
    administrator: Clients,
}

async fn serve() -> anyhow::Result<Served> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let certs = tempfile::tempdir()?;
    let (ca, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&ca, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    let tls = TlsConfig {
        cert: ca.clone(),
        key,
    };
    let server = TestServer::start_with(tempfile::tempdir()?, |config| Config {
        kurrentdb_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        tls: Some(tls),
        kurrentdb_allow_raw_writes: true,
        ..without_budget(config)
    })
    .await?;
    let channel = Endpoint::from_shared(format!("https://{}", server.address()))?
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(generated.cert.pem()))
                .domain_name("localhost"),
        )?
        .connect()
        .await?;
    let mut operator = Clients::new(channel.clone(), Identity::bearer(server.operator_key()?)?);
    let mut issue = async |role| {
        let key = operator
            .issue_api_key("kurrentdb clients test", role, everything())
            .await?
            .api_key;
        anyhow::Ok(Clients::new(channel.clone(), Identity::bearer(&key)?))
    };
    let tool = issue(v1::Role::PartnerTool).await?;
    let administrator = issue(v1::Role::Administrator).await?;
    Ok(Served {
        server,
        ca,
        _certs: certs,
        tool,
        administrator,
    })
}

impl Served {
    /// A connection string sending `key` (`plg_<id>_<secret>`) as basic credentials.
    fn connection_string(&self, key: &str) -> anyhow::Result<String> {
        let (id, secret) = key
            .strip_prefix("plg_")
            .and_then(|rest| rest.split_once('_'))
            .context("not an api key")?;
        let address = self
            .server
            .kurrentdb_address()
            .context("no kurrentdb listener")?;
        Ok(format!(
            "kurrentdb://{id}:{secret}@{address}?tls=true&tlsCAFile={}",
            self.ca.display()
        ))
    }
}

/// An event as the scripts print it: the event log's fields, the payload as JSON.
fn expected(events: &[v1::Event]) -> anyhow::Result<Vec<Value>> {
    events
        .iter()
        .map(|event| {
            Ok(json!({
                "id": event.event_id,
                "stream": event.stream,
                "revision": event.revision,
                "type": event.event_type,
                "data": serde_json::from_str::<Value>(&event.data_json)?,
                "position": event.position,
                "is_json": true,
            }))
        })
        .collect()
}

fn reversed(mut events: Vec<Value>) -> Vec<Value> {
    events.reverse();
    events
}

/// The names a client gives its errors.
struct ClientErrors {
    stream_not_found: &'static str,
    unauthenticated: &'static str,
    wrong_expected_version: &'static str,
}

/// Where the scripts append.
const APPEND_STREAM: &str = "client-appends";

/// Runs a client's `against_plgd` script against a fresh plgd and checks what it read and
/// wrote against the event log.
async fn against_plgd(
    mut command: tokio::process::Command,
    errors: ClientErrors,
) -> anyhow::Result<()> {
    let mut served = serve().await?;
    let tool = &mut served.tool;
    let (study, _) = tool.enrolled_school().await?;
    let stream = format!("study-{study}");
    let stream_before = expected(&tool.read_stream(&stream).await?)?;
    assert!(
        stream_before.len() >= 2,
        "the study stream has stored events"
    );
    let all_before = expected(&served.administrator.read_all().await?.1)?;
    let operator_key = served.server.operator_key()?;
    let (operator_id, _) = operator_key.rsplit_once('_').context("not an api key")?;

    command
        .env(
            "KURRENTDB_CONNECTION_STRING",
            served.connection_string(operator_key)?,
        )
        .env(
            "KURRENTDB_WRONG_CONNECTION_STRING",
            served.connection_string(&format!("{operator_id}_not-the-secret"))?,
        )
        .env("PLG_STREAM", &stream)
        .env(
            "PLG_MISSING_STREAM",
            "study-00000000000000000000000000000000",
        )
        .env("PLG_APPEND_STREAM", APPEND_STREAM);
    let mut script = Script::spawn(command)?;

    let reads = script.message("reads").await?;
    assert_eq!(reads["stream_forwards"], json!(stream_before));
    assert_eq!(
        reads["stream_backwards"],
        json!(reversed(stream_before.clone()))
    );
    assert_eq!(reads["all_forwards"], json!(all_before));
    assert_eq!(reads["all_backwards"], json!(reversed(all_before.clone())));
    assert_eq!(reads["missing_stream"], errors.stream_not_found);
    assert_eq!(reads["wrong_credentials"], errors.unauthenticated);

    // Both subscriptions are live before these writes: they must arrive, in order, after
    // the stored events, with no gap or duplicate.
    script.message("caught_up").await?;
    let tool = &mut served.tool;
    tool.release_wave(&study, "T0").await?;
    tool.register_school().await?;
    let stream_after = expected(&tool.read_stream(&stream).await?)?;
    let all_after = expected(&served.administrator.read_all().await?.1)?;
    assert!(
        stream_after.len() > stream_before.len(),
        "the release is in the study stream"
    );
    script
        .send(&json!({"all": all_after.len(), "stream": stream_after.len()}))
        .await?;
    let subscriptions = script.message("subscriptions").await?;
    assert_eq!(
        subscriptions["all"],
        json!({"events": all_after, "caught_up_after": all_before.len()})
    );
    assert_eq!(
        subscriptions["stream"],
        json!({"events": stream_after, "caught_up_after": stream_before.len()})
    );

    // Two events in a new stream, the same two again (nothing written), a conflict, then one
    // at the stream's revision; the event log holds exactly what was sent, and the client
    // reads it back as the log has it.
    let appends = script.message("appends").await?;
    let logged = served.administrator.read_stream(APPEND_STREAM).await?;
    let positions: Vec<u64> = logged.iter().map(|event| event.position).collect();
    assert_eq!(positions.len(), 3, "{appends}");
    assert_eq!(appends["created"], positions[1]);
    assert_eq!(
        appends["again"], positions[1],
        "the same event ids append nothing and answer as the first time"
    );
    assert_eq!(appends["conflict"], errors.wrong_expected_version);
    assert_eq!(appends["alone"], positions[2]);
    assert_eq!(appends["alone_conflict"], errors.wrong_expected_version);
    let logged_as_sent: Vec<Value> = expected(&logged)?
        .into_iter()
        .map(|event| json!({"id": event["id"], "type": event["type"], "data": event["data"]}))
        .collect();
    assert_eq!(appends["sent"], json!(logged_as_sent));
    assert_eq!(appends["read_back"], json!(expected(&logged)?));
    script.finish().await?;
    served.server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_client_reads_follows_subscriptions_live_and_appends() -> anyhow::Result<()> {
    let modules = tokio::task::spawn_blocking(install::node_client).await??;
    let mut command = tokio::process::Command::new("node");
    command
        .arg(install::clients_dir().join("node/against_plgd.mjs"))
        .env("KURRENTDB_NODE_MODULES", modules);
    against_plgd(
        command,
        ClientErrors {
            stream_not_found: "StreamNotFoundError",
            unauthenticated: "AccessDeniedError",
            wrong_expected_version: "WrongExpectedVersionError",
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_client_reads_follows_subscriptions_live_and_appends() -> anyhow::Result<()> {
    let python = tokio::task::spawn_blocking(install::python_client).await??;
    let mut command = tokio::process::Command::new(python);
    command.arg(install::clients_dir().join("python/against_plgd.py"));
    against_plgd(
        command,
        ClientErrors {
            stream_not_found: "NotFoundError",
            unauthenticated: "UnauthenticatedError",
            wrong_expected_version: "WrongCurrentVersionError",
        },
    )
    .await
}
