//! Cache blocking: how k is cut into KC blocks, and NC (and the per-thread split), derived from
//! the caches.
//!
//! The micro-kernel streams a packed A micro-panel (MR×kc, broadcast operand) and a packed B
//! micro-panel (kc×NR, vector operand) and keeps the MR×NR C tile in registers. The loops around it
//! (see [`super`]) run `jc → pc → ir → jr`, so:
//!
//! * **KC** (loop 2, split of k): one A micro-panel, MR·kc·4 bytes, must stay in L1 while it is
//!   reused against every B micro-panel of the NC block: 12·384·4 = 18 KiB of a 32–48 KiB L1d.
//!   Larger kc amortises the C-tile load/store (once per kc block) better. KC is a *constant*
//!   per kernel, given with its registration in the kernel table (`table.rs`: `KC`, `KC_BF16`,
//!   `KC_I8`), not derived at run time, because the summation order depends on it: with a fixed
//!   KC results are bit-identical across machines with the same ISA, not only across thread
//!   counts. k is split into ⌈k/KC⌉ nearly equal blocks (k = 1024 → 342 + 342 + 340) so no
//!   block is tiny.
//! * **NC** (loop 1, split of n): the kc×nc block of packed B is re-read from L2 once per A
//!   micro-panel, so it is sized to half of L2: nc = L2/2 / (KC·4), rounded down to a multiple of
//!   the 32-wide panel (2 MiB L2 → 672, 1 MiB → 320). With several threads it is shrunk so that
//!   there are about 4 work items per thread (for work stealing to balance uneven cores); this
//!   never changes results (tiles are MR×NR-aligned whatever the split).
//! * **MC**: A is read in place (or packed whole once per call), so there is no mc block for
//!   caching; m is split only to give every thread work when n has too few blocks.

use std::sync::OnceLock;

/// Splits `0..k` into ⌈k/kc_max⌉ nearly equal blocks, as (start, len), for a kernel whose k
/// comes in groups of `group` (bf16 pairs: 2, int8 quads: 4) and whose deepest block is
/// `kc_max` (a multiple of `group`; the kernel table's `KC`, `KC_BF16`, `KC_I8`): each block
/// starts at a multiple of `group`. `k = 0` gives one empty block (so the epilogue still runs
/// on a C of zeros).
pub fn k_blocks(
    k: usize,
    kc_max: usize,
    group: usize,
) -> impl ExactSizeIterator<Item = (usize, usize)> + Clone {
    let units = k.div_ceil(group);
    let nb = units.div_ceil(kc_max / group).max(1);
    let kc = units.div_ceil(nb) * group;
    (0..nb).map(move |b| {
        let p0 = (b * kc).min(k);
        (p0, kc.min(k - p0))
    })
}

/// Data-cache sizes in bytes, read once from the OS (Linux sysfs), with defaults elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// L1 data cache per core.
    pub l1d: usize,
    /// L2 per core.
    pub l2: usize,
    /// Last-level cache.
    pub l3: usize,
}

impl CacheSizes {
    /// Used when the OS does not say: a typical current x86 core (Zen 4).
    pub const DEFAULT: CacheSizes = CacheSizes {
        l1d: 32 << 10,
        l2: 1 << 20,
        l3: 32 << 20,
    };

    /// The caches of CPU 0, detected once.
    pub fn get() -> CacheSizes {
        static CACHE: OnceLock<CacheSizes> = OnceLock::new();
        *CACHE.get_or_init(detect)
    }
}

fn detect() -> CacheSizes {
    let mut cs = CacheSizes::DEFAULT;
    for idx in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{idx}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let size = size.trim();
        let bytes = if let Some(kb) = size.strip_suffix('K') {
            kb.parse::<usize>().ok().map(|v| v << 10)
        } else if let Some(mb) = size.strip_suffix('M') {
            mb.parse::<usize>().ok().map(|v| v << 20)
        } else {
            size.parse::<usize>().ok()
        };
        let Some(bytes) = bytes.filter(|&b| b > 0) else {
            continue;
        };
        match (level.trim(), kind.trim()) {
            ("1", "Data") => cs.l1d = bytes,
            ("2", "Unified") | ("2", "Data") => cs.l2 = bytes,
            ("3", "Unified") => cs.l3 = bytes,
            _ => {}
        }
    }
    cs
}

