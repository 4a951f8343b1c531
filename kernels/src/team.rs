//! The workers of one forward pass as a team: every parallel loop of the kernels
//! ([`for_each`]) on threads that stay with the pass from its first loop to its last, instead
//! of one rayon fork-join per loop.
//!
//! A BERT pass is ~170 parallel loops (GEMM blocks, attention heads, LayerNorm rows) with
//! little between them. Under plain rayon each loop is a fork-join, and between two loops the
//! worker that finished first has nothing to steal: it yields a few dozen times, then sleeps on
//! a futex, and the next loop must wake it — about 350 sleeps and wake-ups per 128-token
//! BERT-large pass (`perf stat -e context-switches`, docs/performance.md). A wake-up is cheap on
//! bare metal but not on a VM, where a sleeping vCPU halts and waking it goes through the
//! hypervisor: the time a pass loses that way is the host's, not ours, which makes the pass's
//! time vary with the host's load.
//!
//! [`run`] instead takes the pool's other workers for the length of one pass (rayon jobs that
//! idle workers steal, so a pool busy elsewhere just lends fewer). Each loop is published to them as a
//! *section*; every member, the caller included, takes items from it by an atomic counter
//! (dynamic, so a member slowed by another process takes fewer), and the caller waits for the
//! items' completion. Between sections a helper **spins** (`spin_loop`, i.e. `pause`) for at
//! most [`spin_limit`] — 1 ms unless `BERTQA_SPIN_US` says otherwise — and then parks on a
//! condition variable, to be notified by the next section. So inside a pass the helpers stay
//! awake across the short gaps between loops; when the pass ends they leave at once, and a
//! service's idle CPUs stay idle. What the bounded spin costs: CPU time of the helpers while
//! the caller runs the serial parts of a pass (embeddings, the QA head) or finishes the last
//! item of a loop — at most `spin_limit` per gap per helper, never outside a pass.
//!
//! Results do not depend on which member runs an item (the kernels' contract), so they are
//! the same as under rayon, bit for bit. Outside [`run`] — a pass that overlaps another
//! (`src/model/passes.rs`), or a kernel called directly — [`for_each`] is a rayon parallel
//! loop as before. Inside an item, a nested [`for_each`] runs serially.

use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Sections published by every team since the process started (for `bertqa bench`).
static SECTIONS: AtomicU64 = AtomicU64::new(0);
/// Times a helper gave up spinning and parked.
static PARKS: AtomicU64 = AtomicU64::new(0);

/// (sections published, helper parks) since the process started: a pass whose helpers park
/// far less often than it publishes sections kept its team awake.
pub fn stats() -> (u64, u64) {
    (
        SECTIONS.load(Ordering::Relaxed),
        PARKS.load(Ordering::Relaxed),
    )
}

/// How long a helper spins for the next section before it parks: `BERTQA_SPIN_US`
/// microseconds if set (read once; 0 parks at once, as plain rayon workers soon do), else 1 ms.
pub fn spin_limit() -> Duration {
    static LIMIT: OnceLock<Duration> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let us = std::env::var("BERTQA_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1000);
        Duration::from_micros(us)
    })
}

thread_local! {
    /// The team this thread leads, while its pass runs.
    static TEAM: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
    /// Whether this thread is running an item of a section (nested loops run serially).
    static IN_ITEM: Cell<bool> = const { Cell::new(false) };
}

/// Most members a team has (a larger pool lends this many workers to a pass).
const MAX_MEMBERS: usize = 64;

