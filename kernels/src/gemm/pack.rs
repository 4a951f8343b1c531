//! Packing: B (weights) once into [`PackedMatrix`], A per call into a reused buffer.
//!
//! # Packed B layout (the [`PackedMatrix`] format)
//!
//! C[m×n] = A[m×k]·Bᵀ with B [n×k] (PyTorch `Linear.weight`). B is cut into ⌈n/32⌉ *panels* of
//! [`PANEL`] = 32 consecutive rows of B (= 32 columns of C). Within a panel, the 32 values of each
//! k index are contiguous, k after k; the last panel is padded with zero rows:
//!
//! ```text
//!  panel 0                       panel 1                            panel ⌈n/32⌉−1
//! ┌─────────────────────────────┬─────────────────────────────┬─ … ─┬──────────────────────────┐
//! │B[0,0] B[1,0] … B[31,0]      │B[32,0] … B[63,0]            │     │B[.,0] … 0 0 (zero pad)   │
//! │B[0,1] B[1,1] … B[31,1]      │B[32,1] … B[63,1]            │     │                          │
//! │  ⋮     (k rows of 32)       │  ⋮                          │     │                          │
//! │B[0,k−1]   …   B[31,k−1]     │                             │     │                          │
//! └─────────────────────────────┴─────────────────────────────┴─ … ─┴──────────────────────────┘
//!  element (j, p) of B  ↦  panels[(j / 32)·k·32 + p·32 + j % 32]
//! ```
//!
//! The layout is independent of the ISA and of the cache blocking: every micro-kernel reads a
//! kc-deep slice of a panel, which is one contiguous run of kc·32 floats. On disk it is a
//! tensor of the packed-weights file (`bertqa convert`, src/model/packed.rs), mapped back with
//! [`PackedMatrix::from_shared`].
//!
//! # Packed A layout (per call, private)
//!
//! The same shape with MR (the micro-kernel's row count) in place of 32: panel `i / MR` holds rows
//! `i..i+MR` of A, the MR values of each k index contiguous; rows past m are zero.

use std::cell::Cell;

/// Width of a packed-B panel (columns of C per panel). Part of the [`PackedMatrix`] format.
pub const PANEL: usize = 32;

/// A weight matrix B [n×k] (row-major, PyTorch `Linear.weight` layout) packed for
/// [`gemm_packed`](crate::gemm_packed): 32-wide panels, see the [module docs](self) for the layout.
///
/// Packing happens once, at model load; the packed matrix is immutable, `Send + Sync`, and shared
/// by every call and thread.
#[derive(Clone)]
pub struct PackedMatrix {
    n: usize,
    k: usize,
    /// ⌈n/32⌉·k·32 floats, see the module docs.
    panels: Panels,
}

/// Where the panel floats live.
#[derive(Clone)]
enum Panels {
    /// Packed here; 64-byte aligned.
    Owned(AlignedBuf),
    /// Packed elsewhere and shared, e.g. borrowed from a memory-mapped packed-weights file.
    Shared(std::sync::Arc<dyn AsRef<[f32]> + Send + Sync>),
}

