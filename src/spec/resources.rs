//! The spec's container resources: /dev/shm of the nodes, optional CPU and memory limits per role,
//! and the rotation of container logs. Sizes are written as bytes or with a binary unit ("256MiB",
//! "1GiB", "512m"), as `docker run --shm-size/--memory` and PostgreSQL read them. Pure.

use serde::Deserialize;

/// /dev/shm of a node container: Docker's 64 MB breaks PostgreSQL's parallel hash joins.
pub const DEFAULT_SHM_SIZE: &str = "256MiB";
/// Docker refuses a memory limit below 6 MiB.
const MIN_MEMORY: u64 = 6 << 20;

/// Optional limits of one role's containers: `[haproxy]` is just these; `[nodes]` and `[etcd]`
/// carry the same two keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// CPUs the container may use, e.g. 1.5 (`docker run --cpus`).
    pub cpus: Option<toml::Value>,
    /// Memory limit, e.g. "1GiB" (`docker run --memory`).
    pub memory: Option<toml::Value>,
}

/// `[logs]`: container logs go to Docker's json-file driver, rotated at `max_size`, keeping
/// `max_files` files per container.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Logs {
    /// Passed to the driver as written ("10m"; Docker counts k, m, g in powers of 1000 here).
    pub max_size: toml::Value,
    pub max_files: u32,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            max_size: toml::Value::String("10m".into()),
            max_files: 3,
        }
    }
}

impl Logs {
    /// The `max-size` option as Docker reads it.
    pub fn docker_max_size(&self) -> String {
        match &self.max_size {
            toml::Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        }
    }
}

/// Resources resolved to numbers (after validation), for the Docker adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub nano_cpus: Option<i64>,
    pub memory: Option<i64>,
}

impl Limits {
    /// The limits as Docker takes them (`None` where unset; call after validation).
    pub fn resolve(&self) -> Resolved {
        Resolved {
            nano_cpus: self
                .cpus
                .as_ref()
                .and_then(|v| parse_cpus(v).ok())
                .map(|c| (c * 1e9).round() as i64),
            memory: self
                .memory
                .as_ref()
                .and_then(|v| parse_size(v).ok())
                .map(|b| b as i64),
        }
    }

    /// Problems of `<section>.cpus` and `<section>.memory`, one line each.
    pub fn problems(&self, section: &str, p: &mut Vec<String>) {
        if let Some(v) = &self.cpus {
            if let Err(why) = parse_cpus(v) {
                p.push(format!("{section}.cpus = {v} {why}"));
            }
        }
        if let Some(v) = &self.memory {
            match parse_size(v) {
                Err(why) => p.push(format!("{section}.memory = {v} {why}")),
                Ok(b) if b < MIN_MEMORY => p.push(format!(
                    "{section}.memory = {v} is below Docker's minimum of 6MiB; use e.g. \"1GiB\""
                )),
                Ok(_) => {}
            }
        }
    }
}

/// Problems of the node's `shm_size` and of `[logs]`, one line each.
pub fn shm_and_log_problems(shm_size: &toml::Value, logs: &Logs, p: &mut Vec<String>) {
    match parse_size(shm_size) {
        Err(why) => p.push(format!("nodes.shm_size = {shm_size} {why}")),
        Ok(b) if b < 1 << 20 => p.push(format!(
            "nodes.shm_size = {shm_size} is too small: use at least 1MiB (default \"{DEFAULT_SHM_SIZE}\")"
        )),
        Ok(_) => {}
    }
    match parse_size(&logs.max_size) {
        Err(why) => p.push(format!("logs.max_size = {} {why}", logs.max_size)),
        Ok(0) => p.push("logs.max_size = 0: use a positive size, e.g. \"10m\"".into()),
        Ok(_) => {}
    }
    if logs.max_files == 0 {
        p.push("logs.max_files = 0: keep at least 1 file per container (default 3)".into());
    }
}

/// Bytes of a size: a whole number of bytes, or a number with a unit k, m, g or t (also written
/// KB/KiB, MB/MiB, ...), all powers of 1024.
pub fn parse_size(v: &toml::Value) -> Result<u64, String> {
    const HINT: &str =
        "is not a size: use bytes or a number with a unit, e.g. \"256MiB\" or \"1GiB\"";
    let s = match v {
        toml::Value::Integer(i) if *i >= 0 => return Ok(*i as u64),
        toml::Value::String(s) => s.trim(),
        _ => return Err(HINT.into()),
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = match num.parse() {
        Ok(n) if !num.is_empty() => n,
        _ => return Err(HINT.into()),
    };
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(HINT.into()),
    };
    let bytes = num * mult as f64;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err("is too large".into());
    }
    Ok(bytes.round() as u64)
}

/// A CPU count: a positive number, at least 0.01 (Docker's resolution).
pub fn parse_cpus(v: &toml::Value) -> Result<f64, String> {
    let n = match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => f64::NAN,
    };
    if (0.01..=1024.0).contains(&n) {
        Ok(n)
    } else {
        Err("is not a CPU count: use a number from 0.01 up, e.g. 0.5 or 2".into())
    }
}
