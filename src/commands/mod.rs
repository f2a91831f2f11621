//! One module per subcommand; each observes, decides (with the pure core), acts, waits and reports.

pub mod alerts;
pub mod backup;
pub mod certs;
pub mod config;
pub mod down;
pub mod dsn;
pub mod failover;
pub mod history;
pub mod image;
pub mod init;
pub mod list;
pub mod logs;
pub mod member;
pub mod plan;
pub mod reinit;
pub mod reload;
pub mod render;
pub mod restart;
pub mod restore;
pub mod switchover;
pub mod top;
pub mod topology;
pub mod up;
pub mod verify;

use crate::cli::{CertsCommand, Cli, Command, ImageCommand};
use crate::context::Ctx;
use crate::ops::member::Action;
use anyhow::Result;

pub async fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(cli.global);
    match cli.command {
        Command::Init(a) => init::run(&ctx, &a),
        Command::Render(a) => render::run(&ctx, &a),
        Command::Image(ImageCommand::Build(a)) => image::run_build(&ctx, &a).await,
        Command::Image(ImageCommand::Name) => image::run_name(&ctx),
        Command::Up(a) => up::run(&ctx, &a).await,
        Command::Plan => plan::run(&ctx).await,
        Command::Down(a) => down::run(&ctx, &a).await,
        Command::List(a) => list::run(&ctx, &a).await,
        Command::Switchover(a) => switchover::run(&ctx, &a).await,
        Command::Failover(a) => failover::run(&ctx, &a).await,
        Command::Reinit(a) => reinit::run(&ctx, &a).await,
        Command::Start(a) => member::run(&ctx, &a, Action::Start).await,
        Command::Stop(a) => member::run(&ctx, &a, Action::Stop).await,
        Command::Restart(a) => restart::run(&ctx, &a).await,
        Command::History => history::run(&ctx).await,
        Command::Verify(a) => verify::run(&ctx, &a).await,
        Command::ShowConfig => config::show(&ctx).await,
        Command::EditConfig(a) => config::edit(&ctx, &a).await,
        Command::Pause(a) => config::set_pause(&ctx, true, a.wait).await,
        Command::Resume(a) => config::set_pause(&ctx, false, a.wait).await,
        Command::Reload(a) => reload::run(&ctx, &a.members).await,
        Command::Dsn(a) => dsn::run_dsn(&ctx, &a),
        Command::Psql(a) => dsn::run_psql(&ctx, &a).await,
        Command::Logs(a) => logs::run(&ctx, &a).await,
        Command::Topology => topology::run(&ctx).await,
        Command::Backup(a) => backup::run(&ctx, &a).await,
        Command::Certs(CertsCommand::Status) => certs::run_status(&ctx),
        Command::Certs(CertsCommand::Rotate) => certs::run_rotate(&ctx).await,
        Command::Restore(a) => restore::run(&ctx, &a).await,
        Command::Alerts => alerts::run(&ctx).await,
        Command::Top(a) => top::run(&ctx, &a).await,
    }
}
