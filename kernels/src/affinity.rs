//! Thread placement: a rayon pool whose worker i runs only on the i-th CPU this process may use.
//!
//! Off by default. A VM's scheduler (the 2-vCPU VMs bertqa is measured on, docs/kernels.md) can put both
//! workers of a 2-thread pool on one vCPU while the other is busy, halving a forward pass for
//! as long as it lasts; pinning keeps one worker per core, as OpenVINO does by default. It is
//! for a process that owns its cores (a dedicated service, a benchmark); on a machine shared
//! with other work it takes away the scheduler's freedom to move a worker off a busy core, so
//! leave it off there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The CPUs this process may run on (its affinity mask), in increasing order; empty where the
/// OS does not say (then nothing is pinned).
pub fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most
        // size_of::<cpu_set_t>() bytes into it, and pid 0 is the calling thread.
        let (rc, set) = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            (rc, set)
        };
        if rc != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: CPU_ISSET only reads the set; cpu < CPU_SETSIZE.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// Restricts the calling thread to `cpu`. Returns whether the OS accepted it (false off Linux).
pub fn pin_current_thread(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        if cpu >= libc::CPU_SETSIZE as usize {
            return false;
        }
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes bit `cpu` of it
        // (checked < CPU_SETSIZE); sched_setaffinity only reads it; pid 0 is this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

/// How the pool's workers were placed, for the caller to report.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// Workers pinned successfully (counted as the workers start).
    pinned: Arc<AtomicUsize>,
    /// The CPUs the workers were given, worker i → `cpus[i % len]`.
    pub cpus: Vec<usize>,
}

impl Placement {
    /// Workers pinned so far (all of them once the pool has run a job on every worker, e.g.
    /// `rayon::broadcast`).
    pub fn pinned(&self) -> usize {
        self.pinned.load(Ordering::Relaxed)
    }
}

/// A rayon pool builder for `threads` workers (None: rayon's default, one per CPU), each
/// pinned to its own CPU of [`allowed_cpus`] when `pin` (worker i to the i-th allowed CPU;
/// more workers than CPUs share them round-robin). A worker the OS refuses to pin runs
/// unpinned; [`Placement::pinned`] counts the ones that were.
pub fn pool_builder(threads: Option<usize>, pin: bool) -> (rayon::ThreadPoolBuilder, Placement) {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n);
    }
    let placement = Placement {
        pinned: Arc::new(AtomicUsize::new(0)),
        cpus: if pin { allowed_cpus() } else { Vec::new() },
    };
    if pin && !placement.cpus.is_empty() {
        let (cpus, count) = (placement.cpus.clone(), placement.pinned.clone());
        builder = builder.start_handler(move |i| {
            if pin_current_thread(cpus[i % cpus.len()]) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    (builder, placement)
}

/// [`pool_builder`] as rayon's global pool; with `pin`, every worker has started (and been
/// pinned or refused) when it returns. Returns the placement and the pool's thread count.
///
/// # Errors
/// If the global pool was already built, or the threads cannot be spawned.
pub fn install_global(
    threads: Option<usize>,
    pin: bool,
) -> Result<(Placement, usize), rayon::ThreadPoolBuildError> {
    let (builder, placement) = pool_builder(threads, pin);
    builder.build_global()?;
    if pin {
        rayon::broadcast(|_| ());
    }
    Ok((placement, rayon::current_num_threads()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_pool_runs_each_worker_on_its_cpu() {
        let cpus = allowed_cpus();
        if cpus.is_empty() {
            eprintln!("no affinity mask on this OS: pinning not tested");
            return;
        }
        let n = cpus.len().min(4);
        let (builder, placement) = pool_builder(Some(n), true);
        let pool = builder.build().unwrap();
        // Every worker reports the affinity it runs under.
        let seen: Vec<Vec<usize>> = pool.broadcast(|_| allowed_cpus());
        assert_eq!(placement.pinned(), n, "every worker pinned");
        for (i, s) in seen.iter().enumerate() {
            assert_eq!(s, &[cpus[i % cpus.len()]], "worker {i}");
        }
        // Unpinned: the workers keep the process's whole mask.
        let (builder, placement) = pool_builder(Some(n), false);
        let pool = builder.build().unwrap();
        assert_eq!(placement.pinned(), 0);
        assert!(pool
            .broadcast(|_| allowed_cpus())
            .iter()
            .all(|s| s == &cpus));
    }
}
