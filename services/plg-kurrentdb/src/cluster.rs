//! What a client asks before it reads: which methods the server has, and where the cluster's
//! leader is (a cluster of one, this listener). Both answer without credentials, as
//! KurrentDB's do: clients ask them before they send any, and they tell nothing of the log.

use std::net::SocketAddr;

use plg_kurrentdb_wire::event_store::client::{
    Empty,
    gossip::{ClusterInfo, EndPoint, MemberInfo, gossip_server, member_info::VNodeState},
    server_features::{SupportedMethod, SupportedMethods, server_features_server},
};
use tonic::{Request, Response, Status};

use crate::{
    event::{IdForm, wire_id},
    write::Writes,
};

/// The KurrentDB version whose protocol the listener speaks, as clients compare versions.
const SERVER_VERSION: &str = "25.0.0";
const STREAMS: &str = "event_store.client.streams.streams";

#[derive(Debug, Clone, Copy)]
pub(crate) struct Features {
    writes: Writes,
}

impl Features {
    pub(crate) fn new(writes: Writes) -> Self {
        Self { writes }
    }
}

#[tonic::async_trait]
impl server_features_server::ServerFeatures for Features {
    async fn get_supported_methods(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<SupportedMethods>, Status> {
        let method = |service: &str, method: &str, features: &[&str]| SupportedMethod {
            method_name: method.to_owned(),
            service_name: service.to_owned(),
            features: features.iter().map(|&feature| feature.to_owned()).collect(),
        };
        // Lowercase, as KurrentDB lists them. Appends only when they are served.
        let mut methods = vec![
            method(STREAMS, "read", &["position", "events"]),
            method("event_store.client.gossip.gossip", "read", &[]),
            method(
                "event_store.client.server_features.serverfeatures",
                "getsupportedmethods",
                &[],
            ),
        ];
        if self.writes == Writes::Allowed {
            methods.push(method(STREAMS, "append", &[]));
            methods.push(method(STREAMS, "batchappend", &[]));
        }
        Ok(Response::new(SupportedMethods {
            methods,
            event_store_server_version: SERVER_VERSION.to_owned(),
        }))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Gossip {
    address: SocketAddr,
    instance: uuid::Uuid,
}

impl Gossip {
    pub(crate) fn new(address: SocketAddr) -> Self {
        Self {
            address,
            instance: uuid::Uuid::new_v4(),
        }
    }
}

#[tonic::async_trait]
impl gossip_server::Gossip for Gossip {
    async fn read(&self, _: Request<Empty>) -> Result<Response<ClusterInfo>, Status> {
        let member = MemberInfo {
            instance_id: Some(wire_id(self.instance, IdForm::Structured)),
            time_stamp: chrono::Utc::now().timestamp_micros() * 10,
            state: VNodeState::Leader.into(),
            is_alive: true,
            http_end_point: Some(EndPoint {
                address: self.address.ip().to_string(),
                port: u32::from(self.address.port()),
            }),
        };
        Ok(Response::new(ClusterInfo {
            members: vec![member],
        }))
    }
}
