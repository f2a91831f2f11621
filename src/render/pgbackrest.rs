//! pgBackRest's configuration file (`pgbackrest.conf`) of a node or a tool container.

use crate::layout::{PGBACKREST_TLS_PORT, PGDATA, PG_PORT, PG_SOCKET_DIR, REPO_PATH, TLS_DIR};
use crate::spec::Spec;

/// `pgbackrest.conf`: the repository, retention, and the stanza (the cluster name). On a node
/// (`node`), also its TLS server; a tool container gets the rest only. The other nodes are not in
/// it (a changed node set would change every node's file): a backup on a standby names the
/// primary on its command line (`standby_backup_options`).
pub fn config(spec: &Spec, node: bool) -> String {
    let b = &spec.backup;
    let mut s = format!(
        "# pgBackRest configuration of cluster {name}, written by pgha.\n\
         [global]\n\
         repo1-path={REPO_PATH}\n\
         repo1-retention-full={full}\n",
        name = spec.name,
        full = b.retention_full
    );
    if b.retention_diff > 0 {
        s.push_str(&format!("repo1-retention-diff={}\n", b.retention_diff));
    }
    s.push_str(
        "start-fast=y\n\
         compress-type=zst\n\
         process-max=2\n\
         log-level-console=warn\n\
         log-level-stderr=off\n\
         log-level-file=off\n",
    );
    if node {
        s.push_str(&format!(
            "tls-server-address=*\n\
             tls-server-port={PGBACKREST_TLS_PORT}\n\
             tls-server-cert-file={TLS_DIR}/node.crt\n\
             tls-server-key-file={TLS_DIR}/node.key\n\
             tls-server-ca-file={TLS_DIR}/ca.crt\n\
             tls-server-auth={}={}\n",
            crate::tls::cert::CLIENT_CN,
            spec.name
        ));
    }
    s.push_str(&format!(
        "\n[{name}]\n\
         pg1-path={PGDATA}\n\
         pg1-socket-path={PG_SOCKET_DIR}\n\
         pg1-port={PG_PORT}\n",
        name = spec.name
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_the_stanza_and_retention() {
        let mut spec = Spec::default();
        spec.backup.retention_full = 3;
        let c = config(&spec, false);
        assert!(c.contains("repo1-retention-full=3\n"), "{c}");
        assert!(!c.contains("repo1-retention-diff"), "{c}");
        assert!(
            c.contains("[pgha]\npg1-path=/var/lib/postgresql/data/pgdata\n"),
            "{c}"
        );
        spec.backup.retention_diff = 4;
        assert!(config(&spec, false).contains("repo1-retention-diff=4\n"));
    }

    #[test]
    fn a_node_config_serves_tls_and_a_tool_config_does_not() {
        let c = config(&Spec::default(), true);
        assert!(c.contains("tls-server-address=*\n"), "{c}");
        assert!(c.contains("tls-server-auth=pgha-pgbackrest=pgha\n"), "{c}");
        assert!(
            c.contains("pg1-path=/var/lib/postgresql/data/pgdata\n"),
            "{c}"
        );
        assert!(!c.contains("-host="), "no other node in the file: {c}");
        let four =
            Spec::parse("[nodes]\nnames = [\"pg1\", \"pg2\", \"pg3\", \"pg4\"]", "t").unwrap();
        assert_eq!(
            config(&four, true),
            c,
            "the node set does not change the file"
        );
        let tool = config(&Spec::default(), false);
        assert!(!tool.contains("tls-server"), "{tool}");
    }
}
