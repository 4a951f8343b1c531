//! The module-order check shared by the library's `tests/module_order.rs` and the kernels'
//! `kernels/tests/module_order.rs` (each includes this file with `#[path]`): a crate's modules
//! form one order of layers, each using only modules before it (docs/architecture.md). It reads
//! every source file (test modules and comments left out), collects the `crate::…` paths each
//! module names, and reports a use of a later module — which is what a cycle needs — naming the
//! file and the path, and any cycle within a layer.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with the top-level module it belongs to: `dir/x.rs` and
/// `dir/x/**.rs` are module `x`. Crate roots (`lib.rs`, `main.rs`) and the directories in
/// `skip` are left out.
pub fn files(dir: &Path, skip: &[&str]) -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, module: &str, out: &mut Vec<(String, PathBuf)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((module.to_string(), path));
            }
        }
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !skip.contains(&stem.as_str()) {
                walk(&path, &stem, &mut out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main" {
            out.push((stem, path));
        }
    }
    out.sort();
    out
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

/// Top-level module names that `code` reaches through `crate::x` or `crate::{x, y::…}`.
pub fn uses(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        item_start = false;
                        out.insert(ident(&group[j..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// What is wrong with `files` against `layers` (first to last; modules on one line may use
/// each other, but not in a cycle): one line per problem, empty when the order holds. `table`
/// names the list in messages.
pub fn problems(files: &[(String, PathBuf)], layers: &[&[&str]], table: &str) -> Vec<String> {
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, layer)| layer.iter().map(move |m| (*m, i)))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (module, path) in files {
        let Some(&from) = rank.get(module.as_str()) else {
            problems.push(format!(
                "{}: module `{module}` is not in {table}: give it its place",
                path.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap();
        for used in uses(&code(&text)) {
            if used == *module {
                continue;
            }
            // crate::Result, crate::Error, ...: the root's re-exports, not modules.
            let Some(&to) = rank.get(used.as_str()) else {
                continue;
            };
            if to > from {
                problems.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which comes after it",
                    path.display()
                ));
            }
            graph
                .entry(module.clone())
                .or_default()
                .insert(used.clone());
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

/// The reader itself: it sees grouped and plain paths, and skips comments and test modules.
pub fn the_reader_finds_uses() {
    let src = "use crate::a::X;\nuse crate::{b, c::{D, E}};\n// crate::f in a comment\nfn g() { crate::h::i(); }\n#[cfg(test)]\nmod tests { use crate::z; fn f() { if x { } } }\nuse crate::after;";
    let found: Vec<_> = uses(&code(src)).into_iter().collect();
    assert_eq!(found, ["a", "after", "b", "c", "h"]);
}
