//! `pgha start M...` and `pgha stop M...`: a member's container started or stopped, and waited
//! for (`ops::member`, which `restart --container` shares).

use crate::cli::MemberArgs;
use crate::ops::member::{run_members, Action};
use crate::ops::session::Session;
use anyhow::Result;
use std::time::Duration;

pub async fn run(session: &Session, args: &MemberArgs, action: Action) -> Result<()> {
    run_members(
        session,
        &args.members,
        Duration::from_secs(args.timeout),
        action,
        args.force,
    )
    .await
}
