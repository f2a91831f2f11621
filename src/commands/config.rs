//! `pgha show-config` and `pgha edit-config`: Patroni's dynamic configuration (the `config` key).
//! Edits are validated (see `dynconf::problems`), shown as a diff, confirmed, written with
//! compare-and-swap on the key's mod_revision, and followed until every member has them.

use crate::adapters::pg::Pg;
use crate::cli::EditConfigArgs;
use crate::commands::access::Access;
use crate::context::Ctx;
use crate::dynconf;
use crate::error::UsageError;
use crate::ops::health::POLL;
use crate::output::{json, list_report, list_table, secs};
use crate::progress::Progress;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

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

pub async fn show(ctx: &Ctx) -> Result<()> {
    let view = ctx.dcs().await?.read_cluster().await?;
    let Some(config) = view.config else {
        bail!(
            "cluster {} has no config key in etcd (not bootstrapped yet?)",
            view.scope
        );
    };
    if ctx.global.json {
        crate::say!("{}", json(&config));
    } else {
        crate::say!("{}", to_yaml(&config)?);
    }
    Ok(())
}

/// Opens `$EDITOR` on the configuration as YAML and reads the result back.
fn edit_in_editor(old: &Value) -> Result<Value> {
    let editor = std::env::var("EDITOR")
        .or_else(|_| std::env::var("VISUAL"))
        .unwrap_or_else(|_| "vi".into());
    let dir = std::env::temp_dir().join(format!("pgha-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("config.yml");
    std::fs::write(&path, to_yaml(old)?)?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("run the editor {editor}"))?;
    let result = if status.success() {
        read_yaml(&path)
    } else {
        Err(anyhow!(UsageError(format!(
            "the editor {editor} exited with {status}; nothing was changed"
        ))))
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

pub async fn edit(ctx: &Ctx, args: &EditConfigArgs) -> Result<()> {
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
    let access = Access::new(ctx)?;
    let dcs = ctx.dcs().await?;
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
        dynconf::set_path(
            &mut new,
            &format!("postgresql.parameters.{name}"),
            dynconf::scalar(v),
        );
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
    let diff = dynconf::diff(&old, &new);
    if diff.is_empty() {
        crate::sayln!("no change to the configuration of cluster {}", view.scope);
        return Ok(());
    }
    eprintln!("{}", diff.join("\n"));
    ctx.confirm(&format!("apply these changes to cluster {}", view.scope))?;
    let text = serde_json::to_string(&new)?;
    let written_at = SystemTime::now();
    if !dcs.cas_put("config", &text, revision).await? {
        bail!(
            "the configuration of cluster {} changed since it was read (someone else edited it); nothing was written: run edit-config again",
            view.scope
        );
    }
    let p = Progress::new();
    let t0 = Instant::now();
    let params = dynconf::changed_parameters(&old, &new);
    wait_applied(&access, &dcs, &new, &params, written_at, &p).await?;
    let after = dcs.read_cluster().await?;
    p.finish();
    let pending: Vec<String> = after
        .members
        .iter()
        .filter(|m| m.data.pending_restart == Some(true))
        .map(|m| m.name.clone())
        .collect();
    if ctx.global.json {
        crate::say!(
            "{}",
            json(&serde_json::json!({
                "cluster": view.scope, "diff": diff, "applied_s": t0.elapsed().as_secs_f64(),
                "pending_restart": pending, "list": list_report(&after),
            }))
        );
    } else {
        crate::sayln!("{}", diff.join("\n"));
        crate::sayln!("Applied on every member after {}.", secs(t0.elapsed()));
        if !pending.is_empty() {
            crate::sayln!(
                "Pending restart on {} (`pgha restart --pending` applies it).",
                pending.join(", ")
            );
        }
        crate::say!("{}", list_table(&list_report(&after)));
    }
    Ok(())
}

/// Waits until every running member's Patroni has the new configuration (`GET /config`) and, when
/// PostgreSQL parameters changed, has reloaded PostgreSQL since the write.
async fn wait_applied(
    access: &Access,
    dcs: &crate::adapters::dcs::Dcs,
    new: &Value,
    params: &[String],
    written_at: SystemTime,
    p: &Progress,
) -> Result<()> {
    let since = written_at
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs_f64();
    wait_for("every member to apply the configuration", Duration::from_secs(60), POLL, Some(p), || async {
        let view = dcs.read_cluster().await?;
        for m in view.members.iter().filter(|m| m.is_running()) {
            let seen: Value = access
                .api(&view, &m.name)?
                .send(reqwest::Method::GET, "/config", None, Duration::from_secs(3))
                .await
                .and_then(|r| serde_json::from_str(&r.body).context("parse GET /config"))?;
            if &seen != new {
                return Ok(Check::NotYet(format!("{} has not seen the change yet", m.name)));
            }
            if params.is_empty() {
                continue;
            }
            let Some(target) = access.member_pg(&m.name) else { continue };
            let pg = Pg::connect(&target, Duration::from_secs(2)).await?;
            let loaded: f64 = pg
                .query_text("select extract(epoch from pg_conf_load_time())::text")
                .await?
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0);
            if loaded + 0.5 < since {
                return Ok(Check::NotYet(format!("{} has not reloaded PostgreSQL yet", m.name)));
            }
            // A parameter that needs a restart: wait until Patroni reports it in the member key.
            let list = params.iter().map(|p| format!("'{}'", p.replace('\'', "''"))).collect::<Vec<_>>().join(",");
            let needs = pg
                .query_text(&format!("select bool_or(pending_restart)::text from pg_settings where name in ({list})"))
                .await?
                .as_deref()
                == Some("true");
            if needs && m.data.pending_restart != Some(true) {
                return Ok(Check::NotYet(format!("{} has not flagged its pending restart yet", m.name)));
            }
        }
        Ok(Check::Ready(()))
    })
    .await?;
    Ok(())
}

/// `pause`/`resume`: sets or removes `pause` in the config key (CAS); with `wait`, until every
/// member reports it.
pub async fn set_pause(ctx: &Ctx, pause: bool, wait: bool) -> Result<()> {
    let dcs = ctx.dcs().await?;
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
        ctx.confirm(&format!(
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
