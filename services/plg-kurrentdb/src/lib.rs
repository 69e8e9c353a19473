//! KurrentDB's client protocol over the event store, so that official KurrentDB clients read
//! plgd's log: `Streams.Read` (a stream or `$all`, either direction, or as a catch-up
//! subscription), `ServerFeatures` and a one-member `Gossip`. Raw writes are refused: every
//! write goes through the ledger's services. Callers authenticate with an API key.

mod auth;
mod cluster;
mod event;
mod filter;
mod read;

use std::net::SocketAddr;

use plg_kurrentdb_wire::event_store::client::{
    gossip::gossip_server::GossipServer,
    server_features::server_features_server::ServerFeaturesServer,
    streams::streams_server::StreamsServer,
};
use plg_server::Runtime;
use tonic::service::Routes;

pub use auth::Keys;

/// The listener's services over `runtime`'s store, counting reads against its keys' budgets,
/// answering gossip with `address`.
pub fn routes(runtime: &Runtime, keys: Keys, address: SocketAddr) -> Routes {
    let streams = read::Streams::new(runtime.ledger.clone(), keys, runtime.budgets.clone());
    Routes::new(StreamsServer::new(streams))
        .add_service(ServerFeaturesServer::new(cluster::Features))
        .add_service(GossipServer::new(cluster::Gossip::new(address)))
}
