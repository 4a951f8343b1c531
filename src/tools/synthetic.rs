//! Deterministic synthetic weights: any BERT shape without downloading anything.
//!
//! Every tensor of `BertForQuestionAnswering` (Hugging Face names, `bert.` prefix) is filled from
//! a counter-based generator, so the same seed gives bit-identical values here and in
//! `weights/synthetic.py` (numpy), which the PyTorch reference scripts use:
//!
//! ```text
//! mix(z)     = SplitMix64 finaliser: z ^= z>>30; z *= 0xBF58476D1CE4E5B9; z ^= z>>27;
//!              z *= 0x94D049BB133111EB; z ^= z>>31            (wrapping u64 arithmetic)
//! key        = mix(seed XOR fnv1a64(utf8(name)))
//! u[i]       = (mix(key + (i+1)·0x9E3779B97F4A7C15) >> 40) / 2^24       ∈ [0, 1), exact in f32
//! s[i]       = 2·u[i] − 1                                               ∈ [−1, 1), exact in f32
//! value[i]   = 1 + 0.1·s[i]   for `*LayerNorm.weight` and `*layer_norm.weight` (DistilBERT)
//!              0.1·s[i]       for every other `*.bias` / `*LayerNorm.bias`
//!              0.05·s[i]      for every weight matrix and embedding table
//! ```
//! (products and sums in f32, rounded to nearest, as numpy's float32 does). The scale 0.05 gives
//! attention scores of variance ≈ 0.7 at BERT-large's shape: softmax is neither flat nor one-hot,
//! so the reference comparison exercises every stage.

use crate::error::Result;
use crate::load::config::BertConfig;
use crate::load::safetensors::Tensor;
use crate::load::weights::{Checkpoint, ReadOptions};
use crate::model::{Bert, LoadOptions, Precision};
use crate::qa::QaModel;
use crate::tokenizer::{Tokenizer, Vocab, UNCASED_VOCAB};
use rayon::prelude::*;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The values of tensor `name` with `len` elements for `seed` (see the module docs).
pub fn tensor_values(seed: u64, name: &str, len: usize) -> Vec<f32> {
    let key = mix(seed ^ fnv1a64(name.as_bytes()));
    let (offset, scale) =
        if name.ends_with("LayerNorm.weight") || name.ends_with("layer_norm.weight") {
            (1.0f32, 0.1f32)
        } else if name.ends_with(".bias") {
            (0.0, 0.1)
        } else {
            (0.0, 0.05)
        };
    let mut out = vec![0.0f32; len];
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (j, v) in chunk.iter_mut().enumerate() {
                let i = (c << 16) + j;
                let z = mix(key.wrapping_add((i as u64 + 1).wrapping_mul(GOLDEN)));
                let u = (z >> 40) as f32 / 16_777_216.0;
                let s = 2.0 * u - 1.0;
                *v = if offset == 0.0 {
                    scale * s
                } else {
                    offset + scale * s
                };
            }
        });
    out
}

/// Names and shapes of every tensor of a `BertForQuestionAnswering` (or, for a DistilBERT
/// config, `DistilBertForQuestionAnswering`) checkpoint with this config, in Hugging Face's
/// order.
pub fn tensor_shapes(c: &BertConfig) -> Vec<(String, Vec<usize>)> {
    // The model's parameter table, under the question-answering model's names.
    let prefix = c.model_type.checkpoint_prefix();
    crate::model::checkpoint_tensors(c)
        .into_iter()
        .map(|(name, shape)| {
            if name.starts_with("qa_outputs.") {
                (name, shape)
            } else {
                (format!("{prefix}{name}"), shape)
            }
        })
        .collect()
}

/// Every tensor of a synthetic `BertForQuestionAnswering` with this config and seed.
pub fn tensors(c: &BertConfig, seed: u64) -> Vec<(String, Tensor)> {
    tensor_shapes(c)
        .into_iter()
        .map(|(name, shape)| {
            let len = shape.iter().product();
            let data = tensor_values(seed, &name, len);
            (name, Tensor::from_vec(shape, data))
        })
        .collect()
}

