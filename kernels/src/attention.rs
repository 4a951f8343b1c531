//! Multi-head self-attention over a fused Q|K|V buffer, for ragged batches of sequences.
//!
//! ```text
//! qkv: (tokens, 3·H), row t = [q_t | k_t | v_t], each H = heads·d wide, head h at columns h·d..
//! sequences: consecutive runs of `lens[s]` tokens; each attends only to itself
//! ctx[t, h·d..(h+1)·d] = Σ_j softmax_j(scale · q_t·k_j, keys with keep = false removed) · v_j
//! ```
//!
//! Two parallel phases (rayon):
//!
//! 1. **Pack K and V once** per (head, sequence) into the GEMM's 32-wide B panels: Kᵀ (d × len,
//!    a transpose, done with AVX-512 gathers where available) for the scores, V (len × d, a copy
//!    of 32-float rows) for the context. Every query block of the head reuses them.
//! 2. **Per (head, sequence, block of up to 4 micro-kernel strips of query rows)**: S = Q·Kᵀ
//!    into the block's rows × len scratch (the scale applied in the micro-kernel's epilogue),
//!    the softmax of its rows, then ctx = S·V written straight into the heads' columns of `ctx`
//!    — no scores matrix, no head-major copy. Q and S are the micro-kernel's broadcast operand,
//!    read in place; each K and V tile is read from L2 once per block and from L1 by each of
//!    its strips (`block_product`; P·V in k blocks of the kernel's `PV`, [`PV_KB`] for the
//!    register-tile kernels). Unmasked sequences (batches
//!    are not padded, so the usual case) leave the softmax unnormalised and divide the d-wide
//!    context rows by the sums instead of the len-wide probability rows.
//!
//! Results are bit-identical whatever the thread count: every output element is computed by the
//! same sequence of micro-kernel calls whichever task runs it.
//!
//! [`attention_bf16`](crate::attention_bf16) runs both products on the bf16 GEMM kernels (`gemm::bf16`): K and V packed
//! as bf16 pair panels, Q rounded to bf16 once per call, each strip's probabilities rounded to
//! bf16 after the fp32 softmax; scores, softmax and the context stay fp32.

use crate::gemm::bf16::{round_slice, to_bf16};
use crate::gemm::pack::{pack_b_into, AlignedBuf, Elem, PANEL};
use crate::gemm::ukr::{MicroKernel, QuantTile, StridedKernel, TileEpi};
use crate::gemm::CPtr;
use crate::ops::Ops;
use std::sync::Mutex;

/// Heads, head width, the softmax scale and the sequences of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape<'a> {
    /// Number of heads.
    pub heads: usize,
    /// Width of one head (H = heads · head_dim).
    pub head_dim: usize,
    /// Multiplies Q·Kᵀ before the softmax (1/√head_dim in BERT).
    pub scale: f32,
    /// Token count of each sequence; the sequences are consecutive rows of `qkv` and `ctx`.
    pub lens: &'a [usize],
}

impl AttentionShape<'_> {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }

    fn tokens(&self) -> usize {
        self.lens.iter().sum()
    }

    /// Elements of packed K then V of one sequence of `len` tokens (one head), for a kernel
    /// that stores k in groups of `group` (1: fp32, 2: bf16 pairs).
    fn packed_len(&self, len: usize, group: usize) -> usize {
        self.packed_k_len(len, group)
            + self.head_dim.div_ceil(PANEL) * PANEL * len.next_multiple_of(group)
    }

    /// Elements of packed Kᵀ (the first part of [`Self::packed_len`]).
    fn packed_k_len(&self, len: usize, group: usize) -> usize {
        len.div_ceil(PANEL) * PANEL * self.head_dim.next_multiple_of(group)
    }

    /// Elements of packed K and V of every sequence, for one head.
    fn packed_per_head(&self, group: usize) -> usize {
        self.lens.iter().map(|&l| self.packed_len(l, group)).sum()
    }

    fn longest(&self) -> usize {
        self.lens.iter().copied().max().unwrap_or(0)
    }
}

/// Micro-kernel strips of query rows per task of phase 2, where they fit in [`MAX_ROWS`]: the
/// strips of a task share each K and V tile from L1 ([`block_product`]).
const STRIPS_PER_TASK: usize = 4;

/// The most query rows of one task (one scores block): 4 strips of the 12-row kernels.
const MAX_ROWS: usize = 48;

/// Query rows per task for a kernel of `mr` rows: [`STRIPS_PER_TASK`] strips, or as many as
/// fit in [`MAX_ROWS`] (one of the 32-row AMX kernels).
const fn rows_per_task(mr: usize) -> usize {
    let fit = MAX_ROWS / mr;
    let strips = if fit < STRIPS_PER_TASK {
        fit
    } else {
        STRIPS_PER_TASK
    };
    strips * mr
}

