//! `pgha restore --into NAME <target>` builds a new cluster beside this one from this cluster's
//! backup repository, recovered to a point in time, and leaves this cluster untouched. The new
//! cluster's nodes bootstrap through Patroni's custom bootstrap (`pgbackrest restore` from the
//! source repository, mounted read-only), promote at the target on a new timeline, and then
//! archive into their own repository. Works when the source cluster is down or gone, as long as
//! its repository volume exists (disaster recovery). `--in-place` restores the cluster itself
//! (`in_place.rs`).

use crate::cli::{RestoreArgs, UpArgs};
use crate::context::Ctx;
use crate::ops::converge;
use crate::ops::plan_report;
use crate::ops::repo::{self, Repo};
use crate::ops::session::Session;
use crate::output::fmt_time;
use crate::pgbackrest::{self, StanzaInfo, Target};
use crate::plan::{restore_plan, RestoreMode, RestorePlan, LABEL_CLUSTER};
use crate::spec::names;
use crate::spec::{RestoreSource, Spec, DEFAULT_SPEC_TOML};
use crate::usage;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

mod in_place;

fn target(args: &RestoreArgs) -> Target {
    let t = &args.target;
    if let Some(v) = &t.time {
        Target::Time(v.clone())
    } else if let Some(v) = &t.lsn {
        Target::Lsn(v.clone())
    } else if let Some(v) = &t.xid {
        Target::Xid(v.clone())
    } else if let Some(v) = &t.name {
        Target::Name(v.clone())
    } else {
        Target::Latest
    }
}

/// The new cluster's spec: the source's, renamed, on other ports, bootstrapping from the source.
fn new_spec(src: &Spec, name: &str, port_base: u32, options: Vec<String>) -> Result<Spec> {
    let mut s = src.clone();
    s.name = name.into();
    s.port_base = port_base;
    s.bootstrap_from = Some(RestoreSource {
        stanza: src.name.clone(),
        volume: names::repo_volume(&src.name),
        options,
    });
    s.validate(&format!("the spec of {name}"))?;
    Ok(s)
}

/// The text of the new cluster's spec file: the source's file (or the default) with the new name
/// and port_base.
fn spec_text(session: &Session, name: &str, port_base: u32) -> Result<String> {
    let text = match crate::context::spec_source(&session.global) {
        Some(p) => std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?,
        None => DEFAULT_SPEC_TOML.to_string(),
    };
    let mut table: toml::Table = toml::from_str(&text).context("parse the source spec")?;
    table.insert("name".into(), toml::Value::String(name.into()));
    table.insert("port_base".into(), toml::Value::Integer(port_base.into()));
    Ok(format!(
        "# Spec of cluster {name}, written by `pgha restore --into {name}`.\n{}",
        toml::to_string(&table).context("write the new spec")?
    ))
}

/// The checks that need the repository: a good backup exists, `--set` names one, and a time
/// target is not before the oldest backup's end.
fn check_against(info: &StanzaInfo, t: &Target, set: Option<&str>, src: &str) -> Result<()> {
    let good: Vec<_> = info.backups.iter().filter(|b| !b.error).collect();
    if good.is_empty() {
        bail!(
            "the repository of {src} holds no backup to restore ({}); take one with `pgha backup`",
            info.status
        );
    }
    if let Some(l) = set {
        if !good.iter().any(|b| b.label == l) {
            let labels: Vec<&str> = good.iter().map(|b| b.label.as_str()).collect();
            usage!(
                "--set {l}: no such backup of {src}; the repository holds {}",
                labels.join(", ")
            );
        }
    }
    if let Target::Time(t) = t {
        let oldest = good.iter().map(|b| b.stop).min().unwrap_or(0);
        if let Some(at) = pgbackrest::time_unix(t) {
            if at < oldest {
                usage!(
                    "--time {t} is before the recoverable window of {src}, which starts at {} (the end of its oldest backup)",
                    fmt_time(oldest)
                );
            }
        }
    }
    Ok(())
}

fn restore_options(t: &Target, set: Option<&str>) -> Vec<String> {
    let mut options = t.options();
    if let Some(l) = set {
        options.push(format!("--set={l}"));
    }
    options
}

