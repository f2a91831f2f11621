//! The memory sampler: the memory of a set of containers as docker stats counts it (usage less
//! inactive page cache) and as process memory (anon), every container sampled at once so that a
//! sample is one moment, and the peak over several samples.

use anyhow::Result;
use futures_util::future::try_join_all;
use pgha::adapters::docker::Engine;
use std::time::Duration;

const MIB: f64 = 1048576.0;

/// One sample: the containers' summed memory now, in bytes: (docker stats', anon).
pub async fn sample(engine: &Engine, containers: &[String]) -> Result<(u64, u64)> {
    let each = try_join_all(containers.iter().map(|c| engine.memory_usage(c))).await?;
    Ok((
        each.iter().map(|(u, _)| *u).sum(),
        each.iter().map(|(_, a)| *a).sum(),
    ))
}

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
        let (u, a) = sample(engine, containers).await?;
        usage = usage.max(u as f64 / MIB);
        anon = anon.max(a as f64 / MIB);
    }
    Ok((usage, anon))
}

/// `peak` over every container of `cluster` (found by its label).
pub async fn cluster_peak(
    engine: &Engine,
    cluster: &str,
    samples: usize,
    pause: Duration,
) -> Result<(f64, f64)> {
    let inv = engine.inventory(&[("io.pgha.cluster", cluster)]).await?;
    let names: Vec<String> = inv.containers.iter().map(|c| c.name.clone()).collect();
    peak(engine, &names, samples, pause).await
}
