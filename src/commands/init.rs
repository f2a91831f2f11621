//! `pgha init`: write the default spec out for editing.

use crate::cli::InitArgs;
use crate::ops::session::Session;
use crate::spec::DEFAULT_SPEC_TOML;
use crate::usage;
use anyhow::{Context, Result};

pub fn run(_ctx: &Session, args: &InitArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        usage!(
            "{} exists; pass --force to overwrite it",
            args.out.display()
        );
    }
    std::fs::write(&args.out, DEFAULT_SPEC_TOML)
        .with_context(|| format!("write {}", args.out.display()))?;
    crate::sayln!("wrote {}", args.out.display());
    Ok(())
}
