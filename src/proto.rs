//! Generated wire types of the v1 contract (`proto/`), kept in one module so that every
//! other module names them the same way (`proto::v1::Envelope`). The module tree mirrors the
//! proto packages because prost refers across packages with relative paths.

#![allow(clippy::all, missing_docs)]

/// `package aedgate.*`.
pub mod aedgate {
    /// `package aedgate.v1`.
    pub mod v1 {
        tonic::include_proto!("aedgate.v1");
    }
    /// `package aedgate.ops.*`: this implementation's operations, outside the contract.
    pub mod ops {
        /// `package aedgate.ops.v1`: the outbox of messages for peer administrations.
        pub mod v1 {
            tonic::include_proto!("aedgate.ops.v1");
        }
    }
}

/// `package google.*`.
pub mod google {
    /// `package google.rpc`, for the per-envelope error of `SubmitResult`.
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

pub use aedgate::v1;

/// The encoded descriptors of every compiled file, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("aedgate_descriptor");

/// The Gateway server as actually served: generated from the same service definition, but
/// with `Submit` and `SubmitStream` receiving [`crate::wire::Received`] envelopes (raw bytes
/// plus decoding result) instead of already-decoded ones. The prost-generated
/// `v1::gateway_server` is not used.
pub mod gateway_raw {
    include!(concat!(env!("OUT_DIR"), "/aedgate.v1.Gateway.rs"));
}
