//! bertqa's packed-weights file (`bertqa convert`): the whole model, linear weights already in
//! the GEMM's panel layout, in one file that loads by memory map with no packing and no copy.
//!
//! The container is safetensors (so the same validated, zero-copy reader serves both formats):
//!
//! * `__metadata__`: `format` = `bertqa-packed`, `version` = `1`, `panel` = the panel width,
//!   `config` = the `config.json` object, `vocab` = the vocabulary text (optional) and
//!   `tokenizer` = its normalisation, `tokenizer_config.json` fields
//!   (`{"do_lower_case":false,"strip_accents":false,"tokenize_chinese_chars":true}`; files
//!   written before it are read as uncased, unless their vocabulary holds upper-case tokens);
//! * `precision` metadata = `fp32` (also when absent), `bf16` or `int8`: the precision the model
//!   was converted in; `plan` (int8 files) = its [`LayerPlan`](super::LayerPlan), e.g.
//!   `qkv=int8,out=int8,up=int8,down=bf16,attn=bf16`; `int8_weight_levels` (int8 files) = the
//!   levels each side of 0 the int8 weights were quantized to, `127` (also when absent: files
//!   written before it) or `63` (7-bit weights, what CPUs whose int8 runs on `vpmaddubsw`
//!   pack to; `bertqa_kernels::PackedI8::levels`);
//! * `{linear}.packed`, F32, shape `[⌈n/panel⌉·panel·k]` (fp32 files and the QA head), or
//!   `{linear}.packed_bf16`, BF16, shape `[⌈n/panel⌉·panel·⌈k/2⌉·2]` (bf16 files, pair
//!   panels of `bertqa_kernels::PackedBf16`), or `{linear}.packed_i8`, I8, shape
//!   `[⌈n/panel⌉·panel·⌈k/4⌉·4]` with `{linear}.scale_i8` and `{linear}.colsum_i8`, F32 `[n]`
//!   (int8 GEMMs: the 4-k group panels of `bertqa_kernels::PackedI8`, the per-column scales, and
//!   the column sums of the int8 values, exact integers): the panels of each linear layer's
//!   weight (`encoder.layer.{i}.attention.qkv` with query, key and value stacked,
//!   `….attention.output.dense`, `….intermediate.dense`, `….output.dense`, `qa_outputs`), first
//!   in the file, each a multiple of 128 bytes, the data section 64-byte aligned — so every panel
//!   buffer starts on a cache line;
//! * `{linear}.bias` and the embedding and LayerNorm tensors under their Hugging Face names; a
//!   word table stored in int8 (plan `emb=int8`) as `{table}.i8`, I8 `[rows, H]`, with
//!   `{table}.scale_i8`, F32 `[rows]`.

use super::embeddings::Table;
use super::params::Param;
use super::{Bert, LayerPlan, LoadOptions, Precision, Weight};
use crate::error::{Error, Result};
use crate::load::config::BertConfig;
use crate::load::safetensors::{self, SafeTensors, View};
use crate::load::weights::{Checkpoint, ReadOptions};
use crate::tokenizer::{Tokenizer, TokenizerSettings, Vocab};
use std::collections::BTreeMap;
use std::path::Path;

/// `format` metadata value of a packed file.
pub const FORMAT: &str = "bertqa-packed";
/// Metadata key of an int8 file's weight levels.
const INT8_WEIGHT_LEVELS: &str = "int8_weight_levels";
const VERSION: &str = "1";