impl PartialEq for PackedMatrix {
    fn eq(&self, other: &Self) -> bool {
        (self.n, self.k) == (other.n, other.k) && self.panels() == other.panels()
    }
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedMatrix")
            .field("n", &self.n)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

/// 64 bytes, 64-byte aligned: the unit of [`AlignedBuf`].
#[derive(Clone, Copy, PartialEq)]
#[repr(C, align(64))]
struct Line([u8; LINE]);

/// Bytes of a cache line (the x86-64 line size): the unit of [`AlignedBuf`] and of the
/// prefetch plans.
pub const LINE: usize = 64;

/// Elements between the rows of an activation copy the kernels read row-major (bf16-rounded or
/// int8-quantized A): `len`, or one cache line more when the row is a multiple of 4 KiB. A
/// micro-kernel reads 12 rows at once; rows 4 KiB apart (BERT-large's k = 4096 in int8, k =
/// 2048 and 4096 in bf16) all map to the same L1 set, more lines than its 8 ways hold, and
/// evict each other on every k step: the int8 FFN down-projection ran at 60 % of the int8
/// peak instead of 88 % (`examples/lowp_table --cold`, docs/kernels.md).
pub fn a_row_stride(len: usize, elem_bytes: usize) -> usize {
    if len > 0 && (len * elem_bytes).is_multiple_of(4096) {
        len + LINE / elem_bytes
    } else {
        len
    }
}

/// Copies rows of `k` elements (`src`, row stride k) into `dst` at row stride `rs ≥ k` (the
/// gaps untouched); blocks of rows in parallel when large.
pub(crate) fn copy_rows<T: Copy + Send + Sync>(src: &[T], k: usize, dst: &mut [T], rs: usize) {
    assert!(rs >= k && k > 0 && src.len() / k * rs == dst.len() && src.len().is_multiple_of(k));
    const ROWS: usize = 32;
    let block = |(s, d): (&[T], &mut [T])| {
        for (sr, dr) in s.chunks_exact(k).zip(d.chunks_exact_mut(rs)) {
            dr[..k].copy_from_slice(sr);
        }
    };
    if src.len() >= 1 << 18 {
        crate::team::for_each_chunk_mut(dst, ROWS * rs, |i, d| {
            block((&src[i * ROWS * k..][..d.len() / rs * k], d))
        });
    } else {
        block((src, dst));
    }
}

/// Element types an [`AlignedBuf`] may hold.
///
/// # Safety
/// Implementors are plain old data: every bit pattern (all-zero included) is a valid value,
/// there is no padding, and the alignment divides [`LINE`].
pub unsafe trait Elem: Copy + Default + PartialEq + Send + Sync + 'static {}
// SAFETY: f32, u16, i8, u8 and i32 are plain old data with alignment ≤ 4.
unsafe impl Elem for f32 {}
// SAFETY: as above.
unsafe impl Elem for u16 {}
// SAFETY: as above.
unsafe impl Elem for i8 {}
// SAFETY: as above.
unsafe impl Elem for u8 {}
// SAFETY: as above.
unsafe impl Elem for i32 {}

/// A growable buffer whose start is 64-byte (cache-line) aligned, so that the micro-kernels'
/// 64-byte vector loads of packed B never straddle two cache lines. (`Vec<f32>` from the system
/// allocator is only 16-byte aligned: large blocks sit 16 bytes past a page boundary.)
#[derive(Clone, PartialEq)]
pub struct AlignedBuf<T: Elem = f32> {
    lines: Vec<Line>,
    len: usize,
    _elem: std::marker::PhantomData<T>,
}

impl<T: Elem> Default for AlignedBuf<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Elem> AlignedBuf<T> {
    const PER_LINE: usize = LINE / std::mem::size_of::<T>();

    /// An empty buffer (allocates nothing).
    pub const fn new() -> Self {
        AlignedBuf {
            lines: Vec::new(),
            len: 0,
            _elem: std::marker::PhantomData,
        }
    }

    /// Sets the length in elements, keeping existing contents (new space is zero).
    pub fn set_len(&mut self, len: usize) {
        self.lines
            .resize(len.div_ceil(Self::PER_LINE), Line([0; LINE]));
        self.len = len;
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `Line` is `repr(C)` around `[u8; 64]` (size 64, align 64), so the Vec's lines
        // are `64·lines.len()` contiguous initialised bytes, 64-aligned; T is plain old data of
        // alignment dividing 64 (`Elem`), so they hold `PER_LINE·lines.len() ≥ len` valid Ts.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }

    /// The elements, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique; any bit pattern
        // written through the slice is a valid T and valid bytes.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }

    /// Capacity in lines (to keep the larger of two buffers).
    pub(crate) fn capacity_lines(&self) -> usize {
        self.lines.capacity()
    }
}

impl PackedMatrix {
    /// Packs B [n×k] (row-major).
    ///
    /// # Panics
    /// If `b.len() != n * k`.
    pub fn pack(b: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(b.len(), n * k, "PackedMatrix::pack: b is not n×k");
        let mut panels = AlignedBuf::default();
        // B as a k×n operand: element (p, j) = b[j·k + p].
        pack_b(k, n, b, 1, k, &mut panels, true);
        PackedMatrix {
            n,
            k,
            panels: Panels::Owned(panels),
        }
    }