/// One parallel loop: `f(i)` for `i < n`, on the stack of the member that publishes it.
///
/// The items are cut into one contiguous block per member; member t runs block t in order
/// (so the next item a member runs is the one after it, which the GEMM driver prefetches
/// into L2 — handing out items in turn, 0 to one member and 1 to the next, was 2–7 % slower),
/// then takes items from the ends of the blocks that have some left (a member that joined
/// late or runs slower gives up the end of its block).
struct Section<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    /// Per block, the next item from the front (low 32 bits) and one past the last item
    /// left (high 32 bits).
    blocks: [AtomicU64; MAX_MEMBERS],
    count: usize,
    finished: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<'a> Section<'a> {
    /// `n` items (< 2³²) in `members` (1..=MAX_MEMBERS) blocks.
    fn new(f: &'a (dyn Fn(usize) + Sync), n: usize, members: usize) -> Self {
        let count = members.clamp(1, MAX_MEMBERS).min(n.max(1));
        let blocks = std::array::from_fn(|b| {
            let (start, end) = if b < count {
                (b * n / count, (b + 1) * n / count)
            } else {
                (0, 0)
            };
            AtomicU64::new(start as u64 | (end as u64) << 32)
        });
        Section {
            f,
            blocks,
            count,
            finished: AtomicUsize::new(0),
            panic: Mutex::new(None),
        }
    }

    /// An item of block `b`: its next one from the front, or its last one.
    fn take(&self, b: usize, front: bool) -> Option<usize> {
        let block = &self.blocks[b];
        let mut cur = block.load(Ordering::Relaxed);
        loop {
            let (lo, hi) = (cur & 0xffff_ffff, cur >> 32);
            if lo >= hi {
                return None;
            }
            let (next, item) = if front {
                (cur + 1, lo)
            } else {
                (lo | (hi - 1) << 32, hi - 1)
            };
            match block.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(item as usize),
                Err(now) => cur = now,
            }
        }
    }

    /// Member `member` runs its block, then items left at the ends of the others, until
    /// none is left.
    fn work(&self, member: usize) {
        let was = IN_ITEM.with(|c| c.replace(true));
        let own = member % self.count;
        let run = |i: usize| {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| (self.f)(i))) {
                let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert(p);
            }
            self.finished.fetch_add(1, Ordering::Release);
        };
        while let Some(i) = self.take(own, true) {
            run(i);
        }
        let mut dry = 0;
        let mut b = own;
        while dry < self.count {
            b = (b + 1) % self.count;
            match self.take(b, false) {
                Some(i) => {
                    run(i);
                    dry = 0;
                }
                None => dry += 1,
            }
        }
        IN_ITEM.with(|c| c.set(was));
    }
}

/// What a team's members share: the current section and the means to wait for the next.
struct Shared {
    /// The section being run (null between sections), on its publisher's stack.
    section: AtomicPtr<Section<'static>>,
    /// Bumped by every section published; helpers wait for it to change.
    generation: AtomicUsize,
    /// Helpers between reading `section` and leaving it.
    busy: AtomicUsize,
    /// The pass is over.
    done: AtomicBool,
    /// Helpers parked on `wake`.
    sleepers: AtomicUsize,
    /// Members: the caller and the helpers that have joined (each helper's number is the
    /// count when it joined).
    members: AtomicUsize,
    /// The members the team may have (the pool's threads).
    size: usize,
    lock: Mutex<()>,
    wake: Condvar,
}

