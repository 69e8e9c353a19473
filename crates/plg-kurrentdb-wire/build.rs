//! Compiles `proto/` with protox, a pure-Rust protobuf compiler, so building needs no `protoc`.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let files: Vec<PathBuf> = fs::read_dir(&proto_root)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    let descriptors = protox::compile(&files, [&proto_root])?;
    // Server side only: plgd serves this protocol, and talks to KurrentDB through the
    // official client.
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
