//! The BERT network (`BertForQuestionAnswering` of Hugging Face's
//! [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py)):
//! embeddings → encoder layers → QA head, with Hugging Face's module and
//! tensor names (`encoder.layer.{i}.attention.self.query.weight` loads into
//! `layers[i].attention.qkv`, stacked with key and value).
//!
//! Sequences of a batch are never padded to a common length: the linear layers run on all
//! sequences' tokens concatenated, `(tokens, H)` with tokens = Σ lengths, and attention runs per
//! sequence.

mod attention;
mod embeddings;
mod feed_forward;
mod layer;
mod linear;
mod packed;
mod params;
mod passes;
mod qa_head;
mod workspace;

pub(crate) use params::checkpoint_tensors;
pub(crate) use workspace::LinearScratch;
pub use workspace::{StageTimes, Workspace};
// Defined beside the weights' loader, which needs them too; `bertqa::model::Precision` stays.
pub(crate) use crate::load::precision::Gemm;
pub use crate::load::precision::{LayerPlan, Precision};

use crate::error::{Error, InputError, Result};
use crate::load::config::BertConfig;
use crate::load::safetensors::{SafeTensors, Tensor};
use crate::load::weights::{Checkpoint, ReadOptions};
use embeddings::Embeddings;
use layer::Layer;
use linear::{Linear, Weight};
use qa_head::QaHead;
use std::path::Path;

/// One input sequence, as the model card defines it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sequence {
    /// Token ids, e.g. `[CLS] question [SEP] context [SEP]`.
    pub input_ids: Vec<u32>,
    /// 1 for positions that may be attended to, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// Segment ids: 0 for `[CLS] question [SEP]`, 1 for `context [SEP]`.
    pub token_type_ids: Vec<u32>,
}

impl Sequence {
    /// A sequence with every position attended to and segment 0 everywhere.
    pub fn new(input_ids: Vec<u32>) -> Self {
        let n = input_ids.len();
        Sequence {
            input_ids,
            attention_mask: vec![1; n],
            token_type_ids: vec![0; n],
        }
    }
}

/// Start and end logits, one row per input sequence, each as long as its sequence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QaLogits {
    /// Per sequence, per token: score of the answer starting there.
    pub start_logits: Vec<Vec<f32>>,
    /// Per sequence, per token: score of the answer ending there.
    pub end_logits: Vec<Vec<f32>>,
}

/// LayerNorm parameters.
pub(crate) struct Norm {
    gamma: Tensor,
    beta: Tensor,
    eps: f32,
}

impl Norm {
    /// A norm of no parameters, a placeholder until loading fills it ([`Bert::skeleton`]).
    fn empty(eps: f32) -> Self {
        Norm {
            gamma: Tensor::empty(),
            beta: Tensor::empty(),
            eps,
        }
    }
}

/// Options for loading a checkpoint.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Scan every tensor for NaN and infinity (costs one pass over the weights).
    pub validate_values: bool,
    /// The linear layers' precision. `None`: fp32 for a Hugging Face checkpoint, the file's
    /// own for a packed-weights file. A checkpoint is converted at load; a packed file must
    /// already be in the precision asked for.
    pub precision: Option<Precision>,
    /// With [`Precision::Int8`]: which GEMMs run in int8 (default
    /// [`LayerPlan::default_for`] int8). A packed file must already be in this plan, but for
    /// attention's precision (no weights), which this may change; without it a packed file runs
    /// the plan it records.
    pub int8_plan: Option<LayerPlan>,
    /// With [`Precision::Int8`]: the bits of the int8 weights, 8 (−127..=127 per column) or 7
    /// (−63..=63). `None`: what this CPU's int8 path packs to (7 where it runs on
    /// `vpmaddubsw` — AVX2 CPUs without VNNI, `I8Path::weight_levels` — else 8). Every path
    /// runs either; a packed file must already have the bits asked for.
    pub int8_weight_bits: Option<u8>,
    /// The tokenizer's normalisation, instead of what the model directory's tokenizer files
    /// (or a packed file's record) say: for a directory that lacks them
    /// (`bertqa --cased` / `--uncased`). Read by loaders that build a tokenizer
    /// ([`crate::QaModel::load_with`], [`Bert::load_packed_with`]).
    pub tokenizer: Option<crate::tokenizer::TokenizerSettings>,
}

impl LoadOptions {
    /// Validation on, the given precision.
    pub fn with_precision(precision: Precision) -> Self {
        LoadOptions {
            validate_values: true,
            precision: Some(precision),
            ..LoadOptions::default()
        }
    }

