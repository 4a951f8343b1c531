//! Compute kernels for bertqa: GEMM, layer norm, GELU and softmax.
//!
//! This crate knows nothing about BERT, tokens or files: it takes validated slices and shapes and
//! computes. Every SIMD kernel has a scalar reference beside it that is its test oracle; the
//! instruction set is chosen once at run time ([`dispatch`]).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod dispatch;
pub mod gemm;
pub mod math;
pub mod ops;

pub use dispatch::Isa;
pub use gemm::{gemm_packed, gemm_strided, Epilogue, MatMut, MatRef, PackedMatrix};
