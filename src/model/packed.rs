//! bertqa's packed-weights file (`bertqa convert`): the whole model, linear weights already in
//! the GEMM's panel layout, in one file that loads by memory map with no packing and no copy.
//!
//! The container is safetensors (so the same validated, zero-copy reader serves both formats):
//!
//! * `__metadata__`: `format` = `bertqa-packed`, `version` = `1`, `panel` = the panel width,
//!   `config` = the `config.json` object, `vocab` = the vocabulary text (optional);
//! * `precision` metadata = `fp32` (also when absent), `bf16` or `int8`: the precision the model
//!   was converted in; `plan` (int8 files) = its [`LayerPlan`](super::LayerPlan), e.g.
//!   `qkv=int8,out=int8,up=int8,down=bf16,attn=bf16`;
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
//! * `{linear}.bias` and the embedding and LayerNorm tensors under their Hugging Face names.

use super::{Bert, LayerPlan, Linear, LoadOptions, Norm, Precision, Weight};
use crate::config::BertConfig;
use crate::error::{Error, Result};
use crate::safetensors::{self, SafeTensors, View};
use std::collections::BTreeMap;
use std::path::Path;

/// `format` metadata value of a packed file.
pub const FORMAT: &str = "bertqa-packed";
const VERSION: &str = "1";

