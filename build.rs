//! Compiles `proto/` without a system `protoc`: `protox` parses the files into a
//! descriptor set, `tonic-prost-build` generates the Rust code from it, and the
//! encoded set is written to `OUT_DIR` for gRPC server reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/cbr/gateway/v1/checkpoint.proto",
    "proto/cbr/gateway/v1/backup.proto",
    "proto/cbr/gateway/v1/checkpoint_item.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("cbr_gateway_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    // Type names (`prost::Name`) let the CLI find each message's descriptor
    // when it prints protobuf JSON.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    // The codec counts a request's repeated fields before prost decodes it
    // (src/codec.rs).
    tonic_prost_build::configure()
        .codec_path("crate::transport::codec::Codec")
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