    /// The precision asked for (fp32 if none) and the plan it runs.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for an int8 plan without the int8 precision, or one with int8
    /// attention.
    pub fn resolve(&self) -> Result<(Precision, LayerPlan)> {
        self.resolve_with(None)
    }

    /// The levels each side of 0 that int8 weights are quantized to ([`LoadOptions::int8_weight_bits`]:
    /// 127 for 8 bits, 63 for 7).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for bits other than 7 or 8, or bits asked for without the int8
    /// precision.
    pub fn int8_weight_levels(&self) -> Result<u8> {
        use bertqa_kernels::gemm::int8::{W7, W8};
        match self.int8_weight_bits {
            Some(_) if self.precision != Some(Precision::Int8) => Err(Error::Unsupported {
                message: "int8 weight bits need precision int8".into(),
            }),
            None => Ok(bertqa_kernels::I8Path::current().weight_levels()),
            Some(8) => Ok(W8),
            Some(7) => Ok(W7),
            Some(bits) => Err(Error::Unsupported {
                message: format!("int8 weights have 7 or 8 bits, not {bits}"),
            }),
        }
    }

    /// How a Hugging Face checkpoint is read under these options: the precision and plan of
    /// [`LoadOptions::resolve`], the int8 weight levels of
    /// [`LoadOptions::int8_weight_levels`], validation.
    ///
    /// # Errors
    /// Those of both.
    pub fn checkpoint_read(&self) -> Result<ReadOptions> {
        let (precision, plan) = self.resolve()?;
        Ok(ReadOptions {
            int8_weight_levels: self.int8_weight_levels()?,
            ..ReadOptions::checkpoint(precision, plan, self.validate_values)
        })
    }

    /// The one place that decides a model's precision and plan: for a checkpoint (`stored`
    /// `None`), what these options ask for ([`LoadOptions::resolve`]); for a packed file, the
    /// precision and plan it was converted in (`stored`, with the file's path for messages),
    /// which these options may repeat but not change — a packed file is not converted again —
    /// save attention's precision (no weights), which a plan asked for may change.
    ///
    /// # Errors
    /// As [`LoadOptions::resolve`]; [`Error::Unsupported`] when the options ask a packed
    /// file for another precision or plan than its own, or its precision is not available on
    /// this CPU.
    pub fn resolve_with(
        &self,
        stored: Option<(Precision, LayerPlan, &Path)>,
    ) -> Result<(Precision, LayerPlan)> {
        if let Some((precision, plan, path)) = stored {
            if let Some(want) = self.precision.filter(|&p| p != precision) {
                want.check_available()?;
                return Err(Error::Unsupported {
                    message: format!(
                        "{} is packed as {precision}, not {want}; use --precision {precision}, \
                         or convert the checkpoint again with --precision {want}",
                        path.display()
                    ),
                });
            }
            // Attention has no weights: the plan asked for may change its precision; else the
            // file's own.
            let attention = self.int8_plan.map_or(plan.attention, |p| p.attention);
            if attention == Precision::Int8 {
                return Err(Error::Unsupported {
                    message: "attention's products run in fp32 or bf16, not int8".into(),
                });
            }
            let plan = match precision {
                Precision::F32 => plan,
                _ => LayerPlan { attention, ..plan },
            };
            if let Some(want) = self.int8_plan.filter(|&p| p != plan) {
                return Err(Error::Unsupported {
                    message: format!(
                        "{} is packed with the int8 plan {plan}, not {want}; convert the \
                         checkpoint again with that --int8-plan",
                        path.display()
                    ),
                });
            }
            precision.check_available()?;
            return Ok((precision, plan));
        }
        let precision = self.precision.unwrap_or_default();
        precision.check_available()?;
        let plan = match self.int8_plan {
            None => LayerPlan::default_for(precision),
            Some(_) if precision != Precision::Int8 => {
                return Err(Error::Unsupported {
                    message: format!("an int8 plan needs precision int8, not {precision}"),
                })
            }
            Some(plan) if plan.attention == Precision::Int8 => {
                return Err(Error::Unsupported {
                    message: "attention's products run in fp32 or bf16, not int8".into(),
                })
            }
            Some(plan) => plan,
        };
        Ok((precision, plan))
    }
}

