//! `pgha image build` / `pgha image name`: build the node image (`ops::image::build`) when it is
//! missing, or with `--force`/`--refresh`, and print its name.

use crate::cli::ImageBuildArgs;
use crate::image;
use crate::ops::image::{build, remove_unused};
use crate::ops::session::Session;
use crate::progress::Progress;
use anyhow::Result;

pub fn run_name(_ctx: &Session) -> Result<()> {
    crate::sayln!("{}", image::reference());
    Ok(())
}

pub async fn run_build(session: &Session, args: &ImageBuildArgs) -> Result<()> {
    let engine = session.engine().await?;
    let p = Progress::new();
    let reference = image::reference();
    let before = engine.image_labels(&reference).await?;
    let mut built = None;
    if before.is_some() && !args.force && !args.refresh {
        p.finish();
        eprintln!(
            "image {reference} exists; nothing to build (--refresh builds it from today's Debian packages)"
        );
    } else {
        let b = build(engine, &p, args.refresh).await?;
        remove_unused(
            engine,
            &[reference.clone(), image::content_reference(&b.content)],
            &p,
        )
        .await?;
        p.finish();
        let was = before
            .as_ref()
            .and_then(|l| l.get(image::LABEL_CONTENT).cloned());
        if b.changed {
            eprintln!(
                "built {reference} in {:.1} s: content {}{}",
                p.elapsed().as_secs_f64(),
                b.content,
                match (&before, &was) {
                    (Some(_), Some(w)) => format!(" (was {w}); `pgha up` rolls it through a cluster that runs the old one (`pgha plan` shows how)"),
                    (Some(_), None) => "; `pgha up` rolls it through a cluster that runs the old one (`pgha plan` shows how)".into(),
                    _ => String::new(),
                }
            );
        } else {
            eprintln!(
                "no Debian package changed since {reference} was built (content {}): kept it, nothing to roll",
                b.content
            );
        }
        built = Some(b);
    }
    if session.global.json {
        crate::say!(
            "{}",
            crate::output::json(&serde_json::json!({
                "image": reference,
                "built": built.as_ref().is_some_and(|b| b.changed),
                "content": built.as_ref().map(|b| b.content.clone())
                    .or_else(|| before.as_ref().and_then(|l| l.get(image::LABEL_CONTENT).cloned())),
            }))
        );
    } else {
        crate::sayln!("{reference}");
    }
    Ok(())
}
