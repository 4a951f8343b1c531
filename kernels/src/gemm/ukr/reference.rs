//! Portable scalar micro-kernel `gemm_ukr_reference_4x16`: the fallback and the test oracle for
//! the SIMD kernels. Separate multiply and add (no FMA), p order, f32 accumulators.

use super::{MicroKernel, StridedKernel, TileEpi};
use crate::gemm::pack::{pack_a, AlignedBuf, PANEL};

/// Scalar 4×16 kernel.
pub struct Reference4x16;

const MR: usize = 4;
const NR: usize = 16;

impl MicroKernel for Reference4x16 {
    const MR: usize = MR;
    const NR: usize = NR;
    type A = f32;
    type B = f32;
    const NAME: &'static str = "gemm_ukr_reference_4x16";

    fn supported() -> bool {
        true
    }

    unsafe fn tile(
        kc: usize,
        a: *const f32,
        a_rs: usize,
        b: *const f32,
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    ) {
        // A(i, p): packed a[p·MR + i] (a_rs = 0) or row-major a[i·a_rs + p].
        let (a_len, a_at) = if a_rs == 0 {
            (kc * MR, (1, MR))
        } else {
            (if kc == 0 { 0 } else { (rows - 1) * a_rs + kc }, (a_rs, 1))
        };
        // SAFETY: the caller guarantees A holds those floats (packed: kc·MR; row-major: rows
        // rows of kc at stride a_rs) and `b` kc rows of NR floats at stride PANEL (contract).
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, a_len),
                std::slice::from_raw_parts(b, if kc == 0 { 0 } else { (kc - 1) * PANEL + NR }),
            )
        };
        let mut acc = [[0.0f32; NR]; MR];
        for p in 0..kc {
            let bp = &b[p * PANEL..p * PANEL + NR];
            for (i, row) in acc.iter_mut().enumerate().take(rows) {
                let av = a[i * a_at.0 + p * a_at.1];
                for (x, &bv) in row.iter_mut().zip(bp) {
                    *x += av * bv;
                }
            }
        }
        // SAFETY: forwarded contract (C tile, bias, residual).
        unsafe { store_tile(&acc, rows, cols, c, rs_c, epi) }
    }
}

/// The scalar epilogue (fp32 and bf16 reference kernels alike): rows `< rows`, columns
/// `< cols` of the accumulators, then (+ C) (·alpha) (+ bias) (GELU) (+ residual) → C.
///
/// # Safety
/// The C, bias and residual parts of the [`MicroKernel::tile`] contract.
pub(crate) unsafe fn store_tile<const R: usize, const N: usize>(
    acc: &[[f32; N]; R],
    rows: usize,
    cols: usize,
    c: *mut f32,
    rs_c: usize,
    epi: &TileEpi,
) {
    for (i, row) in acc.iter().enumerate().take(rows) {
        for (j, &x) in row.iter().enumerate().take(cols) {
            // SAFETY: i < rows, j < cols: inside the tile the caller lets us read and write.
            let cp = unsafe { c.add(i * rs_c + j) };
            // SAFETY: as above; C is readable unless `first`.
            let mut v = if epi.first { x } else { (unsafe { *cp }) + x };
            if epi.last {
                if epi.alpha != 1.0 {
                    v *= epi.alpha;
                }
                if !epi.bias.is_null() {
                    // SAFETY: non-null bias holds `cols` floats.
                    v += unsafe { *epi.bias.add(j) };
                }
                if epi.gelu {
                    v = crate::math::gelu_erf(v);
                }
                if !epi.residual.is_null() {
                    // SAFETY: non-null residual holds the rows×cols tile at stride rs_res.
                    v += unsafe { *epi.residual.add(i * epi.rs_res + j) };
                }
            }
            // SAFETY: inside the writable tile.
            unsafe { *cp = v };
        }
    }
}

impl StridedKernel for Reference4x16 {
    fn pack_a(
        m: usize,
        k: usize,
        a: &[f32],
        rs: usize,
        cs: usize,
        out: &mut AlignedBuf,
        par: bool,
    ) {
        pack_a::<MR>(m, k, a, rs, cs, out, par);
    }
}
