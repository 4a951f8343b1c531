//! A checkpoint's tensors by canonical name, whatever naming convention the file used.
//!
//! Canonical names are bare `BertModel` names (`embeddings.word_embeddings.weight`,
//! `encoder.layer.0.attention.self.query.weight`, …) or bare `DistilBertModel` names, plus
//! `qa_outputs.*`. Accepted spellings: the `bert.` prefix of `BertForQuestionAnswering` (and
//! `distilbert.` of `DistilBertForQuestionAnswering`), bare names, and TensorFlow-era LayerNorm
//! `gamma`/`beta` for `weight`/`bias`. Tensors a BERT QA model does not use but checkpoints often
//! carry (`pooler.*`, `embeddings.position_ids`, pre-training heads `cls.*`) are ignored; anything
//! else left over is an [`Error::UnexpectedTensor`].

use crate::error::{Error, Result};
use crate::load::precision::{LayerPlan, Precision};
use crate::load::safetensors::{Bf16Tensor, Dtype, I8Tensor, RawTensor, SafeTensors, Tensor};
use std::collections::BTreeMap;

/// Where a checkpoint's tensors come from.
enum Source {
    File(SafeTensors),
    Memory(BTreeMap<String, Tensor>),
}

/// How a checkpoint is read, decided before it is opened (from the caller's options and, for a
/// packed file, its metadata: `LoadOptions::resolve_with`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Linear layers are stored pre-packed (`{name}.packed`), as `bertqa convert` writes them.
    pub packed: bool,
    /// The precision the linear layers are packed into.
    pub precision: Precision,
    /// Which precision each GEMM of a layer takes (and how the word embeddings are stored).
    pub plan: LayerPlan,
    /// Check every tensor taken for NaN and infinity.
    pub validate: bool,
    /// int8 linear layers: the levels each side of 0 their weights are quantized to (127 or
    /// 63, `PackedI8::levels`) — what a checkpoint is packed to, or what a packed file says
    /// its panels hold.
    pub int8_weight_levels: u8,
}

impl ReadOptions {
    /// A Hugging Face checkpoint read into `precision` and `plan` (int8 weights packed to the
    /// levels the CPU's int8 path prefers, `I8Path::weight_levels`).
    pub fn checkpoint(precision: Precision, plan: LayerPlan, validate: bool) -> Self {
        ReadOptions {
            packed: false,
            precision,
            plan,
            validate,
            int8_weight_levels: bertqa_kernels::I8Path::current().weight_levels(),
        }
    }
}

impl Default for ReadOptions {
    /// An fp32 checkpoint, not validated.
    fn default() -> Self {
        ReadOptions::checkpoint(
            Precision::F32,
            LayerPlan::default_for(Precision::F32),
            false,
        )
    }
}

/// The tensors of one checkpoint, looked up by canonical name. Tracks which were used so
/// [`Checkpoint::finish`] can report leftovers.
pub struct Checkpoint {
    source: Source,
    /// canonical name → stored name
    names: BTreeMap<String, String>,
    used: std::collections::BTreeSet<String>,
    read: ReadOptions,
}

/// The canonical name of a stored tensor name.
fn canonical(stored: &str) -> String {
    let bare = stored
        .strip_prefix("bert.")
        .or_else(|| stored.strip_prefix("distilbert."))
        .unwrap_or(stored);
    if let Some(p) = bare.strip_suffix("LayerNorm.gamma") {
        format!("{p}LayerNorm.weight")
    } else if let Some(p) = bare.strip_suffix("LayerNorm.beta") {
        format!("{p}LayerNorm.bias")
    } else {
        bare.to_string()
    }
}

fn ignorable(canonical: &str) -> bool {
    canonical.starts_with("pooler.")
        || canonical.starts_with("cls.")
        || canonical == "embeddings.position_ids"
        // DistilBERT's masked-LM head.
        || canonical.starts_with("vocab_transform.")
        || canonical.starts_with("vocab_layer_norm.")
        || canonical.starts_with("vocab_projector.")
}

impl Checkpoint {
    /// Indexes the tensors of a safetensors file, to be read as `read` says.
    ///
    /// # Errors
    /// [`Error::Format`] if two stored names mean the same tensor (e.g. `bert.x` and `x`).
    pub fn from_file(file: SafeTensors, read: ReadOptions) -> Result<Self> {
        let stored: Vec<String> = file.tensors().keys().cloned().collect();
        let path = file.path().to_path_buf();
        Self::index(Source::File(file), stored, read)
            .map_err(|message| Error::Format { path, message })
    }

