//! KurrentDB's client protocol over the event store, so that official KurrentDB clients read
//! plgd's log: `Streams.Read` (a stream or `$all`, either direction, or as a catch-up
//! subscription), `ServerFeatures` and a one-member `Gossip`. Raw writes (`Append`,
//! `BatchAppend`) only when plgd allows them, for operators: otherwise every write goes
//! through the ledger's services. Callers authenticate with an API key.

mod append;
mod auth;
mod batch;
mod cluster;
mod event;
mod filter;
mod read;
mod write;

use std::net::SocketAddr;

use plg_kurrentdb_wire::event_store::client::{
    gossip::gossip_server::GossipServer,
    server_features::server_features_server::ServerFeaturesServer,
    streams::streams_server::StreamsServer,
};
use plg_server::Runtime;
use tonic::service::Routes;

pub use auth::Keys;
pub use write::Writes;

/// The listener's services over `runtime`'s store, counting reads and writes against its keys'
/// budgets, answering gossip with `address`.
pub fn routes(runtime: &Runtime, keys: Keys, writes: Writes, address: SocketAddr) -> Routes {
    let budgets = runtime.budgets.clone();
    let streams = read::Streams::new(runtime.ledger.clone(), keys, budgets, writes);
    Routes::new(StreamsServer::new(streams))
        .add_service(ServerFeaturesServer::new(cluster::Features::new(writes)))
        .add_service(GossipServer::new(cluster::Gossip::new(address)))
}
