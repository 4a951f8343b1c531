//! Compute kernels for bertqa: GEMM (fp32, bf16 and int8), multi-head attention, layer norm, GELU and
//! softmax.
//!
//! This crate knows nothing about BERT, tokens or files: it takes validated slices and shapes and
//! computes. Every SIMD kernel has a scalar reference beside it that is its test oracle; the
//! instruction set is chosen once at run time ([`dispatch`]).
//!
//! ```
//! use bertqa_kernels::{gemm_packed, Epilogue, PackedMatrix};
//! // y[m×n] = GELU(x[m×k]·Wᵀ + b), W [n×k] as stored by PyTorch's Linear.
//! let (m, n, k) = (2, 3, 4);
//! let w: Vec<f32> = (0..n * k).map(|i| i as f32 * 0.1).collect();
//! let packed = PackedMatrix::pack(&w, n, k); // once, at load
//! let x = vec![1.0f32; m * k];
//! let b = vec![0.5f32; n];
//! let mut y = vec![0.0f32; m * n];
//! gemm_packed(m, &x, &packed, &mut y, Epilogue::BiasGelu(&b));
//! let z = 0.5 + (0.0 + 0.1 + 0.2 + 0.3); // row 0 of W summed, plus bias
//! assert!((y[0] - bertqa_kernels::math::gelu_erf(z)).abs() < 1e-5);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod affinity;
mod api;
pub mod attention;
pub mod dispatch;
pub mod gemm;
pub mod math;
pub mod ops;
pub mod peak;
mod table;
pub mod team;

pub use api::{
    add_layer_norm, attention, attention_bf16, gelu, gemm_bf16, gemm_bf16_in, gemm_i8, gemm_i8_in,
    gemm_i8_quantized, gemm_packed, gemm_packed_in, gemm_strided, layer_norm, masked_softmax,
    pack_i8, quantize_i8, softmax_unnormalized, Bf16Kernels, I8Kernels, Kernels,
};
pub use attention::{AttentionScratch, AttentionShape};
pub use dispatch::Isa;
pub use gemm::bf16::{Bf16Scratch, PackedBf16};
pub use gemm::int8::{I8Scratch, PackedI8};
pub use gemm::{Epilogue, GemmScratch, MatMut, MatRef, PackedMatrix};
pub use table::{Bf16Path, I8Path, KC, KC_BF16, KC_I8};
