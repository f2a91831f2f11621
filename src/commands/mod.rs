//! One module per subcommand; each observes, decides (with the pure core), acts, waits and reports,
//! through `ops` and the one `Session` built here for the command. No command module imports
//! another: what two of them need is in `ops` (`arch_tests` checks it).

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
pub mod passwords;
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

use crate::cli::{CertsCommand, Cli, Command, ImageCommand, PasswordsCommand};
use crate::context::Ctx;
use crate::ops::lock;
use crate::ops::member::Action;
use crate::ops::session::Session;
use anyhow::Result;

pub async fn run(cli: Cli) -> Result<()> {
    // One session per command: the spec, the engine, etcd and the members' access, each made once.
    let session = Session::new(Ctx::new(cli.global));
    // One operator at a time: a command that changes a cluster pgha made holds its lock for its
    // whole run (`ops::lock`); read-only commands and clusters named by --etcd take none.
    let _lock = match changes(&cli.command) {
        Some(name) if !session.external() => Some(
            lock::acquire(
                &session.spec()?.name,
                name,
                std::time::Duration::from_secs(session.global.wait_lock),
            )
            .await?,
        ),
        _ => None,
    };
    match cli.command {
        Command::Init(a) => init::run(&session, &a),
        Command::Render(a) => render::run(&session, &a),
        Command::Image(ImageCommand::Build(a)) => image::run_build(&session, &a).await,
        Command::Image(ImageCommand::Name) => image::run_name(&session),
        Command::Up(a) => up::run(&session, &a).await,
        Command::Plan => plan::run(&session).await,
        Command::Down(a) => down::run(&session, &a).await,
        Command::List(a) => list::run(&session, &a).await,
        Command::Switchover(a) => switchover::run(&session, &a).await,
        Command::Failover(a) => failover::run(&session, &a).await,
        Command::Reinit(a) => reinit::run(&session, &a).await,
        Command::Start(a) => member::run(&session, &a, Action::Start).await,
        Command::Stop(a) => member::run(&session, &a, Action::Stop).await,
        Command::Restart(a) => restart::run(&session, &a).await,
        Command::History => history::run(&session).await,
        Command::Verify(a) => verify::run(&session, &a).await,
        Command::ShowConfig => config::show(&session).await,
        Command::EditConfig(a) => config::edit(&session, &a).await,
        Command::Pause(a) => config::set_pause(&session, true, a.wait).await,
        Command::Resume(a) => config::set_pause(&session, false, a.wait).await,
        Command::Reload(a) => reload::run(&session, &a.members).await,
        Command::Dsn(a) => dsn::run_dsn(&session, &a),
        Command::Psql(a) => dsn::run_psql(&session, &a).await,
        Command::Logs(a) => logs::run(&session, &a).await,
        Command::Topology => topology::run(&session).await,
        Command::Backup(a) => backup::run(&session, &a).await,
        Command::Certs(CertsCommand::Status) => certs::run_status(&session),
        Command::Certs(CertsCommand::Rotate(a)) => certs::run_rotate(&session, &a).await,
        Command::Passwords(PasswordsCommand::Status) => passwords::run_status(&session),
        Command::Passwords(PasswordsCommand::Rotate(a)) => {
            passwords::run_rotate(&session, &a).await
        }
        Command::Restore(a) => restore::run(&session, &a).await,
        Command::Alerts => alerts::run(&session).await,
        Command::Top(a) => top::run(&session, &a).await,
    }
}

/// The name of a command that changes the cluster (and so holds its lock), or `None`.
fn changes(c: &Command) -> Option<&'static str> {
    Some(match c {
        Command::Image(ImageCommand::Build(_)) => "pgha image build",
        Command::Up(_) => "pgha up",
        Command::Down(_) => "pgha down",
        Command::Switchover(_) => "pgha switchover",
        Command::Failover(_) => "pgha failover",
        Command::Reinit(_) => "pgha reinit",
        Command::Start(_) => "pgha start",
        Command::Stop(_) => "pgha stop",
        Command::Restart(_) => "pgha restart",
        Command::Verify(_) => "pgha verify",
        Command::EditConfig(_) => "pgha edit-config",
        Command::Pause(_) => "pgha pause",
        Command::Resume(_) => "pgha resume",
        Command::Reload(_) => "pgha reload",
        Command::Backup(a) if a.command.is_none() => "pgha backup",
        Command::Certs(CertsCommand::Rotate(_)) => "pgha certs rotate",
        Command::Passwords(PasswordsCommand::Rotate(_)) => "pgha passwords rotate",
        Command::Restore(a) if !a.plan => "pgha restore",
        _ => return None,
    })
}
