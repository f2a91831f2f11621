//! The dependency rules of the crate's layers, checked on the source text (see DESIGN.md, "Code
//! shape"): every file under `src/` is read, its `use crate::...` / `use super::...` items
//! (multi-line groups included) and inline `crate::x::` paths are resolved to modules, and the
//! test fails with the file and the import that break a rule:
//! - (a) a command (`commands/X`) imports another command module (`commands/mod.rs`, the
//!   dispatcher, may name them all);
//! - (b) a module outside `commands/` imports `commands/`, or one outside `commands/` and `ops/`
//!   imports `ops/`;
//! - (c) a core module (`CORE`) imports a module that does I/O (`IO`): the layers (`commands/`,
//!   `ops/`, `adapters/`) or a host-file, terminal or timer module;
//! - (d) the graph of units (top-level modules; `commands` and `ops` by their submodules) has a
//!   cycle, leaving out the imports of test-only files;
//! - (e) a core module's code (its tests left out) uses `std::fs`, `std::process`, tokio or
//!   bollard.
//!
//! A name a module re-exports from a child (`pub use store::*`) counts as an import of the
//! child: `crate::secrets::load` is one of `secrets::store`. No rule has exceptions.

mod scan;

use scan::{code_only, paths_in, resolve, scan, unit, without_tests, Import};
use std::collections::{BTreeMap, BTreeSet};

/// The pure core: parses, renders, decides, and the containers' layout; no I/O. A module in it
/// includes its submodules, except those in `IO` (`secrets` is core, `secrets::store` is not).
const CORE: &[&str] = &[
    "spec",
    "layout",
    "state",
    "plan",
    "decide",
    "render",
    "dynconf",
    "monitoring",
    "pgbackrest",
    "output",
    "image",
    "tls::cert",
    "secrets",
];

/// What the core must not import: the layers, and the modules that touch host files
/// (`files`, the stores, `context`), the terminal (`stdout`, `progress`) or timers (`wait`).
const IO: &[&str] = &[
    "commands",
    "ops",
    "adapters",
    "context",
    "security",
    "files",
    "secrets::store",
    "tls::store",
    "stdout",
    "progress",
    "wait",
];

/// What the core's code must not use (rule (e)).
const IO_CRATES: &[&str] = &["std::fs", "std::process", "tokio", "bollard"];

/// `module` is `entry` or inside it (`a::b` is in `a`).
fn within(module: &[String], entry: &str) -> bool {
    let e: Vec<&str> = entry.split("::").collect();
    module.len() >= e.len() && module.iter().zip(&e).all(|(m, e)| m == e)
}

fn is_io(module: &[String]) -> bool {
    IO.iter().any(|e| within(module, e))
}

fn is_core(module: &[String]) -> bool {
    CORE.iter().any(|e| within(module, e)) && !is_io(module)
}

/// A file only compiled for tests (`tests.rs`, `*_tests.rs`): its imports are not arrows of the
/// module graph that rule (d) checks (a test may use a neighbour's helpers), but rules (a) to (c)
/// hold for it.
fn is_test_file(file: &str) -> bool {
    file.ends_with("/tests.rs") || file.ends_with("_tests.rs")
}

fn describe(i: &Import) -> String {
    format!("{}:{}: `{}`", i.file, i.line, i.written)
}

/// Rules (a), (b), (c): one line per import that breaks one.
fn layer_violations(imports: &[Import], by_file: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut bad = Vec::new();
    for i in imports {
        let from = &by_file[&i.file];
        let (from_top, to_top) = (
            from.first().map(String::as_str).unwrap_or("crate"),
            i.target.first().map(String::as_str).unwrap_or("crate"),
        );
        let (from_unit, to_unit) = (unit(from), unit(&i.target));
        if from_top == "commands"
            && from.len() >= 2
            && to_top == "commands"
            && i.target.len() >= 2
            && from_unit != to_unit
        {
            bad.push(format!(
                "(a) {} imports another command module ({to_unit}); move what both need to ops/",
                describe(i)
            ));
        }
        let upward = (to_top == "commands" && from_top != "commands")
            || (to_top == "ops" && from_top != "commands" && from_top != "ops");
        if upward && from_top != "crate" {
            bad.push(format!(
                "(b) {} imports {to_top}/ from {from_top}",
                describe(i)
            ));
        }
        if is_core(from) && is_io(&i.target) {
            bad.push(format!(
                "(c) {} imports {} from the core module {}",
                describe(i),
                i.target.join("::"),
                from.join("::")
            ));
        }
    }
    bad
}

