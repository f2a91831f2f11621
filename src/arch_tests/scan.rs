//! Reading the crate's source for `arch_tests`: every file under `src/`, its module path, the
//! paths it names (`use` items with their groups and renames, inline `crate::`/`super::` paths;
//! comments and strings left out), each resolved to the longest module it names, or to the
//! submodule a name comes from when a module re-exports it (`pub use store::*`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import found in a file: the path as written and the module it resolves to.
#[derive(Debug, Clone)]
pub(super) struct Import {
    pub file: String,
    pub line: usize,
    pub written: String,
    pub target: Vec<String>,
}

/// The module path of a file under `src/` (`src/ops/roll/mod.rs` -> `ops::roll`).
pub(super) fn module_of(rel: &Path) -> Vec<String> {
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

pub(super) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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
pub(super) fn code_only(text: &str) -> String {
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
pub(super) fn without_renames(tree: &str) -> String {
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
pub(super) fn expand_use(tree: &str) -> Vec<String> {
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
pub(super) fn paths_in(code: &str) -> Vec<(usize, String)> {
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
pub(super) fn resolve(
    module: &[String],
    written: &str,
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    resolve_item(module, written, modules).map(|(m, _)| m)
}

/// `resolve`, with the name that follows the module in the path (the item it names), if any.
fn resolve_item(
    module: &[String],
    written: &str,
    modules: &BTreeSet<Vec<String>>,
) -> Option<(Vec<String>, Option<String>)> {
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
    for (i, s) in rest.iter().enumerate() {
        base.push(s.to_string());
        if modules.contains(&base) {
            best = Some((base.clone(), rest.get(i + 1).map(|n| n.to_string())));
        } else {
            break;
        }
    }
    best
}

/// The names a file's code defines as `pub` (functions, types, constants), its tests left out.
fn pub_items(code: &str) -> BTreeSet<String> {
    let mut items = BTreeSet::new();
    let starts = ["pub ", "pub(crate) "]
        .iter()
        .flat_map(|p| code.match_indices(p).map(|(i, _)| (i, i + p.len())));
    for (pos, at) in starts {
        if code[..pos]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let mut words = code[at..].split_whitespace().peekable();
        while matches!(words.peek(), Some(&"async") | Some(&"unsafe")) {
            words.next();
        }
        let mut kind = words.next().unwrap_or("");
        if kind == "const" && words.peek() == Some(&"fn") {
            kind = words.next().unwrap_or("");
        }
        if matches!(
            kind,
            "fn" | "struct" | "enum" | "const" | "static" | "type" | "trait"
        ) {
            let name: String = words
                .next()
                .unwrap_or("")
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            items.insert(name);
        }
    }
    items
}

/// A file's code without its trailing test module (`#[cfg(test)] mod tests { ... }`).
pub(super) fn without_tests(code: &str) -> &str {
    match code.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &code[..i],
        None => code,
    }
}

/// What the scan found: the imports, each file's module, and each file's code (comments and
/// strings blanked).
pub(super) struct Scan {
    pub imports: Vec<Import>,
    pub by_file: BTreeMap<String, Vec<String>>,
    pub code: BTreeMap<String, String>,
}

/// The unit a module belongs to: its top-level module, or for `commands` and `ops` the
/// submodule (`ops::converge`), the folder's own `mod.rs` being the bare top.
pub(super) fn unit(module: &[String]) -> String {
    match module {
        [] => "crate".into(),
        [top, sub, ..] if top == "commands" || top == "ops" => format!("{top}::{sub}"),
        [top, ..] => top.clone(),
    }
}

pub(super) fn scan() -> Scan {
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
    let code: BTreeMap<PathBuf, String> = module_by_file
        .keys()
        .map(|f| {
            let text =
                std::fs::read_to_string(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            (f.clone(), code_only(&text))
        })
        .collect();
    // A module's `pub use child::*`: the names it re-exports from its child module.
    let items: BTreeMap<&Vec<String>, BTreeSet<String>> = module_by_file
        .iter()
        .map(|(f, m)| (m, pub_items(without_tests(&code[f]))))
        .collect();
    let mut globs: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
    for (f, m) in &module_by_file {
        for line in code[f].lines() {
            let Some(child) = line
                .trim()
                .strip_prefix("pub use ")
                .and_then(|l| l.strip_suffix("::*;"))
            else {
                continue;
            };
            let mut c = m.clone();
            c.push(child.to_string());
            if modules.contains(&c) {
                globs.entry(m.clone()).or_default().push(c);
            }
        }
    }
    let mut imports = Vec::new();
    for (f, m) in &module_by_file {
        let shown = f.strip_prefix(root).unwrap_or(f).display().to_string();
        for (line, written) in paths_in(&code[f]) {
            // `use super::*` is a test module's glob of its own file.
            if written == "super::*" || written == "super" {
                continue;
            }
            if let Some((mut target, item)) = resolve_item(m, &written, &modules) {
                let from_glob = item.and_then(|item| {
                    globs
                        .get(&target)?
                        .iter()
                        .find(|c| items.get(c).is_some_and(|i| i.contains(&item)))
                });
                if let Some(child) = from_glob {
                    target = child.clone();
                }
                imports.push(Import {
                    file: shown.clone(),
                    line,
                    written,
                    target,
                });
            }
        }
    }
    let shown = |f: &Path| f.strip_prefix(root).unwrap_or(f).display().to_string();
    Scan {
        imports,
        by_file: module_by_file
            .iter()
            .map(|(f, m)| (shown(f), m.clone()))
            .collect(),
        code: code.iter().map(|(f, c)| (shown(f), c.clone())).collect(),
    }
}
