//! The kernels crate's modules form one order (docs/kernels.md): each uses only modules before
//! it. Above all, the kernel table (`table.rs`) sits above every driver and micro-kernel it
//! names, and only the entry points (`api.rs`) read it — so a new kernel is a file and a table
//! entry, and nothing below the table can reach back up into it. The reader and the check are
//! the library's `tests/support/module_order.rs`.

#[path = "../../tests/support/module_order.rs"]
mod support;

use std::path::Path;

/// The order, first to last. Modules on one line may use each other, but not in a cycle.
const LAYERS: &[&[&str]] = &[
    // What the CPU has: instruction-set levels and their detection.
    &["dispatch"],
    // Leaves: thread pinning, scalar and vector exp/erf, the pass's worker team.
    &["affinity", "math", "team"],
    // Row operations (LayerNorm, GELU, softmax) per level.
    &["ops"],
    // Packing, blocking, micro-kernels and the GEMM drivers.
    &["gemm"],
    // Attention on the GEMM micro-kernels and the row operations.
    &["attention"],
    // Which kernels each level and path runs, and their block sizes.
    &["table"],
    // The entry points.
    &["api"],
    // The peak-rate bursts, picked by the level and paths the table gives the kernels.
    &["peak"],
];

#[test]
fn modules_use_only_modules_before_them() {
    let problems = support::problems(&support::Order {
        src: Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        layers: LAYERS,
        folders: &[],
        skip: &[],
        written_in: "kernels/tests/module_order.rs",
    });
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
