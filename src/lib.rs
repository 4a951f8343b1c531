//! bertqa: extractive question answering with BERT-large on CPUs.
#![deny(unsafe_code)]

pub mod error;
pub mod tokenizer;

pub use error::{Error, Result};
