//! The files that carry a cluster's passwords: Patroni's secrets file (`90-secrets.yml` in
//! `layout::PATRONI_CONFIG_DIR`, merged by Patroni over `00-patroni.yml`), the node containers'
//! libpq password file (`layout::NODE_PGPASS`) and the host's one (written by `up`, named by
//! `pgha dsn`).
//! Pure: the passwords come from `secrets` (`secrets::store` keeps them on the host).

use crate::secrets::{Secrets, ETCD_PATRONI, REPLICATION_USER, REST_USER, REWIND_USER, SUPERUSER};

/// Patroni's secrets file. With `etcd_auth`, it holds Patroni's etcd user too.
pub fn patroni_secrets_yml(secrets: &Secrets, tls: bool) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let etcd = if tls {
        format!(
            "etcd3:\n  username: {ETCD_PATRONI}\n  password: {}\n",
            q(&secrets.etcd_patroni_password)
        )
    } else {
        String::new()
    };
    // With TLS, replication and pg_rewind log in with their certificates (pg_hba `cert`): no
    // password, so a rotation changes nothing Patroni connects with.
    let login = |user: &str, pw: &str| {
        if tls {
            format!("      username: {user}\n")
        } else {
            format!("      username: {user}\n      password: {}\n", q(pw))
        }
    };
    etcd + &format!(
        "# Written by pgha: passwords of this cluster. Patroni merges it over 00-patroni.yml.\n\
         postgresql:\n  authentication:\n\
         \x20   superuser:\n      username: {SUPERUSER}\n      password: {}\n\
         \x20   replication:\n{}\
         \x20   rewind:\n{}\
         restapi:\n  authentication:\n    username: {REST_USER}\n    password: {}\n",
        q(&secrets.superuser_password),
        login(REPLICATION_USER, &secrets.replication_password),
        login(REWIND_USER, &secrets.rewind_password),
        q(&secrets.restapi_password),
    )
}

/// The node containers' password file: the superuser, for any host, port and database.
pub fn node_pgpass(superuser_password: &str) -> String {
    format!("*:*:*:{SUPERUSER}:{superuser_password}\n")
}

/// The host's password file: the superuser on each of `ports` of `host`.
pub fn host_pgpass(host: &str, ports: &[u32], superuser_password: &str) -> String {
    ports
        .iter()
        .map(|p| format!("{host}:{p}:*:{SUPERUSER}:{superuser_password}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patroni_secrets_parse_and_hold_the_passwords() {
        let a = Secrets::generate();
        let v: serde_json::Value = serde_saphyr::from_str(&patroni_secrets_yml(&a, true)).unwrap();
        assert_eq!(
            v["postgresql"]["authentication"]["superuser"]["password"],
            a.superuser_password.as_str()
        );
        assert_eq!(v["restapi"]["authentication"]["username"], REST_USER);
        assert_eq!(v["etcd3"]["username"], ETCD_PATRONI);
        assert_eq!(v["etcd3"]["password"], a.etcd_patroni_password.as_str());
        // With TLS replication and pg_rewind present certificates, and no password.
        let auth = &v["postgresql"]["authentication"];
        assert_eq!(auth["replication"]["username"], REPLICATION_USER);
        assert!(auth["replication"].get("password").is_none(), "{v}");
        assert!(auth["rewind"].get("password").is_none(), "{v}");
        let plain: serde_json::Value =
            serde_saphyr::from_str(&patroni_secrets_yml(&a, false)).unwrap();
        assert!(plain.get("etcd3").is_none());
        assert_eq!(
            plain["postgresql"]["authentication"]["replication"]["password"],
            a.replication_password.as_str()
        );
    }

    #[test]
    fn password_files_name_the_superuser() {
        assert_eq!(node_pgpass("pw"), "*:*:*:postgres:pw\n");
        assert_eq!(
            host_pgpass("localhost", &[5432, 5000], "pw"),
            "localhost:5432:*:postgres:pw\nlocalhost:5000:*:postgres:pw\n"
        );
        assert_eq!(host_pgpass("h", &[], "pw"), "");
    }
}