/// Deepest k block of P·V (k = the sequence's length) of the register-tile kernels: the
/// block's probabilities (rows × PV_KB) and one V tile (PV_KB × NR) stay in L1 while every
/// strip of the task reads them. A constant per kernel (the table's `attention` entries pass it,
/// or another), like the GEMMs' KC, so that results do not depend on the machine.
pub(crate) const PV_KB: usize = 128;

/// Buffers of [`attention`](fn@crate::attention): packed K and V of every (head, sequence), and one MR × longest
/// scores strip per worker thread. Sized by [`AttentionScratch::prepare`] (grown, never shrunk),
/// after which calls of that size or smaller allocate nothing, whichever threads run them.
#[derive(Default)]
pub struct AttentionScratch {
    kv: AlignedBuf,
    /// One per rayon worker (indexed by `rayon::current_thread_index`, modulo the length); a
    /// mutex so that a task on a thread of another pool still gets exclusive use.
    strips: Vec<Mutex<Vec<f32>>>,
    /// bf16 ([`attention_bf16`](crate::attention_bf16)): packed K and V, Q rounded, and each worker's probabilities,
    /// as bf16 bits (`vdpbf16ps`, `bfmmla`/`bfdot`, the references) or as bf16 values in fp32
    /// (widening kernels).
    kv16: AlignedBuf<u16>,
    q16: AlignedBuf<u16>,
    strips16: Vec<Mutex<Vec<u16>>>,
    q32: AlignedBuf<f32>,
    strips32: Vec<Mutex<Vec<f32>>>,
}

impl std::fmt::Debug for AttentionScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttentionScratch")
            .field("kv_floats", &self.kv.as_slice().len())
            .field("strips", &self.strips.len())
            .finish()
    }
}

/// Row stride of a scores strip: len rounded up to a whole cache line.
fn strip_stride(len: usize) -> usize {
    len.next_multiple_of(16)
}

impl AttentionScratch {
    /// Empty scratch; [`attention`](fn@crate::attention) sizes it on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grows the buffers for `shape` on the current rayon pool's thread count (fp32).
    pub fn prepare(&mut self, shape: &AttentionShape) {
        grow(&mut self.kv, shape.heads * shape.packed_per_head(1));
        grow_strips(&mut self.strips, shape);
    }

    /// [`AttentionScratch::prepare`] for [`attention_bf16`](crate::attention_bf16) on kernels reading A as `A`.
    fn prepare_bf16<A: AttnA>(&mut self, shape: &AttentionShape) {
        grow(&mut self.kv16, shape.heads * shape.packed_per_head(2));
        grow(A::q_mut(self), shape.tokens() * shape.hidden());
        grow_strips(&mut self.strips, shape);
        grow_strips(A::strips_mut(self), shape);
    }

