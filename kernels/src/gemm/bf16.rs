//! bf16 GEMM: C[m×n] = bf16(A)[m×k]·bf16(B)ᵀ in fp32, with the fp32 epilogues.
//!
//! * **B** (weights) is rounded to bf16 once, at pack time, into [`PackedBf16`]: the 32-wide
//!   panels of [`PackedMatrix`](super::PackedMatrix), but with **pairs of consecutive k
//!   interleaved** per column, the operand layout of `vdpbf16ps` (each 32-bit lane holds
//!   `(B[j, 2q], B[j, 2q+1])`). k is padded to even with a zero.
//! * **A** (activations) is rounded to bf16 per call into a reused thread-local buffer
//!   (row-major, row stride k rounded up to even, zero pad); the micro-kernel broadcasts one
//!   32-bit pair `(A[i, 2q], A[i, 2q+1])` per row and pair step.
//! * Accumulation is fp32; the epilogue (bias, bias+GELU, bias+residual) is the fp32 kernels'
//!   own, on the fp32 accumulators.
//!
//! # Rounding and the arithmetic every path shares
//!
//! fp32 → bf16 is round-to-nearest-even ([`to_bf16`]); NaN stays NaN (quiet), ±∞ stays ±∞,
//! and **fp32 denormals become ±0** — the value `vdpbf16ps` would use for a bf16 denormal
//! anyway (it treats input denormals as zero), so no path ever sees one. Per pair step, every
//! path computes, for each C element, `acc = acc + a_odd·b_odd; acc = acc + a_even·b_even`
//! (odd k first, each sum rounded to nearest even: the order of Intel's pseudo-code for
//! `vdpbf16ps`). A product of two bf16 values (8 significant bits each) is exact in fp32, so
//! this is what an FMA computes too: the widening kernels (AVX-512F, AVX2, NEON: bf16 → fp32
//! by a 16-bit shift, then two FMAs) and the scalar reference are **equal bit for bit** whenever no
//! sum or product leaves fp32's normal range (|x| < 2⁻¹²⁶, where `vdpbf16ps` flushes to zero
//! and an FMA does not). The `vdpbf16ps` kernel is tested against the reference too; see
//! `kernels/tests/bf16.rs` for what it must match.
//!
//! **aarch64** (FEAT_BF16: `bfdot`, `bfmmla`) reads the same panels but rounds differently:
//! Arm specifies both instructions as an unfused sum — each product, the pair's sum and the
//! accumulation rounded **to odd**, denormal inputs and results flushed to zero — so the NEON
//! paths equal a model of that arithmetic bit for bit ([`Bf16Path::ReferenceArm`](crate::Bf16Path::ReferenceArm), see
//! `gemm::ukr::bf16_reference`), not the `vdpbf16ps` one; both models are within the same
//! dot-product error bound of the exact product ([`Bf16Path::oracle`](crate::Bf16Path::oracle)).

use super::pack::{AlignedBuf, Elem, PANEL};
use super::ukr::MicroKernel;
use super::{driver, AOperand, Epi};
#[cfg(target_arch = "x86_64")]
use crate::dispatch::Isa;
use std::sync::Arc;

/// fp32 → bf16 bits, round to nearest even; NaN → quiet NaN, denormals → signed zero.
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    let rounded = b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16;
    let nan = (b & 0x7FFF_FFFF) > 0x7F80_0000;
    let denormal = (b & 0x7F80_0000) == 0;
    (if nan {
        (b >> 16) | 0x40
    } else if denormal {
        (b >> 31) << 15
    } else {
        rounded
    }) as u16
}

/// bf16 bits → fp32 (exact).
#[inline(always)]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// k rounded up to the bf16 pair granularity.
pub fn padded_k(k: usize) -> usize {
    k.next_multiple_of(2)
}

/// Rounds `src` (rows of `k` floats at stride `k`) into `dst` (rows of `kp = padded_k(k)`
/// bf16 at stride `kp`, the pad zero). Row blocks in parallel when large; the result does not
/// depend on the split.
///
/// # Panics
/// If the lengths are not `rows·k` and `rows·kp`.
pub fn round_rows(src: &[f32], k: usize, dst: &mut [u16]) {
    round_rows_into(src, k, dst, padded_k(k))
}

