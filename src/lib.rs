//! aedgate: a gRPC gateway through which customs administrations and their trusted
//! e-commerce partners exchange signed advance electronic data (PROTOCOL.md).
//!
//! The crate is split the way the failure modes split. `core` holds every rule of the
//! contract as pure, I/O-free functions (signing inputs, the admission checks of §3,
//! §7 validation, the trust list), so that they can be tested byte for byte without a
//! socket. Around it sit thin I/O layers, each with its own error type: `tls` (mutual-TLS
//! acceptor and connector), `store` (durable, group-committed storage), `service` (the tonic
//! services and the one mapping of errors to `tonic::Status`), `client` (what a partner
//! runs), and the operator tooling (`config`, `pki`, `bench`, `conformance`). What people
//! read and write sits apart from all of them: `formats` (the JSON files) and `render`
//! (the contract's objects as text). The command line (`cli`), the demo and the forwarder
//! are the binary's and the gateway's own, not the library's: only `cli::main` is public.

pub mod bench;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod core;
pub(crate) mod demo;
pub mod formats;
pub(crate) mod forwarder;
pub mod fuzz;
pub mod health;
pub mod limits;
pub mod pki;
pub mod proto;
pub mod render;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod wire;
