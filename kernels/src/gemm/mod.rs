//! Matrix products, Goto/BLIS style.
//!
//! * [`gemm_packed`](crate::gemm_packed): C[m×n] = A[m×k]·Bᵀ (+ fused epilogue), B [n×k] a weight matrix in PyTorch
//!   `Linear` layout packed once into a [`PackedMatrix`]. Parallel (rayon) over blocks of n (and
//!   of m when n has too few blocks); results are bit-identical whatever the thread count, because
//!   every C element is computed by one micro-kernel call per k block, in the same k order, on a
//!   tile grid that does not depend on the split.
//! * [`gemm_strided`](crate::gemm_strided): C = α·A·B with arbitrary row/column strides on every operand: A and B
//!   are packed into the same panels and run through the same micro-kernels. Single-threaded.
//!   The model does not call it (attention packs K and V itself and calls the micro-kernels
//!   directly, `attention.rs`); it is the general entry point for other strided products, and
//!   the tests and benches use it.
//!
//! # The loops (BLAS names)
//!
//! ```text
//! (A with unit column stride is read in place; otherwise packed whole into MR-row panels in a
//!  thread-local buffer)                                                          [pack.rs]
//! for each work item (rows ic.., columns jc..jc+nc)      loop 1: n (and m) split, rayon tasks
//!   for pc in k blocks of ≤ KC                           loop 2: split of k            [blocking.rs]
//!     for ir in MR-row panels of the item                loop 3: A micro-panel stays in L1
//!       for jr in NR-wide tiles of the item              loop 4: B kc×nc block stays in L2
//!         micro-kernel: C[ir, jr] (+)= A[ir, pc]·B[pc, jr]  (+ epilogue on the last k block)
//! ```
//!
//! B needs no packing per call: the [`PackedMatrix`] panels are already in the micro-kernel's
//! layout, and a kc-deep slice of a panel is contiguous. A needs none when it is row-major (all
//! of `gemm_packed`, and attention's Q and P): A is the *broadcast* operand, one scalar per row
//! per k step, and a broadcast can load from any address, so the micro-kernel reads MR row
//! streams directly. That measured as fast as or faster than reading a packed panel (+1–7 %) and
//! removes the m×k copy, which was ~4 % of a large GEMM and ~20 % of attention's P·V.
//!
//! The ISA is chosen once ([`crate::dispatch::isa`]); the entry points (`api.rs`) look the
//! level up in the kernel table (`table.rs`) and each call runs one monomorphised driver;
//! [`crate::Kernels::of`] picks a level explicitly (tests, benches).

pub mod blocking;
pub mod pack;
pub mod ukr;

pub mod bf16;
pub mod int8;

pub use bf16::PackedBf16;
pub use pack::{PackedMatrix, LINE, PANEL};

use ukr::{MicroKernel, QuantTile, StridedKernel, TileEpi};

/// What is applied to each element of C after the product, while the tile is hot.
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'a> {
    /// C = A·Bᵀ
    None,
    /// C = A·Bᵀ + bias (bias has n elements, broadcast over rows).
    Bias(&'a [f32]),
    /// C = GELU_erf(A·Bᵀ + bias).
    BiasGelu(&'a [f32]),
    /// C = A·Bᵀ + bias + residual (residual is m×n, row-major, row stride n).
    BiasResidual {
        /// n elements.
        bias: &'a [f32],
        /// m×n elements.
        residual: &'a [f32],
    },
}

/// A read-only strided matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// Backing storage; must hold every addressed element.
    pub data: &'a [f32],
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements.
    pub cs: usize,
}

/// A mutable strided matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Debug)]
pub struct MatMut<'a> {
    /// Backing storage; must hold every addressed element.
    pub data: &'a mut [f32],
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements.
    pub cs: usize,
}