    /// Indexes in-memory tensors (e.g. [`crate::tools::synthetic::tensors`]), to be read as `read`
    /// says.
    ///
    /// # Errors
    /// [`Error::Format`] if two names mean the same tensor.
    pub fn from_tensors(tensors: Vec<(String, Tensor)>, read: ReadOptions) -> Result<Self> {
        let stored: Vec<String> = tensors.iter().map(|(n, _)| n.clone()).collect();
        let map: BTreeMap<String, Tensor> = tensors.into_iter().collect();
        Self::index(Source::Memory(map), stored, read).map_err(|message| Error::Format {
            path: "<memory>".into(),
            message,
        })
    }

    fn index(
        source: Source,
        stored: Vec<String>,
        read: ReadOptions,
    ) -> std::result::Result<Self, String> {
        let mut names = BTreeMap::new();
        for s in stored {
            let c = canonical(&s);
            if let Some(prev) = names.insert(c.clone(), s.clone()) {
                return Err(format!("tensors `{prev}` and `{s}` both name `{c}`"));
            }
        }
        Ok(Checkpoint {
            source,
            names,
            used: Default::default(),
            read,
        })
    }

    /// Whether taken tensors are checked for NaN and infinity.
    pub(crate) fn validating(&self) -> bool {
        self.read.validate
    }

    /// Whether linear layers are stored pre-packed.
    pub(crate) fn is_packed(&self) -> bool {
        self.read.packed
    }

    /// Which precision each GEMM of a layer takes.
    pub(crate) fn plan(&self) -> LayerPlan {
        self.read.plan
    }

    /// The precision the linear layers are packed into.
    pub(crate) fn precision(&self) -> Precision {
        self.read.precision
    }

    /// The levels each side of 0 of int8 linear weights ([`ReadOptions::int8_weight_levels`]).
    pub(crate) fn int8_weight_levels(&self) -> u8 {
        self.read.int8_weight_levels
    }

    /// Takes the BF16 tensor `name` (canonical) as raw bf16 bits, checking its shape (and, when
    /// validation is on, that it holds no NaN or infinity): bf16 panels of a packed file, or the
    /// weights of a BF16 checkpoint loaded in bf16.
    ///
    /// # Errors
    /// [`Error::MissingTensor`], [`Error::Shape`], [`Error::Dtype`], [`Error::NonFinite`].
    pub(crate) fn take_bf16(&mut self, name: &str, shape: &[usize]) -> Result<Bf16Tensor> {
        // bf16 NaN or infinity: all exponent bits set.
        self.take_raw(name, shape, SafeTensors::tensor_bf16, |v| {
            v & 0x7F80 == 0x7F80
        })
    }

    /// Takes the I8 tensor `name` (canonical): int8 panels of a packed file (every value is
    /// finite).
    ///
    /// # Errors
    /// [`Error::MissingTensor`], [`Error::Shape`], [`Error::Dtype`].
    pub(crate) fn take_i8(&mut self, name: &str, shape: &[usize]) -> Result<I8Tensor> {
        self.take_raw(name, shape, SafeTensors::tensor_i8, |_| false)
    }

