//! The dependency rules of the crate's layers, checked on the source text (see DESIGN.md, "Code
//! shape"): every file under `src/` is read, its `use crate::...` / `use super::...` items
//! (multi-line groups included) and inline `crate::x::` paths are resolved to modules, and the
//! test fails with the file and the import that break a rule:
//! - (a) a command (`commands/X`) imports another command module (`commands/mod.rs`, the
//!   dispatcher, may name them all);
//! - (b) `ops/` imports `commands/`;
//! - (c) a core module (`CORE`) imports `commands/`, `ops/` or `adapters/`;
//! - (d) the graph of units (top-level modules; `commands` and `ops` by their submodules) has a
//!   cycle, leaving out the arrows in `ALLOWED_CORE_ARROWS` and the imports of test-only files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The pure core: parses, renders, decides; no I/O, so no arrow to the layers that do it.
const CORE: &[&str] = &[
    "spec",
    "state",
    "plan",
    "decide",
    "render",
    "dynconf",
    "monitoring",
    "output",
    "image",
    "wait",
];

/// The layers the core must not reach.
const IO_LAYERS: &[&str] = &["commands", "ops", "adapters"];

/// Arrows that close a cycle today and are left out of rule (d) until they go. Each entry is
/// (from unit, to unit, why).
const ALLOWED_CORE_ARROWS: &[(&str, &str, &str)] = &[
    // removed by the core split
    ("render", "monitoring", "removed by the core split"),
    ("monitoring", "render", "removed by the core split"),
    (
        "render",
        "plan",
        "removed by the core split (plan::dynamic)",
    ),
    (
        "tls",
        "plan",
        "removed by the core split (plan::container_name)",
    ),
    (
        "plan",
        "pgbackrest",
        "removed by the core split (container layout constants)",
    ),
];

/// Files of the core that may import an I/O layer, with why. Each entry is (file, unit).
const ALLOWED_CORE_FILES: &[(&str, &str)] = &[
    // A test of ops::repo::orphan_repository that stayed in plan's tests; removed by the core
    // split (the test moves next to the function).
    ("src/plan/tests.rs", "ops::repo"),
];

/// One import found in a file: the path as written and the module it resolves to.
#[derive(Debug, Clone)]
struct Import {
    file: String,
    line: usize,
    written: String,
    target: Vec<String>,
}