/// NC for loop 1, in columns (a multiple of `panel`), before the split across threads, for a
/// kernel whose deepest k block of one B column takes `kc_bytes`.
pub fn nc_cache(panel: usize, kc_bytes: usize) -> usize {
    let l2 = CacheSizes::get().l2;
    let nc = (l2 / 2) / kc_bytes.max(1);
    (nc / panel * panel).clamp(4 * panel, 64 * panel)
}

/// How the C grid of `m_tiles`×`n_panels` tiles is cut into work items for `threads` threads,
/// for a kernel whose deepest k block of one B column takes `kc_bytes`: returns (row tiles per
/// item, panels per item).
pub fn split(
    m_tiles: usize,
    n_panels: usize,
    panel: usize,
    kc_bytes: usize,
    threads: usize,
) -> (usize, usize) {
    let per_block = (nc_cache(panel, kc_bytes) / panel).max(1);
    let mut nb = n_panels.div_ceil(per_block).max(1);
    // Each item reads its A rows once per panel group and its B block once per row tile, so
    // both should be reused a while: items keep ≥ 4 panels (128 columns), and ≥ 8 when the
    // rows can be split in blocks of ≥ 16 tiles instead (m ≥ 384 with 12-row tiles). At
    // n = 1024, m = 384 on 2 threads that is 4 × 2 items of 8 panels × 16 tiles rather than
    // 8 × 1 of 4 × 32: 5–6 % faster for BERT-large's k = 4096 and attention-output GEMMs,
    // whose A is re-read from L3 by every item (`bertqa bench --profile`, docs/kernels.md).
    let min_panels = if m_tiles >= 2 * 16 { 8 } else { 4 };
    if threads > 1 {
        // Several items per thread, so rayon's work stealing evens out threads that run slower
        // (a busy sibling hyper-thread, another process).
        nb = nb
            .max(ITEMS_PER_THREAD * threads)
            .min((n_panels / min_panels).max(1));
    }
    let nc_panels = n_panels.div_ceil(nb).max(1);
    let nb = n_panels.div_ceil(nc_panels).max(1);
    let mut mb = 1;
    if threads > 1 && nb < ITEMS_PER_THREAD * threads {
        // Too few column blocks: split rows too (≥ 4 tiles each).
        mb = (ITEMS_PER_THREAD * threads)
            .div_ceil(nb)
            .min((m_tiles / 4).max(1));
    }
    (m_tiles.div_ceil(mb).max(1), nc_panels)
}

/// Work items per thread that [`split`] aims for.
const ITEMS_PER_THREAD: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KC;

    #[test]
    fn k_blocks_cover_k() {
        for k in [0, 1, 2, 63, 64, 383, 384, 385, 767, 768, 769, 1024, 4096] {
            let blocks: Vec<_> = k_blocks(k, KC, 1).collect();
            assert!(!blocks.is_empty());
            let mut next = 0;
            for &(p0, kc) in &blocks {
                assert_eq!(p0, next);
                assert!(kc <= KC);
                next += kc;
            }
            assert_eq!(next, k, "{blocks:?}");
            if k > 0 {
                assert!(blocks.iter().all(|&(_, kc)| kc > 0), "{k}: {blocks:?}");
            }
        }
        assert_eq!(
            k_blocks(1024, KC, 1).map(|b| b.1).collect::<Vec<_>>(),
            [342, 342, 340]
        );
        for k in [0, 2, 64, 384, 768, 770, 1024, 4096] {
            let blocks: Vec<_> = k_blocks(k, 768, 2).collect();
            assert_eq!(blocks.iter().map(|b| b.1).sum::<usize>(), k);
            assert!(blocks
                .iter()
                .all(|&(p0, kc)| p0 % 2 == 0 && kc % 2 == 0 && kc <= 768));
        }
        assert_eq!(
            k_blocks(4096, 768, 2).map(|b| b.1).collect::<Vec<_>>(),
            [684, 684, 684, 684, 684, 676]
        );
    }

    #[test]
    fn split_covers_grid() {
        for threads in [1, 2, 3, 8] {
            for (mt, np) in [(1, 1), (32, 32), (32, 128), (128, 96), (2, 2), (40, 3)] {
                let (mi, ni) = split(mt, np, 32, 384 * 4, threads);
                assert!(mi >= 1 && ni >= 1 && mi <= mt.max(1) && ni <= np.max(1));
            }
        }
        let cs = CacheSizes::get();
        assert!(cs.l1d >= 4096 && cs.l2 >= cs.l1d, "{cs:?}");
    }
}
