//! Compute kernels for bertqa: GEMM, layer norm, GELU and softmax.
//!
//! This crate knows nothing about BERT, tokens or files: it takes validated slices and shapes and
//! computes. Every SIMD kernel has a scalar reference beside it that is its test oracle.
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

pub mod gemm;
pub mod math;
pub mod ops;

pub use gemm::{gemm_packed, gemm_strided, Epilogue, MatMut, MatRef, PackedMatrix};
