//! `pgha passwords status` (each user's password: what it is for, and its age) and `pgha
//! passwords rotate [--user U]` (new passwords put in place everywhere, `ops::passwords`).

use crate::cli::PasswordsRotateArgs;
use crate::ops::session::Session;
use crate::ops::silence;
use crate::output::{fmt_age, fmt_time, json, new_table};
use crate::progress::Progress;
use crate::secrets::rotate::{self, User};
use crate::secrets::{self, Secrets};
use crate::spec::Spec;
use crate::usage;
use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

#[derive(Serialize)]
struct Row {
    user: &'static str,
    what: String,
    /// When it was last rotated (Unix seconds); `None`: since the cluster was made.
    rotated_at: Option<i64>,
    age_s: Option<i64>,
}

fn load(spec: &Spec) -> Result<Secrets> {
    match secrets::load(&spec.name)? {
        Some(s) => Ok(s),
        None => usage!(
            "cluster {} has no secrets at {}: was it made by `pgha up` with this spec?",
            spec.name,
            secrets::secrets_path(&spec.name).display()
        ),
    }
}

/// When the cluster was made, as far as pgha knows: its CA's start.
fn made(spec: &Spec) -> Option<i64> {
    let pem = std::fs::read_to_string(crate::tls::tls_dir(&spec.name).join("ca.crt")).ok()?;
    crate::tls::facts(&pem).ok().map(|f| f.not_before)
}

fn rows(spec: &Spec, s: &Secrets) -> Vec<Row> {
    let (made, now) = (made(spec), crate::ops::repo::now_unix());
    User::ALL
        .iter()
        .map(|u| Row {
            user: u.name(),
            what: u.what(),
            rotated_at: s.rotated.get(u.name()).copied(),
            age_s: rotate::age(s, *u, made, now),
        })
        .collect()
}

fn table(rows: &[Row]) -> String {
    let mut t = new_table(&["User", "For", "Last changed", "Age"]);
    for r in rows {
        t.add_row([
            r.user.to_string(),
            r.what.clone(),
            r.rotated_at
                .map_or("when the cluster was made".into(), fmt_time),
            r.age_s.map_or("n/a".into(), fmt_age),
        ]);
    }
    t.to_string()
}

pub fn run_status(session: &Session) -> Result<()> {
    let spec = session.spec()?;
    let s = load(spec)?;
    let rows = rows(spec, &s);
    if session.global.json {
        crate::say!("{}", json(&rows));
    } else {
        crate::sayln!("{}", table(&rows));
    }
    Ok(())
}

pub async fn run_rotate(session: &Session, args: &PasswordsRotateArgs) -> Result<()> {
    let spec = session.spec()?;
    session.access_for_containers("passwords rotate")?;
    let users = rotate::parse_users(&args.users).map_err(crate::error::UsageError)?;
    let old = load(spec)?;
    let engine = session.engine().await?;
    let p = Progress::new();
    // An interrupted rotation is taken up again with its passwords (they may be in use already).
    let new = match secrets::load_pending(&spec.name)? {
        Some(pending) => {
            p.note(format!(
                "taking up the rotation that did not finish ({})",
                secrets::pending_path(&spec.name).display()
            ));
            pending
        }
        None => {
            let new = rotate::rotated(&old, &users, crate::ops::repo::now_unix());
            secrets::store_pending(&spec.name, &new)?;
            new
        }
    };
    let quiet = silence::quiet(
        spec,
        crate::monitoring::api::Quieted::Cluster,
        "pgha passwords rotate",
        Duration::from_secs(600),
        Duration::ZERO,
        &p,
    )
    .await;
    let done = crate::ops::passwords::rotate(spec, engine, &old, &new, &p).await;
    silence::end(quiet, &p).await;
    let done = done?;
    secrets::commit_pending(&spec.name, &new)?;
    let pgpass = crate::render::host_pgpass(
        spec.connect_host(),
        &spec.host_pg_ports(),
        &new.superuser_password,
    );
    secrets::write_pgpass(&spec.name, &pgpass)?;
    p.finish();
    let names: Vec<&str> = done.users.iter().map(|u| u.name()).collect();
    if session.global.json {
        crate::say!(
            "{}",
            json(&serde_json::json!({
                "cluster": spec.name,
                "rotated": names,
                "seconds": done.seconds,
                "nodes": done.nodes,
                "passwords": rows(spec, &new),
            }))
        );
    } else {
        crate::sayln!(
            "cluster {}: new passwords for {} in {:.1} s, no restart; the old ones are refused (`pgha passwords status`)",
            spec.name,
            names.join(", "),
            done.seconds
        );
    }
    Ok(())
}
