//! pgha: a highly available PostgreSQL cluster (Patroni + etcd + HAProxy) on Docker, and the
//! patronictl-style commands to run it.
//!
//! Pure core: `spec` (and its `names`), `layout` (the containers' file system), `render` (every
//! file's text), `state`, `decide`, `plan`, `dynconf`, `monitoring`, `pgbackrest`, `output`,
//! `tls::cert`, `secrets` (not its `store`), `image` (recipe). None of them does I/O or imports
//! a module that does.
//! Host files and stdout: `files` (private, atomic writes), `secrets::store`, `tls::store`, `stdout`.
//! Adapters (one library each): `adapters::docker`, `adapters::dcs`, `adapters::pg`.
//! Ops: `ops::*`, what several commands share (converge, handover, restart, image, repository,
//! writer probe), over one `ops::session::Session` per command.
//! Commands: `commands::*`, one thin file (or folder) per subcommand: parse, call ops, print.
//! `arch_tests` checks these layers' imports, and that the core uses no I/O.

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
pub mod stdout;
pub mod tls;
pub mod wait;

#[cfg(test)]
mod arch_tests;
