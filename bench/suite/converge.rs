//! The benchmark's converge figures: a config-only change of the spec applied by `up` (time until
//! every member has it), and a rolling image replacement under the bench's writer (total time,
//! longest gap between acknowledged writes, acknowledged writes lost on any node). The new image
//! is pgha's own with one more layer (`docker commit`); runs alternate between it and the original.

use super::{Bench, Metric};
use crate::support::run::docker;
use anyhow::Result;

/// The bench's second node image; `run` removes it.
pub fn image(b: &Bench<'_>) -> String {
    format!("{}-node:rolled", b.o.name)
}

/// Makes `image(b)` from pgha's node image.
fn make_image(b: &Bench<'_>) -> Result<()> {
    let base = b.pgha(&["image", "name"])?.trim().to_string();
    let tmp = format!("{}-derive", b.o.name);
    let _ = docker(&["rm", "-f", &tmp]);
    docker(&[
        "create",
        "--name",
        &tmp,
        "--label",
        "io.pgha.test=bench",
        &base,
        "true",
    ])?;
    let made = docker(&[
        "commit",
        "--change",
        "LABEL io.pgha.test=bench",
        &tmp,
        &image(b),
    ]);
    docker(&["rm", "-f", &tmp])?;
    made.map(|_| ())
}

/// Removes the bench's second image (once no container uses it).
pub fn remove_image(b: &Bench<'_>) {
    let _ = docker(&["rmi", "-f", &image(b)]);
}

/// Measures `runs` config-only changes, then `runs` rolling image replacements under writes.
/// Returns the metrics and the acknowledged writes checked and lost.
pub async fn measure(b: &Bench<'_>, runs: usize) -> Result<(Vec<Metric>, usize, usize)> {
    let mut config = Metric::new(
        "up, config-only change ([patroni.parameters]): every member applied it",
        "s",
    );
    let mut total = Metric::new("up, rolling image replacement (9 containers): total", "s");
    let mut gap = Metric::new(
        "up, rolling image replacement: longest gap between acknowledged writes",
        "s",
    );
    let mut probe_gap = Metric::new(
        "up, rolling image replacement: longest write gap up's own probe reports",
        "s",
    );
    let mut lost_m = Metric::new(
        "up, rolling image replacement: acknowledged writes lost on any node",
        "writes",
    );
    let params = |i: usize| format!("[patroni.parameters]\nwork_mem = \"{}MB\"\n", 5 + i);
    for i in 0..runs {
        eprintln!("bench: config-only change {}/{runs}", i + 1);
        b.settle().await?;
        b.respec(&params(i))?;
        let r = b.json(&["up"])?;
        config.push(r["config"]["applied_s"].as_f64());
        eprintln!(
            "bench:   applied after {:?} s",
            r["config"]["applied_s"].as_f64()
        );
    }
    make_image(b)?;
    let (mut acked, mut lost) = (0, 0);
    for i in 0..runs {
        eprintln!("bench: rolling image replacement {}/{runs}", i + 1);
        b.settle().await?;
        let images = if i % 2 == 0 {
            format!("[images]\nnode = \"{}\"\n", image(b))
        } else {
            String::new()
        };
        b.respec(&format!("{images}{}", params(runs - 1)))?;
        let first = 300_000_000 + 1_000_000 * i as i64;
        let o = b
            .under_writes("bench_rows", first, &["up", "--yes"])
            .await?;
        let l = b.lost_on_any_node("bench_rows", &o.acked).await?;
        let rolled = &o.report["rolled"];
        total.push(rolled["elapsed_s"].as_f64());
        gap.push(Some(o.gap));
        probe_gap.push(rolled["longest_write_gap_s"].as_f64());
        lost_m.push(Some(l as f64));
        eprintln!(
            "bench:   {:?} s in all, longest write gap {:.2} s (up's probe: {:?} s), {l} of {} lost on some node",
            rolled["elapsed_s"].as_f64(),
            o.gap,
            rolled["longest_write_gap_s"].as_f64(),
            o.acked.len()
        );
        acked += o.acked.len();
        lost += l;
    }
    Ok((vec![config, total, gap, probe_gap, lost_m], acked, lost))
}