fn max_index(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// The A operand as the driver reads it.
#[derive(Clone, Copy)]
pub(crate) enum AOperand<'a, T = f32> {
    /// Packed into MR-row panels by `K::pack_a`.
    Packed(&'a [T]),
    /// Row-major with row stride `rs ≥ k` and unit column stride: the micro-kernel broadcasts
    /// straight from it, no packing.
    RowMajor { data: &'a [T], rs: usize },
}

/// Epilogue operands for the driver, already validated against the shape.
#[derive(Clone, Copy)]
pub(crate) struct Epi<'a> {
    pub(crate) alpha: f32,
    pub(crate) bias: Option<&'a [f32]>,
    pub(crate) gelu: bool,
    /// (data, row stride)
    pub(crate) residual: Option<(&'a [f32], usize)>,
    /// int8 dequantization operands (int8 kernels only).
    pub(crate) quant: Option<Quant<'a>>,
}

/// The int8 GEMM's dequantization operands (see [`int8`]): per row of A and per column of B.
#[derive(Clone, Copy)]
pub(crate) struct Quant<'a> {
    pub(crate) row_scale: &'a [f32],
    pub(crate) row_zp: &'a [i32],
    pub(crate) col_scale: &'a [f32],
    pub(crate) col_sum: &'a [i32],
}

impl<'a> Epi<'a> {
    /// The driver's operands for a public [`Epilogue`] on an m×n C (row stride n).
    ///
    /// # Panics
    /// If the bias does not have n elements or the residual fewer than m×n.
    pub(crate) fn from_epilogue(epilogue: Epilogue<'a>, m: usize, n: usize) -> Self {
        let mut epi = Epi::scaled(1.0);
        match epilogue {
            Epilogue::None => {}
            Epilogue::Bias(bias) | Epilogue::BiasGelu(bias) => {
                assert_eq!(bias.len(), n, "gemm: bias length");
                epi.bias = Some(bias);
                epi.gelu = matches!(epilogue, Epilogue::BiasGelu(_));
            }
            Epilogue::BiasResidual { bias, residual } => {
                assert_eq!(bias.len(), n, "gemm: bias length");
                assert!(
                    residual.len() >= m * n,
                    "gemm: residual is shorter than m×n"
                );
                epi.bias = Some(bias);
                epi.residual = Some((residual, n));
            }
        }
        epi
    }

    /// Only a scale (1 = plain product).
    /// The epilogue of a product C[m×n] = A[m×k]·Bᵀ (`what` names it in messages), after
    /// checking A, C and the epilogue's operands: `None` if there is nothing to compute.
    ///
    /// # Panics
    /// If `a` is shorter than m×k, `c` than m×n, or an epilogue operand has the wrong length.
    pub(crate) fn checked(
        what: &str,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        c: &[f32],
        epilogue: Epilogue<'a>,
    ) -> Option<Self> {
        assert!(a.len() >= m * k, "{what}: a is shorter than m×k");
        assert!(c.len() >= m * n, "{what}: c is shorter than m×n");
        let epi = Epi::from_epilogue(epilogue, m, n);
        (m > 0 && n > 0).then_some(epi)
    }

    pub(crate) const fn scaled(alpha: f32) -> Self {
        Epi {
            alpha,
            bias: None,
            gelu: false,
            residual: None,
            quant: None,
        }
    }
}

/// C's base pointer, shared by the work items, which write disjoint tiles.
#[derive(Clone, Copy)]
pub(crate) struct CPtr(pub(crate) *mut f32);
// SAFETY: the driver hands each work item a disjoint set of C tiles, so sending the pointer to
// other threads never lets two of them touch the same element; the borrow it came from outlives
// the parallel loop.
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

impl CPtr {
    /// (A method, so closures capture the whole `Send + Sync` wrapper, not the raw field.)
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// The loop nest of the module docs, for one micro-kernel. `a`: A as `K` reads it; `bp`: B
/// packed into 32-wide panels of `k` (a multiple of `K::K_GROUP`) stored k values; C row-major
/// at row stride `rs_c`, `len ≥ max_index`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn driver<K: MicroKernel, const KC: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: AOperand<K::A>,
    bp: &[K::B],
    c: &mut [f32],
    rs_c: usize,
    epi: Epi,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * rs_c + n && rs_c >= n);
    // SAFETY: `c` is borrowed mutably for the whole call and holds every C element (asserted).
    unsafe { driver_raw::<K, KC>(m, n, k, a, bp, CPtr(c.as_mut_ptr()), rs_c, epi, parallel) }
}

/// Which cache lines of the next B block a tile call fetches into L2 while it computes (see
/// [`ukr::TileEpi::l2_next`]): the block's panels `q0..q1`, k rows `qc..qc + qkc`, cut into
/// `calls` nearly even shares of whole lines, each clipped to one panel's contiguous slice (the
/// few lines past a panel's end in a share are skipped: these are only hints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct L2Plan {
    /// First panel of the next block.
    pub q0: usize,
    /// One past its last panel.
    pub q1: usize,
    /// Byte offset of the block's first k row within a panel.
    pub row0_bytes: usize,
    /// Lines of one panel's slice of the block.
    pub per_panel: usize,
    /// Bytes of one whole panel (all k).
    pub panel_bytes: usize,
    /// Tile calls that share the lines.
    pub calls: usize,
}

