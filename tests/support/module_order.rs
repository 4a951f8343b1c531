//! The module-order check that the library (`tests/module_order.rs`) and the kernels crate
//! (`kernels/tests/module_order.rs`) both run, each including this file with `#[path]` and
//! stating its own layers: a crate's modules form one order, each using only modules before
//! it (docs/architecture.md). It reads every file of `src/` (test modules and comments left
//! out), collects the paths each module names — `crate::…`, `super::…` (resolved from the
//! file's place) and the crate root's re-exports (`crate::QaModel` is `qa`'s) — and reports a
//! use of a later module (which is what a cycle needs), naming the file and the path.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path of each file under `src` (src/x.rs and src/x/mod.rs are `x`, src/x/y.rs is
/// `x::y`); the crate roots (lib.rs, main.rs) and the top-level folders in `skip` are left out.
pub fn files(src: &Path, skip: &[&str]) -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, skip: &[&str], module: &[String], out: &mut Vec<(String, PathBuf)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !(module.is_empty() && skip.contains(&stem.as_str())) {
                    let mut inner = module.to_vec();
                    inner.push(stem);
                    walk(&path, skip, &inner, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                if module.is_empty() && (stem == "lib" || stem == "main") {
                    continue;
                }
                let mut m = module.to_vec();
                if stem != "mod" {
                    m.push(stem);
                }
                out.push((m.join("::"), path));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, skip, &[], &mut out);
    out.sort();
    out
}

/// The module of LAYERS that `path` (`a::b::c`) is in: the longest entry that is `path` or a
/// prefix of it, segment by segment.
pub fn owner<'a>(path: &str, rank: &BTreeMap<&'a str, usize>) -> Option<&'a str> {
    rank.keys()
        .copied()
        .filter(|m| path == *m || path.starts_with(&format!("{m}::")))
        .max_by_key(|m| m.len())
}

/// The source without `//` comments (doc links name modules without using them) and without
/// `#[cfg(test)] mod … { … }` blocks (tests may use anything).
pub fn code(text: &str) -> String {
    let mut s: String = text
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    while let Some(at) = s.find("#[cfg(test)]") {
        let rest = s[at + "#[cfg(test)]".len()..].trim_start();
        let rest = rest
            .strip_prefix("pub(crate) ")
            .or_else(|| rest.strip_prefix("pub "))
            .unwrap_or(rest);
        if !rest.starts_with("mod ") {
            // A test-only item that is not a module: drop the attribute only.
            s.replace_range(at..at + "#[cfg(test)]".len(), "");
            continue;
        }
        let open = at + s[at..].find('{').expect("a test module has a body");
        let mut depth = 0;
        let mut end = s.len();
        for (i, c) in s[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        s.replace_range(at..end, "");
    }
    s
}

/// The paths that `code` names through `crate::…` and `super::…`, written from the crate root
/// (`a::b::C`), groups expanded (`crate::{a, b::{C, D}}` is `a`, `b::C`, `b::D`); `module` is
/// the path of the file's module (`super` is its parent), `self` segments and globs are dropped.
pub fn uses(code: &str, module: &str) -> BTreeSet<String> {
    fn ident(s: &str) -> &str {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        &s[..end]
    }
    /// Reads one use tree at the start of `s` under `prefix`; returns the bytes it read.
    fn tree(s: &str, prefix: &[String], out: &mut BTreeSet<String>) -> usize {
        let mut path = prefix.to_vec();
        let mut at = 0;
        loop {
            let rest = &s[at..];
            let skipped = rest.len() - rest.trim_start().len();
            at += skipped;
            let rest = &s[at..];
            if let Some(group) = rest.strip_prefix('{') {
                at += 1;
                let mut inner = group;
                loop {
                    let read = tree(inner, &path, out);
                    let after = inner[read..].trim_start();
                    at += read + (inner[read..].len() - after.len());
                    if let Some(next) = after.strip_prefix(',') {
                        at += 1;
                        inner = next;
                        if inner.trim_start().starts_with('}') {
                            let after = inner.trim_start();
                            at += inner.len() - after.len() + 1;
                            return at;
                        }
                    } else {
                        if after.starts_with('}') {
                            at += 1;
                        }
                        return at;
                    }
                }
            }
            if rest.starts_with('*') {
                at += 1;
                break;
            }
            let name = ident(rest);
            if name.is_empty() {
                break;
            }
            at += name.len();
            if name != "self" {
                path.push(name.to_string());
            }
            if s[at..].starts_with("::") {
                at += 2;
            } else {
                break;
            }
        }
        if !path.is_empty() {
            out.insert(path.join("::"));
        }
        at
    }
    let module: Vec<String> = module.split("::").map(String::from).collect();
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let starts = i == 0 || {
            let b = bytes[i - 1];
            !(b.is_ascii_alphanumeric() || b == b'_' || b == b':' || b == b'$')
        };
        if starts && rest.starts_with("crate::") {
            i += "crate::".len() + tree(&rest["crate::".len()..], &[], &mut out);
        } else if starts && rest.starts_with("super::") {
            let mut prefix = module.clone();
            let mut rest = rest;
            while let Some(r) = rest.strip_prefix("super::") {
                prefix.pop();
                rest = r;
                i += "super::".len();
            }
            i += tree(rest, &prefix, &mut out);
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// The crate root's re-exports of local items (`QaModel` → `qa::QaModel`), read from
/// `src/lib.rs`.
pub fn root_reexports(src: &Path) -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut out = BTreeMap::new();
    for item in code(&lib).split(';') {
        let Some(tree) = item.trim().strip_prefix("pub use ") else {
            continue;
        };
        // `pub use a::b::{X, Y}` names what `crate::a::b::{X, Y}` names.
        for path in uses(&format!("crate::{tree}"), "") {
            let name = path.rsplit("::").next().unwrap().to_string();
            out.insert(name, path);
        }
    }
    out
}

/// A crate's module order, as its test states it.
pub struct Order<'a> {
    /// The crate's `src/`.
    pub src: PathBuf,
    /// First to last. Modules on one line may use each other, but not in a cycle. A module
    /// inside a folder is named by its path (`load::config`); its own submodules
    /// (`tools::squad::dataset`) are part of it.
    pub layers: &'a [&'a [&'a str]],
    /// Folders that only group modules: their `mod.rs` declares and documents them, and uses
    /// none.
    pub folders: &'a [&'a str],
    /// Top-level folders of `src` that are not the library's (the binary's cli/).
    pub skip: &'a [&'a str],
    /// Where `layers` is written, for the messages.
    pub written_in: &'a str,
}

