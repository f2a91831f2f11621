//! The command line: global options and one subcommand per operation (clap derive); the
//! options of backups, restores, certificates and passwords are in `data`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod data;
pub use data::*;

#[derive(Debug, Parser)]
#[command(
    name = "pgha",
    version,
    about = "A highly available PostgreSQL cluster (Patroni, etcd, HAProxy) on Docker, and the commands to run it",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Cluster spec (TOML). Default: ./pgha.toml when it exists, else the built-in default.
    #[arg(long, global = true, env = "PGHA_SPEC", value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// etcd endpoints of any Patroni etcd3 cluster (HOST:PORT, comma separated); needs --scope.
    #[arg(long, global = true, value_delimiter = ',', value_name = "HOST:PORT")]
    pub etcd: Vec<String>,
    /// Patroni scope (cluster name) in etcd, with --etcd.
    #[arg(long, global = true, value_name = "NAME")]
    pub scope: Option<String>,
    /// Patroni namespace in etcd.
    #[arg(long, global = true, default_value = "/service/", value_name = "PATH")]
    pub namespace: String,
    /// With --etcd: the CA certificate (PEM) that etcd's and Patroni's servers are checked
    /// against; https and TLS then.
    #[arg(long, global = true, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// With --etcd: the client certificate (PEM) presented to etcd and Patroni's REST API.
    #[arg(long, global = true, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// With --etcd: the client certificate's key (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// With --etcd: etcd user; its password is read from $PGHA_ETCD_PASSWORD, never from argv.
    #[arg(long, global = true, value_name = "NAME")]
    pub etcd_user: Option<String>,
    /// With --etcd: Patroni REST API user (restapi.authentication); its password is read from
    /// $PGHA_REST_PASSWORD.
    #[arg(long, global = true, value_name = "NAME")]
    pub rest_user: Option<String>,
    /// With --etcd-user or --rest-user: send their passwords over plain http too (refused
    /// otherwise: they would cross the network unencrypted).
    #[arg(long, global = true)]
    pub allow_plaintext_credentials: bool,
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Answer yes to confirmations (needed for destructive commands when not on a terminal).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// How long a command that changes the cluster waits for another one that is changing it
    /// (the cluster lock), in seconds; 0 refuses at once.
    #[arg(long, global = true, default_value_t = 0, value_name = "SECS")]
    pub wait_lock: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the default spec to ./pgha.toml for editing.
    Init(InitArgs),
    /// Render the Patroni and HAProxy configs of the spec into a folder.
    Render(RenderArgs),
    /// Manage pgha's node image.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Build what is missing and start the cluster; wait until it is healthy.
    Up(UpArgs),
    /// Show what `up` would change (containers, and Patroni's config key on a running cluster)
    /// and why; changes nothing.
    Plan,
    /// Remove the cluster's containers and network (and with --volumes its data).
    Down(DownArgs),
    /// Show the members as Patroni's state in etcd has them (like patronictl list).
    List(ListArgs),
    /// Planned change of leader, validated against etcd; waits for the new leader and HAProxy.
    Switchover(SwitchoverArgs),
    /// Manual failover to a candidate (also when the leader is down), or the --kill crash drill.
    Failover(FailoverArgs),
    /// Rebuild a replica from the leader (Patroni's reinitialize) and wait until it streams.
    Reinit(ReinitArgs),
    /// Start members' containers and wait until Patroni runs them (replicas: streaming).
    Start(MemberArgs),
    /// Stop members' containers gracefully (a stopped leader hands over first).
    Stop(MemberArgs),
    /// Restart PostgreSQL on members through Patroni (replicas first), or with --container their
    /// containers; wait until each runs again.
    Restart(RestartArgs),
    /// The cluster's timeline history (from the history key).
    History,
    /// Prove the cluster is highly available: status, replication, failover, recovery,
    /// consistency, routing, switchover, etcd member loss. Leaves it healthy.
    Verify(VerifyArgs),
    /// Print the dynamic configuration (the config key) as YAML.
    ShowConfig,
    /// Change the dynamic configuration: validated, shown as a diff, written with compare-and-swap.
    EditConfig(EditConfigArgs),
    /// Maintenance mode on: Patroni stops automatic failover.
    Pause(WaitArgs),
    /// Maintenance mode off.
    Resume(WaitArgs),
    /// Reload members' configuration through Patroni (all by default).
    Reload(ReloadArgs),
    /// Print a connection string: HAProxy's primary (default) or replica port, or a member's port.
    Dsn(DsnArgs),
    /// Open psql in a node container (through HAProxy's primary port, or on a member).
    Psql(PsqlArgs),
    /// Show container logs (all of the cluster's, interleaved, when no member is named).
    Logs(LogsArgs),
    /// Show the members as a tree: leader, replicas, cascading replicas.
    Topology,
    /// Take a backup with pgBackRest (full, diff or incr) and apply retention; `backup list` shows
    /// the backups and the recoverable window; `backup --mark NAME` makes a restore point.
    Backup(BackupArgs),
    /// The cluster's certificates: their expiry, and reissuing them without a restart.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// The cluster's passwords: their age, and changing them everywhere with no restart.
    #[command(subcommand)]
    Passwords(PasswordsCommand),
    /// Restore a backup to a point in time: into a new cluster beside this one (--into NAME), or
    /// this cluster itself (--in-place).
    Restore(RestoreArgs),
    /// The alerts firing now (from Alertmanager), critical first, each with its runbook line.
    Alerts,
    /// A live view refreshing every second: members with role, state, timeline, lag, TPS,
    /// connections, the last archived WAL's and the last backup's age, and the alerts firing.
    Top(TopArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the spec.
    #[arg(long, default_value = "pgha.toml")]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Output folder; patroni/ and haproxy/ are written under it.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the node image from Debian packages (mmdebstrap), unless it exists.
    Build(ImageBuildArgs),
    /// Print the node image's name (its tag derives from its recipe).
    Name,
}