impl L2Plan {
    /// (byte offset from the panels' start, line count) for tile call `call` (`(0, 0)`: none).
    pub(crate) fn share(&self, call: usize) -> (usize, usize) {
        let lines = (self.q1 - self.q0) * self.per_panel;
        let (l0, l1) = (lines * call / self.calls, lines * (call + 1) / self.calls);
        if l0 >= l1 || self.per_panel == 0 {
            return (0, 0);
        }
        let (q, r) = (self.q0 + l0 / self.per_panel, l0 % self.per_panel);
        let n = (l1 - l0).min(self.per_panel - r);
        (q * self.panel_bytes + self.row0_bytes + r * LINE, n)
    }
}

/// [`driver`] on a raw C, for callers whose tasks write disjoint sub-blocks of one matrix
/// (attention: one head's columns of a block of rows).
///
/// # Safety
/// `rs_c ≥ n`, and `c + i·rs_c + j` is valid for reads and writes for `i < m, j < n`, with no
/// other access to those elements during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn driver_raw<K: MicroKernel, const KC: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: AOperand<K::A>,
    bp: &[K::B],
    cptr: CPtr,
    rs_c: usize,
    epi: Epi,
    parallel: bool,
) {
    const { assert!(PANEL.is_multiple_of(K::NR) && K::NR > 0 && K::MR > 0) };
    const { assert!(KC.is_multiple_of(K::K_GROUP) && K::K_GROUP > 0) };
    assert!(K::supported(), "{}: CPU lacks the instruction set", K::NAME);
    assert!(k.is_multiple_of(K::K_GROUP), "{}: k is not padded", K::NAME);
    if m == 0 || n == 0 {
        return;
    }
    let (m_tiles, n_panels) = (m.div_ceil(K::MR), n.div_ceil(PANEL));
    // The slices hold every element the micro-kernel reads or writes:
    match a {
        AOperand::Packed(ap) => assert!(ap.len() >= m_tiles * K::MR * k),
        AOperand::RowMajor { data, rs } => assert!(rs >= k && data.len() >= (m - 1) * rs + k),
    }
    assert!(bp.len() >= n_panels * PANEL * k);
    assert!(rs_c >= n);
    if let Some(bias) = epi.bias {
        assert!(bias.len() >= n);
    }
    if let Some((r, rs)) = epi.residual {
        assert!(r.len() >= (m - 1) * rs + n && rs >= n);
    }
    if let Some(q) = epi.quant {
        assert!(q.row_scale.len() >= m && q.row_zp.len() >= m);
        assert!(q.col_scale.len() >= n && q.col_sum.len() >= n);
    }
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let b_bytes = std::mem::size_of::<K::B>();
    let (mt_item, np_item) = blocking::split(m_tiles, n_panels, PANEL, KC * b_bytes, threads);
    let (m_items, n_items) = (m_tiles.div_ceil(mt_item), n_panels.div_ceil(np_item));
    // Loop 1: work items, each rows ic0..ic1 (in MR tiles) × columns jc0..jc1 (in panels).
    let run_item = |item: usize| {
        let (mi, ni) = (item / n_items, item % n_items);
        let (ic0, ic1) = (mi * mt_item, ((mi + 1) * mt_item).min(m_tiles));
        let (jc0, jc1) = (ni * np_item, ((ni + 1) * np_item).min(n_panels));
        let blocks = blocking::k_blocks(k, KC, K::K_GROUP);
        let nkb = blocks.len();
        // Loop 2: k blocks pc..pc + kc (kc ≤ KC).
        for (kb, (pc, kc)) in blocks.clone().enumerate() {
            let first = pc == 0;
            let last = pc + kc == k;
            // The B block this item reads next — its panels' next k block, or after the last
            // one the next item's first (the next one this thread runs, usually) — is fetched
            // into L2 while this one is computed, spread over its tiles (`L2Plan`): its
            // first pass would otherwise wait on L3 or memory. Weights stream from memory, and
            // with m = 384 (128) a block serves only 32 (11) row tiles, so that wait cost
            // 2–3 % (9 %) of BERT-large's forward pass (docs/kernels.md).
            let next = if kb + 1 < nkb {
                Some((
                    jc0,
                    jc1,
                    pc + kc,
                    blocks.clone().nth(kb + 1).map_or(0, |b| b.1),
                ))
            } else if item + 1 < m_items * n_items {
                let nj = (item + 1) % n_items;
                let (q0, q1) = (nj * np_item, ((nj + 1) * np_item).min(n_panels));
                Some((q0, q1, 0, blocks.clone().next().map_or(0, |b| b.1)))
            } else {
                None
            };
            let plan = next.map(|(q0, q1, qc, qkc)| L2Plan {
                q0,
                q1,
                row0_bytes: qc * PANEL * b_bytes,
                per_panel: qkc * PANEL * b_bytes / LINE,
                panel_bytes: PANEL * k * b_bytes,
                calls: (ic1 - ic0) * (jc1 - jc0),
            });
            let tile = |ir: usize, jr: usize| {
                let i0 = ir * K::MR;
                let rows = K::MR.min(m - i0);
                let (a, a_rs) = match a {
                    AOperand::Packed(ap) => {
                        (ap.as_ptr().wrapping_add(ir * K::MR * k + pc * K::MR), 0)
                    }
                    AOperand::RowMajor { data, rs } => {
                        (data.as_ptr().wrapping_add(i0 * rs + pc), rs)
                    }
                };
                let panel = bp.as_ptr().wrapping_add(jr * PANEL * k + pc * PANEL);
                let (l2_off, l2_lines) =
                    plan.map_or((0, 0), |p| p.share((ir - ic0) * (jc1 - jc0) + jr - jc0));
                // The B micro-panel the next tile will read (loop 4 order), for prefetching.
                let next_panel = bp
                    .as_ptr()
                    .wrapping_add(if jr + 1 < jc1 { jr + 1 } else { jc0 } * PANEL * k + pc * PANEL);
                for sub in (0..PANEL).step_by(K::NR) {
                    let j0 = jr * PANEL + sub;
                    if j0 >= n {
                        break;
                    }
                    let cols = K::NR.min(n - j0);
                    let tepi = TileEpi {
                        first,
                        last,
                        alpha: epi.alpha,
                        bias: epi.bias.map_or(std::ptr::null(), |b| b[j0..].as_ptr()),
                        gelu: epi.gelu,
                        residual: epi
                            .residual
                            .map_or(std::ptr::null(), |(r, rs)| r[i0 * rs + j0..].as_ptr()),
                        rs_res: epi.residual.map_or(0, |(_, rs)| rs),
                        next_b: if sub + K::NR < PANEL {
                            panel.wrapping_add((sub + K::NR) * K::K_GROUP)
                        } else {
                            next_panel
                        }
                        .cast(),
                        l2_next: bp.as_ptr().cast::<u8>().wrapping_add(l2_off),
                        l2_lines: if sub == 0 { l2_lines } else { 0 },
                        quant: epi.quant.map_or(QuantTile::NONE, |q| QuantTile {
                            row_scale: q.row_scale[i0..].as_ptr(),
                            row_zp: q.row_zp[i0..].as_ptr(),
                            col_scale: q.col_scale[j0..].as_ptr(),
                            col_sum: q.col_sum[j0..].as_ptr(),
                        }),
                    };
                    // SAFETY: K is supported (asserted above), kc is a multiple of K_GROUP
                    // (k_blocks_for); the call is inside the item's `K::session` (below). `a` is the kc-deep slice of A panel `ir` (kc·MR
                    // elements, inside `ap` by the length assert), or row i0, column pc of a
                    // row-major A whose rows i0..i0+rows hold columns pc..pc+kc (length
                    // assert, rs ≥ k; a_rs = rs > 0 since rs ≥ k ≥ pc + kc > 0 whenever
                    // anything is read — with k = 0 nothing is); `panel` starts at k row pc of
                    // B panel jr (the K_GROUP-row group pc / K_GROUP, at PANEL·K_GROUP
                    // elements a group), so groups g < kc / K_GROUP are inside `bp`, and
                    // (sub + NR)·K_GROUP ≤ PANEL·K_GROUP (with kc = 0 nothing is read).
                    // 1 ≤ rows ≤ MR and 1 ≤ cols ≤ NR; the C tile (i0.., j0..) is inside C
                    // (rs_c ≥ n and the function's contract) and belongs to this work item
                    // only; bias/residual slices hold the tile (asserts). `l2_next` and
                    // `next_b` are only prefetched.
                    unsafe {
                        K::tile(
                            kc,
                            a,
                            a_rs,
                            panel.wrapping_add(sub * K::K_GROUP),
                            cptr.get().add(i0 * rs_c + j0),
                            rs_c,
                            rows,
                            cols,
                            &tepi,
                        )
                    };
                }
            };
            // loop 3 (ir) over A micro-panels (kept in L1), loop 4 (jr) over B panels (from L2).
            for ir in ic0..ic1 {
                for jr in jc0..jc1 {
                    tile(ir, jr);
                }
            }
        }
    };
    // An item's tile calls run in one kernel session (AMX: one tile configuration).
    let run_item = |item: usize| K::session(|| run_item(item));
    let items = m_items * n_items;
    if items > 1 && threads > 1 {
        crate::team::for_each(items, run_item);
    } else {
        (0..items).for_each(run_item);
    }
}