/// Spins (`pause`) until `ready()`, for at most [`spin_limit`]; whether it got ready.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let (start, limit) = (Instant::now(), spin_limit());
    let mut spins = 0u32;
    while !ready() {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) && start.elapsed() >= limit {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

/// Waits, spinning then yielding, until `ready()`.
fn wait_until(ready: impl Fn() -> bool) {
    if !spin_until(&ready) {
        while !ready() {
            std::thread::yield_now();
        }
    }
}

impl Shared {
    fn new(size: usize) -> Self {
        Shared {
            members: AtomicUsize::new(1),
            size,
            section: AtomicPtr::new(std::ptr::null_mut()),
            generation: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// A helper: runs the items of each section published until the pass is over.
    fn help(&self) {
        if !TEAM.with(Cell::get).is_null() {
            // A team's caller that picked up a helper job of its own pool: it is busy already.
            return;
        }
        let member = self.members.fetch_add(1, Ordering::Relaxed);
        let mut seen = 0;
        while let Some(g) = self.next_section(seen) {
            seen = g;
            self.busy.fetch_add(1, Ordering::SeqCst);
            let p = self.section.load(Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: `section` is non-null only while its publisher's `for_each` runs,
                // and that call clears it and then waits for `busy` to be 0 before its
                // section goes out of scope; this helper counted itself in `busy` before
                // reading the pointer (SeqCst: the publisher's wait sees the count).
                unsafe { (*p).work(member) };
            }
            self.busy.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits for a generation other than `seen`: spins for [`spin_limit`], then parks. `None`
    /// once the pass is over.
    fn next_section(&self, seen: usize) -> Option<usize> {
        let changed =
            || self.done.load(Ordering::Acquire) || self.generation.load(Ordering::Acquire) != seen;
        if spin_until(changed) {
            return (!self.done.load(Ordering::Acquire))
                .then(|| self.generation.load(Ordering::Acquire));
        }
        PARKS.fetch_add(1, Ordering::Relaxed);
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if self.done.load(Ordering::SeqCst) {
                break None;
            }
            let g = self.generation.load(Ordering::SeqCst);
            if g != seen {
                break Some(g);
            }
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Notifies parked helpers, if any (after `generation` or `done` changed, SeqCst: a
    /// helper counts itself in `sleepers` before it checks them, under the lock).
    fn notify(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }

    /// Runs `f(i)` for `i < n` with the helpers, the caller taking items too; returns when
    /// every item has run (re-raising the first panic of an item).
    fn run_section(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        let section = Section::new(f, n, self.size);
        SECTIONS.fetch_add(1, Ordering::Relaxed);
        let p = &section as *const Section<'_> as *mut Section<'static>;
        self.section.store(p, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.notify();
        section.work(0);
        wait_until(|| section.finished.load(Ordering::Acquire) == n);
        self.section.store(std::ptr::null_mut(), Ordering::SeqCst);
        // No helper may still hold the pointer once this returns (see `help`).
        wait_until(|| self.busy.load(Ordering::SeqCst) == 0);
        if let Some(p) = section
            .panic
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
        {
            resume_unwind(p);
        }
    }
}

/// Whether passes run as teams: yes, unless `BERTQA_TEAM=off` (read once; then every loop is
/// a rayon fork-join, as before the team — to compare the two).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        !matches!(
            std::env::var("BERTQA_TEAM").as_deref().map(str::trim),
            Ok("off" | "0")
        )
    })
}

/// Runs `pass` with the current rayon pool's other workers as its team (see the
/// [module docs](self)): every [`for_each`] that `pass` calls on this thread is shared with
/// them. As a plain call on a pool of one thread, inside another team's pass or inside an
/// item, or with the team off ([`enabled`]).
pub fn run<R: Send>(pass: impl FnOnce() -> R + Send) -> R {
    let threads = rayon::current_num_threads();
    if threads <= 1 || IN_ITEM.with(Cell::get) || !TEAM.with(Cell::get).is_null() || !enabled() {
        return pass();
    }
    let shared = Shared::new(threads);
    // The helpers are the second halves of rayon joins (stack jobs: a pass allocates nothing),
    // which idle workers steal; one no worker takes runs on this thread after the pass, and
    // leaves at once.
    let (result, ()) = rayon::join(
        || {
            let previous = TEAM.with(|t| t.replace(&shared));
            let result = catch_unwind(AssertUnwindSafe(pass));
            TEAM.with(|t| t.set(previous));
            shared.done.store(true, Ordering::SeqCst);
            shared.notify();
            result
        },
        || helpers(&shared, threads - 1),
    );
    result.unwrap_or_else(|p| resume_unwind(p))
}

/// `count` helpers of `shared`'s team, as a chain of rayon joins.
fn helpers(shared: &Shared, count: usize) {
    match count {
        0 => {}
        1 => shared.help(),
        _ => {
            rayon::join(|| shared.help(), || helpers(shared, count - 1));
        }
    }
}

/// Whether this thread leads a team now (inside [`run`]'s pass, outside its items).
pub fn leading() -> bool {
    !TEAM.with(Cell::get).is_null() && !IN_ITEM.with(Cell::get)
}

/// `f(i)` for every `i < n`, in parallel: on the team of the pass this thread leads ([`run`]),
/// else as a rayon parallel loop; serially inside an item, or when `n` ≤ 1. Each index is
/// given to exactly one call.
pub fn for_each(n: usize, f: impl Fn(usize) + Sync) {
    if n <= 1 || IN_ITEM.with(Cell::get) {
        (0..n).for_each(f);
        return;
    }
    let team = TEAM.with(Cell::get);
    if !team.is_null() && n <= u32::MAX as usize {
        // SAFETY: TEAM is set only while `run` keeps its `Shared` alive, on this thread.
        unsafe { (*team).run_section(n, &f) };
    } else if rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let f = &f;
        (0..n).into_par_iter().for_each(f);
    } else {
        (0..n).for_each(f);
    }
}

/// A slice cut into chunks of `size` elements (the last may be shorter), handed out by index
/// to the items of one [`for_each`], each chunk to exactly one item.
pub(crate) struct Chunks<'a, T> {
    ptr: *mut T,
    len: usize,
    size: usize,
    _data: PhantomData<&'a mut [T]>,
}

// SAFETY: a `Chunks` hands out disjoint `&mut [T]` (the caller of `get` guarantees it), which
// may be sent to and used on other threads when T is Send.
unsafe impl<T: Send> Sync for Chunks<'_, T> {}

impl<'a, T> Chunks<'a, T> {
    /// `data` in chunks of `size` (≥ 1) elements.
    pub(crate) fn new(data: &'a mut [T], size: usize) -> Self {
        assert!(size > 0, "Chunks: size 0");
        Chunks {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            size,
            _data: PhantomData,
        }
    }

    /// Number of chunks.
    pub(crate) fn count(&self) -> usize {
        self.len.div_ceil(self.size)
    }

    /// Chunk `i` (< [`Chunks::count`]).
    ///
    /// # Safety
    /// No other reference to chunk `i` may be live: each index is taken once (as
    /// [`for_each`] gives each index to one call).
    pub(crate) unsafe fn get(&self, i: usize) -> &'a mut [T] {
        assert!(i < self.count(), "Chunks::get: index {i} out of range");
        let start = i * self.size;
        let len = self.size.min(self.len - start);
        // SAFETY: start + len ≤ self.len, inside the borrowed slice; no other reference to
        // these elements is live (the caller's contract), and the borrow lasts 'a.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// `f(i, chunk)` for the chunks of `size` elements of `data` (the last may be shorter), in
/// parallel as [`for_each`].
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    size: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunks = Chunks::new(data, size);
    for_each(chunks.count(), |i| {
        // SAFETY: for_each gives each index to one call.
        f(i, unsafe { chunks.get(i) })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Every index runs exactly once, sections in order, nested loops serially; a pass of 1
    /// thread runs plainly.
    #[test]
    fn each_index_once_in_every_section() {
        for threads in [1, 2, 3] {
            pool(threads).install(|| {
                let total = run(|| {
                    assert_eq!(leading(), threads > 1);
                    let mut total = 0;
                    for n in [0, 1, 2, 7, 100, 1000] {
                        let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                        for_each(n, |i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                            if n > 1 {
                                // An item (a single one runs as a plain call): nested loops
                                // run serially, on this thread.
                                assert!(!leading());
                                let here = std::thread::current().id();
                                for_each(3, |_| assert_eq!(std::thread::current().id(), here));
                            }
                        });
                        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                        total += n;
                    }
                    total
                });
                assert_eq!(total, 1110);
                assert!(!leading());
            });
        }
    }

    #[test]
    fn chunks_cover_the_slice() {
        pool(3).install(|| {
            run(|| {
                let mut v = vec![0usize; 1001];
                for_each_chunk_mut(&mut v, 100, |i, c| {
                    assert!(c.len() == 100 || (i == 10 && c.len() == 1));
                    c.iter_mut().for_each(|x| *x += i + 1);
                });
                assert!(v.iter().enumerate().all(|(j, &x)| x == j / 100 + 1));
            })
        });
    }

    /// A panic in an item reaches the caller after every other item has run; the team is
    /// usable again afterwards.
    #[test]
    fn an_item_panic_is_raised_by_the_caller() {
        pool(2).install(|| {
            let ran = AtomicUsize::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| {
                run(|| {
                    for_each(64, |i| {
                        ran.fetch_add(1, Ordering::Relaxed);
                        assert!(i != 17, "item 17");
                    })
                })
            }));
            assert!(r.is_err());
            assert_eq!(ran.load(Ordering::Relaxed), 64);
            let sum = AtomicUsize::new(0);
            run(|| {
                for_each(10, |i| {
                    sum.fetch_add(i, Ordering::Relaxed);
                })
            });
            assert_eq!(sum.load(Ordering::Relaxed), 45);
        });
    }

    /// Helpers park after the spin limit and the next section wakes them (no lost wake-up):
    /// a pass whose caller pauses longer than the limit between sections still finishes.
    #[test]
    fn parked_helpers_wake_for_the_next_section() {
        pool(2).install(|| {
            let (_, parks0) = stats();
            run(|| {
                for _ in 0..3 {
                    let n = AtomicUsize::new(0);
                    for_each(8, |_| {
                        n.fetch_add(1, Ordering::Relaxed);
                    });
                    assert_eq!(n.load(Ordering::Relaxed), 8);
                    std::thread::sleep(spin_limit() * 3 + Duration::from_millis(2));
                }
            });
            assert!(stats().1 > parks0, "no helper parked");
        });
    }

    /// Two teams at once on one pool (passes that overlap): both finish, each index once.
    #[test]
    fn concurrent_teams_share_a_pool() {
        let p = pool(2);
        let count = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    p.install(|| {
                        run(|| {
                            for _ in 0..20 {
                                for_each(16, |_| {
                                    count.fetch_add(1, Ordering::Relaxed);
                                });
                            }
                        })
                    })
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 3 * 20 * 16);
    }
}