/// What breaks the order: one line per problem (a use of a later module, naming the file and
/// the path; a file of no module; a module of no file; a cycle within a layer).
pub fn problems(order: &Order) -> Vec<String> {
    let rank: BTreeMap<&str, usize> = order
        .layers
        .iter()
        .enumerate()
        .flat_map(|(i, layer)| layer.iter().map(move |m| (*m, i)))
        .collect();
    let reexports = root_reexports(&order.src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (file_module, path) in files(&order.src, order.skip) {
        let text = std::fs::read_to_string(&path).unwrap();
        let module = match owner(&file_module, &rank) {
            Some(m) => m,
            None if order.folders.contains(&file_module.as_str()) => "",
            None => {
                problems.push(format!(
                    "{}: module `{file_module}` is not in the layers of {}: give it its place",
                    path.display(),
                    order.written_in
                ));
                continue;
            }
        };
        seen.insert(module);
        for used in uses(&code(&text), &file_module) {
            // crate::QaModel is qa::QaModel; crate::Result, crate::Error the same way. A
            // module's own name wins over a re-export of the same name (the kernels' module
            // `attention` and their re-exported function `attention`).
            let first = used.split("::").next().unwrap();
            let used = match reexports.get(first) {
                Some(full) if owner(&used, &rank).is_none() => used.replacen(first, full, 1),
                _ => used,
            };
            let Some(to_module) = owner(&used, &rank) else {
                if order.folders.iter().any(|f| used == *f) {
                    problems.push(format!(
                        "{}: `{used}` names a folder, not a module: name the module in it",
                        path.display()
                    ));
                }
                // std, external crates, macros: not modules of this crate.
                continue;
            };
            if module.is_empty() {
                problems.push(format!(
                    "{}: the folder `{file_module}` only declares its modules, but uses `{used}`",
                    path.display()
                ));
                continue;
            }
            if to_module == module {
                continue;
            }
            if rank[to_module] > rank[module] {
                problems.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which comes after it",
                    path.display()
                ));
            }
            graph
                .entry(module.to_string())
                .or_default()
                .insert(to_module.to_string());
        }
    }
    // Every module of LAYERS has files (a module moved or renamed is moved here too).
    for m in rank.keys() {
        if !seen.contains(m) {
            problems.push(format!("`{m}` is in the layers but has no file under src/"));
        }
    }
    // Within a layer: no cycle.
    fn cycle(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut c = path[i..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = cycle(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = cycle(node, &graph, &mut Vec::new(), &mut done) {
            problems.push(format!("cycle: {}", c.join(" → ")));
            break;
        }
    }
    problems
}

/// The reader itself: it sees grouped, nested and plain paths and `super::`, and skips comments
/// and test modules.
pub fn the_reader_finds_uses() {
    let src = "use crate::a::X;\nuse crate::{b, c::{D, E}, load::{self, config::F}};\n// crate::f in a comment\nfn g() { crate::h::i(); }\n#[cfg(test)]\npub(crate) mod tests { use crate::z; fn f() { if x { } } }\nuse super::sibling::J;\nuse super::super::top;\nuse crate::after;\nuse crate::glob::*;";
    let found: Vec<_> = uses(&code(src), "tools::squad::dataset")
        .into_iter()
        .collect();
    assert_eq!(
        found,
        [
            "a::X",
            "after",
            "b",
            "c::D",
            "c::E",
            "glob",
            "h::i",
            "load",
            "load::config::F",
            "tools::squad::sibling::J",
            "tools::top",
        ]
    );
    let rank: BTreeMap<&str, usize> =
        [("load::config", 0), ("model", 1), ("tools::squad", 2)].into();
    assert_eq!(
        owner("load::config::BertConfig", &rank),
        Some("load::config")
    );
    assert_eq!(owner("tools::squad::dataset", &rank), Some("tools::squad"));
    assert_eq!(owner("modelx", &rank), None);
    assert_eq!(owner("load", &rank), None);
}