/// The module path of a file under `src/` (`src/ops/roll/mod.rs` -> `ops::roll`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text with comments and string contents blanked (line breaks kept), so that paths in
/// docs and messages do not count.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"')
                || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
            {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j + close.len();
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '"') or a lifetime ('a): skip the literal only.
            if b.get(i + 2) == Some(&b'\'') {
                out.push_str("' '");
                i += 3;
            } else if b.get(i + 1) == Some(&b'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// Drops `as Name` renames from a use tree (`a::B as C` -> `a::B`).
fn without_renames(tree: &str) -> String {
    let mut out = String::new();
    let mut tokens = tree.split_whitespace().peekable();
    while let Some(tok) = tokens.next() {
        if tok == "as" {
            // Keep what closes the group or separates items after the new name.
            if let Some(name) = tokens.next() {
                out.extend(name.chars().filter(|c| matches!(c, ',' | '}')));
            }
            continue;
        }
        out.push_str(tok);
    }
    out
}

/// `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e` (`self` in a group names the prefix).
fn expand_use(tree: &str) -> Vec<String> {
    fn go(prefix: &str, t: &str, out: &mut Vec<String>) {
        match t.find('{') {
            None => {
                let full = if t == "self" {
                    prefix.trim_end_matches("::").to_string()
                } else {
                    format!("{prefix}{t}")
                };
                out.push(full);
            }
            Some(open) => {
                let head = &t[..open];
                let inner = &t[open + 1..t.len() - 1];
                let mut depth = 0;
                let mut start = 0;
                for (i, ch) in inner.bytes().enumerate() {
                    match ch {
                        b'{' => depth += 1,
                        b'}' => depth -= 1,
                        b',' if depth == 0 => {
                            if i > start {
                                go(&format!("{prefix}{head}"), &inner[start..i], out);
                            }
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                if start < inner.len() {
                    go(&format!("{prefix}{head}"), &inner[start..], out);
                }
            }
        }
    }
    let mut out = Vec::new();
    go("", &without_renames(tree), &mut out);
    out
}

/// The paths a file names: `use` items and inline `crate::`/`super::` paths, each with its line.
fn paths_in(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;
    // `use` items, possibly over several lines.
    let mut rest = 0;
    while let Some(off) = code[rest..].find("use ") {
        let at = rest + off;
        rest = at + 4;
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        let tree = code[at + 4..at + end].trim();
        if tree.starts_with("crate::") || tree.starts_with("super::") {
            for p in expand_use(tree) {
                found.push((line_of(at), p));
            }
        }
        rest = at + end;
    }
    // Inline paths anywhere else (`crate::ops::health::POLL`, `super::checks::x`).
    for root in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(off) = code[from..].find(root) {
            let at = from + off;
            from = at + root.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            found.push((line_of(at), path.trim_end_matches(':').to_string()));
        }
    }
    // A `use crate::x::y` is found by both scans.
    found.sort();
    found.dedup();
    found
}

/// Resolves a written path to the longest known module it names.
fn resolve(
    module: &[String],
    written: &str,
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let segs: Vec<&str> = written.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest): (Vec<String>, &[&str]) = match segs.first() {
        Some(&"crate") => (Vec::new(), &segs[1..]),
        Some(&"super") => {
            // `super` of `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a) it is the crate.
            let mut m = module.to_vec();
            m.pop();
            let mut rest = &segs[1..];
            while rest.first() == Some(&"super") {
                m.pop();
                rest = &rest[1..];
            }
            (m, rest)
        }
        _ => return None,
    };
    let mut best = None;
    for s in rest {
        base.push(s.to_string());
        if modules.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

/// The unit a module belongs to: its top-level module, or for `commands` and `ops` the
/// submodule (`ops::converge`), the folder's own `mod.rs` being the bare top.
fn unit(module: &[String]) -> String {
    match module {
        [] => "crate".into(),
        [top, sub, ..] if top == "commands" || top == "ops" => format!("{top}::{sub}"),
        [top, ..] => top.clone(),
    }
}

fn scan() -> (Vec<Import>, BTreeMap<String, Vec<String>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules = BTreeSet::new();
    let mut module_by_file = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        if rel == Path::new("main.rs") {
            continue;
        }
        let m = module_of(rel);
        modules.insert(m.clone());
        module_by_file.insert(f.clone(), m);
    }
    let mut imports = Vec::new();
    for (f, m) in &module_by_file {
        let text =
            std::fs::read_to_string(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        let code = code_only(&text);
        let shown = f.strip_prefix(root).unwrap_or(f).display().to_string();
        for (line, written) in paths_in(&code) {
            // `use super::*` is a test module's glob of its own file.
            if written == "super::*" || written == "super" {
                continue;
            }
            if let Some(target) = resolve(m, &written, &modules) {
                imports.push(Import {
                    file: shown.clone(),
                    line,
                    written,
                    target,
                });
            }
        }
    }
    let by_file = module_by_file
        .into_iter()
        .map(|(f, m)| (f.strip_prefix(root).unwrap_or(&f).display().to_string(), m))
        .collect();
    (imports, by_file)
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
        if from_top == "ops" && to_top == "commands" {
            bad.push(format!("(b) {} imports commands/ from ops/", describe(i)));
        }
        if CORE.contains(&from_top) && IO_LAYERS.contains(&to_top) {
            let allowed = ALLOWED_CORE_FILES
                .iter()
                .any(|(f, u)| *f == i.file && *u == i.target.join("::"));
            if !allowed {
                bad.push(format!(
                    "(c) {} imports {to_top}/ from the core module {from_top}",
                    describe(i)
                ));
            }
        }
    }
    bad
}

/// Rule (d): the cycles of the unit graph (allowed arrows left out), each with the imports that
/// make its arrows.
fn cycles(imports: &[Import], by_file: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut edges: BTreeMap<(String, String), Vec<&Import>> = BTreeMap::new();
    let mut allowed_seen: BTreeSet<(String, String)> = BTreeSet::new();
    for i in imports.iter().filter(|i| !is_test_file(&i.file)) {
        let (from, to) = (unit(&by_file[&i.file]), unit(&i.target));
        // A folder's mod.rs and its own files are one unit; `crate` (lib.rs) declares them all.
        let from_top = from.split("::").next().unwrap_or("");
        if from == to || from == "crate" || to == "crate" || (to == from_top) {
            continue;
        }
        if ALLOWED_CORE_ARROWS
            .iter()
            .any(|(a, b, _)| *a == from && *b == to)
        {
            allowed_seen.insert((from, to));
            continue;
        }
        edges.entry((from, to)).or_default().push(i);
    }
    let mut stale: Vec<String> = ALLOWED_CORE_ARROWS
        .iter()
        .filter(|(a, b, _)| !allowed_seen.contains(&(a.to_string(), b.to_string())))
        .map(|(a, b, why)| {
            format!("(d) the allowed arrow {a} -> {b} ({why}) is gone: delete it from ALLOWED_CORE_ARROWS")
        })
        .collect();
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
    stale.extend(found);
    stale
}

#[test]
fn layers_keep_their_dependency_rules() {
    let (imports, by_file) = scan();
    assert!(
        imports.iter().any(|i| i.target == ["ops", "health"]),
        "the scan found no import of ops::health: the parser is broken"
    );
    let mut problems = layer_violations(&imports, &by_file);
    problems.extend(cycles(&imports, &by_file));
    assert!(
        problems.is_empty(),
        "{} dependency rule(s) broken (see src/arch_tests.rs):\n{}",
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
