//! `pgha show-config` and `pgha edit-config`: Patroni's dynamic configuration (the `config` key).
//! Edits are validated (see `dynconf::problems`), shown as a diff, confirmed, written with
//! compare-and-swap on the key's mod_revision, and followed until every member has them
//! (`ops::config`); a value a member's PostgreSQL did not take is reported, exit 1.

use crate::cli::EditConfigArgs;
use crate::dynconf;
use crate::error::UsageError;
use crate::ops::config::write_and_follow;
use crate::ops::health::POLL;
use crate::ops::session::Session;
use crate::output::{json, list_report, list_table, secs};
use crate::progress::Progress;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub fn to_yaml(v: &Value) -> Result<String> {
    serde_saphyr::to_string(v).context("write the configuration as YAML")
}

fn read_yaml(path: &std::path::Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let v: Value = serde_saphyr::from_str(&text)
        .map_err(|e| UsageError(format!("{}: not valid YAML: {e}", path.display())))?;
    if !v.is_object() {
        usage!(
            "{}: the configuration must be a YAML mapping",
            path.display()
        );
    }
    Ok(v)
}

pub async fn show(session: &Session) -> Result<()> {
    let view = session.dcs().await?.read_cluster().await?;
    let Some(config) = view.config else {
        bail!(
            "cluster {} has no config key in etcd (not bootstrapped yet?)",
            view.scope
        );
    };
    if session.global.json {
        crate::say!("{}", json(&config));
    } else {
        crate::say!("{}", to_yaml(&config)?);
    }
    Ok(())
}

/// A directory only this user can read (mode 0700, a name nobody can guess), removed on drop.
struct PrivateDir(std::path::PathBuf);

impl PrivateDir {
    fn new() -> Result<PrivateDir> {
        use rand::distr::{Alphanumeric, SampleString};
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        for _ in 0..8 {
            let name = format!(
                "pgha-edit-{}",
                Alphanumeric.sample_string(&mut rand::rng(), 16)
            );
            let dir = base.join(name);
            // `create` fails on anything already there, a symlink included.
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(PrivateDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("create a directory in {}", base.display()))
                }
            }
        }
        bail!("could not create a private directory in {}", base.display())
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens `$EDITOR` on the configuration as YAML (in a private directory) and reads the result back.
fn edit_in_editor(old: &Value) -> Result<Value> {
    let editor = std::env::var("EDITOR")
        .or_else(|_| std::env::var("VISUAL"))
        .unwrap_or_else(|_| "vi".into());
    let dir = PrivateDir::new()?;
    let path = dir.0.join("config.yml");
    std::fs::write(&path, to_yaml(old)?)?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("run the editor {editor}"))?;
    if status.success() {
        read_yaml(&path)
    } else {
        Err(anyhow!(UsageError(format!(
            "the editor {editor} exited with {status}; nothing was changed"
        ))))
    }
}