    /// Elements held.
    pub fn len(&self) -> usize {
        fn held<T>(strips: &[Mutex<Vec<T>>]) -> usize {
            strips.iter().map(|s| s.lock().map_or(0, |s| s.len())).sum()
        }
        self.kv.as_slice().len()
            + self.kv16.as_slice().len()
            + self.q16.as_slice().len()
            + self.q32.as_slice().len()
            + held(&self.strips)
            + held(&self.strips16)
            + held(&self.strips32)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn grow<T: Elem>(buf: &mut AlignedBuf<T>, len: usize) {
    if buf.as_slice().len() < len {
        buf.set_len(len);
    }
}

/// One scores block (MAX_ROWS × longest) per worker thread of the current pool.
fn grow_strips<T: Copy + Default>(strips: &mut Vec<Mutex<Vec<T>>>, shape: &AttentionShape) {
    let threads = rayon::current_num_threads().max(1);
    if strips.len() < threads {
        strips.resize_with(threads, Default::default);
    }
    let strip = MAX_ROWS * strip_stride(shape.longest());
    for s in strips {
        let s = s.get_mut().unwrap_or_else(|e| e.into_inner());
        if s.len() < strip {
            s.resize(strip, T::default());
        }
    }
}

/// What attention needs of a micro-kernel beyond the GEMM: packing strided K and V into its
/// B panels, and (bf16) rounding Q and the probabilities into its A element type.
pub(crate) trait AttnKernel: MicroKernel {
    /// Whether Q and P must be converted (else they are read in place, as fp32).
    const CONVERT: bool;
    /// Packs the k×n operand (element (p, j) = `src[p·rs + j·cs]`) into `out`, exactly
    /// `⌈n/32⌉·32·(k rounded up to K_GROUP)` elements.
    fn pack(k: usize, n: usize, src: &[f32], rs: usize, cs: usize, out: &mut [Self::B]);
    /// fp32 values in A's element type (`src` and `dst` of one length).
    fn round(src: &[f32], dst: &mut [Self::A]);
    /// fp32 data as A's element type, read in place (fp32 kernels; empty for the others,
    /// which never read A in place).
    fn in_place(x: &[f32]) -> &[Self::A];
    /// Sizes the scratch for `shape`.
    fn prepare(scratch: &mut AttentionScratch, shape: &AttentionShape);
    /// The scratch's packed K|V buffer of this kernel's B type.
    fn kv_mut(scratch: &mut AttentionScratch) -> &mut AlignedBuf<Self::B>;
    /// The scratch's rounded-Q buffer of this kernel's A type.
    fn q_mut(scratch: &mut AttentionScratch) -> &mut AlignedBuf<Self::A>;
    /// The scratch's packed K|V, rounded Q and per-worker probability strips.
    fn buffers(scratch: &AttentionScratch) -> Buffers<'_, Self::B, Self::A>;
}

/// See [`AttnKernel::buffers`].
type Buffers<'a, B, A> = (&'a [B], &'a [A], &'a [Mutex<Vec<A>>]);

/// Where the bf16 attention keeps Q and the probabilities, per A element type.
trait AttnA: crate::gemm::bf16::RoundedA {
    fn q_mut(s: &mut AttentionScratch) -> &mut AlignedBuf<Self>;
    fn strips_mut(s: &mut AttentionScratch) -> &mut Vec<Mutex<Vec<Self>>>;
    fn view(s: &AttentionScratch) -> (&[Self], &[Mutex<Vec<Self>>]);
}

impl AttnA for u16 {
    fn q_mut(s: &mut AttentionScratch) -> &mut AlignedBuf<u16> {
        &mut s.q16
    }
    fn strips_mut(s: &mut AttentionScratch) -> &mut Vec<Mutex<Vec<u16>>> {
        &mut s.strips16
    }
    fn view(s: &AttentionScratch) -> (&[u16], &[Mutex<Vec<u16>>]) {
        (s.q16.as_slice(), &s.strips16)
    }
}

impl AttnA for f32 {
    fn q_mut(s: &mut AttentionScratch) -> &mut AlignedBuf<f32> {
        &mut s.q32
    }
    fn strips_mut(s: &mut AttentionScratch) -> &mut Vec<Mutex<Vec<f32>>> {
        &mut s.strips32
    }
    fn view(s: &AttentionScratch) -> (&[f32], &[Mutex<Vec<f32>>]) {
        (s.q32.as_slice(), &s.strips32)
    }
}

impl<K: StridedKernel> AttnKernel for K {
    const CONVERT: bool = false;
    fn pack(k: usize, n: usize, src: &[f32], rs: usize, cs: usize, out: &mut [f32]) {
        pack_b_into(k, n, src, rs, cs, out, K::AVX512_PACKING);
    }
    fn round(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    fn in_place(x: &[f32]) -> &[f32] {
        x
    }
    fn prepare(scratch: &mut AttentionScratch, shape: &AttentionShape) {
        scratch.prepare(shape);
    }
    fn kv_mut(scratch: &mut AttentionScratch) -> &mut AlignedBuf {
        &mut scratch.kv
    }
    fn q_mut(scratch: &mut AttentionScratch) -> &mut AlignedBuf {
        &mut scratch.q32
    }
    fn buffers(scratch: &AttentionScratch) -> Buffers<'_, f32, f32> {
        (scratch.kv.as_slice(), &[], &scratch.strips)
    }
}

/// Packs a strided k×n fp32 operand into bf16 pair panels (the `PackedBf16` layout): element
/// (p, j) at `(j/32)·kp·32 + (p/2)·64 + (j%32)·2 + p%2`. The two layouts attention has — Kᵀ
/// (`rs = 1`: each column contiguous) and V (`cs = 1`: each row contiguous) — round whole
/// contiguous runs at once ([`round_slice`], vectorised) and then place the bf16 values.
fn pack_bf16(k: usize, n: usize, src: &[f32], rs: usize, cs: usize, out: &mut [u16]) {
    let kp = k.next_multiple_of(2);
    assert_eq!(
        out.len(),
        n.div_ceil(PANEL) * PANEL * kp,
        "pack_bf16: out length"
    );
    out.fill(0);
    if k == 0 || n == 0 {
        return;
    }
    let mut tmp = [[0u16; 2 * PANEL]; 2];
    if cs == 1 && n <= 2 * PANEL {
        // V: rows p, p + 1 rounded, then interleaved into each panel's pair row.
        for q in 0..kp / 2 {
            for (r, t) in tmp.iter_mut().enumerate() {
                let p = 2 * q + r;
                if p < k {
                    round_slice(&src[p * rs..][..n], &mut t[..n]);
                } else {
                    t.fill(0);
                }
            }
            for jp in 0..n.div_ceil(PANEL) {
                let dst = &mut out[jp * PANEL * kp + q * 2 * PANEL..][..2 * PANEL];
                let cols = PANEL.min(n - jp * PANEL);
                for jj in 0..cols {
                    dst[2 * jj] = tmp[0][jp * PANEL + jj];
                    dst[2 * jj + 1] = tmp[1][jp * PANEL + jj];
                }
            }
        }
    } else if rs == 1 && k <= 2 * PANEL {
        // Kᵀ: column j (contiguous along p) rounded, then its pairs placed 64 apart.
        for j in 0..n {
            round_slice(&src[j * cs..][..k], &mut tmp[0][..k]);
            let base = (j / PANEL) * PANEL * kp + (j % PANEL) * 2;
            for (p, &v) in tmp[0][..k].iter().enumerate() {
                out[base + (p / 2) * 2 * PANEL + p % 2] = v;
            }
        }
    } else {
        for j in 0..n {
            let base = (j / PANEL) * PANEL * kp + (j % PANEL) * 2;
            for p in 0..k {
                out[base + (p / 2) * 2 * PANEL + p % 2] = to_bf16(src[p * rs + j * cs]);
            }
        }
    }
}

macro_rules! bf16_attn_kernel {
    ($($ty:ty),*) => {$(
        impl AttnKernel for $ty {
            const CONVERT: bool = true;
            fn pack(k: usize, n: usize, src: &[f32], rs: usize, cs: usize, out: &mut [u16]) {
                pack_bf16(k, n, src, rs, cs, out);
            }
            fn round(src: &[f32], dst: &mut [Self::A]) {
                <Self::A as crate::gemm::bf16::RoundedA>::round(src, dst);
            }
            fn in_place(_: &[f32]) -> &[Self::A] {
                &[]
            }
            fn prepare(scratch: &mut AttentionScratch, shape: &AttentionShape) {
                scratch.prepare_bf16::<Self::A>(shape);
            }
            fn kv_mut(scratch: &mut AttentionScratch) -> &mut AlignedBuf<u16> {
                &mut scratch.kv16
            }
            fn q_mut(scratch: &mut AttentionScratch) -> &mut AlignedBuf<Self::A> {
                <Self::A as AttnA>::q_mut(scratch)
            }
            fn buffers(scratch: &AttentionScratch) -> Buffers<'_, u16, Self::A> {
                let (q, strips) = <Self::A as AttnA>::view(scratch);
                (scratch.kv16.as_slice(), q, strips)
            }
        }
    )*};
}
bf16_attn_kernel!(
    crate::gemm::ukr::bf16_reference::ReferenceBf16_4x16,
    crate::gemm::ukr::bf16_reference::ReferenceArmBf16_4x16,
    crate::gemm::ukr::bf16_reference::ReferenceAmxBf16_4x16
);
#[cfg(target_arch = "aarch64")]
bf16_attn_kernel!(
    crate::gemm::ukr::bf16_neonbf16::NeonBfmmla_12x8,
    crate::gemm::ukr::bf16_neonbf16::NeonBfdot_8x8
);
#[cfg(target_arch = "x86_64")]
bf16_attn_kernel!(
    crate::gemm::ukr::bf16_avx2::Avx2Bf16Widen_4x16,
    crate::gemm::ukr::bf16_avx512::Avx512Bf16Widen_12x32,
    crate::gemm::ukr::bf16_avx512::Avx512Bf16_12x32,
    crate::gemm::ukr::amx::AmxBf16_32x32
);
#[cfg(target_arch = "aarch64")]
bf16_attn_kernel!(crate::gemm::ukr::bf16_neon::NeonBf16Widen_4x16);