impl Bert {
    /// Every linear layer with its name, in file order.
    fn linears(&self) -> Vec<(String, &Linear)> {
        let mut v = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{i}.");
            v.push((format!("{p}attention.qkv"), &l.attention.qkv));
            v.push((format!("{p}attention.output.dense"), &l.attention.output));
            v.push((format!("{p}intermediate.dense"), &l.ffn.intermediate));
            v.push((format!("{p}output.dense"), &l.ffn.output));
        }
        if let Some(qa) = &self.qa {
            v.push(("qa_outputs".into(), &qa.linear));
        }
        v
    }

    /// Every LayerNorm with its name.
    fn norms(&self) -> Vec<(String, &Norm)> {
        let mut v = vec![("embeddings.LayerNorm".to_string(), &self.embeddings.norm)];
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{i}.");
            v.push((format!("{p}attention.output.LayerNorm"), &l.attention.norm));
            v.push((format!("{p}output.LayerNorm"), &l.ffn.norm));
        }
        v
    }

    /// Writes the model (and optionally its vocabulary) as a packed-weights file.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save_packed(&self, path: &Path, vocab: Option<&str>) -> Result<()> {
        let mut metadata = BTreeMap::new();
        metadata.insert("format".to_string(), FORMAT.to_string());
        metadata.insert("version".to_string(), VERSION.to_string());
        metadata.insert("panel".to_string(), bertqa_kernels::gemm::PANEL.to_string());
        metadata.insert(
            "config".to_string(),
            serde_json::to_string(&self.config).expect("config serialises"),
        );
        if let Some(v) = vocab {
            metadata.insert("vocab".to_string(), v.to_string());
        }
        metadata.insert("precision".to_string(), self.precision().name().to_string());
        if self.precision() == Precision::Int8 {
            metadata.insert("plan".to_string(), self.plan().name());
        }
        let linears = self.linears();
        let norms = self.norms();
        fn panels(l: &Linear) -> View<'_> {
            match &l.weight {
                Weight::F32(w) => View::F32(w.panels()),
                Weight::Bf16(w) => View::Bf16(w.panels()),
                Weight::Int8(w) => View::I8(w.panels()),
            }
        }
        fn panel_len(v: View) -> usize {
            match v {
                View::F32(p) => p.len(),
                View::Bf16(p) => p.len(),
                View::I8(p) => p.len(),
            }
        }
        let names: Vec<(String, String)> = linears
            .iter()
            .map(|(n, l)| {
                let suffix = match l.weight {
                    Weight::F32(_) => "packed",
                    Weight::Bf16(_) => "packed_bf16",
                    Weight::Int8(_) => "packed_i8",
                };
                (format!("{n}.{suffix}"), format!("{n}.bias"))
            })
            .collect();
        let shapes: Vec<([usize; 1], [usize; 1])> = linears
            .iter()
            .map(|(_, l)| ([panel_len(panels(l))], [l.bias.len()]))
            .collect();
        // int8 layers' scales and column sums (the sums as exact F32 integers).
        let quant: Vec<(String, String, Vec<f32>)> = linears
            .iter()
            .filter_map(|(n, l)| match &l.weight {
                Weight::Int8(w) => Some((
                    format!("{n}.scale_i8"),
                    format!("{n}.colsum_i8"),
                    w.col_sums().iter().map(|&v| v as f32).collect(),
                )),
                _ => None,
            })
            .collect();
        let int8: Vec<&bertqa_kernels::PackedI8> = linears
            .iter()
            .filter_map(|(_, l)| match &l.weight {
                Weight::Int8(w) => Some(w),
                _ => None,
            })
            .collect();
        let mut views: Vec<(&str, &[usize], View)> = Vec::new();
        for (((packed, _), (pshape, _)), (_, l)) in names.iter().zip(&shapes).zip(&linears) {
            views.push((packed, pshape, panels(l)));
        }
        for (((_, bias), (_, bshape)), (_, l)) in names.iter().zip(&shapes).zip(&linears) {
            views.push((bias, bshape, View::F32(&l.bias)));
        }
        let qshapes: Vec<[usize; 1]> = int8.iter().map(|w| [w.n()]).collect();
        for (((scale, sum, sums), w), shape) in quant.iter().zip(&int8).zip(&qshapes) {
            views.push((scale, shape, View::F32(w.scales())));
            views.push((sum, shape, View::F32(sums)));
        }
        let norm_names: Vec<(String, String)> = norms
            .iter()
            .map(|(n, _)| (format!("{n}.weight"), format!("{n}.bias")))
            .collect();
        for ((w, b), (_, norm)) in norm_names.iter().zip(&norms) {
            views.push((w, norm.gamma.shape(), View::F32(norm.gamma.data())));
            views.push((b, norm.beta.shape(), View::F32(norm.beta.data())));
        }
        let e = &self.embeddings;
        for (name, t) in [
            ("embeddings.word_embeddings.weight", &e.word),
            ("embeddings.position_embeddings.weight", &e.position),
            ("embeddings.token_type_embeddings.weight", &e.token_type),
        ] {
            views.push((name, t.shape(), View::F32(t.data())));
        }
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        safetensors::write_views(std::io::BufWriter::new(file), &views, &metadata, 64)
            .map_err(|e| Error::io(path, e))
    }

    /// Loads a packed-weights file written by [`Bert::save_packed`]; returns the model and the
    /// vocabulary text if the file carries one. Nothing is packed or copied: every tensor
    /// (panels included) is borrowed from the memory map.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Format`] for a file that is not a valid packed file, the tensor
    /// errors of [`Bert::from_checkpoint`].
    pub fn load_packed(path: &Path) -> Result<(Bert, Option<String>)> {
        Self::load_packed_with(path, &LoadOptions::default())
    }

    /// [`Bert::load_packed`] with load options: `precision`, if given, must be the file's
    /// (a packed file is not converted); `validate_values` scans every tensor for NaN and
    /// infinity (one pass over the file; off in [`Bert::load_packed`]).
    ///
    /// # Errors
    /// As [`Bert::load_packed`]; [`Error::Unsupported`] if the file is packed in another
    /// precision than asked for.
    pub fn load_packed_with(path: &Path, options: &LoadOptions) -> Result<(Bert, Option<String>)> {
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
        if let Some(want) = options.precision.filter(|&p| p != precision) {
            want.check_available()?;
            return Err(Error::Unsupported {
                message: format!(
                    "{} is packed as {precision}, not {want}; use --precision {precision}, or \
                     convert the checkpoint again with --precision {want}",
                    path.display()
                ),
            });
        }
        if let Some(want) = options.int8_plan.filter(|&p| p != plan) {
            return Err(Error::Unsupported {
                message: format!(
                    "{} is packed with the int8 plan {plan}, not {want}; convert the \
                     checkpoint again with that --int8-plan",
                    path.display()
                ),
            });
        }
        let config =
            BertConfig::from_json(meta.get("config").map_or("", String::as_str).as_bytes())?;
        let vocab = meta.get("vocab").cloned();
        let mut ck = crate::weights::Checkpoint::from_file(file)?;
        ck.set_packed();
        ck.set_precision(precision);
        ck.set_plan(plan);
        ck.validate_values(options.validate_values);
        let model = Bert::build(config, &mut ck)?;
        ck.finish()?;
        log::info!(
            "mapped packed weights {} in {:.3} s ({})",
            path.display(),
            start.elapsed().as_secs_f64(),
            model.kernels_description()
        );
        Ok((model, vocab))
    }
}