impl Bert {
    /// Writes the model (and optionally its tokenizer: vocabulary and settings) as a
    /// packed-weights file.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save_packed(&self, path: &Path, tokenizer: Option<&Tokenizer>) -> Result<()> {
        let mut metadata = BTreeMap::new();
        metadata.insert("format".to_string(), FORMAT.to_string());
        metadata.insert("version".to_string(), VERSION.to_string());
        metadata.insert("panel".to_string(), bertqa_kernels::gemm::PANEL.to_string());
        metadata.insert(
            "config".to_string(),
            serde_json::to_string(&self.config).expect("config serialises"),
        );
        if let Some(t) = tokenizer {
            metadata.insert("vocab".to_string(), t.vocab().to_text());
            metadata.insert("tokenizer".to_string(), t.settings().to_json());
        }
        metadata.insert("precision".to_string(), self.precision().name().to_string());
        if self.precision() == Precision::Int8 {
            metadata.insert("plan".to_string(), self.plan().name());
            if let Some(levels) = self.int8_weight_levels() {
                metadata.insert(INT8_WEIGHT_LEVELS.to_string(), levels.to_string());
            }
        }
        // Every parameter under its table name: the panels first (each a multiple of 128
        // bytes, so each starts on a cache line), then the rest in table order. The int8
        // layers' column sums are written as exact F32 integers, so they are the one owned part.
        enum Data<'a> {
            View(View<'a>),
            Owned(Vec<f32>),
        }
        let mut panels: Vec<(String, Vec<usize>, Data)> = Vec::new();
        let mut rest: Vec<(String, Vec<usize>, Data)> = Vec::new();
        self.visit_params(&mut |name, param| {
            match param {
                Param::Table { tensor, .. } => match tensor {
                    Table::F32(t) => rest.push((
                        name.into(),
                        t.shape().to_vec(),
                        Data::View(View::F32(t.data())),
                    )),
                    Table::Int8 { values, scales } => {
                        let (q, s) = (View::I8(values.data()), View::F32(scales.data()));
                        // The scales first: 4-byte values stay aligned after any row count.
                        rest.push((
                            format!("{name}.scale_i8"),
                            scales.shape().to_vec(),
                            Data::View(s),
                        ));
                        rest.push((format!("{name}.i8"), values.shape().to_vec(), Data::View(q)));
                    }
                },
                Param::Norm { norm, .. } => {
                    for (part, t) in [("weight", &norm.gamma), ("bias", &norm.beta)] {
                        let view = Data::View(View::F32(t.data()));
                        rest.push((format!("{name}.{part}"), t.shape().to_vec(), view));
                    }
                }
                Param::Linear { linear, .. } => {
                    let (suffix, view) = match &linear.weight {
                        Weight::F32(w) => ("packed", View::F32(w.panels())),
                        Weight::Bf16(w) => ("packed_bf16", View::Bf16(w.panels())),
                        Weight::Int8(w) => ("packed_i8", View::I8(w.panels())),
                    };
                    panels.push((
                        format!("{name}.{suffix}"),
                        vec![view.len()],
                        Data::View(view),
                    ));
                    let n = vec![linear.bias.len()];
                    let bias = Data::View(View::F32(&linear.bias));
                    rest.push((format!("{name}.bias"), n.clone(), bias));
                    if let Weight::Int8(w) = &linear.weight {
                        let scales = Data::View(View::F32(w.scales()));
                        let sums = w.col_sums().iter().map(|&v| v as f32).collect();
                        rest.push((format!("{name}.scale_i8"), n.clone(), scales));
                        rest.push((format!("{name}.colsum_i8"), n, Data::Owned(sums)));
                    }
                }
            }
            Ok(())
        })?;
        let views: Vec<(&str, &[usize], View)> = panels
            .iter()
            .chain(&rest)
            .map(|(name, shape, data)| {
                let view = match data {
                    Data::View(v) => *v,
                    Data::Owned(values) => View::F32(values),
                };
                (name.as_str(), shape.as_slice(), view)
            })
            .collect();
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        safetensors::write_views(std::io::BufWriter::new(file), &views, &metadata, 64)
            .map_err(|e| Error::io(path, e))
    }

    /// Loads a packed-weights file written by [`Bert::save_packed`]; returns the model and its
    /// tokenizer if the file carries one. Nothing is packed or copied: every tensor (panels
    /// included) is borrowed from the memory map.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Format`] for a file that is not a valid packed file, the tensor
    /// errors of [`Bert::from_checkpoint`], [`Error::Vocab`] / [`Error::TokenizerSettings`]
    /// for a bad vocabulary or tokenizer record.
    pub fn load_packed(path: &Path) -> Result<(Bert, Option<Tokenizer>)> {
        Self::load_packed_with(path, &LoadOptions::default())
    }

    /// [`Bert::load_packed`] with load options: `precision`, if given, must be the file's
    /// (a packed file is not converted); `validate_values` scans every tensor for NaN and
    /// infinity (one pass over the file; off in [`Bert::load_packed`]); `tokenizer`, if given,
    /// replaces the file's tokenizer settings.
    ///
    /// # Errors
    /// As [`Bert::load_packed`]; [`Error::Unsupported`] if the file is packed in another
    /// precision than asked for.
    pub fn load_packed_with(
        path: &Path,
        options: &LoadOptions,
    ) -> Result<(Bert, Option<Tokenizer>)> {
        let start = std::time::Instant::now();
        let file = SafeTensors::open(path)?;
        let format_error = |message: String| Error::Format {
            path: path.to_path_buf(),
            message,
        };
        let meta = file.metadata();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(format_error(format!(
                "not a bertqa packed-weights file (no format = {FORMAT} in its metadata)"
            )));
        }
        if meta.get("version").map(String::as_str) != Some(VERSION) {
            return Err(format_error(format!(
                "packed-weights version {:?}; this bertqa reads {VERSION}",
                meta.get("version")
            )));
        }
        if meta.get("panel") != Some(&bertqa_kernels::gemm::PANEL.to_string()) {
            return Err(format_error("packed for another panel width".into()));
        }
        let precision = match meta.get("precision") {
            None => Precision::F32,
            Some(name) => Precision::from_name(name).ok_or_else(|| {
                format_error(format!("unknown precision {name:?} in the metadata"))
            })?,
        };
        let plan = match meta.get("plan") {
            Some(p) if precision == Precision::Int8 => LayerPlan::parse(p)
                .map_err(|e| format_error(format!("plan {p:?} in the metadata: {e}")))?,
            _ => LayerPlan::default_for(precision),
        };
        let (precision, plan) = options.resolve_with(Some((precision, plan, path)))?;
        let config =
            BertConfig::from_json(meta.get("config").map_or("", String::as_str).as_bytes())?;
        let tokenizer = match meta.get("vocab") {
            None => None,
            Some(text) => {
                let vocab = Vocab::from_text(text)?;
                let settings = match (options.tokenizer, meta.get("tokenizer")) {
                    (Some(s), _) => s,
                    (None, Some(json)) => TokenizerSettings::from_json(json, path)?,
                    // Written before files recorded their settings: uncased, like every model
                    // bertqa read then, unless the vocabulary says otherwise.
                    (None, None) => TokenizerSettings::for_bare_vocab(&vocab).map_err(|token| {
                        Error::TokenizerSettings {
                            path: path.to_path_buf(),
                            field: "tokenizer".into(),
                            message: format!(
                                "the file does not record whether its model is cased, and its \
                                 vocabulary holds upper-case tokens (such as {token:?}); convert \
                                 it again, or pass --cased / --uncased"
                            ),
                        }
                    })?,
                };
                Some(Tokenizer::with_settings(vocab, settings))
            }
        };
        // Files written before the key: 8-bit weights, the only kind there was.
        let int8_weight_levels = match meta.get(INT8_WEIGHT_LEVELS) {
            None => bertqa_kernels::gemm::int8::W8,
            Some(v) => v
                .parse::<u8>()
                .ok()
                .filter(|l| (1..=bertqa_kernels::gemm::int8::W8).contains(l))
                .ok_or_else(|| {
                    format_error(format!(
                        "{INT8_WEIGHT_LEVELS} {v:?} in the metadata: expected 1..=127"
                    ))
                })?,
        };
        if let Some(bits) = options.int8_weight_bits {
            let want = options.int8_weight_levels()?;
            if want != int8_weight_levels {
                return Err(Error::Unsupported {
                    message: format!(
                        "{} is packed with int8 weights of ±{int8_weight_levels}, not the \
                         {bits}-bit ±{want}; convert the checkpoint again with \
                         --int8-weight-bits {bits}",
                        path.display()
                    ),
                });
            }
        }
        let read = ReadOptions {
            packed: true,
            precision,
            plan,
            validate: options.validate_values,
            int8_weight_levels,
        };
        let mut ck = Checkpoint::from_file(file, read)?;
        let model = Bert::build(config, &mut ck)?;
        ck.finish()?;
        log::info!(
            "mapped packed weights {} in {:.3} s ({})",
            path.display(),
            start.elapsed().as_secs_f64(),
            model.kernels_description()
        );
        Ok((model, tokenizer))
    }
}