/// Rule (d): the cycles of the unit graph, each with the imports that make its arrows.
fn cycles(imports: &[Import], by_file: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut edges: BTreeMap<(String, String), Vec<&Import>> = BTreeMap::new();
    for i in imports.iter().filter(|i| !is_test_file(&i.file)) {
        let (from, to) = (unit(&by_file[&i.file]), unit(&i.target));
        // A folder's mod.rs and its own files are one unit; `crate` (lib.rs) declares them all.
        let from_top = from.split("::").next().unwrap_or("");
        if from == to || from == "crate" || to == "crate" || (to == from_top) {
            continue;
        }
        edges.entry((from, to)).or_default().push(i);
    }
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let next = |n: &String| -> Vec<&String> {
        edges
            .keys()
            .filter(|(a, _)| a == n)
            .map(|(_, b)| b)
            .collect()
    };
    // Strongly connected components (Tarjan).
    struct T<'a> {
        index: BTreeMap<&'a String, usize>,
        low: BTreeMap<&'a String, usize>,
        stack: Vec<&'a String>,
        on: BTreeSet<&'a String>,
        sccs: Vec<Vec<&'a String>>,
        n: usize,
    }
    fn visit<'a>(v: &'a String, t: &mut T<'a>, next: &dyn Fn(&String) -> Vec<&'a String>) {
        t.index.insert(v, t.n);
        t.low.insert(v, t.n);
        t.n += 1;
        t.stack.push(v);
        t.on.insert(v);
        for w in next(v) {
            if !t.index.contains_key(w) {
                visit(w, t, next);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.sccs.push(scc);
            }
        }
    }
    let mut t = T {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        sccs: Vec::new(),
        n: 0,
    };
    for v in &nodes {
        if !t.index.contains_key(*v) {
            visit(v, &mut t, &next);
        }
    }
    let found = t.sccs.iter().map(|scc| {
        let members: BTreeSet<&String> = scc.iter().copied().collect();
        let mut lines = vec![format!(
            "(d) import cycle between {}:",
            scc.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )];
        for ((a, b), why) in &edges {
            if members.contains(a) && members.contains(b) {
                lines.push(format!("    {a} -> {b}: {}", describe(why[0])));
            }
        }
        lines.join("\n")
    });
    found.collect()
}

/// Rule (e): one line per core file whose code names an I/O crate or module of std.
fn core_io_uses(
    by_file: &BTreeMap<String, Vec<String>>,
    code: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, module) in by_file {
        if !is_core(module) || is_test_file(file) {
            continue;
        }
        let code = without_tests(&code[file]);
        // `use std::{fs, ...}` groups, expanded, and inline paths.
        let mut named: Vec<String> = Vec::new();
        for tree in code
            .split("use ")
            .skip(1)
            .filter_map(|t| t.split(';').next())
        {
            named.extend(scan::expand_use(tree.trim()));
        }
        for io in IO_CRATES {
            let used = code.contains(&format!("{io}::"))
                || named
                    .iter()
                    .any(|n| n == io || n.starts_with(&format!("{io}::")));
            if used {
                bad.push(format!("(e) {file} uses {io} in the core"));
            }
        }
    }
    bad
}

#[test]
fn layers_keep_their_dependency_rules() {
    let scan::Scan {
        imports,
        by_file,
        code,
    } = scan();
    assert!(
        imports.iter().any(|i| i.target == ["ops", "health"]),
        "the scan found no import of ops::health: the parser is broken"
    );
    assert!(
        imports
            .iter()
            .any(|i| i.target == ["secrets", "store"] && !i.written.contains("store")),
        "the scan resolved no name re-exported from secrets::store: the glob lookup is broken"
    );
    let mut problems = layer_violations(&imports, &by_file);
    problems.extend(cycles(&imports, &by_file));
    problems.extend(core_io_uses(&by_file, &code));
    assert!(
        problems.is_empty(),
        "{} dependency rule(s) broken (see src/arch_tests/mod.rs):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_scanner_reads_groups_super_and_inline_paths() {
    let code = code_only(
        "use crate::{\n    ops::{access::Access, health},\n    plan::{self, Kind},\n};\n// crate::commands::x in a comment\nlet s = \"crate::commands::y\";\nsuper::checks::run();\nlet x = crate::ops::probe::write();\nuse crate::state::{health as cluster_health, ClusterView};\n",
    );
    let paths: Vec<String> = paths_in(&code).into_iter().map(|(_, p)| p).collect();
    for want in [
        "crate::ops::access::Access",
        "crate::ops::health",
        "crate::plan",
        "crate::plan::Kind",
        "super::checks::run",
        "crate::ops::probe::write",
        "crate::state::health",
        "crate::state::ClusterView",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    assert!(!paths.iter().any(|p| p.contains("commands")), "{paths:?}");
    let modules: BTreeSet<Vec<String>> = [
        vec!["commands"],
        vec!["commands", "verify"],
        vec!["commands", "verify", "checks"],
        vec!["ops"],
        vec!["ops", "access"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect();
    let here: Vec<String> = vec!["commands".into(), "verify".into(), "proof".into()];
    assert_eq!(
        resolve(&here, "super::checks::run", &modules),
        Some(vec!["commands".into(), "verify".into(), "checks".into()])
    );
    assert_eq!(
        resolve(&here, "crate::ops::access::Access", &modules),
        Some(vec!["ops".into(), "access".into()])
    );
    assert_eq!(unit(&here), "commands::verify");
}