pub async fn edit(session: &Session, args: &EditConfigArgs) -> Result<()> {
    let assignments: Vec<(String, String)> = args
        .set
        .iter()
        .map(|a| dynconf::split_assignment(a).map_err(UsageError))
        .collect::<Result<_, _>>()?;
    let pg: Vec<(String, String)> = args
        .pg
        .iter()
        .map(|a| dynconf::split_assignment(a).map_err(UsageError))
        .collect::<Result<_, _>>()?;
    let access = session.access()?;
    let dcs = session.dcs().await?;
    let view = dcs.read_cluster().await?;
    let Some(old) = view.config.clone() else {
        bail!(
            "cluster {} has no config key in etcd (not bootstrapped yet?)",
            view.scope
        );
    };
    let revision = view.config_revision;
    let mut new = match &args.replace {
        Some(f) => read_yaml(f)?,
        None => old.clone(),
    };
    if let Some(f) = &args.apply {
        dynconf::merge(&mut new, &read_yaml(f)?);
    }
    for (path, v) in &assignments {
        dynconf::set_path(&mut new, path, dynconf::scalar(v));
    }
    for (name, v) in &pg {
        dynconf::set_parameter(&mut new, name, dynconf::scalar(v));
    }
    let nothing_given =
        args.replace.is_none() && args.apply.is_none() && assignments.is_empty() && pg.is_empty();
    if nothing_given {
        let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !args.edit && !terminal {
            usage!("nothing to change: give --set PATH=VALUE, --pg NAME=VALUE, --apply FILE or --replace FILE (or --edit for $EDITOR)");
        }
        new = edit_in_editor(&old)?;
    }
    let problems = dynconf::problems(&new);
    if !problems.is_empty() {
        usage!(
            "the new configuration is refused, nothing was changed: {}",
            problems.join("; ")
        );
    }
    for warning in dynconf::unknown_keys(&new) {
        eprintln!("warning: {warning}");
    }
    let diff = dynconf::diff(&old, &new);
    if diff.is_empty() {
        crate::sayln!("no change to the configuration of cluster {}", view.scope);
        return Ok(());
    }
    eprintln!("{}", diff.join("\n"));
    session.confirm(&format!("apply these changes to cluster {}", view.scope))?;
    let p = Progress::new();
    let w = write_and_follow(access, &dcs, &view.scope, &old, &new, revision, &p).await?;
    p.finish();
    if session.global.json {
        crate::say!(
            "{}",
            json(&serde_json::json!({
                "cluster": view.scope, "diff": diff, "applied_s": w.applied_s,
                "pending_restart": w.pending, "rejected": w.rejected, "list": list_report(&w.after),
            }))
        );
    } else {
        crate::sayln!("{}", diff.join("\n"));
        w.say_outcome();
        crate::say!("{}", list_table(&list_report(&w.after)));
    }
    w.fail_on_rejections(&view.scope)
}

/// `pause`/`resume`: sets or removes `pause` in the config key (CAS); with `wait`, until every
/// member reports it.
pub async fn set_pause(session: &Session, pause: bool, wait: bool) -> Result<()> {
    let dcs = session.dcs().await?;
    let view = dcs.read_cluster().await?;
    let Some(mut config) = view.config.clone() else {
        bail!(
            "cluster {} has no config key in etcd (not bootstrapped yet?)",
            view.scope
        );
    };
    let word = if pause {
        "paused (maintenance mode on)"
    } else {
        "resumed (maintenance mode off)"
    };
    if view.paused() == pause {
        crate::sayln!("cluster {} is already {word}", view.scope);
        return Ok(());
    }
    if pause {
        session.confirm(&format!(
            "pause cluster {}: Patroni stops automatic failover until `pgha resume`",
            view.scope
        ))?;
    }
    dynconf::set_path(
        &mut config,
        "pause",
        if pause {
            Value::Bool(true)
        } else {
            Value::Null
        },
    );
    if !dcs
        .cas_put(
            "config",
            &serde_json::to_string(&config)?,
            view.config_revision,
        )
        .await?
    {
        bail!(
            "the configuration of cluster {} changed meanwhile; nothing was written: try again",
            view.scope
        );
    }
    let p = Progress::new();
    let t0 = Instant::now();
    if wait {
        wait_for(
            "every member to report the change",
            Duration::from_secs(30),
            POLL,
            Some(&p),
            || async {
                let v = dcs.read_cluster().await?;
                let lagging: Vec<&str> = v
                    .members
                    .iter()
                    .filter(|m| (m.data.pause == Some(true)) != pause)
                    .map(|m| m.name.as_str())
                    .collect();
                Ok(if lagging.is_empty() {
                    Check::Ready(())
                } else {
                    Check::NotYet(format!("not yet: {}", lagging.join(", ")))
                })
            },
        )
        .await?;
    }
    p.finish();
    crate::sayln!(
        "cluster {} {word}{}",
        view.scope,
        if wait {
            format!("; every member reports it after {}", secs(t0.elapsed()))
        } else {
            String::new()
        }
    );
    Ok(())
}
