//! The library's modules form one order (docs/architecture.md): each uses only modules before
//! it. A module is a top-level module of src/ (`tokenizer`, `model`, …) or one inside a folder
//! that only groups modules (`load::config`, `tools::squad`, …). The reader and the check are
//! `tests/support/module_order.rs`, shared with the kernels crate's twin.

#[path = "support/module_order.rs"]
mod support;

use std::path::Path;
/// The order, first to last. Modules on one line may use each other, but not in a cycle (the
/// cycle search below). A module inside a folder is named by its path (`load::config`); its
/// own submodules (`tools::squad::dataset`) are part of it.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["load::config"],
    &["load::precision"],
    &["tokenizer", "load::safetensors"],
    &["load::weights"],
    &["model"],
    &["features"],
    &["answer"],
    &["qa"],
    &["tools::synthetic", "tools::squad", "load::hub"],
];

/// Folders that only group modules: their `mod.rs` declares and documents them, and uses none.
const FOLDERS: &[&str] = &["load", "tools"];

#[test]
fn modules_use_only_modules_before_them() {
    let problems = support::problems(&support::Order {
        src: Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        layers: LAYERS,
        folders: FOLDERS,
        // cli/ is the binary's (main.rs), not the library's.
        skip: &["bin", "cli"],
        written_in: "tests/module_order.rs",
    });
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The reader itself: it sees grouped, nested and plain paths and `super::`, and skips comments
/// and test modules.
#[test]
fn the_reader_finds_uses() {
    support::the_reader_finds_uses();
}
