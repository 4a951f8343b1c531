//! How a forward pass meets the rayon pool: the one concurrency decision of the library.
//!
//! A pass is ~170 parallel operations (the GEMMs' blocks, attention's heads, LayerNorm's rows),
//! each a rayon fork-join. Where those joins start from matters:
//!
//! - A pass **alone in the process** runs as one job on a rayon worker (`rayon::scope`), so
//!   every operation starts from a thread that takes part in it, instead of being handed to the
//!   pool one by one from the caller's thread and waited for there. Measured: a lone 128-token
//!   BERT-large request −2 %, the tiny model +50 % requests/s.
//! - A pass that **overlaps another** runs on its caller's thread and hands each operation to
//!   the pool. If every pass were one job, a worker waiting inside one pass's operation could
//!   steal and start another whole pass, and the first would wait for all of it (4 concurrent
//!   BERT-base requests: p99 0.53 s → 2.8 s; docs/serving.md).
//!
//! A pass started on a rayon worker (a caller's own `par_iter`) is already on the pool:
//! `rayon::scope` runs it in place there, so either branch is correct. The counter is
//! process-wide because the pool is (rayon's global pool, or the caller's `install`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Passes running now, in every model of the process.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Membership in a pass counter for the length of one pass, released on every exit (a panic
/// included).
struct Member<'a>(&'a AtomicUsize);

impl Drop for Member<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs one forward pass's layers by the policy above.
pub(crate) fn run_pass<R: Send>(pass: impl FnOnce() -> R + Send) -> R {
    run_counted(&IN_FLIGHT, pass)
}

fn run_counted<R: Send>(counter: &AtomicUsize, pass: impl FnOnce() -> R + Send) -> R {
    let alone = counter.fetch_add(1, Ordering::AcqRel) == 0;
    let _member = Member(counter);
    if alone {
        rayon::scope(|_| bertqa_kernels::team::run(pass))
    } else {
        pass()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alone: on a rayon worker. Overlapping: on the caller's thread. The count is released
    /// on return and on a panic.
    #[test]
    fn a_lone_pass_runs_on_the_pool_and_an_overlapping_one_in_place() {
        let c = AtomicUsize::new(0);
        let (count, on_worker, inner) = run_counted(&c, || {
            let inner = run_counted(&c, || {
                (c.load(Ordering::Acquire), rayon::current_thread_index())
            });
            (
                c.load(Ordering::Acquire),
                rayon::current_thread_index().is_some(),
                inner,
            )
        });
        assert_eq!((count, on_worker), (1, true));
        // The nested pass saw two passes and ran where it was called: on that worker.
        assert_eq!(inner.0, 2);
        assert!(inner.1.is_some());
        assert_eq!(c.load(Ordering::Acquire), 0);
        // Overlapping a pass held elsewhere: runs on this (non-pool) thread.
        c.store(1, Ordering::Release);
        let here = run_counted(&c, rayon::current_thread_index);
        assert_eq!(here, None);
        assert_eq!(c.load(Ordering::Acquire), 1);
        c.store(0, Ordering::Release);
        let r = std::panic::catch_unwind(|| run_counted(&c, || panic!("inside a pass")));
        assert!(r.is_err());
        assert_eq!(c.load(Ordering::Acquire), 0, "released on a panic");
    }
}
