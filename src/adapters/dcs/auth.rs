//! etcd's own authentication, set up by pgha on a cluster with TLS: users `root` (with a
//! password) and `pgha` (no password: etcd takes the name from pgha's client certificate, so pgha
//! needs no token, which etcd hands out only with a quorum, and `list --stale` still works), both
//! with the root role, and a user for Patroni whose role may read and write only the cluster's
//! prefix. Patroni's etcd3 client talks to etcd's gRPC gateway, which ignores the client
//! certificate's name, so a password is what limits it (TLS with client certificates protects
//! the transport).

use super::{connect_to, EtcdAuth};
use anyhow::{bail, Context, Result};
use etcd_client::{Client, Permission, UserAddOptions};

/// The etcd user named like pgha's client certificate (`tls::PGHA_CLIENT`'s common name).
pub const CERT_USER: &str = "pgha";

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSetup {
    /// Authentication was on; the users and role were checked (and made where missing).
    Checked,
    /// The users and role were made and authentication turned on.
    Enabled,
}

fn not_enabled(e: &etcd_client::Error) -> bool {
    e.to_string().contains("authentication is not enabled")
}

fn exists(e: &etcd_client::Error) -> bool {
    e.to_string().contains("already exists")
}

/// Makes sure etcd at `endpoints` requires authentication, with `auth`'s user (root) and
/// `patroni` = (user, password) limited to `prefix`.
pub async fn ensure(
    endpoints: &[String],
    auth: &EtcdAuth,
    patroni: (&str, &str),
    prefix: &str,
) -> Result<AuthSetup> {
    let Some((root, root_pw)) = &auth.user else {
        bail!("etcd authentication needs the root user's password (secrets file)");
    };
    // One member for the whole setup: etcd's simple tokens are known only to the member that
    // issued them, and a client over several endpoints may send the next request to another
    // one ("invalid auth token").
    let (endpoint, connected) = first_answering(endpoints, auth).await;
    let one = std::slice::from_ref(&endpoint);
    match connected {
        Ok(mut c) => {
            // Every change to etcd's users invalidates the tokens handed out: none when they
            // are there.
            let (user, _) = patroni;
            if missing(c.user_get(user).await.map(drop))?
                || missing(c.role_get(user).await.map(drop))?
                || missing(c.user_get(CERT_USER).await.map(drop))?
            {
                users_and_role(&mut c, None, patroni, prefix).await?;
            }
            Ok(AuthSetup::Checked)
        }
        Err(e) if not_enabled(&e) => {
            let mut c = connect_to(one, &auth.transport())
                .await
                .context("connect to etcd (TLS) to set up its users")?;
            users_and_role(&mut c, Some((root, root_pw)), patroni, prefix).await?;
            c.auth_enable()
                .await
                .context("turn on etcd's authentication")?;
            Ok(AuthSetup::Enabled)
        }
        Err(e) if e.to_string().contains("authentication failed") => bail!(
            "etcd refused pgha's root password: the secrets file and etcd disagree (was etcd's data made by another `pgha up`?)"
        ),
        Err(e) => Err(e).context("connect to etcd as root"),
    }
}

/// The first of `endpoints` that a client reaches (as `auth`), and that client; when none does,
/// the last endpoint and its error.
/// Sets etcd user `user`'s password, as `auth`'s user (root), on one member.
pub async fn change_password(
    endpoints: &[String],
    auth: &EtcdAuth,
    user: &str,
    password: &str,
) -> Result<()> {
    let (endpoint, connected) = first_answering(endpoints, auth).await;
    let mut c = connected.with_context(|| format!("connect to etcd {endpoint} as root"))?;
    c.user_change_password(user, password)
        .await
        .with_context(|| format!("etcd: set the password of user {user}"))?;
    Ok(())
}

async fn first_answering(
    endpoints: &[String],
    auth: &EtcdAuth,
) -> (String, Result<Client, etcd_client::Error>) {
    let mut last = None;
    for e in endpoints {
        match connect_to(std::slice::from_ref(e), auth).await {
            Err(err)
                if !not_enabled(&err) && !err.to_string().contains("authentication failed") =>
            {
                last = Some((e.clone(), Err(err)));
            }
            r => return (e.clone(), r),
        }
    }
    last.unwrap_or_else(|| {
        (
            String::new(),
            Err(etcd_client::Error::InvalidArgs("no etcd endpoint".into())),
        )
    })
}

/// Whether a user or role lookup says it does not exist; any other error is one.
fn missing(r: Result<(), etcd_client::Error>) -> Result<bool> {
    match r {
        Ok(()) => Ok(false),
        Err(e) if e.to_string().contains("not found") => Ok(true),
        Err(e) => Err(e).context("etcd authentication: read users and roles"),
    }
}

async fn users_and_role(
    c: &mut Client,
    root: Option<(&String, &String)>,
    (user, password): (&str, &str),
    prefix: &str,
) -> Result<()> {
    let what = |s: &str| format!("etcd authentication: {s}");
    if let Some((root, root_pw)) = root {
        match c.user_add(root.as_str(), root_pw.as_str(), None).await {
            Err(e) if exists(&e) => {
                c.user_change_password(root.as_str(), root_pw.as_str())
                    .await
                    .with_context(|| what("set root's password"))?;
            }
            r => {
                r.with_context(|| what("add user root"))?;
            }
        }
        c.user_grant_role(root.as_str(), "root")
            .await
            .with_context(|| what("grant root the root role"))?;
    }
    match c
        .user_add(CERT_USER, "", Some(UserAddOptions::new().with_no_pwd()))
        .await
    {
        Err(e) if exists(&e) => {}
        r => {
            r.with_context(|| what(&format!("add user {CERT_USER}")))?;
        }
    }
    c.user_grant_role(CERT_USER, "root")
        .await
        .with_context(|| what(&format!("grant {CERT_USER} the root role")))?;
    match c.role_add(user).await {
        Err(e) if exists(&e) => {}
        r => {
            r.with_context(|| what(&format!("add role {user}")))?;
        }
    }
    c.role_grant_permission(user, Permission::read_write(prefix).with_prefix())
        .await
        .with_context(|| what(&format!("let role {user} use {prefix}")))?;
    match c.user_add(user, password, None).await {
        Err(e) if exists(&e) => {
            c.user_change_password(user, password)
                .await
                .with_context(|| what(&format!("set {user}'s password")))?;
        }
        r => {
            r.with_context(|| what(&format!("add user {user}")))?;
        }
    }
    c.user_grant_role(user, user)
        .await
        .with_context(|| what(&format!("grant {user} its role")))?;
    Ok(())
}