#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// Build again even when the image exists.
    #[arg(long)]
    pub force: bool,
    /// Build again from today's Debian packages; when a package changed, the image tag moves to
    /// the new image and the next `pgha up` rolls it through the cluster.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Longest wait for the cluster to become healthy, in seconds.
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub timeout: u64,
    /// When a changed `[patroni]` parameter needs a PostgreSQL restart, restart the members one at
    /// a time (replicas first) instead of leaving it pending.
    #[arg(long)]
    pub restart: bool,
    /// When the spec no longer names a node, remove its data volume too (kept otherwise).
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the data volumes and the cluster's secrets (asks for confirmation). The backup
    /// repository stays unless --repository is given too.
    #[arg(long)]
    pub volumes: bool,
    /// With --volumes: remove the backup repository as well (asks for its own confirmation).
    #[arg(long, requires = "volumes")]
    pub repository: bool,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Seconds between two frames.
    #[arg(short = 'n', long, default_value_t = 1.0, value_parser = positive_seconds)]
    pub interval: f64,
    /// Stop after this many frames (default: until interrupted).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds from 0.1 to 3600")),
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Redraw every INTERVAL seconds until interrupted.
    #[arg(short = 'W', long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
    /// When etcd has no quorum, show the last known state of a member that answers (a
    /// serializable read), marked stale.
    #[arg(long)]
    pub stale: bool,
}

