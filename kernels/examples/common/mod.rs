//! Helpers shared by the kernel examples (`gemm_table`, `lowp_table`).

#![allow(dead_code)]

/// Deterministic pseudo-random values in [−0.5, 0.5) (xorshift).
pub fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// Seconds of CPU time consumed by this thread (not counting time the OS gave to other
/// processes — this box is shared with compilers).
pub fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Pins the calling thread to CPU `cpu` (`--pin`: some VMs' schedulers pack all runnable
/// threads of a process onto one vCPU, which hides any parallel speed-up).
pub fn pin_to_cpu(cpu: usize) {
    bertqa_kernels::affinity::pin_current_thread(cpu);
}
