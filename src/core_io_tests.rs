//! The core's I/O check: the pure core (see lib.rs), its split parts included (`tls::cert`,
//! `secrets` without `store`, `layout`, `pgbackrest`), imports nothing that touches the host or
//! Docker: no adapter, op or command, no host-file module (`files`, `secrets::store`,
//! `tls::store`, `context`), no stdout, no `std::fs`. It reads the `crate::` paths of the core's
//! files (test code left out). Import circles are the crate's dependency check's concern.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The core's files: folders and files under `src/`.
const CORE: &[&str] = &[
    "spec.rs",
    "spec",
    "state.rs",
    "state",
    "plan",
    "decide.rs",
    "decide",
    "render",
    "dynconf.rs",
    "dynconf",
    "monitoring.rs",
    "monitoring",
    "output.rs",
    "layout.rs",
    "pgbackrest",
    "tls/cert.rs",
    "secrets/mod.rs",
];
/// What the core must not import.
const FORBIDDEN: &[&str] = &[
    "adapters",
    "commands",
    "ops",
    "context",
    "files",
    "stdout",
    "progress",
    "wait",
    "secrets::store",
    "tls::store",
];

fn rs_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            rs_files(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// A file's code without its tests.
fn code(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy();
    if name == "tests.rs" || name.ends_with("_tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The module a `crate::` path names: its first part, `tls::cert`/`tls::store`, and for
/// `secrets` its `store` (also a function of `store` reached through the re-export).
fn node(path: &str, store_fns: &BTreeSet<String>) -> String {
    let mut parts = path.split("::");
    let first = parts.next().unwrap_or("");
    let second = parts.next().unwrap_or("");
    match first {
        "tls" if second == "cert" => "tls::cert".into(),
        "tls" => "tls::store".into(),
        "secrets" if second == "store" || store_fns.contains(second) => "secrets::store".into(),
        _ => first.into(),
    }
}

#[test]
fn the_core_imports_nothing_that_does_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let store = std::fs::read_to_string(src.join("secrets/store.rs")).unwrap();
    let store_fns: BTreeSet<String> = store
        .split("pub fn ")
        .skip(1)
        .map(|s| s.split('(').next().unwrap().to_string())
        .collect();
    let mut bad = Vec::new();
    for c in CORE {
        let mut files = Vec::new();
        rs_files(&src.join(c), &mut files);
        for f in files {
            let text = code(&f);
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let to = node(&rest[..end], &store_fns);
                if FORBIDDEN.contains(&to.as_str()) {
                    bad.push(format!("{} -> crate::{}", f.display(), &rest[..end]));
                }
            }
            for io in ["std::fs", "std::process", "tokio::", "bollard"] {
                if text.contains(io) {
                    bad.push(format!("{} uses {io}", f.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "the core reaches I/O:\n{}", bad.join("\n"));
}