async fn in_place(session: &Session, spec: &Spec, t: &Target, args: &RestoreArgs) -> Result<()> {
    if !spec.backup.enabled {
        usage!(
            "cluster {}: [backup] enabled = false in the spec, so there is nothing to restore from",
            spec.name
        );
    }
    session.access_for_containers("restore --in-place")?;
    let engine = session.engine().await?;
    let repo = Repo::open(engine, spec, &repo::tool_image(spec)).await?;
    let info = repo.info().await;
    repo.close().await?;
    check_against(&info?, t, args.set.as_deref(), &spec.name)?;
    let plan = restore_plan(
        spec,
        &t.describe(),
        args.set.as_deref(),
        RestoreMode::InPlace,
    );
    if args.plan {
        print_plan(session, &plan);
        return Ok(());
    }
    if let Some(q) = &plan.question {
        session.confirm(q)?;
    }
    // In place nothing of the cluster's present state stays: what the archive lacks is lost.
    if let Err(e) = flush_archive(spec).await {
        if !args.allow_data_loss {
            anyhow::bail!(
                "could not archive the current WAL of {} ({e:#}); restoring in place now would lose every commit the archive lacks, with no copy left: fix archiving (`pgha backup status`, `pgha logs`), or pass --allow-data-loss",
                spec.name
            );
        }
        eprintln!(
            "{}: could not archive the current WAL ({e:#}); --allow-data-loss: the restore uses what the archive holds",
            spec.name
        );
    }
    announce(&plan);
    let options = restore_options(t, args.set.as_deref());
    in_place::run(
        session,
        spec,
        t,
        &options,
        Duration::from_secs(args.timeout),
    )
    .await
}

/// When the source cluster runs, its leader switches WAL and waits until the segment is archived,
/// so that everything committed until now is in the archive: a target in the last minutes
/// (`archive_timeout`) would otherwise lie past the archive's end, and PostgreSQL stops a
/// recovery that ends before its target. With no leader answering, the archive is what there is.
/// Switches WAL on the leader and waits until the segment is archived, so that the archive holds
/// every commit until now. An error says why it could not.
async fn flush_archive(spec: &Spec) -> Result<()> {
    let Some(secrets) = crate::secrets::load(&spec.name)? else {
        anyhow::bail!("cluster {} has no secrets", spec.name);
    };
    let target = crate::ops::health::primary_target(spec, &secrets);
    let (segment, took) = async {
        let pg = crate::adapters::pg::Pg::connect(&target, Duration::from_secs(3)).await?;
        crate::ops::archive::switch_and_wait(&pg, Duration::from_secs(30)).await
    }
    .await?;
    eprintln!(
        "{}: switched WAL; {segment} archived in {:.1} s, so the archive holds every commit until now",
        spec.name,
        took.as_secs_f64()
    );
    Ok(())
}

/// `--plan`: the plan's steps as `pgha plan` prints its own (`--json`: their actions).
fn print_plan(session: &Session, plan: &RestorePlan) {
    if session.global.json {
        crate::say!("{}", crate::output::json(&plan.actions()));
    } else {
        plan_report::print_steps(&plan.steps);
    }
}

/// What the restore is about to do, on stderr: the lines `--plan` prints.
fn announce(plan: &RestorePlan) {
    for l in plan.lines() {
        eprintln!("{}: {l}", plan.cluster);
    }
}

