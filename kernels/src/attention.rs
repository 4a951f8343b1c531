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
//! 2. **Per (head, sequence, block of rows)**: for each MR-row strip of queries, S = Q·Kᵀ into an
//!    MR × len scratch that stays in L1 (the scale applied in the GEMM's epilogue), the softmax
//!    of its rows, then ctx = S·V written straight into the heads' columns of `ctx` — no scores
//!    matrix, no head-major copy. Q and S are the micro-kernel's broadcast operand, read in
//!    place. Unmasked sequences (batches are not padded, so the usual case) leave the softmax
//!    unnormalised and divide the d-wide context rows by the sums instead of the len-wide
//!    probability rows.
//!
//! Results are bit-identical whatever the thread count: every output element is computed by the
//! same sequence of micro-kernel calls whichever task runs it.

use crate::dispatch::{isa, Isa};
use crate::gemm::pack::{pack_b_into, PANEL};
use crate::gemm::ukr::{reference::Reference4x16, StridedKernel};
use crate::gemm::{driver, driver_raw, AOperand, CPtr, Epi};
use crate::ops::{masked_softmax_with, softmax_unnormalized_with};
use rayon::prelude::*;
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

    /// Floats of packed K then V of one sequence of `len` tokens (one head).
    fn packed_len(&self, len: usize) -> usize {
        self.packed_k_len(len) + self.head_dim.div_ceil(PANEL) * PANEL * len
    }

    /// Floats of packed Kᵀ (the first part of [`Self::packed_len`]).
    fn packed_k_len(&self, len: usize) -> usize {
        len.div_ceil(PANEL) * PANEL * self.head_dim
    }

    /// Floats of packed K and V of every sequence, for one head.
    fn packed_per_head(&self) -> usize {
        self.lens.iter().map(|&l| self.packed_len(l)).sum()
    }

    fn longest(&self) -> usize {
        self.lens.iter().copied().max().unwrap_or(0)
    }
}

/// Rows of queries per task of phase 2, in micro-kernel strips.
const STRIPS_PER_TASK: usize = 4;

/// Buffers of [`attention`]: packed K and V of every (head, sequence), and one MR × longest
/// scores strip per worker thread. Sized by [`AttentionScratch::prepare`] (grown, never shrunk),
/// after which calls of that size or smaller allocate nothing, whichever threads run them.
#[derive(Default)]
pub struct AttentionScratch {
    kv: crate::gemm::pack::AlignedBuf,
    /// One per rayon worker (indexed by `rayon::current_thread_index`, modulo the length); a
    /// mutex so that a task on a thread of another pool still gets exclusive use.
    strips: Vec<Mutex<Vec<f32>>>,
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

/// The largest micro-kernel row count of any ISA (strips are sized for it).
const MAX_MR: usize = 12;

impl AttentionScratch {
    /// Empty scratch; [`attention`] sizes it on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grows the buffers for `shape` on the current rayon pool's thread count.
    pub fn prepare(&mut self, shape: &AttentionShape) {
        let kv = shape.heads * shape.packed_per_head();
        if self.kv.as_slice().len() < kv {
            self.kv.set_len(kv);
        }
        let threads = rayon::current_num_threads().max(1);
        if self.strips.len() < threads {
            self.strips.resize_with(threads, Default::default);
        }
        let strip = MAX_MR * strip_stride(shape.longest());
        for s in &mut self.strips {
            let s = s.get_mut().unwrap_or_else(|e| e.into_inner());
            if s.len() < strip {
                s.resize(strip, 0.0);
            }
        }
    }

