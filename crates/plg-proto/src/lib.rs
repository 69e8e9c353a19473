//! The public `plg.v1` gRPC contract, generated from `proto/plg/v1`.

#![allow(clippy::all, missing_debug_implementations, unused_qualifications)]

pub mod v1 {
    tonic::include_proto!("plg.v1");
}

/// The encoded descriptor set of every `plg.v1` file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/plg_descriptor.bin"));