    /// Wraps panels already in the packed layout (e.g. read from a file).
    ///
    /// # Panics
    /// If `panels.len() != Self::panel_len(n, k)`.
    pub fn from_panels(n: usize, k: usize, panels: Vec<f32>) -> Self {
        assert_eq!(
            panels.len(),
            Self::panel_len(n, k),
            "PackedMatrix::from_panels: length"
        );
        let mut buf = AlignedBuf::default();
        buf.set_len(panels.len());
        buf.as_mut_slice().copy_from_slice(&panels);
        PackedMatrix {
            n,
            k,
            panels: Panels::Owned(buf),
        }
    }

    /// Uses panels already in the packed layout that live elsewhere (e.g. in a memory-mapped
    /// file), without copying them. Any alignment works (the micro-kernels load unaligned);
    /// 64-byte alignment is fastest.
    ///
    /// # Panics
    /// If the shared slice's length is not [`Self::panel_len`]`(n, k)`.
    pub fn from_shared(
        n: usize,
        k: usize,
        panels: std::sync::Arc<dyn AsRef<[f32]> + Send + Sync>,
    ) -> Self {
        assert_eq!(
            (*panels).as_ref().len(),
            Self::panel_len(n, k),
            "PackedMatrix::from_shared: length"
        );
        PackedMatrix {
            n,
            k,
            panels: Panels::Shared(panels),
        }
    }

    /// Number of floats in the panel buffer of an n×k matrix: ⌈n/32⌉·32·k.
    pub fn panel_len(n: usize, k: usize) -> usize {
        n.div_ceil(PANEL) * PANEL * k
    }

