//! `pgha render`: write the spec's Patroni and HAProxy configs into a folder.

use crate::cli::RenderArgs;
use crate::ops::session::Session;
use anyhow::Result;

pub fn run(session: &Session, args: &RenderArgs) -> Result<()> {
    let spec = session.spec()?;
    let files = crate::render::render_all(spec)?;
    crate::files::write_all(
        &args.out,
        files.iter().map(|f| (f.path.as_str(), f.contents.as_str())),
    )?;
    if session.global.json {
        let paths: Vec<String> = files
            .iter()
            .map(|f| args.out.join(&f.path).display().to_string())
            .collect();
        crate::say!("{}", crate::output::json(&paths));
    } else {
        for f in &files {
            crate::sayln!("{}", args.out.join(&f.path).display());
        }
    }
    Ok(())
}