/// A BERT encoder with an optional question-answering head (`qa_outputs`), weights packed for
/// the GEMM kernels. `Send + Sync`: share one across threads with `Arc`.
///
/// ```
/// # fn main() -> bertqa::Result<()> {
/// use bertqa::{Bert, Sequence};
/// let model = Bert::synthetic("tiny", 0)?; // or Bert::load(dir, &LoadOptions::default())?
/// // [CLS] who ? [SEP] ada [SEP], and a second sequence of another length: no padding needed.
/// let a = Sequence { input_ids: vec![101, 2040, 1029, 102, 15262, 102],
///                    attention_mask: vec![1; 6], token_type_ids: vec![0, 0, 0, 0, 1, 1] };
/// let b = Sequence::new(vec![101, 7592, 102]);
/// let out = model.forward(&[a, b])?;
/// assert_eq!((out.start_logits[0].len(), out.end_logits[1].len()), (6, 3));
/// let hidden = model.encode(&[Sequence::new(vec![101, 102])])?; // (2 tokens × hidden_size)
/// assert_eq!(hidden[0].len(), 2 * model.config().hidden_size);
/// # Ok(()) }
/// ```
pub struct Bert {
    config: BertConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    qa: Option<QaHead>,
    precision: Precision,
    plan: LayerPlan,
}

impl std::fmt::Debug for Bert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bert")
            .field("config", &self.config)
            .field("qa_head", &self.qa.is_some())
            .finish()
    }
}

impl Bert {
    /// Loads `config.json` and `model.safetensors` from a Hugging Face model directory.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Config`], [`Error::Format`] and the tensor errors of
    /// [`Bert::from_checkpoint`].
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Self> {
        let start = std::time::Instant::now();
        let read = options.checkpoint_read()?;
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let file = SafeTensors::open(&dir.join("model.safetensors"))?;
        let ck = Checkpoint::from_file(file, read)?;
        let mut model = Self::from_checkpoint(config, ck)?;
        // Linear weights were packed (copied) above; copy the rest too (embeddings, ~10% of the
        // weights) so the map of model.safetensors is released and resident memory is one copy
        // of the weights, not two. (A packed-weights file instead borrows everything.)
        model.detach_from_map();
        log::info!(
            "loaded and packed {} in {:.2} s ({}, {} layers, hidden {}, {})",
            dir.display(),
            start.elapsed().as_secs_f64(),
            model.config.model_type.name(),
            model.config.num_hidden_layers,
            model.config.hidden_size,
            model.kernels_description()
        );
        Ok(model)
    }

    /// Copies every tensor still borrowed from a memory map (linear layers were packed into
    /// copies already).
    fn detach_from_map(&mut self) {
        let copied = self.visit_params_mut(&mut |_, param| {
            match param {
                params::Param::Table { tensor, .. } => *tensor = tensor.to_owned_values(),
                params::Param::Norm { norm, .. } => {
                    norm.gamma = norm.gamma.to_owned_values();
                    norm.beta = norm.beta.to_owned_values();
                }
                params::Param::Linear { .. } => {}
            }
            Ok(())
        });
        debug_assert!(copied.is_ok(), "copying cannot fail");
    }

    /// The precision the model was loaded in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The levels each side of 0 of the model's int8 weights (127 or 63,
    /// [`bertqa_kernels::PackedI8::levels`]), or `None` if no linear layer is int8.
    pub fn int8_weight_levels(&self) -> Option<u8> {
        let mut levels = None;
        let _ = self.visit_params(&mut |_, param| {
            if let params::Param::Linear { linear, .. } = param {
                if let Weight::Int8(w) = &linear.weight {
                    levels = levels.or(Some(w.levels()));
                }
            }
            Ok(())
        });
        levels
    }

    /// Which precision each GEMM of a layer runs in.
    pub fn plan(&self) -> LayerPlan {
        self.plan
    }

    /// Which kernels run this model, e.g. `bf16 GEMM on gemm_ukr_avx512bf16_12x32, avx512bf16
    /// kernels` — the path the precision takes on this CPU (logged once at load).
    pub fn kernels_description(&self) -> String {
        let kernels = bertqa_kernels::Kernels::current();
        let mut parts = Vec::new();
        if let Some(levels) = self.int8_weight_levels() {
            let int8 = kernels.int8();
            // Bits of each operand: ±127 and 0..=255 are 8, ±63 and 0..=127 are 7.
            let bits = |top: u8| 8 - top.leading_zeros();
            let activations = int8.path().activation_levels(levels);
            parts.push(format!(
                "int8 GEMM on {} ({}-bit weights, {}-bit activations)",
                int8.name(),
                bits(levels) + 1,
                bits(activations),
            ));
        }
        if self.plan.uses(Precision::Bf16) {
            parts.push(format!("bf16 on {}", kernels.bf16().name()));
        }
        if self.precision == Precision::Int8 {
            parts.push(format!("plan {}", self.plan));
        }
        if parts.is_empty() || self.plan.uses(Precision::F32) {
            parts.push(format!("fp32 GEMM on {}", kernels.gemm_name()));
        }
        format!("{}, {} kernels", parts.join(", "), kernels.isa().name())
    }

