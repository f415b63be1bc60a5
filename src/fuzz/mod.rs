//! Fuzzing of every decoder of untrusted bytes, on stable Rust (docs/fuzzing.md).
//!
//! Each [`Target`] feeds bytes to one decoder exactly as the gateway or the command line
//! does: an envelope through admission, each payload type through admission under a valid
//! signature, the trust list through its verification, the configuration files through
//! their loaders, the JSON forms through their readers. The [`fuzz`] loop starts from
//! valid inputs (the golden vectors, the documentation's examples, the files `aedgate pki
//! init` writes), mutates them byte by byte and by structure (protobuf, JSON, TOML), keeps
//! inputs with new outcomes, and catches and saves any input that panics.
//!
//! `examples/fuzz.rs` is the command; `tests/fuzz_smoke.rs` runs every target briefly so
//! that none of them rots.

mod engine;
mod fixture;
mod mutate;
mod runs;
mod targets;

pub use engine::{fuzz, normalize, run_once, Crash, Options, Outcome, Report};
pub use fixture::{Fixture, NOW_MS};
pub use mutate::Rng;
pub use targets::{targets, Target};