/// [`to_bf16`] over a slice, vectorised by the compiler for the widest ISA present.
pub fn round_slice(src: &[f32], dst: &mut [u16]) {
    map_slice(src, dst, to_bf16)
}

/// `dst[i] = f(src[i])`, the loop compiled with AVX-512 enabled where the CPU has it (the same
/// scalar function, so the same bits on every path; `f` is monomorphised, so it inlines).
#[inline(always)]
fn map_slice<T, F: Fn(f32) -> T + Copy>(src: &[f32], dst: &mut [T], f: F) {
    assert_eq!(src.len(), dst.len(), "map_slice: lengths");
    #[inline(always)]
    fn scalar<T, F: Fn(f32) -> T>(src: &[f32], dst: &mut [T], f: F) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = f(s);
        }
    }
    /// # Safety
    /// AVX-512F and AVX-512BW must be present.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn avx512<T, F: Fn(f32) -> T>(src: &[f32], dst: &mut [T], f: F) {
        scalar(src, dst, f)
    }
    #[cfg(target_arch = "x86_64")]
    if Isa::Avx512.is_supported() && std::is_x86_feature_detected!("avx512bw") {
        // SAFETY: AVX-512F and BW are present (checked).
        return unsafe { avx512(src, dst, f) };
    }
    scalar(src, dst, f)
}

/// Where bf16 panels live.
#[derive(Clone)]
enum Panels {
    Owned(AlignedBuf<u16>),
    Shared(Arc<dyn AsRef<[u16]> + Send + Sync>),
}

/// A weight matrix B [n×k] (PyTorch `Linear.weight` layout) rounded to bf16 and packed for
/// [`gemm_bf16`](crate::gemm_bf16): 32-wide panels of k pairs, see the [module docs](self).
///
/// ```text
/// element (j, p) of B  ↦  panels[(j / 32)·kp·32 + (p / 2)·64 + (j % 32)·2 + p % 2],  kp = k rounded up to even
/// ```
#[derive(Clone)]
pub struct PackedBf16 {
    n: usize,
    k: usize,
    panels: Panels,
}

impl std::fmt::Debug for PackedBf16 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedBf16")
            .field("n", &self.n)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PackedBf16 {
    fn eq(&self, other: &Self) -> bool {
        (self.n, self.k) == (other.n, other.k) && self.panels() == other.panels()
    }
}

impl PackedBf16 {
    /// Rounds B [n×k] (row-major fp32) to bf16 and packs it.
    ///
    /// # Panics
    /// If `b.len() != n * k`.
    pub fn pack(b: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(b.len(), n * k, "PackedBf16::pack: b is not n×k");
        Self::pack_with(n, k, |i| to_bf16(b[i]))
    }

    /// Packs B [n×k] given as bf16 bits (a BF16 checkpoint), with no fp32 copy: the same panels
    /// as [`PackedBf16::pack`] of the widened values (denormals become ±0, NaN stays NaN).
    ///
    /// # Panics
    /// If `bits.len() != n * k`.
    pub fn pack_bits(bits: &[u16], n: usize, k: usize) -> Self {
        assert_eq!(bits.len(), n * k, "PackedBf16::pack_bits: b is not n×k");
        Self::pack_with(n, k, |i| to_bf16(from_bf16(bits[i])))
    }

    /// Packs element `i = j·k + p` of B as `value(i)`.
    fn pack_with(n: usize, k: usize, value: impl Fn(usize) -> u16 + Sync) -> Self {
        let mut buf = AlignedBuf::<u16>::default();
        buf.set_len(Self::panel_len(n, k));
        let kp = padded_k(k);
        let out = buf.as_mut_slice();
        let pack_panel = |(jp, panel): (usize, &mut [u16])| {
            for jj in 0..PANEL.min(n - jp * PANEL) {
                let row0 = (jp * PANEL + jj) * k;
                for p in 0..k {
                    panel[(p / 2) * 2 * PANEL + jj * 2 + p % 2] = value(row0 + p);
                }
            }
        };
        if n > 0 && kp > 0 {
            use rayon::prelude::*;
            out.par_chunks_exact_mut(PANEL * kp)
                .enumerate()
                .for_each(pack_panel);
        }
        PackedBf16 {
            n,
            k,
            panels: Panels::Owned(buf),
        }
    }

