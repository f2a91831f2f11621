//! `pgha up`: image, network, volumes, etcd, nodes, HAProxy; then wait until a leader runs, every
//! replica streams and HAProxy routes writes to the leader; print the table and how to connect.
//! On a running cluster it writes changed `[patroni]` settings into the config key; on a healthy
//! cluster whose key matches it changes nothing and says so. The steps are `ops::converge::up`,
//! the printed report `ops::converge::report` (`restore` prints the same).

use crate::cli::UpArgs;
use crate::ops::converge;
use crate::ops::session::Session;
use anyhow::Result;

pub async fn run(session: &Session, args: &UpArgs) -> Result<()> {
    converge::up_and_report(session, args).await
}
