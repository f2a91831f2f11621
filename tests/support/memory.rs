//! The memory sampler: the memory of a set of containers as docker stats counts it (usage less
//! inactive page cache) and as process memory (anon), every container sampled at once so that a
//! sample is one moment, and the peak over several samples.

use anyhow::Result;
use futures_util::future::try_join_all;
use pgha::adapters::docker::Engine;
use std::time::Duration;

const MIB: f64 = 1048576.0;

/// The peak over `samples` samples, `pause` apart, of the containers' summed memory: (docker
/// stats' MiB, anon MiB).
pub async fn peak(
    engine: &Engine,
    containers: &[String],
    samples: usize,
    pause: Duration,
) -> Result<(f64, f64)> {
    let (mut usage, mut anon) = (0f64, 0f64);
    for i in 0..samples {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        let each = try_join_all(containers.iter().map(|c| engine.memory_usage(c))).await?;
        usage = usage.max(each.iter().map(|(u, _)| *u).sum::<u64>() as f64 / MIB);
        anon = anon.max(each.iter().map(|(_, a)| *a).sum::<u64>() as f64 / MIB);
    }
    Ok((usage, anon))
}
