//! The steady-state forward pass allocates nothing: with a warm `Workspace` and output, a counting
//! global allocator sees zero allocations across a whole forward pass (all threads).

use bertqa::model::Workspace;
use bertqa::{Bert, Precision, QaLogits, Sequence};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every operation to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_forward_allocates_nothing() {
    // One test for every precision: the counter is process-global.
    for precision in Precision::ALL {
        steady_state(precision);
    }
}

fn steady_state(precision: Precision) {
    let model = Bert::synthetic_as("tiny", 0, precision).unwrap();
    let seq = |n: usize, t: u32| Sequence {
        input_ids: (0..n as u32).map(|i| 1000 + i * 7 + t).collect(),
        attention_mask: vec![1; n],
        token_type_ids: (0..n).map(|i| u32::from(i > n / 3)).collect(),
    };
    let big = vec![seq(384, 0), seq(150, 1), seq(200, 2)];
    let small = vec![seq(100, 3), seq(17, 4)];
    let mut ws = Workspace::new();
    let mut out = QaLogits::default();
    model.forward_into(&big, &mut ws, &mut out).unwrap(); // sizes every buffer
    let want = model.forward(&small).unwrap();

    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    model.forward_into(&big, &mut ws, &mut out).unwrap();
    model.forward_into(&small, &mut ws, &mut out).unwrap();
    COUNTING.store(false, Ordering::SeqCst);
    let n = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(
        n, 0,
        "{precision}: steady-state forward passes allocated {n} times"
    );
    // Reused buffers give the same logits as fresh ones.
    assert_eq!(out.start_logits[..2], want.start_logits[..]);
}
