//! The contract's rules as pure functions: no sockets, files, clocks or databases.
//!
//! Everything here takes its inputs (bytes, the trust list in force, the current time) as
//! arguments, so that the same code serves the gateway, the partner client, the offline
//! audit tools and the conformance kit, and so that every rule is unit-tested byte for byte.

pub mod admission;
pub mod audit;
pub(crate) mod codes;
pub mod crypto;
pub mod envelope;
pub mod ids;
pub mod ledger;
pub(crate) mod lifecycle;
pub mod merkle;
pub(crate) mod prescan;
pub mod receipt;
pub mod rejection;
pub mod retry;
pub mod revenue;
pub mod risk;
pub(crate) mod sharing;
pub mod trust;
pub mod validation;