    /// Builds the model from a checkpoint's tensors. `qa_outputs` is optional (a plain
    /// `BertModel` checkpoint gives an encoder without QA head); everything else is required.
    ///
    /// # Errors
    /// [`Error::MissingTensor`], [`Error::UnexpectedTensor`], [`Error::Shape`], [`Error::Dtype`],
    /// [`Error::NonFinite`], naming the tensor.
    pub fn from_checkpoint(config: BertConfig, mut ck: Checkpoint) -> Result<Self> {
        let model = Self::build(config, &mut ck)?;
        ck.finish()?;
        Ok(model)
    }

    /// Takes every tensor of the parameter table from `ck` (leftovers are the caller's to
    /// check).
    fn build(config: BertConfig, ck: &mut Checkpoint) -> Result<Self> {
        config.validate()?;
        let qa_head = ["qa_outputs.weight", "qa_outputs.bias", "qa_outputs.packed"]
            .iter()
            .any(|n| ck.contains(n));
        let mut model = Bert::skeleton(config, ck.precision(), ck.plan(), qa_head);
        model.visit_params_mut(&mut |name, param| {
            match param {
                params::Param::Table {
                    rows,
                    cols,
                    words,
                    tensor,
                } => *tensor = embeddings::Table::load(ck, name, rows, cols, words)?,
                params::Param::Norm { h, norm } => {
                    norm.gamma = ck.take(&format!("{name}.weight"), &[h])?;
                    norm.beta = ck.take(&format!("{name}.bias"), &[h])?;
                }
                params::Param::Linear { shape, linear } => {
                    *linear = Linear::load(ck, name, &shape)?
                }
            }
            Ok(())
        })?;
        Ok(model)
    }

    /// The model's shape.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Whether the checkpoint had a `qa_outputs` head.
    pub fn has_qa_head(&self) -> bool {
        self.qa.is_some()
    }

    fn check(&self, batch: &[Sequence]) -> Result<()> {
        let c = &self.config;
        for (i, s) in batch.iter().enumerate() {
            let n = s.input_ids.len();
            if n == 0 {
                return Err(Error::input(
                    InputError::Sequence,
                    format!("sequence {i} is empty"),
                ));
            }
            if n > c.max_position_embeddings {
                return Err(Error::input(
                    InputError::TooLong,
                    format!(
                        "sequence {i} has {n} tokens; the model takes at most {}",
                        c.max_position_embeddings
                    ),
                ));
            }
            if s.attention_mask.len() != n || s.token_type_ids.len() != n {
                return Err(Error::input(
                    InputError::Sequence,
                    format!(
                    "sequence {i}: input_ids, attention_mask and token_type_ids differ in length ({n}, {}, {})",
                    s.attention_mask.len(),
                    s.token_type_ids.len()
                )));
            }
            if let Some(&id) = s.input_ids.iter().find(|&&id| id as usize >= c.vocab_size) {
                return Err(Error::input(
                    InputError::Sequence,
                    format!(
                        "sequence {i}: token id {id} is outside the vocabulary of {}",
                        c.vocab_size
                    ),
                ));
            }
            // A model without token types (DistilBERT) ignores them, as Hugging Face's does.
            if let Some(&t) = s
                .token_type_ids
                .iter()
                .find(|&&t| c.type_vocab_size > 0 && t as usize >= c.type_vocab_size)
            {
                return Err(Error::input(
                    InputError::Sequence,
                    format!(
                        "sequence {i}: token type {t} is outside 0..{}",
                        c.type_vocab_size
                    ),
                ));
            }
            if s.attention_mask.iter().any(|&m| m > 1) {
                return Err(Error::input(
                    InputError::Sequence,
                    format!("sequence {i}: attention_mask values must be 0 or 1"),
                ));
            }
        }
        Ok(())
    }