/// Checks the slices against the shape; returns whether there is anything to compute.
///
/// # Panics
/// If a slice is shorter than the shape requires.
pub(crate) fn check(qkv: &[f32], shape: &AttentionShape, keep: &[bool], ctx: &[f32]) -> bool {
    let (t, h) = (shape.tokens(), shape.hidden());
    assert!(
        qkv.len() >= t * 3 * h,
        "attention: qkv is shorter than tokens × 3H"
    );
    assert!(keep.len() >= t, "attention: keep is shorter than tokens");
    assert!(
        ctx.len() >= t * h,
        "attention: ctx is shorter than tokens × H"
    );
    t > 0 && h > 0
}

/// C (m × n at row stride `rs_c`) = alpha · A·B on micro-kernel `K`, for attention's two
/// products: A row-major at stride `a_rs` (Q or the probabilities, read in place), B packed
/// panels (Kᵀ or V), k cut into blocks of at most `kb` (a multiple of `K::K_GROUP`). Unlike
/// `gemm::driver` (A's strip kept in L1, B streamed from L2 once per strip: right for weights,
/// which no other strip shares), the loops run k block → B tile → strip, so each B tile is read
/// from L2 once and then from L1 by every strip of the block: K and V are shared by all the
/// query rows of a head.
///
/// # Safety
/// As `gemm::driver_raw`: `c + i·rs_c + j` is valid for reads and writes for `i < m, j < n`, with
/// no other access to those elements during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn block_product<K: MicroKernel>(
    m: usize,
    n: usize,
    k: usize,
    a: &[K::A],
    a_rs: usize,
    bp: &[K::B],
    c: CPtr,
    rs_c: usize,
    alpha: f32,
    kb: usize,
) {
    assert!(K::supported(), "{}: CPU lacks the instruction set", K::NAME);
    assert!(k.is_multiple_of(K::K_GROUP) && kb.is_multiple_of(K::K_GROUP) && kb > 0);
    if m == 0 || n == 0 {
        return;
    }
    let (m_tiles, n_panels) = (m.div_ceil(K::MR), n.div_ceil(PANEL));
    assert!(a_rs >= k && a.len() >= (m - 1) * a_rs + k);
    assert!(bp.len() >= n_panels * PANEL * k && rs_c >= n);
    K::session(|| {
        for (pc, kc) in crate::gemm::blocking::k_blocks(k, kb, K::K_GROUP) {
            for jr in 0..n_panels {
                let panel = bp.as_ptr().wrapping_add(jr * PANEL * k + pc * PANEL);
                for sub in (0..PANEL).step_by(K::NR) {
                    let j0 = jr * PANEL + sub;
                    if j0 >= n {
                        break;
                    }
                    let cols = K::NR.min(n - j0);
                    let b = panel.wrapping_add(sub * K::K_GROUP);
                    // The tile after this one's strips: the panel's next NR columns, or the next
                    // panel's first (only prefetched).
                    let next_b = if sub + K::NR < PANEL {
                        b.wrapping_add(K::NR * K::K_GROUP)
                    } else {
                        panel.wrapping_add(PANEL * k)
                    };
                    for ir in 0..m_tiles {
                        let i0 = ir * K::MR;
                        let tepi = TileEpi {
                            first: pc == 0,
                            last: pc + kc == k,
                            alpha,
                            bias: std::ptr::null(),
                            gelu: false,
                            residual: std::ptr::null(),
                            rs_res: 0,
                            next_b: if ir + 1 < m_tiles { b } else { next_b }.cast(),
                            l2_next: std::ptr::null(),
                            l2_lines: 0,
                            quant: QuantTile::NONE,
                        };
                        // SAFETY: K is supported and kc a multiple of K_GROUP (asserted; k_blocks
                        // starts blocks at multiples of it); inside `K::session`. A's rows i0..i0 + rows hold columns
                        // pc..pc + kc (a_rs ≥ k, length asserted); `b` starts at k row pc of B
                        // panel jr, NR·K_GROUP-element groups g < kc / K_GROUP inside `bp`
                        // (length asserted, sub + NR ≤ PANEL). 1 ≤ rows ≤ MR, 1 ≤ cols ≤ NR; the C
                        // tile (i0.., j0..) is inside C (rs_c ≥ n and the caller's contract), read
                        // only after an earlier k block wrote it. `next_b` is only prefetched.
                        unsafe {
                            K::tile(
                                kc,
                                a.as_ptr().add(i0 * a_rs + pc),
                                a_rs,
                                b,
                                c.get().add(i0 * rs_c + j0),
                                rs_c,
                                K::MR.min(m - i0),
                                cols,
                                &tepi,
                            )
                        };
                    }
                }
            }
        }
    })
}

