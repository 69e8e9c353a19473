//! KurrentDB's client protocol (`proto/`), as plgd's KurrentDB listener serves it: the
//! server side of KurrentDB's Streams, ServerFeatures and Gossip services.

#![allow(clippy::all, missing_debug_implementations, unused_qualifications)]

pub mod event_store {
    pub mod client {
        tonic::include_proto!("event_store.client");

        pub mod streams {
            tonic::include_proto!("event_store.client.streams");
        }
        pub mod server_features {
            tonic::include_proto!("event_store.client.server_features");
        }
        pub mod gossip {
            tonic::include_proto!("event_store.client.gossip");
        }
    }
}

pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}
