//! The test kit that the end-to-end tests (`tests/e2e`), the CLI tests (`tests/cli.rs`) and the
//! benchmark (`bench/`) share, each including it by `#[path]`: the machine-wide Docker lock
//! (`lock`), running a program with a deadline and `docker` (`run`), a handle on one cluster
//! folder with ports and names computed by `Spec` (`cluster`), the durability proof's reads
//! (`writes`), the webhook receiver for Alertmanager (`hook`) and the memory sampler (`memory`).
//!
//! Everything here returns `Result`: the bench reports errors, the e2e harness turns them into
//! panics in its thin wrappers. Nothing here knows which of the two is using it.

#![allow(dead_code)]

pub mod cluster;
pub mod hook;
pub mod lock;
pub mod memory;
pub mod run;
pub mod writes;