#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    /// The member to become leader (default: the best one: the sync standby, then least lag).
    #[arg(long, value_name = "MEMBER")]
    pub candidate: Option<String>,
    /// The current leader, as a check (refused if it is not the leader).
    #[arg(long, value_name = "MEMBER")]
    pub leader: Option<String>,
    /// Schedule it: an RFC 3339 time in UTC (2026-11-27T10:00:00Z) or a delay (+10m).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Longest wait for the new leader, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// The member to promote (manual failover; allowed when the leader is down).
    #[arg(long, value_name = "MEMBER", conflicts_with = "kill")]
    pub candidate: Option<String>,
    /// Crash drill: SIGKILL the leader's container and show the failover.
    #[arg(long)]
    pub kill: bool,
    /// With --kill: do not revoke the dead leader's lease; Patroni waits for its ttl.
    #[arg(long, requires = "kill")]
    pub no_fence: bool,
    /// Fail over to a candidate that may lack acknowledged commits (not the sync standby, or
    /// lagging); without it such a failover is refused, --yes or not.
    #[arg(long, conflicts_with = "kill")]
    pub allow_data_loss: bool,
    /// Longest wait for the new leader, in seconds.
    #[arg(long, default_value_t = 90, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ReinitArgs {
    /// The replica to rebuild from the leader.
    pub member: String,
    /// Cancel whatever the member is doing (e.g. a restart loop) and reinit anyway.
    #[arg(long)]
    pub force: bool,
    /// Longest wait until it streams again, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct MemberArgs {
    /// Members: pg nodes, etcdN or haproxy.
    #[arg(required = true)]
    pub members: Vec<String>,
    /// Longest wait, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
    /// stop: stop even when it costs etcd quorum, the sync standby or the last replica.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Members (default: every node).
    pub members: Vec<String>,
    /// Restart the members' containers instead of PostgreSQL (nodes, etcdN or haproxy).
    #[arg(long)]
    pub container: bool,
    /// Only members with a pending restart (a changed parameter that needs one).
    #[arg(long, conflicts_with = "container")]
    pub pending: bool,
    /// Only members in this role.
    #[arg(long, value_enum, default_value_t = RoleFilter::Any, conflicts_with = "container")]
    pub role: RoleFilter,
    /// Longest wait per member, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
    /// With --container: restart even when it costs etcd quorum, the sync standby or the last
    /// replica for a while.
    #[arg(long, requires = "container")]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleFilter {
    Leader,
    Replica,
    Any,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Run only these checks (status, archive, backup, database, replication, failover, write,
    /// recovery, routing, switchover, etcd, partition, consistency).
    #[arg(long, num_args = 1.., value_name = "CHECK")]
    pub only: Vec<String>,
    /// Also restore the latest backup and archived WAL into a throwaway container and compare
    /// every user table's row count with the leader's (run it while writes are quiet).
    #[arg(long)]
    pub restore_test: bool,
}

#[derive(Debug, Args)]
pub struct EditConfigArgs {
    /// Set PATH=VALUE (dotted path, e.g. loop_wait=2 or postgresql.parameters.work_mem=8MB;
    /// VALUE null removes the key).
    #[arg(short = 's', long, value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Set a PostgreSQL parameter: NAME=VALUE (postgresql.parameters.NAME).
    #[arg(short = 'p', long, value_name = "NAME=VALUE")]
    pub pg: Vec<String>,
    /// Merge a YAML file into the configuration.
    #[arg(long, value_name = "FILE")]
    pub apply: Option<std::path::PathBuf>,
    /// Replace the configuration with a YAML file.
    #[arg(long, value_name = "FILE")]
    pub replace: Option<std::path::PathBuf>,
    /// Edit in $EDITOR (the default on a terminal when nothing else is given).
    #[arg(long)]
    pub edit: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait until every member reports the change.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Members (default: all).
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DsnRole {
    Primary,
    Replica,
}

#[derive(Debug, Args)]
pub struct DsnArgs {
    /// A node: its own port instead of HAProxy's.
    pub member: Option<String>,
    /// HAProxy's primary (writes) or replica (reads) port.
    #[arg(long, value_enum, default_value_t = DsnRole::Primary, conflicts_with = "member")]
    pub role: DsnRole,
}

#[derive(Debug, Args)]
pub struct PsqlArgs {
    /// A node to connect to directly (default: HAProxy's primary port).
    pub member: Option<String>,
    /// Arguments passed to psql (after --).
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A member (pg node, etcdN or haproxy); default: every container of the cluster.
    pub member: Option<String>,
    /// Keep streaming new lines.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines of each container.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines since a time (RFC 3339) or a duration ago (10m).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Show Docker's timestamp of each line.
    #[arg(short = 't', long)]
    pub timestamps: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
