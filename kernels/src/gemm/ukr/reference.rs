//! Portable scalar micro-kernel `gemm_ukr_reference_4x16`: the fallback and the test oracle for
//! the SIMD kernels. Separate multiply and add (no FMA), p order, f32 accumulators.

use super::{MicroKernel, TileEpi};
use crate::gemm::pack::{pack_a, AlignedBuf, PANEL};

/// Scalar 4×16 kernel.
pub struct Reference4x16;

const MR: usize = 4;
const NR: usize = 16;

impl MicroKernel for Reference4x16 {
    const MR: usize = MR;
    const NR: usize = NR;
    const NAME: &'static str = "gemm_ukr_reference_4x16";

    fn supported() -> bool {
        true
    }

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

    unsafe fn tile(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    ) {
        // SAFETY: the caller guarantees `a` holds kc·MR floats and `b` kc rows of NR floats at
        // stride PANEL (trait contract).
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, kc * MR),
                std::slice::from_raw_parts(b, if kc == 0 { 0 } else { (kc - 1) * PANEL + NR }),
            )
        };
        let mut acc = [[0.0f32; NR]; MR];
        for p in 0..kc {
            let bp = &b[p * PANEL..p * PANEL + NR];
            for (i, row) in acc.iter_mut().enumerate() {
                let av = a[p * MR + i];
                for (x, &bv) in row.iter_mut().zip(bp) {
                    *x += av * bv;
                }
            }
        }
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
}
