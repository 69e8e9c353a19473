//! Compiles `proto/` with protox, a pure-Rust protobuf compiler, so building needs no `protoc`.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let files: Vec<PathBuf> = fs::read_dir(&proto_root)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    let descriptors = protox::compile(&files, [&proto_root])?;
    // The server side, which plgd serves; the client side only for tests (feature `client`)
    // that speak the protocol below what the official client exposes (BatchAppend's replies).
    tonic_prost_build::configure()
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
