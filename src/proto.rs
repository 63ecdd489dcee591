//! Generated protobuf and gRPC code for `cbr.gateway.v1`, and the descriptor set
//! that server reflection serves.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("cbr.gateway.v1");

/// Encoded `FileDescriptorSet` of `proto/`, written by `build.rs`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("cbr_gateway_descriptor");