pub async fn run(session: &Session, args: &RestoreArgs) -> Result<()> {
    let src = session.spec()?;
    let t = target(args);
    if let Err(why) = t.check() {
        usage!("{why}");
    }
    if let Some(l) = &args.set {
        if let Err(why) = pgbackrest::check_label(l) {
            usage!("{why}");
        }
    }
    if args.in_place {
        return in_place(session, src, &t, args).await;
    }
    let Some(name) = args.into.clone() else {
        usage!(
            "say where to restore: --into NAME builds a new cluster NAME beside {} and leaves {} untouched; --in-place restores {} itself",
            src.name,
            src.name,
            src.name
        );
    };
    if name == src.name {
        usage!("--into {name} is this cluster's own name; give the new cluster another name");
    }
    let port_base = args.port_base.unwrap_or(src.port_base + 100);
    let spec = new_spec(
        src,
        &name,
        port_base,
        restore_options(&t, args.set.as_deref()),
    )?;
    let spec_file = PathBuf::from(format!("{name}.toml"));

    let engine = session.engine().await?;
    let existing = engine.inventory(&[(LABEL_CLUSTER, &name)]).await?;
    if !existing.containers.is_empty() || !existing.volumes.is_empty() {
        usage!(
            "cluster {name} exists already ({} containers, {} volumes); pick another name, or remove it with `pgha --spec {name}.toml down --volumes --repository`",
            existing.containers.len(),
            existing.volumes.len()
        );
    }
    if spec_file.exists() {
        usage!(
            "{} exists; pick another name, or move that file away",
            spec_file.display()
        );
    }
    let repo = Repo::open(engine, src, &repo::tool_image(src)).await?;
    let info = repo.info().await;
    repo.close().await?;
    let info = info?;
    check_against(&info, &t, args.set.as_deref(), &src.name)?;

    let spec_path = spec_file.display().to_string();
    let into = RestoreMode::Into {
        name: &name,
        port_base,
        spec_file: &spec_path,
    };
    let plan = restore_plan(src, &t.describe(), args.set.as_deref(), into);
    if args.plan {
        print_plan(session, &plan);
        return Ok(());
    }
    // The new cluster is changed by this command alone, as the source is (commands::run).
    let _new_lock = crate::ops::lock::acquire(
        &name,
        "pgha restore --into",
        std::time::Duration::from_secs(session.global.wait_lock),
    )
    .await?;
    // The source stays as it is: a WAL that cannot be archived only limits what the copy gets.
    if let Err(e) = flush_archive(src).await {
        eprintln!(
            "{}: could not archive the current WAL ({e:#}); the restore uses what the archive holds",
            src.name
        );
    }
    std::fs::write(&spec_file, spec_text(session, &name, port_base)?)
        .with_context(|| format!("write {}", spec_file.display()))?;
    eprintln!(
        "restoring {} to {} into new cluster {name} (spec {})",
        src.name,
        t.describe(),
        spec_file.display()
    );
    announce(&plan);
    let mut global = session.global.clone();
    global.spec = Some(spec_file.clone());
    global.scope = None;
    global.etcd.clear();
    // The new cluster's own session, for the spec made here (the same Docker engine).
    let new_session = session.for_other_cluster(Ctx::new(global), spec);
    converge::up_and_report(
        &new_session,
        &UpArgs {
            timeout: args.timeout,
            restart: false,
            volumes: false,
        },
    )
    .await
    .with_context(|| {
        format!(
            "restore into {name} (`pgha --spec {} logs` shows why; `pgha --spec {} down --volumes --repository` removes it)",
            spec_file.display(),
            spec_file.display()
        )
    })?;
    if !session.global.json {
        crate::sayln!(
            "Restored {} to {} as cluster {name}; manage it with `pgha --spec {} ...`.",
            src.name,
            t.describe(),
            spec_file.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgbackrest::BackupRow;

    fn info(stops: &[i64]) -> StanzaInfo {
        StanzaInfo {
            stanza: "pgha".into(),
            status_code: 0,
            status: "ok".into(),
            backups: stops
                .iter()
                .map(|s| BackupRow {
                    label: format!("L{s}"),
                    kind: "full".into(),
                    start: s - 5,
                    stop: *s,
                    database_bytes: 1,
                    repository_bytes: 1,
                    wal_start: String::new(),
                    wal_stop: String::new(),
                    lsn_start: String::new(),
                    lsn_stop: String::new(),
                    error: false,
                })
                .collect(),
            wal_min: None,
            wal_max: None,
        }
    }

    #[test]
    fn the_repository_decides_what_can_be_restored() {
        let latest = Target::Latest;
        let e = check_against(&info(&[]), &latest, None, "pgha").unwrap_err();
        assert!(e.to_string().contains("holds no backup"), "{e}");
        assert!(check_against(&info(&[100]), &latest, Some("L100"), "pgha").is_ok());
        let e = check_against(&info(&[100]), &latest, Some("L7"), "pgha").unwrap_err();
        assert!(e
            .to_string()
            .contains("no such backup of pgha; the repository holds L100"));
        // 2026-12-02 01:00:00+00 is 1796173200.
        let t = Target::Time("2026-12-02 01:00:00+00".into());
        assert!(check_against(&info(&[1_796_173_100]), &t, None, "pgha").is_ok());
        let e = check_against(&info(&[1_796_173_300]), &t, None, "pgha").unwrap_err();
        assert!(
            e.to_string().contains("before the recoverable window"),
            "{e}"
        );
    }

    #[test]
    fn the_new_cluster_is_the_source_renamed_on_other_ports() {
        let src = Spec::default();
        let s = new_spec(&src, "copy", 100, vec!["--type=immediate".into()]).unwrap();
        assert_eq!((s.name.as_str(), s.port_base), ("copy", 100));
        let from = s.bootstrap_from.unwrap();
        assert_eq!(
            (from.stanza.as_str(), from.volume.as_str()),
            ("pgha", "pgha-backup")
        );
        assert!(new_spec(&src, "Bad Name", 100, vec![]).is_err());
        assert!(
            new_spec(&src, "copy", 70000, vec![]).is_err(),
            "ports out of range"
        );
    }
}