    /// Runs embeddings and the first `layers` encoder layers into `ws.x`; returns the token
    /// count.
    fn run_encoder(&self, batch: &[Sequence], layers: usize, ws: &mut Workspace) -> Result<usize> {
        self.check(batch)?;
        let tokens = batch.iter().map(|s| s.input_ids.len()).sum();
        ws.prepare(&self.config, tokens);
        let mut t = 0;
        ws.lens.clear(); // (grows only when a batch has more sequences than any before)
        for s in batch {
            for (k, &m) in ws.keep[t..].iter_mut().zip(&s.attention_mask) {
                *k = m != 0;
            }
            t += s.input_ids.len();
            ws.lens.push(s.input_ids.len());
        }
        let h = self.config.hidden_size;
        let x = &mut ws.x[..tokens * h];
        ws.prof
            .time(|s| &mut s.embeddings, || self.embeddings.forward(batch, x));
        if tokens == 0 {
            return Ok(0);
        }
        let run = |ws: &mut Workspace| {
            for layer in self.layers.iter().take(layers) {
                layer.forward(tokens, ws);
            }
        };
        // Alone in the process: one job on a rayon worker; overlapping another: in place
        // (passes.rs says why).
        passes::run_pass(|| run(ws));
        Ok(tokens)
    }

    /// The encoder's last hidden state: per sequence, (length, H) row-major.
    ///
    /// # Errors
    /// [`Error::Input`] for empty or over-long sequences, ids outside the vocabulary or
    /// type vocabulary, masks other than 0/1, or lengths that differ between the three fields.
    pub fn encode(&self, batch: &[Sequence]) -> Result<Vec<Vec<f32>>> {
        self.encode_partial(batch, self.layers.len())
    }

    /// The hidden state after the embeddings and the first `layers` encoder layers (0 gives the
    /// embedding output), per sequence, (length, H) row-major. For locating numerical drift.
    ///
    /// # Errors
    /// As [`Bert::encode`].
    pub fn encode_partial(&self, batch: &[Sequence], layers: usize) -> Result<Vec<Vec<f32>>> {
        let mut ws = Workspace::new();
        self.run_encoder(batch, layers, &mut ws)?;
        let h = self.config.hidden_size;
        let mut out = Vec::with_capacity(batch.len());
        let mut row0 = 0;
        for s in batch {
            let n = s.input_ids.len();
            out.push(ws.x[row0 * h..(row0 + n) * h].to_vec());
            row0 += n;
        }
        Ok(out)
    }

    /// [`Bert::encode`] into a reused workspace: returns the last hidden state of all sequences
    /// concatenated, (tokens, H) row-major. Allocates nothing once the workspace has seen a
    /// batch this large.
    ///
    /// # Errors
    /// As [`Bert::encode`].
    pub fn encode_into<'w>(&self, batch: &[Sequence], ws: &'w mut Workspace) -> Result<&'w [f32]> {
        let tokens = self.run_encoder(batch, self.layers.len(), ws)?;
        Ok(&ws.x[..tokens * self.config.hidden_size])
    }

    /// Start and end logits for every token of every sequence (the model card's interface:
    /// `input_ids`, `attention_mask`, `token_type_ids` → start, end logits). Sequences may differ
    /// in length; none is padded.
    ///
    /// # Errors
    /// As [`Bert::encode`], and [`Error::Input`] if the checkpoint has no `qa_outputs` head.
    pub fn forward(&self, batch: &[Sequence]) -> Result<QaLogits> {
        let mut out = QaLogits::default();
        self.forward_into(batch, &mut Workspace::new(), &mut out)?;
        Ok(out)
    }

    /// [`Bert::forward`] into reused buffers: with a workspace and an output that have seen a
    /// batch at least this large, this allocates nothing.
    ///
    /// # Errors
    /// As [`Bert::forward`].
    pub fn forward_into(
        &self,
        batch: &[Sequence],
        ws: &mut Workspace,
        out: &mut QaLogits,
    ) -> Result<()> {
        let qa = self.qa.as_ref().ok_or_else(|| {
            Error::input(
                InputError::NoQaHead,
                "this checkpoint has no question-answering head (qa_outputs)",
            )
        })?;
        let tokens = self.run_encoder(batch, self.layers.len(), ws)?;
        let h = self.config.hidden_size;
        let (x, logits) = (&ws.x[..tokens * h], &mut ws.logits[..tokens * 2]);
        ws.prof.time(|s| &mut s.qa_head, || qa.forward(x, logits));
        out.start_logits.resize_with(batch.len(), Vec::new);
        out.end_logits.resize_with(batch.len(), Vec::new);
        let mut row0 = 0;
        for (i, s) in batch.iter().enumerate() {
            let rows = &ws.logits[row0 * 2..(row0 + s.input_ids.len()) * 2];
            out.start_logits[i].clear();
            out.start_logits[i].extend(rows.iter().step_by(2));
            out.end_logits[i].clear();
            out.end_logits[i].extend(rows.iter().skip(1).step_by(2));
            row0 += s.input_ids.len();
        }
        Ok(())
    }
}