    /// Rows of B (columns of C).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns of B (the reduction length).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The panel buffer, in the layout of the module docs.
    pub fn panels(&self) -> &[f32] {
        match &self.panels {
            Panels::Owned(buf) => buf.as_slice(),
            Panels::Shared(shared) => (**shared).as_ref(),
        }
    }
}

/// Packs the k×n operand B (element (p, j) = `b[p·rs + j·cs]`) into 32-wide panels, resizing
/// `out`'s length to ⌈n/32⌉·32·k (every element is written). `avx512`: transposed panels may be
/// packed with AVX-512 gathers (only if the CPU has it); the result is the same either way.
///
/// # Panics
/// If `b` does not hold every addressed element.
pub(crate) fn pack_b(
    k: usize,
    n: usize,
    b: &[f32],
    rs: usize,
    cs: usize,
    out: &mut AlignedBuf,
    avx512: bool,
) {
    out.set_len(n.div_ceil(PANEL) * PANEL * k);
    pack_b_into(k, n, b, rs, cs, out.as_mut_slice(), avx512);
}

/// [`pack_b`] into a slice of exactly ⌈n/32⌉·32·k floats.
///
/// # Panics
/// If `b` does not hold every addressed element or `out` has another length.
pub(crate) fn pack_b_into(
    k: usize,
    n: usize,
    b: &[f32],
    rs: usize,
    cs: usize,
    out: &mut [f32],
    avx512: bool,
) {
    assert_eq!(
        out.len(),
        n.div_ceil(PANEL) * PANEL * k,
        "pack_b: out length"
    );
    if k == 0 || n == 0 {
        return;
    }
    assert!(b.len() > (k - 1) * rs + (n - 1) * cs, "pack_b: b too short");
    for (jp, panel) in out.chunks_exact_mut(PANEL * k).enumerate() {
        let j0 = jp * PANEL;
        let cols = PANEL.min(n - j0);
        if cols < PANEL {
            panel.fill(0.0);
        }
        if cs == 1 {
            for (p, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                let src = &b[p * rs + j0..p * rs + j0 + cols];
                dst[..cols].copy_from_slice(src);
            }
        } else if rs == 1 && cols == PANEL && avx512 && gather_ok(cs) {
            // SAFETY: AVX-512F is present (gather_ok); the 32 columns j0..j0+32 of B, k elements
            // each at stride 1, lie inside `b` by the length assert above; 31·cs fits in i32.
            unsafe { gather_panel_avx512(k, &b[j0 * cs..], cs, panel) };
        } else if rs == 1 && cols == PANEL {
            // Columns of B contiguous along k (a transposed view): read 32 column streams,
            // write each packed row of 32 contiguously.
            let col: [&[f32]; PANEL] =
                std::array::from_fn(|j| &b[(j0 + j) * cs..(j0 + j) * cs + k]);
            for (p, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                for (d, c) in dst.iter_mut().zip(&col) {
                    *d = c[p];
                }
            }
        } else {
            for (p, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                for (j, d) in dst[..cols].iter_mut().enumerate() {
                    *d = b[p * rs + (j0 + j) * cs];
                }
            }
        }
    }
}

/// Whether the AVX-512 gather path can pack a transposed panel with column stride `cs`.
fn gather_ok(cs: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        31 * cs <= i32::MAX as usize && crate::dispatch::Isa::Avx512.is_supported()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cs;
        false
    }
}

/// One full 32-wide panel of a transposed B (column j at `b[j·cs ..][..k]`): for each k index,
/// two 16-lane gathers across the 32 columns, stored as one packed row.
///
/// # Safety
/// AVX-512F is present; `b[j·cs + p]` exists for j < 32, p < k; 31·cs ≤ i32::MAX;
/// `panel.len() == 32·k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather_panel_avx512(k: usize, b: &[f32], cs: usize, panel: &mut [f32]) {
    use std::arch::x86_64::*;
    debug_assert!(panel.len() == PANEL * k && b.len() > 31 * cs + k - 1);
    let cs32 = cs as i32;
    let idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(cs32),
    );
    let (lo, hi) = (b.as_ptr(), b.as_ptr().wrapping_add(16 * cs));
    for p in 0..k {
        // SAFETY: lanes address b[j·cs + p] for j < 32, inside `b` (contract); the stores write
        // panel[p·32 .. p·32 + 32], inside `panel`.
        unsafe {
            let g0 = _mm512_i32gather_ps::<4>(idx, lo.add(p));
            let g1 = _mm512_i32gather_ps::<4>(idx, hi.add(p));
            _mm512_storeu_ps(panel.as_mut_ptr().add(p * PANEL), g0);
            _mm512_storeu_ps(panel.as_mut_ptr().add(p * PANEL + 16), g1);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn gather_panel_avx512(_: usize, _: &[f32], _: usize, _: &mut [f32]) {
    unreachable!()
}

/// Packs A [m×k] (element (i, p) = `a[i·rs + p·cs]`) into MR-row panels (zero-padded rows),
/// setting `out`'s length to ⌈m/MR⌉·MR·k (every element is written). With `parallel`, panels
/// are packed by rayon tasks.
///
/// # Panics
/// If `a` does not hold every addressed element.
pub(crate) fn pack_a<const MR: usize>(
    m: usize,
    k: usize,
    a: &[f32],
    rs: usize,
    cs: usize,
    out: &mut AlignedBuf,
    parallel: bool,
) {
    out.set_len(m.div_ceil(MR) * MR * k);
    let out = out.as_mut_slice();
    if m == 0 || k == 0 {
        return;
    }
    assert!(a.len() > (m - 1) * rs + (k - 1) * cs, "pack_a: a too short");
    let pack_panel = |ip: usize, panel: &mut [f32]| {
        let i0 = ip * MR;
        let rows = MR.min(m - i0);
        if rows == MR && cs == 1 {
            let r: [&[f32]; MR] = std::array::from_fn(|i| &a[(i0 + i) * rs..(i0 + i) * rs + k]);
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for i in 0..MR {
                    dst[i] = r[i][p];
                }
            }
        } else {
            if rows < MR {
                panel.fill(0.0);
            }
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (i, d) in dst[..rows].iter_mut().enumerate() {
                    *d = a[(i0 + i) * rs + p * cs];
                }
            }
        }
    };
    if parallel && m * k >= 1 << 16 {
        use rayon::prelude::*;
        out.par_chunks_exact_mut(MR * k)
            .enumerate()
            .for_each(|(ip, p)| pack_panel(ip, p));
    } else {
        out.chunks_exact_mut(MR * k)
            .enumerate()
            .for_each(|(ip, p)| pack_panel(ip, p));
    }
}

