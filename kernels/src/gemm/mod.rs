//! Matrix products.
//!
//! * [`gemm_packed`]: C[m×n] = A[m×k]·Bᵀ (+ epilogue), B [n×k] a weight matrix in PyTorch `Linear`
//!   layout packed once into a [`PackedMatrix`]. Parallel (rayon) over blocks of n.
//! * [`gemm_strided`]: C = α·A·B with arbitrary row/column strides on every operand, for the
//!   per-head attention products (Q·Kᵀ and P·V read straight out of the fused QKV buffer).
//!   Single-threaded: attention parallelises over heads one level up.

use rayon::prelude::*;

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

/// A weight matrix B [n×k] (row-major, PyTorch `Linear.weight` layout) packed for [`gemm_packed`].
///
/// Packing happens once, at model load.
#[derive(Clone, Debug)]
pub struct PackedMatrix {
    n: usize,
    k: usize,
    /// Bᵀ, [k×n] row-major.
    data: Vec<f32>,
}

impl PackedMatrix {
    /// Packs B [n×k] (row-major).
    ///
    /// # Panics
    /// If `b.len() != n * k`.
    pub fn pack(b: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(b.len(), n * k, "PackedMatrix::pack: b is not n×k");
        let mut data = vec![0.0; n * k];
        for j in 0..n {
            for p in 0..k {
                data[p * n + j] = b[j * k + p];
            }
        }
        PackedMatrix { n, k, data }
    }

    /// Rows of B (columns of C).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns of B (the reduction length).
    pub fn k(&self) -> usize {
        self.k
    }
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

/// C[m×n] = A[m×k]·Bᵀ then the epilogue. A and C are row-major with row strides k and n.
///
/// # Panics
/// If a slice is shorter than its shape requires or an epilogue operand has the wrong length.
pub fn gemm_packed(m: usize, a: &[f32], b: &PackedMatrix, c: &mut [f32], epilogue: Epilogue) {
    let (n, k) = (b.n, b.k);
    assert!(a.len() >= m * k, "gemm_packed: a is shorter than m×k");
    assert!(c.len() >= m * n, "gemm_packed: c is shorter than m×n");
    match epilogue {
        Epilogue::None => {}
        Epilogue::Bias(bias) | Epilogue::BiasGelu(bias) => assert_eq!(bias.len(), n),
        Epilogue::BiasResidual { bias, residual } => {
            assert_eq!(bias.len(), n);
            assert!(residual.len() >= m * n);
        }
    }
    if n == 0 {
        return;
    }
    const MR: usize = 4;
    c[..m * n]
        .par_chunks_mut(MR * n)
        .enumerate()
        .for_each(|(blk, cblk)| {
            let i0 = blk * MR;
            let rows = cblk.len() / n;
            for r in 0..rows {
                cblk[r * n..(r + 1) * n].fill(0.0);
            }
            for p in 0..k {
                let brow = &b.data[p * n..(p + 1) * n];
                for r in 0..rows {
                    let av = a[(i0 + r) * k + p];
                    let crow = &mut cblk[r * n..(r + 1) * n];
                    for (cv, &bv) in crow.iter_mut().zip(brow) {
                        *cv += av * bv;
                    }
                }
            }
            for r in 0..rows {
                let crow = &mut cblk[r * n..(r + 1) * n];
                apply_epilogue(crow, i0 + r, n, epilogue);
            }
        });
}

fn apply_epilogue(crow: &mut [f32], i: usize, n: usize, epilogue: Epilogue) {
    match epilogue {
        Epilogue::None => {}
        Epilogue::Bias(bias) => crow.iter_mut().zip(bias).for_each(|(c, b)| *c += b),
        Epilogue::BiasGelu(bias) => crow
            .iter_mut()
            .zip(bias)
            .for_each(|(c, b)| *c = crate::math::gelu_erf(*c + b)),
        Epilogue::BiasResidual { bias, residual } => crow
            .iter_mut()
            .zip(bias)
            .zip(&residual[i * n..(i + 1) * n])
            .for_each(|((c, b), r)| *c += b + r),
    }
}

/// C[m×n] = α·A[m×k]·B[k×n] on strided views (overwrites C). Single-threaded.
///
/// # Panics
/// If a view's storage does not hold every element its shape and strides address.
pub fn gemm_strided(m: usize, n: usize, k: usize, alpha: f32, a: MatRef, b: MatRef, c: MatMut) {
    assert!(a.data.len() >= max_index(m, k, a.rs, a.cs), "gemm_strided: a too short");
    assert!(b.data.len() >= max_index(k, n, b.rs, b.cs), "gemm_strided: b too short");
    assert!(c.data.len() >= max_index(m, n, c.rs, c.cs), "gemm_strided: c too short");
    let mut row = vec![0.0f32; n];
    for i in 0..m {
        row.fill(0.0);
        for p in 0..k {
            let av = a.data[i * a.rs + p * a.cs];
            if b.cs == 1 {
                let brow = &b.data[p * b.rs..p * b.rs + n];
                for (r, &bv) in row.iter_mut().zip(brow) {
                    *r += av * bv;
                }
            } else {
                for (j, r) in row.iter_mut().enumerate() {
                    *r += av * b.data[p * b.rs + j * b.cs];
                }
            }
        }
        for (j, r) in row.iter().enumerate() {
            c.data[i * c.rs + j * c.cs] = alpha * r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b[j * k + p] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn packed_matches_naive() {
        let (m, n, k) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let bias: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
        let pb = PackedMatrix::pack(&b, n, k);
        let mut c = vec![0.0; m * n];
        gemm_packed(m, &a, &pb, &mut c, Epilogue::Bias(&bias));
        let want = naive(m, n, k, &a, &b);
        for i in 0..m {
            for j in 0..n {
                assert!((c[i * n + j] - want[i * n + j] - bias[j]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn strided_transposed_b() {
        // C = A·Bᵀ through a transposed view of B [n×k].
        let (m, n, k) = (3, 4, 6);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut c = vec![0.0; m * n];
        gemm_strided(
            m,
            n,
            k,
            2.0,
            MatRef { data: &a, rs: k, cs: 1 },
            MatRef { data: &b, rs: 1, cs: k },
            MatMut { data: &mut c, rs: n, cs: 1 },
        );
        let want = naive(m, n, k, &a, &b);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }
}
