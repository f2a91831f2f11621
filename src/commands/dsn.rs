//! `pgha dsn` prints a connection string (HAProxy's primary or replica port, or one member's own
//! port); `pgha psql` opens psql inside a node container, so no client is needed on the host.
//! Neither puts a password on a command line: `dsn` points at the password file, `psql` uses the
//! one pgha put in the container.

use crate::cli::{DsnArgs, DsnRole, PsqlArgs};
use crate::layout::NODE_PGPASS;
use crate::ops::health;
use crate::ops::session::Session;
use crate::output::json;
use crate::secrets;
use crate::usage;
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;

pub fn run_dsn(session: &Session, args: &DsnArgs) -> Result<()> {
    let access = session.access()?;
    let (spec, s) = access.require_pgha("dsn")?;
    let target = match (&args.member, args.role) {
        (Some(m), _) => match access.member_pg(m) {
            Some(t) => t,
            None => usage!(
                "{m} is not a node of cluster {} (nodes: {})",
                spec.name,
                spec.nodes.names.join(", ")
            ),
        },
        (None, DsnRole::Primary) => health::primary_target(spec, s),
        (None, DsnRole::Replica) => health::pg_target(spec, spec.haproxy_replica_port(), s),
    };
    let pgpass = secrets::pgpass_path(&spec.name);
    let ca = crate::tls::ca_path(&spec.name);
    if session.global.json {
        crate::say!(
            "{}",
            json(&serde_json::json!({"dsn": target.url(Some(&ca)), "pgpass": pgpass}))
        );
    } else {
        crate::sayln!("{}", target.url(Some(&ca)));
        if !pgpass.exists() {
            eprintln!(
                "(the password file {} is written by `pgha up`)",
                pgpass.display()
            );
        }
    }
    Ok(())
}

pub async fn run_psql(session: &Session, args: &PsqlArgs) -> Result<()> {
    let access = session.access()?;
    let (spec, _) = access.require_pgha("psql")?;
    let engine = session.engine().await?;
    // Through HAProxy by default, from any running node; a named member over its own socket.
    let (container, conn): (String, Vec<String>) = match &args.member {
        Some(m) => {
            if spec.node_index(m).is_none() {
                usage!(
                    "{m} is not a node of cluster {} (nodes: {})",
                    spec.name,
                    spec.nodes.names.join(", ")
                );
            }
            (
                access.container(m)?,
                vec!["-h".into(), crate::layout::PG_SOCKET_DIR.into()],
            )
        }
        None => {
            let mut found = None;
            for n in &spec.nodes.names {
                let c = access.container(n)?;
                if engine.running(&c).await? == Some(true) {
                    found = Some(c);
                    break;
                }
            }
            let Some(c) = found else {
                bail!("no node of cluster {} is running", spec.name)
            };
            (
                c,
                vec!["-h".into(), "haproxy".into(), "-p".into(), "5000".into()],
            )
        }
    };
    let mut cmd = std::process::Command::new("docker");
    cmd.arg("exec").arg("-i");
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        cmd.arg("-t");
    }
    cmd.args([
        "-u",
        "postgres",
        "-e",
        &format!("PGPASSFILE={NODE_PGPASS}"),
        "-e",
        &format!("PGSSLROOTCERT={}/ca.crt", crate::layout::TLS_DIR),
        "-e",
        if spec.tls.enabled {
            "PGSSLMODE=verify-full"
        } else {
            "PGSSLMODE=prefer"
        },
        &container,
        "psql",
    ])
    .args(&conn)
    .args(["-U", secrets::SUPERUSER, "-d", "postgres"])
    .args(&args.args);
    let status = cmd
        .status()
        .context("run docker exec psql (the docker CLI is needed for an interactive session)")?;
    if !status.success() {
        bail!("psql exited with {status}");
    }
    Ok(())
}