    /// Floats held.
    pub fn len(&self) -> usize {
        self.kv.as_slice().len()
            + self
                .strips
                .iter()
                .map(|s| s.lock().map_or(0, |s| s.len()))
                .sum::<usize>()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn check(qkv: &[f32], shape: &AttentionShape, keep: &[bool], ctx: &[f32]) {
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
}

/// Multi-head attention (see the [module docs](self)): writes `ctx[..tokens·H]`.
///
/// # Panics
/// If a slice is shorter than the shape requires.
pub fn attention(
    qkv: &[f32],
    shape: &AttentionShape,
    keep: &[bool],
    ctx: &mut [f32],
    scratch: &mut AttentionScratch,
) {
    attention_with(isa(), qkv, shape, keep, ctx, scratch)
}

/// [`attention`] on the kernels of a given ISA (tests and benches).
///
/// # Panics
/// As [`attention`], and if the CPU lacks `isa`.
pub fn attention_with(
    isa: Isa,
    qkv: &[f32],
    shape: &AttentionShape,
    keep: &[bool],
    ctx: &mut [f32],
    scratch: &mut AttentionScratch,
) {
    check(qkv, shape, keep, ctx);
    assert!(isa.is_supported(), "attention: CPU lacks {isa}");
    if shape.tokens() == 0 || shape.hidden() == 0 {
        return;
    }
    scratch.prepare(shape);
    match isa {
        Isa::Reference => run::<Reference4x16>(isa, qkv, shape, keep, ctx, scratch),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => run::<crate::gemm::ukr::avx2::Avx2_6x16>(isa, qkv, shape, keep, ctx, scratch),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Bf16 => {
            run::<crate::gemm::ukr::avx512::Avx512_12x32>(isa, qkv, shape, keep, ctx, scratch)
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("{isa} is not supported here"),
    }
}

fn run<K: StridedKernel>(
    isa: Isa,
    qkv: &[f32],
    shape: &AttentionShape,
    keep: &[bool],
    ctx: &mut [f32],
    scratch: &mut AttentionScratch,
) {
    assert!(K::MR <= MAX_MR);
    let (d, h) = (shape.head_dim, shape.hidden());
    let per_head = shape.packed_per_head();
    let kv = &mut scratch.kv.as_mut_slice()[..shape.heads * per_head];

    // Phase 1: K (transposed) and V of every (head, sequence) into B panels.
    kv.par_chunks_mut(per_head)
        .enumerate()
        .for_each(|(head, out)| {
            let (mut row0, mut off) = (0, 0);
            for &len in shape.lens {
                let (kdst, vdst) =
                    out[off..off + shape.packed_len(len)].split_at_mut(shape.packed_k_len(len));
                let base = row0 * 3 * h + head * d;
                // Kᵀ: element (p, j) = K[j][p] at qkv[(row0 + j)·3H + H + head·d + p].
                pack_b_into(d, len, &qkv[base + h..], 1, 3 * h, kdst, K::AVX512_PACKING);
                // V: element (p, j) = V[p][j] at qkv[(row0 + p)·3H + 2H + head·d + j].
                pack_b_into(
                    len,
                    d,
                    &qkv[base + 2 * h..],
                    3 * h,
                    1,
                    vdst,
                    K::AVX512_PACKING,
                );
                row0 += len;
                off += shape.packed_len(len);
            }
        });
    let kv = &*kv;

    // Phase 2: tasks (head, sequence, block of STRIPS_PER_TASK·MR query rows).
    let rows_per_task = STRIPS_PER_TASK * K::MR;
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
            off += shape.packed_len(len);
        }
        let len = seq_len;
        let packed = &kv[head * per_head + off..][..shape.packed_len(len)];
        let (kpan, vpan) = packed.split_at(shape.packed_k_len(len));
        let keep = &keep[row0..row0 + len];
        // Unmasked sequences (the usual case: batches are not padded) skip the mask and defer
        // the softmax's division to the d-wide context rows.
        let all_keep = keep.iter().all(|&k| k);
        let slot = rayon::current_thread_index().unwrap_or(0) % strips.len();
        let mut strip = strips[slot].lock().unwrap_or_else(|e| e.into_inner());
        let ls = strip_stride(len);
        let first = rest * rows_per_task;
        for i0 in (first..len.min(first + rows_per_task)).step_by(K::MR) {
            let rows = K::MR.min(len - i0);
            let s = &mut strip[..rows * ls];
            let q = AOperand::RowMajor {
                data: &qkv[(row0 + i0) * 3 * h + head * d..],
                rs: 3 * h,
            };
            // S (rows × len) = scale·Q·Kᵀ
            driver::<K>(
                rows,
                len,
                d,
                q,
                kpan,
                s,
                ls,
                Epi::scaled(shape.scale),
                false,
            );
            let mut inv = [1.0f32; MAX_MR];
            for (r, inv) in s.chunks_exact_mut(ls).zip(&mut inv) {
                if all_keep {
                    *inv = 1.0 / softmax_unnormalized_with(isa, &mut r[..len]);
                } else {
                    masked_softmax_with(isa, &mut r[..len], 1.0, keep);
                }
            }
            // ctx rows (row0 + i0..) × columns head·d.. (rows × d) = S·V
            let p = AOperand::RowMajor { data: s, rs: ls };
            let c = CPtr(cptr.get().wrapping_add((row0 + i0) * h + head * d));
            // SAFETY: rows row0+i0.. (< tokens) at stride H ≥ d, columns head·d..head·d+d
            // (≤ H) are inside `ctx` (length checked: ≥ tokens·H). Tasks cover disjoint
            // (head, rows) pairs and this strip's rows belong to this task only, so no other
            // thread touches these elements; `ctx` stays mutably borrowed until all tasks end.
            unsafe { driver_raw::<K>(rows, d, len, p, vpan, c, h, Epi::scaled(1.0), false) };
            if all_keep {
                for (r, &inv) in inv[..rows].iter().enumerate() {
                    // SAFETY: row r < rows of the block the driver just wrote (see above):
                    // d floats inside `ctx`, touched by this task only.
                    let out = unsafe { std::slice::from_raw_parts_mut(c.get().add(r * h), d) };
                    out.iter_mut().for_each(|v| *v *= inv);
                }
            }
        }
    };
    let tasks = shape.heads * tasks_per_head;
    (0..tasks).into_par_iter().for_each(task);
}

/// The scalar oracle of [`attention`]: the formula of the module docs, plainly (f32 dot products
/// in index order, [`crate::ops::reference::masked_softmax`]).
///
/// # Panics
/// As [`attention`].
pub fn attention_reference(qkv: &[f32], shape: &AttentionShape, keep: &[bool], ctx: &mut [f32]) {
    check(qkv, shape, keep, ctx);
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

    fn rng_vec(seed: u64, n: usize) -> Vec<f32> {
        crate::ops::tests::rng_vec(seed, n, 1.0)
    }

    fn case(heads: usize, d: usize, lens: &[usize], masked: bool, seed: u64) {
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
        for isa in Isa::ALL.iter().copied().filter(|i| i.is_supported()) {
            let mut scratch = AttentionScratch::new();
            let mut got = vec![f32::NAN; t * h];
            attention_with(isa, &qkv, &shape, &keep, &mut got, &mut scratch);
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
                .install(|| attention_with(isa, &qkv, &shape, &keep, &mut again, &mut scratch));
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                again.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
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
        attention(
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
