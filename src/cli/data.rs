//! The options of the commands that keep and change the cluster's data and its secrets: backups
//! and restores, certificates and passwords.

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// full copies everything; diff what changed since the last full; incr since the last backup.
    #[arg(long = "type", value_name = "TYPE", default_value = "full", value_parser = ["full", "diff", "incr"])]
    pub kind: String,
    /// Make a restore point named NAME (archived at once) instead of a backup; `pgha restore
    /// --name NAME` returns to it.
    #[arg(long, value_name = "NAME")]
    pub mark: Option<String>,
    /// Longest wait for the backup, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Every certificate of the cluster (CA, servers, clients) and when it ends.
    Status,
    /// Reissue every leaf certificate and apply them with a reload (no restart, no downtime);
    /// `--ca` replaces the CA itself too.
    Rotate(CertsRotateArgs),
}

#[derive(Debug, Args)]
pub struct CertsRotateArgs {
    /// Also a new CA: trusted beside the old one first, then issuing every certificate, then
    /// the only one trusted (etcd's members restart one at a time; PostgreSQL does not).
    #[arg(long)]
    pub ca: bool,
}

#[derive(Debug, Subcommand)]
pub enum PasswordsCommand {
    /// Each user's password: what it is for and when it was last changed.
    Status,
    /// New passwords for users (all by default), put in place everywhere they are used, with no
    /// restart and no write gap; the old ones are refused afterwards.
    Rotate(PasswordsRotateArgs),
}

#[derive(Debug, Args)]
pub struct PasswordsRotateArgs {
    /// superuser, replication, rewind, restapi, monitor, etcd-patroni, etcd-root, or all
    /// (repeat or comma separate).
    #[arg(long = "user", value_delimiter = ',', value_name = "USER")]
    pub users: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// The backups in the repository, the archived WAL and the recoverable window.
    List,
    /// The last backup's age and the leader's archiver; exit 1 when archiving fails.
    Status,
}

/// What a restore recovers to: exactly one.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RestoreTarget {
    /// A time with its zone, e.g. "2026-12-02 10:15:00+00".
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// A WAL location, e.g. 0/3000060.
    #[arg(long, value_name = "LSN")]
    pub lsn: Option<String>,
    /// A transaction ID: recovery stops after it commits.
    #[arg(long, value_name = "XID")]
    pub xid: Option<String>,
    /// A restore point made by `pgha backup --mark NAME`.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The end of the archived WAL.
    #[arg(long)]
    pub latest: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub target: RestoreTarget,
    /// Start from this backup (a label from `pgha backup list`); default: the newest one that
    /// ends before the target.
    #[arg(long, value_name = "LABEL")]
    pub set: Option<String>,
    /// Build the restored cluster as a new cluster NAME, with its own containers, volumes and
    /// ports; the original is left untouched. Its spec is written to NAME.toml.
    #[arg(long, value_name = "NAME", conflicts_with = "in_place")]
    pub into: Option<String>,
    /// Restore this cluster itself: every node stops, the first is restored and leads on a new
    /// timeline, the others are rebuilt from it. Every write after the target is lost (asks).
    #[arg(long)]
    pub in_place: bool,
    /// port_base of the new cluster (default: this cluster's plus 100).
    #[arg(long, value_name = "N")]
    pub port_base: Option<u32>,
    /// Print the steps without taking them.
    #[arg(long)]
    pub plan: bool,
    /// With --in-place: go on when the current WAL cannot be archived first (what it holds is
    /// lost: an in-place restore keeps no copy of it).
    #[arg(long, requires = "in_place")]
    pub allow_data_loss: bool,
    /// Longest wait for the restored cluster to become healthy, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,
}
