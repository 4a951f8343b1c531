//! Portable scalar bf16 micro-kernel `gemm_ukr_reference_bf16_4x16`: the fallback and the test
//! oracle of the bf16 kernels. Models `vdpbf16ps` per pair step (see `gemm::bf16`): for each C
//! element, `acc = acc + a_odd·b_odd`, then `acc = acc + a_even·b_even`, in fp32 (the products
//! of bf16 values are exact in fp32, so each step rounds once, as the instruction does).

use super::reference::store_tile;
use super::{MicroKernel, TileEpi};
use crate::gemm::bf16::from_bf16;
use crate::gemm::pack::PANEL;

/// Scalar bf16 4×16 kernel.
#[allow(non_camel_case_types)]
pub struct ReferenceBf16_4x16;

const MR: usize = 4;
const NR: usize = 16;

impl MicroKernel for ReferenceBf16_4x16 {
    type A = u16;
    type B = u16;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 2;
    const NAME: &'static str = "gemm_ukr_reference_bf16_4x16";

    fn supported() -> bool {
        true
    }

    unsafe fn tile(
        kc: usize,
        a: *const u16,
        a_rs: usize,
        b: *const u16,
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    ) {
        let pairs = kc / 2;
        // A(i, p): packed a[p·MR + i] (a_rs = 0) or row-major a[i·a_rs + p].
        let (a_len, a_at) = if a_rs == 0 {
            (kc * MR, (1, MR))
        } else {
            (if kc == 0 { 0 } else { (rows - 1) * a_rs + kc }, (a_rs, 1))
        };
        let b_len = if pairs == 0 {
            0
        } else {
            (pairs - 1) * 2 * PANEL + 2 * NR
        };
        // SAFETY: the caller guarantees A holds those elements (packed: kc·MR; row-major: rows
        // rows of kc at stride a_rs) and `b` kc/2 pair rows of 2·NR values at stride 2·PANEL.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, a_len),
                std::slice::from_raw_parts(b, b_len),
            )
        };
        let mut acc = [[0.0f32; NR]; MR];
        for q in 0..pairs {
            let bq = &b[q * 2 * PANEL..q * 2 * PANEL + 2 * NR];
            for (i, row) in acc.iter_mut().enumerate().take(rows) {
                let a_even = from_bf16(a[i * a_at.0 + 2 * q * a_at.1]);
                let a_odd = from_bf16(a[i * a_at.0 + (2 * q + 1) * a_at.1]);
                for (x, bj) in row.iter_mut().zip(bq.chunks_exact(2)) {
                    *x += a_odd * from_bf16(bj[1]);
                    *x += a_even * from_bf16(bj[0]);
                }
            }
        }
        // SAFETY: forwarded contract (C tile, bias, residual).
        unsafe { store_tile(&acc, rows, cols, c, rs_c, epi) }
    }
}