thread_local! {
    static A_BUF: Cell<AlignedBuf> = const { Cell::new(AlignedBuf::new()) };
    static B_BUF: Cell<AlignedBuf> = const { Cell::new(AlignedBuf::new()) };
}

/// Runs `f` with this thread's reusable packing buffers (A, B). The buffers are taken out of the
/// thread-local slot for the duration, so a nested call on the same thread (e.g. a rayon task
/// stolen while waiting) just gets fresh buffers instead of panicking; the larger ones are kept.
pub(crate) fn with_buffers<R>(f: impl FnOnce(&mut AlignedBuf, &mut AlignedBuf) -> R) -> R {
    let mut a = take(&A_BUF);
    let mut b = take(&B_BUF);
    let r = f(&mut a, &mut b);
    put_back(&A_BUF, a, AlignedBuf::capacity_lines);
    put_back(&B_BUF, b, AlignedBuf::capacity_lines);
    r
}

/// Takes a thread-local buffer out of its slot (leaving an empty one).
pub(crate) fn take<S: Default>(slot: &'static std::thread::LocalKey<Cell<S>>) -> S {
    slot.with(|c| c.take())
}

/// Puts a buffer back into its thread-local slot, keeping the larger (by `size`) of it and what
/// a nested call may have left there.
pub(crate) fn put_back<S: Default>(
    slot: &'static std::thread::LocalKey<Cell<S>>,
    buf: S,
    size: fn(&S) -> usize,
) {
    slot.with(|c| {
        let old = c.take();
        c.set(if size(&old) > size(&buf) { old } else { buf });
    });
}

/// Runs `f` on this thread's buffer in `slot` ([`take`], then [`put_back`]): a nested call on
/// the same thread gets a fresh one.
pub(crate) fn with_thread_scratch<S: Default, R>(
    slot: &'static std::thread::LocalKey<Cell<S>>,
    size: fn(&S) -> usize,
    f: impl FnOnce(&mut S) -> R,
) -> R {
    let mut buf = take(slot);
    let r = f(&mut buf);
    put_back(slot, buf, size);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_layout_is_documented_one() {
        let (n, k) = (37, 5);
        let b: Vec<f32> = (0..n * k).map(|i| i as f32).collect();
        let pm = PackedMatrix::pack(&b, n, k);
        assert_eq!(pm.panels().len(), 64 * k);
        for j in 0..64 {
            for p in 0..k {
                let want = if j < n { b[j * k + p] } else { 0.0 };
                assert_eq!(pm.panels()[(j / 32) * k * 32 + p * 32 + j % 32], want);
            }
        }
        let shared = PackedMatrix::from_shared(n, k, std::sync::Arc::new(pm.panels().to_vec()));
        assert_eq!(shared, pm);
    }

    #[test]
    fn pack_a_pads_rows() {
        let (m, k) = (5, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 + 1.0).collect();
        let mut buf = AlignedBuf::default();
        pack_a::<4>(m, k, &a, k, 1, &mut buf, false);
        let out = buf.as_slice();
        assert_eq!(out.len(), 8 * k);
        for i in 0..8 {
            for p in 0..k {
                let want = if i < m { a[i * k + p] } else { 0.0 };
                assert_eq!(out[(i / 4) * k * 4 + p * 4 + i % 4], want);
            }
        }
    }
}