    /// Takes a raw (integer-typed) tensor of the file, read by `read`, checking its shape and,
    /// when validation is on, that no value is `bad`.
    fn take_raw<T: bytemuck::Pod>(
        &mut self,
        name: &str,
        shape: &[usize],
        read: fn(&SafeTensors, &str) -> Result<RawTensor<T>>,
        bad: fn(&T) -> bool,
    ) -> Result<RawTensor<T>> {
        let stored = self.names.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })?;
        let Source::File(f) = &self.source else {
            return Err(Error::MissingTensor {
                name: name.to_string(),
            });
        };
        let tensor = read(f, stored)?;
        self.check(stored, tensor.shape(), shape, || {
            tensor.data().iter().position(bad)
        })?;
        self.used.insert(name.to_string());
        Ok(tensor)
    }

    /// An [`Error::Format`] about this checkpoint's file (`"<memory>"` for in-memory tensors).
    pub(crate) fn format_error(&self, message: String) -> Error {
        let path = match &self.source {
            Source::File(f) => f.path().to_path_buf(),
            Source::Memory(_) => "<memory>".into(),
        };
        Error::Format { path, message }
    }

    /// Whether the tensor `name` (canonical) is stored as BF16 in a file.
    pub(crate) fn is_bf16(&self, name: &str) -> bool {
        match (&self.source, self.names.get(name)) {
            (Source::File(f), Some(stored)) => f.tensors()[stored].dtype == Dtype::BF16,
            _ => false,
        }
    }

    /// Whether a tensor with this canonical name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// Takes the tensor `name` (canonical), checking its shape.
    ///
    /// # Errors
    /// [`Error::MissingTensor`], [`Error::Shape`], [`Error::Dtype`], or [`Error::NonFinite`]
    /// when validation is on.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let stored = self.names.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })?;
        let tensor = match &self.source {
            Source::File(f) => {
                let info = &f.tensors()[stored];
                if info.shape != shape {
                    return Err(Error::Shape {
                        name: stored.clone(),
                        expected: shape.to_vec(),
                        got: info.shape.clone(),
                    });
                }
                f.tensor(stored)?
            }
            Source::Memory(m) => m[stored].clone(),
        };
        let bad = || tensor.data().iter().position(|v| !v.is_finite());
        self.check(stored, tensor.shape(), shape, bad)?;
        self.used.insert(name.to_string());
        Ok(tensor)
    }

    /// Checks a taken tensor's shape and (when validation is on) values: `first_bad` finds the
    /// first non-finite one.
    fn check(
        &self,
        stored: &str,
        got: &[usize],
        shape: &[usize],
        first_bad: impl FnOnce() -> Option<usize>,
    ) -> Result<()> {
        if got != shape {
            return Err(Error::Shape {
                name: stored.to_string(),
                expected: shape.to_vec(),
                got: got.to_vec(),
            });
        }
        if self.read.validate {
            if let Some(index) = first_bad() {
                return Err(Error::NonFinite {
                    name: stored.to_string(),
                    index,
                });
            }
        }
        Ok(())
    }

    /// Fails on the first tensor that was neither taken nor known to be ignorable.
    ///
    /// # Errors
    /// [`Error::UnexpectedTensor`] naming it.
    pub fn finish(self) -> Result<()> {
        for (c, stored) in &self.names {
            if !self.used.contains(c) && !ignorable(c) {
                return Err(Error::UnexpectedTensor {
                    name: stored.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BF16 tensor of a file is seen as such (the bf16 precision then packs its bits
    /// directly), and its bits come back unchanged.
    #[test]
    fn bf16_tensors_are_taken_as_bits() {
        use crate::load::safetensors::{write_views, View};
        let path =
            std::env::temp_dir().join(format!("bertqa-w-{}.safetensors", std::process::id()));
        let bits = [0x3F80u16, 0xC000, 0x0001, 0x7F80];
        let f32s = [1.0f32, 2.0];
        let views = [
            ("bert.a.weight", &[2usize, 2][..], View::Bf16(&bits)),
            ("b.weight", &[2usize][..], View::F32(&f32s)),
        ];
        write_views(
            std::fs::File::create(&path).unwrap(),
            &views,
            &Default::default(),
            8,
        )
        .unwrap();
        let open = |validate| {
            let read = ReadOptions {
                validate,
                ..ReadOptions::default()
            };
            Checkpoint::from_file(SafeTensors::open(&path).unwrap(), read).unwrap()
        };
        let mut ck = open(false);
        assert!(ck.is_bf16("a.weight") && !ck.is_bf16("b.weight") && !ck.is_bf16("c"));
        assert_eq!(ck.take_bf16("a.weight", &[2, 2]).unwrap().data(), &bits);
        let mut again = open(true);
        // 0x7F80 is +∞: named when validating.
        assert!(matches!(
            again.take_bf16("a.weight", &[2, 2]),
            Err(Error::NonFinite { index: 3, .. })
        ));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn canonical_names() {
        assert_eq!(
            canonical("bert.embeddings.LayerNorm.gamma"),
            "embeddings.LayerNorm.weight"
        );
        assert_eq!(
            canonical("encoder.layer.3.output.LayerNorm.beta"),
            "encoder.layer.3.output.LayerNorm.bias"
        );
        assert_eq!(canonical("qa_outputs.weight"), "qa_outputs.weight");
    }
}
