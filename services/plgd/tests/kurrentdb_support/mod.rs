//! What the KurrentDB listener's tests share: a plgd serving it, and clients of it.

#![allow(
    dead_code,
    reason = "every test crate of the listener compiles this module; not all use all of it"
)]

use std::{net::SocketAddr, time::Duration};

use kurrentdb::{Client, ClientSettings, ReadStream, ResolvedEvent};
use plg_kurrentdb_wire::event_store::client::{
    Empty, StreamIdentifier, Uuid as WireUuid,
    streams::{
        AppendReq, ProposedMessage,
        append_req::{self, options::ExpectedStreamRevision},
        streams_client::StreamsClient,
    },
    uuid as wire_uuid,
};
use plg_server::config::{Config, KeyBudget};
use plg_testkit::{TestServer, kurrentdb_node, without_budget};
use tonic::Status;
use uuid::Uuid;

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

/// A plgd serving KurrentDB's protocol with raw writes on a free loopback port, its log
/// empty ([`kurrentdb_node`]).
pub async fn insecure_plgd() -> anyhow::Result<TestServer> {
    TestServer::start_with(tempfile::tempdir()?, kurrentdb_node).await
}

/// A plgd serving KurrentDB's protocol whose keys may each have one request in flight.
pub async fn start_with_one_request_in_flight(raw_writes: bool) -> anyhow::Result<TestServer> {
    TestServer::start_with(tempfile::tempdir()?, |config| Config {
        kurrentdb_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        kurrentdb_allow_raw_writes: raw_writes,
        budget: KeyBudget {
            requests_per_second: 10_000,
            burst: 10_000,
            concurrent_requests: 1,
        },
        ..config
    })
    .await
}

/// Whether `stream` reads as never written.
pub async fn never_written(client: &Client, stream: &str) -> anyhow::Result<bool> {
    let read = client
        .read_stream(stream, &kurrentdb::ReadStreamOptions::default())
        .await?
        .next()
        .await;
    Ok(matches!(read, Err(kurrentdb::Error::ResourceNotFound)))
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

pub type RawStreams = StreamsClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

/// Sends a key as `authorization: Bearer`, as the main API takes it.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A client of the listener's protocol as the wire crate generates it, below what the
/// official client shows.
pub async fn raw_client(server: &TestServer, key: &str) -> anyhow::Result<RawStreams> {
    let address = server
        .kurrentdb_address()
        .ok_or_else(|| anyhow::anyhow!("no kurrentdb listener"))?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let bearer = Bearer(format!("Bearer {key}").parse()?);
    Ok(StreamsClient::with_interceptor(channel, bearer))
}

pub fn proposed(event_type: &str, data: &[u8]) -> ProposedMessage {
    ProposedMessage {
        id: Some(WireUuid {
            value: Some(wire_uuid::Value::String(Uuid::new_v4().to_string())),
        }),
        metadata: [("type", event_type), ("content-type", "application/json")]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
        custom_metadata: Vec::new(),
        data: data.to_vec(),
    }
}

/// The options of an `Append` to `stream` at any revision.
pub fn append_options(stream: &str) -> AppendReq {
    AppendReq {
        content: Some(append_req::Content::Options(append_req::Options {
            stream_identifier: Some(StreamIdentifier {
                stream_name: stream.as_bytes().to_vec(),
            }),
            expected_stream_revision: Some(ExpectedStreamRevision::Any(Empty {})),
        })),
    }
}

/// One event of an `Append`.
pub fn append_event(event: ProposedMessage) -> AppendReq {
    AppendReq {
        content: Some(append_req::Content::ProposedMessage(event)),
    }
}