    /// Uses panels already in the packed layout that live elsewhere (e.g. a memory-mapped
    /// packed-weights file), without copying them.
    ///
    /// # Panics
    /// If the slice's length is not [`Self::panel_len`]`(n, k)`.
    pub fn from_shared(n: usize, k: usize, panels: Arc<dyn AsRef<[u16]> + Send + Sync>) -> Self {
        assert_eq!(
            (*panels).as_ref().len(),
            Self::panel_len(n, k),
            "PackedBf16::from_shared: length"
        );
        PackedBf16 {
            n,
            k,
            panels: Panels::Shared(panels),
        }
    }

    /// bf16 values in the panel buffer of an n×k matrix: ⌈n/32⌉·32·(k rounded up to even).
    pub fn panel_len(n: usize, k: usize) -> usize {
        n.div_ceil(PANEL) * PANEL * padded_k(k)
    }

    /// Rows of B (columns of C).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns of B (the reduction length, unpadded).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The panel buffer (bf16 bits), in the layout of the type docs.
    pub fn panels(&self) -> &[u16] {
        match &self.panels {
            Panels::Owned(buf) => buf.as_slice(),
            Panels::Shared(shared) => (**shared).as_ref(),
        }
    }

    /// Element (j, p) of the rounded B, as fp32 (tests, checks).
    pub fn get(&self, j: usize, p: usize) -> f32 {
        assert!(j < self.n && p < self.k, "PackedBf16::get: out of range");
        let kp = padded_k(self.k);
        from_bf16(
            self.panels()[(j / PANEL) * PANEL * kp + (p / 2) * 2 * PANEL + (j % PANEL) * 2 + p % 2],
        )
    }
}

/// The element a bf16 kernel reads A as: bf16 bits (`vdpbf16ps`, the reference) or the same
/// bf16 values widened to fp32 (the widening kernels, whose broadcasts then fold into FMAs).
/// Both hold exactly `from_bf16(to_bf16(x))`.
pub trait RoundedA: Elem {
    /// [`round_slice`] into this element type.
    fn round(src: &[f32], dst: &mut [Self]);
    /// The scratch buffer of this element type.
    fn buf(scratch: &mut Bf16Scratch) -> &mut AlignedBuf<Self>;
}

impl RoundedA for u16 {
    fn round(src: &[f32], dst: &mut [u16]) {
        round_slice(src, dst)
    }
    fn buf(scratch: &mut Bf16Scratch) -> &mut AlignedBuf<u16> {
        &mut scratch.a16
    }
}

impl RoundedA for f32 {
    fn round(src: &[f32], dst: &mut [f32]) {
        map_slice(src, dst, |x| from_bf16(to_bf16(x)))
    }
    fn buf(scratch: &mut Bf16Scratch) -> &mut AlignedBuf<f32> {
        &mut scratch.a32
    }
}

/// [`round_rows`] into either A element type, rows `kp ≥ padded_k(k)` elements apart.
fn round_rows_into<T: RoundedA>(src: &[f32], k: usize, dst: &mut [T], kp: usize) {
    debug_assert!(kp >= padded_k(k));
    if k == 0 {
        dst.fill(T::default());
        return;
    }
    let rows = src.len() / k;
    assert!(
        src.len() == rows * k && dst.len() == rows * kp,
        "round_rows: lengths"
    );
    let block = |(s, d): (&[f32], &mut [T])| {
        for (sr, dr) in s.chunks_exact(k).zip(d.chunks_exact_mut(kp)) {
            T::round(sr, &mut dr[..k]);
            dr[k..].fill(T::default());
        }
    };
    const ROWS: usize = 16;
    if rows * k >= 1 << 16 {
        crate::team::for_each_chunk_mut(dst, ROWS * kp, |i, d| {
            block((&src[i * ROWS * k..][..d.len() / kp * k], d))
        });
    } else {
        block((src, dst));
    }
}