/// Attention (see the [module docs](self)) on micro-kernel `K` with P·V in k blocks of at most
/// `PV` (part of the numerics) and the row operations `ops`: the kernel table's `attention`.
/// The caller has checked the slices ([`check`]).
pub(crate) fn run<K: AttnKernel, const PV: usize>(
    ops: &Ops,
    qkv: &[f32],
    shape: &AttentionShape,
    keep: &[bool],
    ctx: &mut [f32],
    scratch: &mut AttentionScratch,
) {
    const { assert!(K::MR <= MAX_ROWS) };
    K::prepare(scratch, shape);
    let (d, h) = (shape.head_dim, shape.hidden());
    let g = K::K_GROUP;
    let per_head = shape.packed_per_head(g);
    let kv = &mut K::kv_mut(scratch).as_mut_slice()[..shape.heads * per_head];

    // Phase 1: K (transposed) and V of every (head, sequence) into B panels.
    crate::team::for_each_chunk_mut(kv, per_head, |head, out| {
        let (mut row0, mut off) = (0, 0);
        for &len in shape.lens {
            let (kdst, vdst) =
                out[off..off + shape.packed_len(len, g)].split_at_mut(shape.packed_k_len(len, g));
            let base = row0 * 3 * h + head * d;
            // Kᵀ: element (p, j) = K[j][p] at qkv[(row0 + j)·3H + H + head·d + p].
            K::pack(d, len, &qkv[base + h..], 1, 3 * h, kdst);
            // V: element (p, j) = V[p][j] at qkv[(row0 + p)·3H + 2H + head·d + j].
            K::pack(len, d, &qkv[base + 2 * h..], 3 * h, 1, vdst);
            row0 += len;
            off += shape.packed_len(len, g);
        }
    });
    if K::CONVERT {
        // Q of every token rounded once, (tokens, H) at row stride H.
        let q = &mut K::q_mut(scratch).as_mut_slice()[..shape.tokens() * h];
        crate::team::for_each_chunk_mut(q, 16 * h, |i, dst| {
            for (t, dst) in dst.chunks_exact_mut(h).enumerate() {
                K::round(&qkv[(16 * i + t) * 3 * h..][..h], dst);
            }
        });
    }
    let (kv, q_conv, strips_conv) = K::buffers(scratch);
    let kv = &kv[..shape.heads * per_head];

    // Phase 2: tasks (head, sequence, block of `rows_per_task(MR)` query rows).
    let rows_per_task = rows_per_task(K::MR);
    let tasks_per_head: usize = shape.lens.iter().map(|l| l.div_ceil(rows_per_task)).sum();
    let cptr = CPtr(ctx.as_mut_ptr());
    let strips = &scratch.strips;
    let task = |t: usize| {
        let (head, mut rest) = (t / tasks_per_head, t % tasks_per_head);
        // Find the sequence of this task (a handful of sequences: a scan is cheapest).
        let (mut row0, mut off) = (0, 0);
        let mut seq_len = 0;
        for &len in shape.lens {
            let n = len.div_ceil(rows_per_task);
            if rest < n {
                seq_len = len;
                break;
            }
            rest -= n;
            row0 += len;
            off += shape.packed_len(len, g);
        }
        let len = seq_len;
        let packed = &kv[head * per_head + off..][..shape.packed_len(len, g)];
        let (kpan, vpan) = packed.split_at(shape.packed_k_len(len, g));
        let (dp, lenp) = (d.next_multiple_of(g), len.next_multiple_of(g));
        let keep = &keep[row0..row0 + len];
        // Unmasked sequences (the usual case: batches are not padded) skip the mask and defer
        // the softmax's division to the d-wide context rows.
        let all_keep = keep.iter().all(|&k| k);
        let slot = rayon::current_thread_index().unwrap_or(0) % strips.len();
        let mut strip = strips[slot].lock().unwrap_or_else(|e| e.into_inner());
        let mut strip_conv =
            K::CONVERT.then(|| strips_conv[slot].lock().unwrap_or_else(|e| e.into_inner()));
        let ls = strip_stride(len);
        let i0 = rest * rows_per_task;
        let rows = rows_per_task.min(len - i0);
        let s = &mut strip[..rows * ls];
        let (q, q_rs) = if K::CONVERT {
            (&q_conv[(row0 + i0) * h + head * d..], h)
        } else {
            (K::in_place(&qkv[(row0 + i0) * 3 * h + head * d..]), 3 * h)
        };
        let sp = CPtr(s.as_mut_ptr());
        // S (rows × len) = scale·Q·Kᵀ, in one k block (d).
        // SAFETY: `s` holds rows × ls ≥ rows × len floats and is this task's alone.
        unsafe { block_product::<K>(rows, len, dp, q, q_rs, kpan, sp, ls, shape.scale, dp) };
        let mut inv = [1.0f32; MAX_ROWS];
        for (r, inv) in s.chunks_exact_mut(ls).zip(&mut inv) {
            if all_keep {
                *inv = 1.0 / ops.softmax_unnormalized(&mut r[..len]);
            } else {
                ops.masked_softmax(&mut r[..len], 1.0, keep);
            }
        }
        // ctx rows (row0 + i0..) × columns head·d.. (rows × d) = S·V
        let p: &[K::A] = match strip_conv.as_deref_mut() {
            Some(conv) => {
                // P rounded, the pad column of an odd len zero.
                let conv = &mut conv[..rows * ls];
                for (src, dst) in s.chunks_exact(ls).zip(conv.chunks_exact_mut(ls)) {
                    K::round(&src[..len], &mut dst[..len]);
                    dst[len..lenp].fill(Default::default());
                }
                &*conv
            }
            None => K::in_place(s),
        };
        let c = CPtr(cptr.get().wrapping_add((row0 + i0) * h + head * d));
        // SAFETY: rows row0+i0.. (< tokens) at stride H ≥ d, columns head·d..head·d+d
        // (≤ H) are inside `ctx` (length checked: ≥ tokens·H). Tasks cover disjoint
        // (head, rows) pairs, so no other thread touches these elements; `ctx` stays
        // mutably borrowed until all tasks end.
        unsafe { block_product::<K>(rows, d, lenp, p, ls, vpan, c, h, 1.0, PV) };
        if all_keep {
            for (r, &inv) in inv[..rows].iter().enumerate() {
                // SAFETY: row r < rows of the block just written (see above): d floats
                // inside `ctx`, touched by this task only.
                let out = unsafe { std::slice::from_raw_parts_mut(c.get().add(r * h), d) };
                out.iter_mut().for_each(|v| *v *= inv);
            }
        }
    };
    let tasks = shape.heads * tasks_per_head;
    crate::team::for_each(tasks, task);
}

