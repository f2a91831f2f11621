//! The command line: global options and one subcommand per operation (clap derive).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    #[arg(
        short = 'f',
        long,
        global = true,
        env = "PGHA_SPEC",
        value_name = "FILE"
    )]
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
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Answer yes to confirmations (needed for destructive commands when not on a terminal).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
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
    /// Remove the cluster's containers and network (and with --volumes its data).
    Down(DownArgs),
    /// Show the members as Patroni's state in etcd has them (like patronictl list).
    List(ListArgs),
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
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Longest wait for the cluster to become healthy, in seconds.
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the data volumes and the cluster's secrets (asks for confirmation).
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Redraw every INTERVAL seconds until interrupted.
    #[arg(short = 'W', long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
}
