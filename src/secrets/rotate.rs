//! Password rotation, the pure part: the users `pgha passwords rotate --user` names, new
//! passwords for them (and when), and the order the rotation takes, chosen so that nothing that
//! connects during it is refused:
//! 1. every node's Patroni config (`90-secrets.yml`), password files and exporters' password file
//!    get the new passwords, and Patroni reloads (SIGHUP): its REST API takes the new password and
//!    its etcd client the new credentials (it logs in with them when its token is refused). Its
//!    own connections do not use them: the superuser's goes through the socket (peer), and with
//!    TLS replication and pg_rewind present certificates (pg_hba `cert`);
//! 2. the PostgreSQL roles get the new passwords, as SCRAM verifiers (no plaintext in a log);
//!    the exporters start again with theirs;
//! 3. etcd's users `patroni`, then `root`;
//! 4. `secrets.toml` (from the pending file written before step 1, so an interrupted rotation
//!    is taken up again with the same passwords).

use super::{password, Secrets};

/// A user whose password `pgha passwords rotate` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum User {
    Superuser,
    Replication,
    Rewind,
    Restapi,
    Monitor,
    EtcdPatroni,
    EtcdRoot,
}

impl User {
    pub const ALL: [User; 7] = [
        User::Superuser,
        User::Replication,
        User::Rewind,
        User::Restapi,
        User::Monitor,
        User::EtcdPatroni,
        User::EtcdRoot,
    ];

    /// The name `--user` takes and `passwords status` shows.
    pub fn name(self) -> &'static str {
        match self {
            User::Superuser => "superuser",
            User::Replication => "replication",
            User::Rewind => "rewind",
            User::Restapi => "restapi",
            User::Monitor => "monitor",
            User::EtcdPatroni => "etcd-patroni",
            User::EtcdRoot => "etcd-root",
        }
    }

    /// Who it is and where its password is used.
    pub fn what(self) -> String {
        match self {
            User::Superuser => format!("PostgreSQL {} (pgha, clients)", super::SUPERUSER),
            User::Replication => format!(
                "PostgreSQL {} (replication without TLS)",
                super::REPLICATION_USER
            ),
            User::Rewind => format!("PostgreSQL {} (pg_rewind without TLS)", super::REWIND_USER),
            User::Restapi => format!("Patroni REST API {} (pgha)", super::REST_USER),
            User::Monitor => format!("PostgreSQL {} (the exporters)", super::MONITOR_ROLE),
            User::EtcdPatroni => format!("etcd {} (Patroni)", super::ETCD_PATRONI),
            User::EtcdRoot => format!("etcd {} (pgha)", super::ETCD_ROOT),
        }
    }

    /// The PostgreSQL role whose password this is, if it is one.
    pub fn role(self) -> Option<&'static str> {
        match self {
            User::Superuser => Some(super::SUPERUSER),
            User::Replication => Some(super::REPLICATION_USER),
            User::Rewind => Some(super::REWIND_USER),
            User::Monitor => Some(super::MONITOR_ROLE),
            _ => None,
        }
    }

    pub fn password(self, s: &Secrets) -> &str {
        match self {
            User::Superuser => &s.superuser_password,
            User::Replication => &s.replication_password,
            User::Rewind => &s.rewind_password,
            User::Restapi => &s.restapi_password,
            User::Monitor => &s.monitor_password,
            User::EtcdPatroni => &s.etcd_patroni_password,
            User::EtcdRoot => &s.etcd_root_password,
        }
    }

    fn password_mut(self, s: &mut Secrets) -> &mut String {
        match self {
            User::Superuser => &mut s.superuser_password,
            User::Replication => &mut s.replication_password,
            User::Rewind => &mut s.rewind_password,
            User::Restapi => &mut s.restapi_password,
            User::Monitor => &mut s.monitor_password,
            User::EtcdPatroni => &mut s.etcd_patroni_password,
            User::EtcdRoot => &mut s.etcd_root_password,
        }
    }
}

/// The users `--user` names (`all`, or names, each once), in the rotation's order; an unknown
/// name is an error naming the known ones.
pub fn parse_users(names: &[String]) -> Result<Vec<User>, String> {
    let mut out = Vec::new();
    for n in names {
        if n == "all" {
            out.extend(User::ALL);
            continue;
        }
        match User::ALL.iter().find(|u| u.name() == n) {
            Some(u) => out.push(*u),
            None => {
                let known: Vec<&str> = User::ALL.iter().map(|u| u.name()).collect();
                return Err(format!(
                    "--user {n}: no such user (users: {}, or all)",
                    known.join(", ")
                ));
            }
        }
    }
    if out.is_empty() {
        out.extend(User::ALL);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `old` with new passwords for `users`, stamped rotated at `now` (Unix seconds).
pub fn rotated(old: &Secrets, users: &[User], now: i64) -> Secrets {
    let mut new = old.clone();
    for u in users {
        *u.password_mut(&mut new) = password();
        new.rotated.insert(u.name().to_string(), now);
    }
    new
}

/// The users whose password differs between `old` and `new` (a pending rotation's).
pub fn changed(old: &Secrets, new: &Secrets) -> Vec<User> {
    User::ALL
        .into_iter()
        .filter(|u| u.password(old) != u.password(new))
        .collect()
}

/// When each user's password was last changed (Unix seconds), those that are known: rotated, or
/// from when the cluster was made (`made`).
pub fn changed_at(s: &Secrets, made: Option<i64>) -> Vec<(String, i64)> {
    User::ALL
        .iter()
        .filter_map(|u| {
            let at = s.rotated.get(u.name()).copied().or(made)?;
            Some((u.name().to_string(), at))
        })
        .collect()
}

/// A user's password age in seconds at `now`, if its rotation (or the cluster's start, `made`)
/// is known.
pub fn age(s: &Secrets, u: User, made: Option<i64>, now: i64) -> Option<i64> {
    s.rotated.get(u.name()).copied().or(made).map(|t| now - t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse_all_or_by_name_and_refuse_others() {
        assert_eq!(parse_users(&[]).unwrap(), User::ALL.to_vec());
        assert_eq!(parse_users(&["all".into()]).unwrap().len(), 7);
        assert_eq!(
            parse_users(&["etcd-root".into(), "superuser".into(), "superuser".into()]).unwrap(),
            vec![User::Superuser, User::EtcdRoot]
        );
        let e = parse_users(&["admin".into()]).unwrap_err();
        assert!(
            e.starts_with("--user admin: no such user (users: superuser, replication"),
            "{e}"
        );
    }

    #[test]
    fn a_rotation_changes_the_named_passwords_only_and_stamps_them() {
        let old = Secrets::generate();
        let new = rotated(&old, &[User::Restapi, User::EtcdRoot], 1000);
        assert_ne!(new.restapi_password, old.restapi_password);
        assert_ne!(new.etcd_root_password, old.etcd_root_password);
        assert_eq!(new.superuser_password, old.superuser_password);
        assert_eq!(changed(&old, &new), vec![User::Restapi, User::EtcdRoot]);
        assert_eq!(age(&new, User::Restapi, None, 1600), Some(600));
        assert_eq!(age(&new, User::Superuser, Some(100), 1600), Some(1500));
        assert_eq!(age(&new, User::Superuser, None, 1600), None);
        assert_eq!(User::Monitor.role(), Some("pgha_monitor"));
        assert_eq!(User::EtcdPatroni.role(), None);
    }
}