/// The scalar oracle of [`attention`](fn@crate::attention): the formula of the module docs, plainly (f32 dot products
/// in index order, [`crate::ops::reference::masked_softmax`]).
///
/// # Panics
/// As [`attention`](fn@crate::attention).
pub fn attention_reference(qkv: &[f32], shape: &AttentionShape, keep: &[bool], ctx: &mut [f32]) {
    if !check(qkv, shape, keep, ctx) {
        return;
    }
    let (d, h) = (shape.head_dim, shape.hidden());
    let mut row0 = 0;
    for &len in shape.lens {
        let keep = &keep[row0..row0 + len];
        let mut p = vec![0.0f32; len];
        for head in 0..shape.heads {
            for i in 0..len {
                let q = &qkv[(row0 + i) * 3 * h + head * d..][..d];
                for (j, pj) in p.iter_mut().enumerate() {
                    let k = &qkv[(row0 + j) * 3 * h + h + head * d..][..d];
                    *pj = q.iter().zip(k).map(|(a, b)| a * b).sum();
                }
                crate::ops::reference::masked_softmax(&mut p, shape.scale, keep);
                let out = &mut ctx[(row0 + i) * h + head * d..][..d];
                out.fill(0.0);
                for (j, &pj) in p.iter().enumerate() {
                    let v = &qkv[(row0 + j) * 3 * h + 2 * h + head * d..][..d];
                    for (o, &vv) in out.iter_mut().zip(v) {
                        *o += pj * vv;
                    }
                }
            }
        }
        row0 += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bf16Path, Isa};

    fn rng_vec(seed: u64, n: usize) -> Vec<f32> {
        crate::ops::tests::rng_vec(seed, n, 1.0)
    }

    /// A random case: (shape, qkv with |v| ≤ 3, keep, the scalar oracle's context).
    fn setup(
        heads: usize,
        d: usize,
        lens: &[usize],
        masked: bool,
        seed: u64,
    ) -> (AttentionShape<'_>, Vec<f32>, Vec<bool>, Vec<f32>) {
        let shape = AttentionShape {
            heads,
            head_dim: d,
            scale: 1.0 / (d as f32).sqrt(),
            lens,
        };
        let (t, h) = (shape.tokens(), shape.hidden());
        // Larger logits than BERT's typical ones, so the softmax is far from uniform.
        let qkv: Vec<f32> = rng_vec(seed, t * 3 * h).iter().map(|v| v * 3.0).collect();
        let keep: Vec<bool> = (0..t).map(|i| !masked || i % 7 != 3).collect();
        let mut want = vec![0.0; t * h];
        attention_reference(&qkv, &shape, &keep, &mut want);
        (shape, qkv, keep, want)
    }

    fn case(heads: usize, d: usize, lens: &[usize], masked: bool, seed: u64) {
        let (shape, qkv, keep, want) = setup(heads, d, lens, masked, seed);
        let (t, h) = (shape.tokens(), shape.hidden());
        crate::dispatch::report_skipped_once();
        for isa in Isa::ALL.iter().copied().filter(|i| i.is_supported()) {
            let mut scratch = AttentionScratch::new();
            let mut got = vec![f32::NAN; t * h];
            crate::Kernels::of(isa).attention(&qkv, &shape, &keep, &mut got, &mut scratch);
            // Outputs are convex combinations of V (|v| ≤ 3). Rounding (ε ≈ 6e-8 per operation)
            // grows with the d-term dot products — a logit's absolute error becomes p's relative
            // error through exp — and with the len-term sums: ≤ 3·1e-7·(d + len), ~40× the
            // largest error measured (3.1e-6 at d = 64, len = 385); a wrong key, scale or mask
            // is off by > 1e-2.
            let tol = 3e-7 * (d + lens.iter().max().unwrap()) as f32;
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= tol,
                    "{isa} heads {heads} d {d} lens {lens:?} masked {masked}: [{i}] {g} vs {w}"
                );
            }
            // A second call on the warm scratch, on fewer threads, is bit-identical.
            let mut again = vec![f32::NAN; t * h];
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| {
                    crate::Kernels::of(isa).attention(&qkv, &shape, &keep, &mut again, &mut scratch)
                });
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                again.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    /// bf16 attention on every bf16 path against the fp32 oracle. Bound, from the roundings:
    /// Q and K rounded (relative 2⁻⁹ each) move a score by at most
    /// Δs = 2⁻⁸·scale·maxᵢⱼ Σₚ|qᵢₚ·kⱼₚ|, which moves each probability by a relative
    /// ≤ e^{2Δs} − 1; P and V rounded add 2⁻⁹ each; outputs are convex combinations of V (|v| ≤
    /// 3). So |Δctx| ≤ 3·(e^{2Δs} − 1 + 2·2⁻⁹) plus the fp32 tolerance.
    fn case_bf16(heads: usize, d: usize, lens: &[usize], masked: bool, seed: u64) {
        let (shape, qkv, keep, want) = setup(heads, d, lens, masked, seed);
        let (t, h) = (shape.tokens(), shape.hidden());
        let mut ds = 0.0f32;
        let mut row0 = 0;
        for &len in lens {
            for head in 0..heads {
                for i in 0..len {
                    for j in 0..len {
                        let dot: f32 = (0..d)
                            .map(|p| {
                                (qkv[(row0 + i) * 3 * h + head * d + p]
                                    * qkv[(row0 + j) * 3 * h + h + head * d + p])
                                    .abs()
                            })
                            .sum();
                        ds = ds.max(dot);
                    }
                }
            }
            row0 += len;
        }
        let ds = ds * shape.scale / 256.0;
        let tol = 3.0 * ((2.0 * ds).exp_m1() + 2.0 / 512.0)
            + 3e-7 * (d + lens.iter().max().unwrap()) as f32;
        crate::dispatch::report_skipped_once();
        for path in Bf16Path::ALL.into_iter().filter(|p| p.is_supported()) {
            let mut scratch = AttentionScratch::new();
            let mut got = vec![f32::NAN; t * h];
            crate::Bf16Kernels::of(path).attention(&qkv, &shape, &keep, &mut got, &mut scratch);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= tol,
                "{path:?} heads {heads} d {d} lens {lens:?} masked {masked}: max |Δ| {worst} > {tol}"
            );
            // Rounding really happened (fp32 is within 3e-7·(d + len)).
            assert!(worst > 1e-4, "{path:?}: no bf16 rounding visible ({worst})");
            let mut again = vec![f32::NAN; t * h];
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| {
                    crate::Bf16Kernels::of(path).attention(
                        &qkv,
                        &shape,
                        &keep,
                        &mut again,
                        &mut scratch,
                    )
                });
            assert!(got
                .iter()
                .zip(&again)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn bf16_matches_reference_within_rounding() {
        case_bf16(2, 8, &[5], false, 2);
        case_bf16(3, 16, &[13, 1, 40], true, 3);
        case_bf16(2, 64, &[97, 33], false, 4);
        case_bf16(4, 64, &[48, 49, 47, 12], true, 5);
        case_bf16(1, 64, &[385], false, 7);
        case_bf16(3, 32, &[200, 77], false, 8);
    }

    #[test]
    fn matches_reference() {
        case(1, 1, &[1], false, 1);
        case(2, 8, &[5], false, 2);
        case(3, 16, &[13, 1, 40], true, 3);
        case(2, 64, &[97, 33], false, 4);
        case(4, 64, &[48, 49, 47, 12], true, 5);
        case(2, 40, &[130], true, 6);
        case(1, 64, &[385], false, 7);
        // MiniLM's heads; P·V in two k blocks, a last block of a partial strip.
        case(3, 32, &[200, 77], false, 8);
    }

    #[test]
    fn all_masked_sequence_is_uniform() {
        let shape = AttentionShape {
            heads: 1,
            head_dim: 4,
            scale: 0.5,
            lens: &[3],
        };
        let qkv = rng_vec(9, 3 * 12);
        let mut ctx = vec![0.0; 12];
        crate::attention(
            &qkv,
            &shape,
            &[false; 3],
            &mut ctx,
            &mut AttentionScratch::new(),
        );
        for j in 0..4 {
            let mean = (0..3).map(|t| qkv[t * 12 + 8 + j]).sum::<f32>() / 3.0;
            for t in 0..3 {
                assert!((ctx[t * 4 + j] - mean).abs() < 1e-6);
            }
        }
    }
}
