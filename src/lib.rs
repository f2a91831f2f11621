//! pgha: a highly available PostgreSQL cluster (Patroni + etcd + HAProxy) on Docker, and the
//! patronictl-style commands to run it.
//!
//! Pure core: `spec`, `render`, `state`, `plan`, `output`, `image` (recipe).
//! Adapters (one library each): `adapters::docker`, `adapters::dcs`, `adapters::pg`.
//! Commands: `commands::*`, one file per subcommand.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod context;
pub mod decide;
pub mod dynconf;
pub mod error;
pub mod files;
pub mod image;
pub mod layout;
pub mod monitoring;
pub mod ops;
pub mod output;
pub mod pgbackrest;
pub mod plan;
pub mod progress;
pub mod render;
pub mod secrets;
pub mod security;
pub mod spec;
pub mod state;
pub mod tls;
pub mod wait;
