//! pgBackRest, the pure part, one file per reason to change: `scripts` (the commands and shell
//! it runs in the containers: archive-push, archive-get, replica restore, the restore bootstrap
//! of `pgha restore --into`, the tool containers' recoveries), `target` (restore targets and
//! the other values a user gives), `info` (what `pgbackrest info` and the archiver say) and
//! `sql`. Its configuration file is rendered by `render::pgbackrest`, its paths are in `layout`.
//!
//! The repository is a posix repository on one Docker volume (`<name>-backup`) that every node
//! mounts at `REPO_PATH`: all containers run on one Docker engine, so a shared volume gives every
//! node archive-push, archive-get and restore without a network hop, and needs no repository host
//! or SSH. Each node also runs `pgbackrest server` (TLS, the cluster's CA) so that a backup can
//! run on a standby: it copies the standby's files and reaches the primary through that server.

pub mod info;
pub mod scripts;
pub mod sql;
pub mod target;
pub use info::*;
pub use scripts::*;
pub use sql::*;
pub use target::*;

#[cfg(test)]
mod tests;
