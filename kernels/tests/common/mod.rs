//! What the kernel test binaries share.
#![allow(dead_code)]

/// A small xorshift generator: test data that is the same on every run.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// erf by its series / continued fraction, to ~1e-12 (for the GELU oracle).
pub fn erf(x: f64) -> f64 {
    // Abramowitz–Stegun 7.1.26 is too coarse; use the Taylor series for |x| < 3, else 1.
    if x.abs() >= 6.0 {
        return x.signum();
    }
    let mut term = x;
    let mut sum = x;
    let x2 = x * x;
    for n in 1..200 {
        term *= -x2 / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// Prints, once per test binary and past the harness's capture, every ISA level and bf16/int8
/// path this CPU lacks (`SKIPPED avx512bf16: CPU lacks it`): the kernels this run did not test.
/// `BERTQA_REQUIRE_ISA` turns a skipped level into a failure (`gemm.rs`,
/// `required_levels_are_supported`).
pub fn report_skipped() {
    use bertqa_kernels::{Bf16Path, I8Path, Isa};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let exe = std::env::args().next().unwrap_or_default();
        let exe = std::path::Path::new(&exe)
            .file_name()
            .map_or(exe.clone(), |f| f.to_string_lossy().into_owned());
        let lacking = Isa::unsupported_here();
        let mut lines: Vec<String> = lacking
            .iter()
            .map(|i| format!("{i}: CPU lacks it"))
            .collect();
        for p in Bf16Path::ALL
            .into_iter()
            .filter(|p| lacking.contains(&p.isa()))
        {
            let (name, isa) = (p.kernel_name(), p.isa());
            lines.push(format!("bf16 path {p:?} ({name}): CPU lacks {isa}"));
        }
        for p in I8Path::ALL.into_iter().filter(|p| !p.is_supported()) {
            let (name, isa) = (p.kernel_name(), p.isa());
            if lacking.contains(&isa) {
                lines.push(format!("int8 path {p:?} ({name}): CPU lacks {isa}"));
            } else if p == I8Path::Amx && cfg!(target_arch = "x86_64") {
                // A path beyond its level's instructions: the tiles, and the OS's grant.
                lines.push(format!(
                    "int8 path {p:?} ({name}): CPU or OS lacks AMX-INT8"
                ));
            }
        }
        if lines.is_empty() {
            let arch = std::env::consts::ARCH;
            say(&format!(
                "[{exe}] SKIPPED nothing: this CPU has every {arch} level"
            ));
        }
        for l in lines {
            say(&format!("[{exe}] SKIPPED {l}"));
        }
    });
}

/// Writes a line straight to stderr, past the test harness's capture (CI logs show it).
pub fn say(line: &str) {
    use std::io::Write;
    // (A failed write to stderr is nothing a test can act on.)
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Seconds of CPU time of the calling thread (Linux; wall time elsewhere): unlike wall time it
/// does not count the time another process holds the core.
pub fn thread_cpu_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer for clock_gettime.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0);
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }
    #[cfg(not(target_os = "linux"))]
    {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        EPOCH
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
    }
}