/// Packing buffers owned by the caller (`gemm_packed_in`: the padded copy of A): once they
/// have served the largest shape, calls allocate nothing — deterministically, whichever thread
/// runs them (the thread-local buffers of `gemm_packed` warm up per thread).
#[derive(Clone, Default)]
pub struct GemmScratch {
    pub(crate) a: pack::AlignedBuf,
}

impl std::fmt::Debug for GemmScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GemmScratch").finish_non_exhaustive()
    }
}

/// A of the packed-B GEMM as its driver reads it, after checking the slices against m, n = b.n()
/// and k = b.k(): `None` if there is nothing to compute, else (A's rows, their stride) and the
/// epilogue. The rows are read in place, except when they are a multiple of 4 KiB apart (k =
/// 1024 and 4096 in BERT): 12 such rows share one L1 set, so A is first copied into `abuf` with
/// rows one cache line further apart ([`pack::a_row_stride`]; 1.2–1.4× at m = 384 on 2 threads
/// of a Zen 4, docs/kernels.md). The copy moves no value between sums, so results are
/// bit-identical either way.
///
/// # Panics
/// If a slice is shorter than its shape requires or an epilogue operand has the wrong length.
pub(crate) fn packed_operands<'a>(
    abuf: &'a mut pack::AlignedBuf,
    m: usize,
    a: &'a [f32],
    b: &PackedMatrix,
    c: &[f32],
    epilogue: Epilogue<'a>,
) -> Option<(&'a [f32], usize, Epi<'a>)> {
    let k = b.k();
    let epi = Epi::checked("gemm_packed", m, b.n(), k, a, c, epilogue)?;
    let rs = pack::a_row_stride(k, 4);
    if rs == k {
        return Some((&a[..m * k], rs, epi));
    }
    if abuf.as_slice().len() < m * rs {
        abuf.set_len(m * rs);
    }
    let dst = &mut abuf.as_mut_slice()[..m * rs];
    pack::copy_rows(&a[..m * k], k, dst, rs);
    Some((&*dst, rs, epi))
}