/// The buffers [`gemm_bf16_in`](crate::gemm_bf16_in) rounds A into, owned by the caller: once they have served the
/// largest m×k, calls allocate nothing, whichever thread runs them (the thread-local buffers of
/// [`gemm_bf16`](crate::gemm_bf16) warm up per thread).
#[derive(Default)]
pub struct Bf16Scratch {
    a16: AlignedBuf<u16>,
    a32: AlignedBuf<f32>,
}

impl std::fmt::Debug for Bf16Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bf16Scratch")
            .field("len", &self.len())
            .finish()
    }
}

impl Bf16Scratch {
    /// Elements held (bf16 or fp32).
    pub fn len(&self) -> usize {
        self.a16.as_slice().len() + self.a32.as_slice().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The bf16 GEMM on micro-kernel `K`, rounding A into `scratch` (the kernel table's bf16
/// `gemm`).
pub(crate) fn bf16_driver<K: MicroKernel<B = u16>, const KC: usize>(
    scratch: &mut Bf16Scratch,
    m: usize,
    a: &[f32],
    b: &PackedBf16,
    c: &mut [f32],
    epi: Epi,
) where
    K::A: RoundedA,
{
    let (n, k) = (b.n(), b.k());
    let kp = padded_k(k);
    let rs = super::pack::a_row_stride(kp, std::mem::size_of::<K::A>());
    let buf = K::A::buf(scratch);
    if buf.as_slice().len() < m * rs {
        buf.set_len(m * rs);
    }
    let rounded = &mut buf.as_mut_slice()[..m * rs];
    round_rows_into(&a[..m * k], k, rounded, rs);
    let a = AOperand::RowMajor {
        data: &*rounded,
        rs,
    };
    driver::<K, KC>(m, n, kp, a, b.panels(), c, n, epi, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties to even (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3F80);
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: ties to even (1 + 2⁻⁶).
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3F82);
        assert_eq!(to_bf16(-2.0), 0xC000);
        assert_eq!(to_bf16(f32::INFINITY), 0x7F80);
        assert_eq!(to_bf16(f32::MAX), 0x7F80); // rounds up to ∞, as RNE must
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(to_bf16(1e-40), 0); // denormal → +0
        assert_eq!(to_bf16(-1e-40), 0x8000);
        assert_eq!(to_bf16(f32::MIN_POSITIVE), 0x0080);
        // Against round-to-nearest computed in f64 on a sweep of values.
        let mut x = 1.0e-30f32;
        while x < 1.0e30 {
            for v in [x, -x, x * 1.000_123, x * 1.999] {
                let r = from_bf16(to_bf16(v)) as f64;
                let ulp = (r.abs() * (1.0 / 128.0)).max(f64::MIN_POSITIVE);
                assert!((r - v as f64).abs() <= ulp * 0.5 + 1e-300, "{v} → {r}");
            }
            x *= 1.37;
        }
    }

    #[test]
    fn round_rows_pads() {
        let src: Vec<f32> = (0..15).map(|i| i as f32 * 0.3).collect();
        let mut dst = vec![7u16; 18];
        round_rows(&src, 5, &mut dst);
        for r in 0..3 {
            for p in 0..5 {
                assert_eq!(dst[r * 6 + p], to_bf16(src[r * 5 + p]));
            }
            assert_eq!(dst[r * 6 + 5], 0);
        }
    }

    #[test]
    fn packed_layout_is_documented_one() {
        let (n, k) = (37, 5);
        let b: Vec<f32> = (0..n * k).map(|i| i as f32).collect();
        let pm = PackedBf16::pack(&b, n, k);
        assert_eq!(pm.panels().len(), 64 * 6);
        for j in 0..64 {
            for p in 0..6 {
                let want = if j < n && p < k {
                    to_bf16(b[j * k + p])
                } else {
                    0
                };
                assert_eq!(
                    pm.panels()[(j / 32) * 6 * 32 + (p / 2) * 64 + (j % 32) * 2 + p % 2],
                    want
                );
                if j < n && p < k {
                    assert_eq!(pm.get(j, p), from_bf16(want));
                }
            }
        }
        let shared = PackedBf16::from_shared(n, k, Arc::new(pm.panels().to_vec()));
        assert_eq!(shared, pm);
    }
}
