//! Adapters: one per outside library. Library types stay inside them.

pub mod dcs;
pub mod docker;
pub mod patroni;
pub mod pg;
pub mod prom;
pub mod tls;