/// The packed-B fp32 GEMM on micro-kernel `K`, for A's rows at stride `rs` (the kernel
/// table's `gemm_packed`).
pub(crate) fn packed_driver<K: MicroKernel<A = f32, B = f32>, const KC: usize>(
    m: usize,
    a: &[f32],
    rs: usize,
    b: &PackedMatrix,
    c: &mut [f32],
    epi: Epi,
) {
    let (n, k) = (b.n(), b.k());
    let a = AOperand::RowMajor { data: a, rs };
    driver::<K, KC>(m, n, k, a, b.panels(), c, n, epi, true);
}

/// Checks the views of a strided product against m, n, k.
///
/// # Panics
/// If a view's storage does not hold every element its shape and strides address.
pub(crate) fn check_strided(m: usize, n: usize, k: usize, a: &MatRef, b: &MatRef, c: &MatMut) {
    assert!(
        a.data.len() >= max_index(m, k, a.rs, a.cs),
        "gemm_strided: a too short"
    );
    assert!(
        b.data.len() >= max_index(k, n, b.rs, b.cs),
        "gemm_strided: b too short"
    );
    assert!(
        c.data.len() >= max_index(m, n, c.rs, c.cs),
        "gemm_strided: c too short"
    );
}

/// The strided fp32 GEMM on micro-kernel `K` with the given packing buffers (the kernel
/// table's `gemm_strided`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn strided_driver<K: StridedKernel, const KC: usize>(
    abuf: &mut pack::AlignedBuf,
    bbuf: &mut pack::AlignedBuf,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    c: MatMut,
) {
    let epi = Epi::scaled(alpha);
    {
        // A with unit column stride is read in place (broadcasts need no packing).
        let ap = if a.cs == 1 && a.rs >= k {
            AOperand::RowMajor {
                data: a.data,
                rs: a.rs,
            }
        } else {
            K::pack_a(m, k, a.data, a.rs, a.cs, abuf, false);
            AOperand::Packed(abuf.as_slice())
        };
        K::pack_b(k, n, b.data, b.rs, b.cs, bbuf);
        if c.cs == 1 && c.rs >= n {
            driver::<K, KC>(m, n, k, ap, bbuf.as_slice(), c.data, c.rs, epi, false);
        } else {
            // Transposed or overlapping-row C: compute row-major, then scatter.
            let mut tmp = vec![0.0f32; m * n];
            driver::<K, KC>(m, n, k, ap, bbuf.as_slice(), &mut tmp, n, epi, false);
            for i in 0..m {
                for j in 0..n {
                    c.data[i * c.rs + j * c.cs] = tmp[i * n + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{isa, Isa};

    /// The padded copy of A (rows 4 KiB apart) changes where A is read, never a sum.
    #[test]
    fn padded_copy_of_a_is_bit_identical() {
        let (m, n, k) = (25, 70, 1024);
        assert!(pack::a_row_stride(k, 4) > k);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 999.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..n * k)
            .map(|i| ((i * 104_729) % 997) as f32 / 996.0 - 0.5)
            .collect();
        let pb = PackedMatrix::pack(&b, n, k);
        for isa in [Isa::Reference, isa()] {
            let mut padded = vec![0.0f32; m * n];
            crate::Kernels::of(isa).gemm_packed(m, &a, &pb, &mut padded, Epilogue::None);
            let mut direct = vec![0.0f32; m * n];
            // The same kernel reading A in place (row stride k).
            (crate::table::of(isa).gemm_packed)(m, &a, k, &pb, &mut direct, Epi::scaled(1.0));
            assert!(
                padded
                    .iter()
                    .zip(&direct)
                    .all(|(p, d)| p.to_bits() == d.to_bits()),
                "{isa}"
            );
        }
    }

    /// The L2 plan's shares cover each panel's slice of the next block in order, without
    /// overlap, clipped at panel ends, and stay inside the panels.
    #[test]
    fn l2_plan_shares_cover_the_next_block() {
        for (b_bytes, qkc, calls) in [(4usize, 384usize, 7usize), (2, 1024, 32), (4, 17 * 16, 3)] {
            let k = 3 * qkc;
            let plan = L2Plan {
                q0: 2,
                q1: 5,
                row0_bytes: qkc * PANEL * b_bytes,
                per_panel: qkc * PANEL * b_bytes / LINE,
                panel_bytes: PANEL * k * b_bytes,
                calls,
            };
            let mut seen = Vec::new();
            for call in 0..calls {
                let (off, n) = plan.share(call);
                for l in 0..n {
                    seen.push(off + l * LINE);
                }
            }
            seen.sort_unstable();
            seen.dedup();
            let want: Vec<usize> = (2..5)
                .flat_map(|q| {
                    (0..plan.per_panel)
                        .map(move |l| q * plan.panel_bytes + plan.row0_bytes + l * LINE)
                })
                .collect();
            // Every fetched line is one of the block's; a share is clipped at the end of the
            // panel it starts in, so at most one share per panel boundary loses lines.
            assert!(
                seen.iter().all(|o| want.contains(o)),
                "{b_bytes} {qkc} {calls}"
            );
            let share = want.len().div_ceil(calls);
            assert!(
                seen.len() + 2 * share >= want.len(),
                "{} of {}",
                seen.len(),
                want.len()
            );
        }
        let none = L2Plan {
            q0: 0,
            q1: 0,
            row0_bytes: 0,
            per_panel: 4,
            panel_bytes: 64,
            calls: 3,
        };
        assert_eq!(none.share(1), (0, 0));
    }
}