/// Writes a synthetic model as a Hugging Face directory: `config.json`, `model.safetensors`
/// (`BertForQuestionAnswering` or `DistilBertForQuestionAnswering` names) and `vocab.txt`
/// (BERT's uncased vocabulary). The same files as `python weights/synthetic.py --preset NAME
/// --seed SEED --out DIR` (`--arch distilbert --preset tiny` for `distilbert-tiny`).
///
/// # Errors
/// [`crate::Error::Config`] for an unknown preset, [`crate::Error::Io`] if a file cannot be written.
pub fn write_model_dir(dir: &std::path::Path, preset: &str, seed: u64) -> crate::Result<()> {
    let config = BertConfig::preset(preset)?;
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| crate::Error::io(p, e))
    };
    let json = config.to_hf_json();
    write(
        "config.json",
        &serde_json::to_vec_pretty(&json).expect("json"),
    )?;
    write("vocab.txt", crate::tokenizer::UNCASED_VOCAB.as_bytes())?;
    crate::load::safetensors::write(&dir.join("model.safetensors"), &tensors(&config, seed))
}

impl Bert {
    /// The synthetic model of [`crate::tools::synthetic`] for a preset name (`tiny`, `base`, `large`).
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unknown preset.
    pub fn synthetic(preset: &str, seed: u64) -> Result<Self> {
        Self::synthetic_as(preset, seed, Precision::F32)
    }

    /// [`Bert::synthetic`] in a given precision.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unknown preset, [`Error::Unsupported`](crate::Error::Unsupported) for an unavailable
    /// precision.
    pub fn synthetic_as(preset: &str, seed: u64, precision: Precision) -> Result<Self> {
        Self::synthetic_with(preset, seed, &LoadOptions::with_precision(precision))
    }

    /// [`Bert::synthetic`] with load options (precision and int8 plan).
    ///
    /// # Errors
    /// As [`Bert::synthetic_as`], and those of [`LoadOptions::resolve`].
    pub fn synthetic_with(preset: &str, seed: u64, options: &LoadOptions) -> Result<Self> {
        let read = ReadOptions {
            validate: false,
            ..options.checkpoint_read()?
        };
        let config = BertConfig::preset(preset)?;
        let ck = Checkpoint::from_tensors(tensors(&config, seed), read)?;
        Self::from_checkpoint(config, ck)
    }
}

impl QaModel {
    /// A synthetic model (see [`crate::tools::synthetic`]) with BERT's uncased vocabulary.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an unknown preset.
    pub fn synthetic(preset: &str, seed: u64) -> Result<Self> {
        Self::synthetic_as(preset, seed, Precision::F32)
    }

    /// [`QaModel::synthetic`] in a given precision.
    ///
    /// # Errors
    /// As [`Bert::synthetic_as`].
    pub fn synthetic_as(preset: &str, seed: u64, precision: Precision) -> Result<Self> {
        Self::synthetic_with(preset, seed, &LoadOptions::with_precision(precision))
    }

    /// [`QaModel::synthetic`] with load options (precision and int8 plan).
    ///
    /// # Errors
    /// As [`Bert::synthetic_with`].
    pub fn synthetic_with(preset: &str, seed: u64, options: &LoadOptions) -> Result<Self> {
        let tokenizer = Tokenizer::new(Vocab::from_text(UNCASED_VOCAB)?);
        Self::new(Bert::synthetic_with(preset, seed, options)?, tokenizer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_pinned() {
        // Pinned values: weights/synthetic.py must produce exactly these bits.
        // Bits printed by weights/synthetic.py (numpy): the two generators agree exactly.
        let v = tensor_values(0, "qa_outputs.weight", 3);
        let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, [0xbd32_5e7f, 0xbd20_cd4b, 0x3d2e_3237]);
        let ln = tensor_values(7, "bert.embeddings.LayerNorm.weight", 4);
        assert_eq!(ln, [0.900_053_14, 1.053_873_5, 1.042_632_8, 1.014_893_3]);
        assert!(v.iter().all(|x| x.abs() <= 0.05));
        let ln = tensor_values(7, "bert.embeddings.LayerNorm.weight", 1000);
        assert!(ln.iter().all(|x| (0.9..=1.1).contains(x)));
        assert_ne!(tensor_values(1, "a.bias", 4), tensor_values(2, "a.bias", 4));
    }
}

// The synthetic constructors live here, beside the tensors they build, so that neither the
// network nor the pipeline depends on this tool module.
