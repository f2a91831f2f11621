//! pgha: a highly available PostgreSQL cluster (Patroni + etcd + HAProxy) on Docker, and the
//! patronictl-style commands to run it.
//!
//! Pure core: `spec`, `render`, `state`, `plan`, `output`, `image` (recipe).
//! Adapters (one library each): `adapters::docker`, `adapters::dcs`, `adapters::pg`.
//! Ops: `ops::*`, what several commands share (converge, handover, restart, image, repository,
//! writer probe), over one `ops::session::Session` per command.
//! Commands: `commands::*`, one thin file (or folder) per subcommand: parse, call ops, print.
//! `arch_tests` checks these layers' imports.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod context;
pub mod decide;
pub mod dynconf;
pub mod error;
pub mod image;
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

#[cfg(test)]
mod arch_tests;
