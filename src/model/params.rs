//! The table of the network's parameters: every tensor's Hugging Face name, its shape and the
//! field of [`Bert`] it lives in, written once, in [`Bert::visit_params`]. Everything that
//! touches the weights as a whole walks it:
//!
//! * loading (`Bert::build`): a [`Bert::skeleton`] of empty fields, each filled from the
//!   checkpoint under the name the table gives it — a checkpoint tensor the table does not
//!   name is left over and refused by `Checkpoint::finish`;
//! * detaching from the map (`Bert::detach_from_map`): every table and norm copied out;
//! * the packed-file writer (`Bert::save_packed`): every parameter under its name;
//! * the synthetic generator's shapes ([`checkpoint_tensors`], behind
//!   `crate::tools::synthetic::tensor_shapes`).
//!
//! A parameter added to the model is added here, and every one of those follows; the test at
//! the end checks that each of them saw all of them.
//!
//! Names are the bare `BertModel` ones (`embeddings.word_embeddings.weight`,
//! `encoder.layer.{i}.attention.output.dense`) plus `qa_outputs`, or for DistilBERT the bare
//! `DistilBertModel` ones (`transformer.layer.{i}.attention.out_lin`, `….sa_layer_norm`,
//! `….ffn.lin1`; no token-type table): one [`Names`] row per architecture, one walk. A linear
//! layer or norm is named by its module (its tensors are `{name}.weight` and `{name}.bias` in
//! a checkpoint). The one parameter a checkpoint stores differently from the model is the
//! stacked QKV projection: `{layer}.attention.qkv` in the model and in packed files,
//! `….attention.self.{query,key,value}` (`….attention.{q,k,v}_lin`) in a checkpoint
//! ([`LinearShape::stacked`]).

use super::attention::Attention;
use super::embeddings::Embeddings;
use super::embeddings::Table;
use super::feed_forward::FeedForward;
use super::layer::Layer;
use super::qa_head::QaHead;
use super::{Bert, Gemm, LayerPlan, Linear, Norm, Precision};
use crate::error::Result;
use crate::load::config::{BertConfig, ModelType};

/// The shape and role of a linear layer's weight (out, in) and bias (out).
pub(crate) struct LinearShape {
    pub out: usize,
    pub inp: usize,
    /// Which GEMM of the [`LayerPlan`] it is, so which precision it is packed in; `None` for
    /// the QA head (two columns: fp32 in every precision).
    pub gemm: Option<Gemm>,
    /// The names under which a checkpoint stores it as separate layers stacked along `out`
    /// (query, key, value), each `out / stacked.len()` rows; empty: under its own name.
    pub stacked: Vec<String>,
}

/// One parameter: an embedding table, a LayerNorm or a linear layer, with its shape and its
/// field (`T`, `N`, `L`: references to a [`Table`], [`Norm`] or [`Linear`], shared or
/// mutable).
pub(crate) enum Param<T, N, L> {
    /// An embedding table (rows, cols); `words`: the word embeddings (the one table that may
    /// be stored in int8, `LayerPlan::word_embeddings`).
    Table {
        rows: usize,
        cols: usize,
        words: bool,
        tensor: T,
    },
    /// LayerNorm weight and bias, `h` each.
    Norm { h: usize, norm: N },
    /// A linear layer.
    Linear { shape: LinearShape, linear: L },
}

/// A parameter of a model being read.
pub(crate) type ParamRef<'a> = Param<&'a Table, &'a Norm, &'a Linear>;
/// A parameter of a model being filled or changed.
pub(crate) type ParamMut<'a> = Param<&'a mut Table, &'a mut Norm, &'a mut Linear>;

/// The walk of [`Bert::visit_params`] and [`Bert::visit_params_mut`], written once: `$bert`
/// is `self`, `$f` the visitor, `$($m)?` is `mut` for the mutable walk.
/// The tensor names of one architecture: its row of the parameter table. A second
/// architecture is a second `Names`, not a second walk.
struct Names {
    word: &'static str,
    position: &'static str,
    /// `None`: the architecture has no token-type embeddings.
    token_type: Option<&'static str>,
    embeddings_norm: &'static str,
    /// Layer `l`'s prefix is `{layer}{l}.`.
    layer: &'static str,
    /// Query, key and value as a checkpoint stores them (stacked into `qkv` in the model).
    qkv_parts: [&'static str; 3],
    attention_output: &'static str,
    attention_norm: &'static str,
    ffn_up: &'static str,
    ffn_down: &'static str,
    output_norm: &'static str,
}

/// BERT's names (`modeling_bert.py`).
const BERT_NAMES: Names = Names {
    word: "embeddings.word_embeddings.weight",
    position: "embeddings.position_embeddings.weight",
    token_type: Some("embeddings.token_type_embeddings.weight"),
    embeddings_norm: "embeddings.LayerNorm",
    layer: "encoder.layer.",
    qkv_parts: [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
    ],
    attention_output: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn_up: "intermediate.dense",
    ffn_down: "output.dense",
    output_norm: "output.LayerNorm",
};

/// DistilBERT's names (`modeling_distilbert.py`): the same layer under other names, no
/// token-type embeddings.
const DISTILBERT_NAMES: Names = Names {
    word: "embeddings.word_embeddings.weight",
    position: "embeddings.position_embeddings.weight",
    token_type: None,
    embeddings_norm: "embeddings.LayerNorm",
    layer: "transformer.layer.",
    qkv_parts: ["attention.q_lin", "attention.k_lin", "attention.v_lin"],
    attention_output: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    ffn_up: "ffn.lin1",
    ffn_down: "ffn.lin2",
    output_norm: "output_layer_norm",
};

fn names(model_type: ModelType) -> &'static Names {
    match model_type {
        ModelType::Bert => &BERT_NAMES,
        ModelType::DistilBert => &DISTILBERT_NAMES,
    }
}

/// The walk of [`Bert::visit_params`] and [`Bert::visit_params_mut`], written once: `$bert`
/// is `self`, `$f` the visitor, `$($m)?` is `mut` for the mutable walk.
macro_rules! walk_params {
    ($bert:expr, $f:expr, $($m:tt)?) => {{
        let Bert { config, embeddings, layers, qa, .. } = $bert;
        let n = names(config.model_type);
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let linear = |out, inp, gemm| LinearShape { out, inp, gemm, stacked: Vec::new() };
        let e = embeddings;
        let (vocab, positions) = (config.vocab_size, config.max_position_embeddings);
        let table = |rows, words| (rows, h, words);
        let (rows, cols, words) = table(vocab, true);
        $f(n.word, Param::Table { rows, cols, words, tensor: & $($m)? e.word })?;
        let (rows, cols, words) = table(positions, false);
        $f(n.position, Param::Table { rows, cols, words, tensor: & $($m)? e.position })?;
        if let Some(name) = n.token_type {
            let (rows, cols, words) = table(config.type_vocab_size, false);
            $f(name, Param::Table { rows, cols, words, tensor: & $($m)? e.token_type })?;
        }
        $f(n.embeddings_norm, Param::Norm { h, norm: & $($m)? e.norm })?;
        for (l, layer) in layers.into_iter().enumerate() {
            let p = format!("{}{l}.", n.layer);
            let a = & $($m)? layer.attention;
            let stacked = n.qkv_parts.map(|part| format!("{p}{part}")).to_vec();
            let qkv = LinearShape { out: 3 * h, inp: h, gemm: Some(Gemm::Qkv), stacked };
            let out = linear(h, h, Some(Gemm::AttentionOutput));
            $f(&format!("{p}attention.qkv"), Param::Linear { shape: qkv, linear: & $($m)? a.qkv })?;
            $f(
                &format!("{p}{}", n.attention_output),
                Param::Linear { shape: out, linear: & $($m)? a.output },
            )?;
            $f(&format!("{p}{}", n.attention_norm), Param::Norm { h, norm: & $($m)? a.norm })?;
            let ffn = & $($m)? layer.ffn;
            let (up, down) = (linear(i, h, Some(Gemm::FfnUp)), linear(h, i, Some(Gemm::FfnDown)));
            $f(
                &format!("{p}{}", n.ffn_up),
                Param::Linear { shape: up, linear: & $($m)? ffn.intermediate },
            )?;
            $f(
                &format!("{p}{}", n.ffn_down),
                Param::Linear { shape: down, linear: & $($m)? ffn.output },
            )?;
            $f(&format!("{p}{}", n.output_norm), Param::Norm { h, norm: & $($m)? ffn.norm })?;
        }
        if let Some(qa) = qa {
            let head = linear(2, h, None);
            $f("qa_outputs", Param::Linear { shape: head, linear: & $($m)? qa.linear })?;
        }
        Ok(())
    }};
}

impl Bert {
    /// Calls `f` with every parameter's name, shape and field, in the order of a Hugging Face
    /// checkpoint (embeddings, layer by layer, QA head); stops at `f`'s first error.
    pub(crate) fn visit_params<'a>(
        &'a self,
        f: &mut dyn FnMut(&str, ParamRef<'a>) -> Result<()>,
    ) -> Result<()> {
        walk_params!(self, f,)
    }

    /// [`Bert::visit_params`] with each field mutable (loading fills them).
    pub(crate) fn visit_params_mut(
        &mut self,
        f: &mut dyn FnMut(&str, ParamMut<'_>) -> Result<()>,
    ) -> Result<()> {
        walk_params!(self, f, mut)
    }

    /// A model of this shape with every parameter empty, for loading to fill through
    /// [`Bert::visit_params_mut`]; everything that is not a parameter (heads, the plan, ε) is
    /// set.
    pub(crate) fn skeleton(
        config: BertConfig,
        precision: Precision,
        plan: LayerPlan,
        qa_head: bool,
    ) -> Self {
        let eps = config.layer_norm_eps as f32;
        let layers = (0..config.num_hidden_layers)
            .map(|_| Layer {
                attention: Attention {
                    qkv: Linear::empty(),
                    output: Linear::empty(),
                    norm: Norm::empty(eps),
                    heads: config.num_attention_heads,
                    bf16: plan.attention == Precision::Bf16,
                },
                ffn: FeedForward {
                    intermediate: Linear::empty(),
                    output: Linear::empty(),
                    norm: Norm::empty(eps),
                },
            })
            .collect();
        Bert {
            embeddings: Embeddings {
                word: Table::empty(),
                position: Table::empty(),
                token_type: Table::empty(),
                norm: Norm::empty(eps),
            },
            layers,
            qa: qa_head.then(|| QaHead {
                linear: Linear::empty(),
            }),
            config,
            precision,
            plan,
        }
    }
}

/// Every tensor of a `BertForQuestionAnswering` checkpoint of this shape, with its shape, in
/// Hugging Face's order (bare names, as [`Bert::visit_params`] gives them).
pub(crate) fn checkpoint_tensors(config: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let skeleton = Bert::skeleton(
        config.clone(),
        Precision::F32,
        LayerPlan::default_for(Precision::F32),
        true,
    );
    let mut out = Vec::new();
    let visited = skeleton.visit_params(&mut |name, param| {
        match param {
            Param::Table { rows, cols, .. } => out.push((name.to_string(), vec![rows, cols])),
            Param::Norm { h, .. } => {
                out.push((format!("{name}.weight"), vec![h]));
                out.push((format!("{name}.bias"), vec![h]));
            }
            Param::Linear { shape, .. } => {
                let parts = if shape.stacked.is_empty() {
                    vec![name.to_string()]
                } else {
                    shape.stacked
                };
                let out_part = shape.out / parts.len();
                for part in parts {
                    out.push((format!("{part}.weight"), vec![out_part, shape.inp]));
                    out.push((format!("{part}.bias"), vec![out_part]));
                }
            }
        }
        Ok(())
    });
    debug_assert!(visited.is_ok(), "this visitor never fails");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::safetensors::SafeTensors;

    /// The table has every tensor of a `BertForQuestionAnswering` checkpoint: 5 for the
    /// embeddings, 16 per layer, 2 for the QA head — 391 for BERT-large.
    #[test]
    fn the_table_has_every_checkpoint_tensor() {
        let large = BertConfig::preset("large").unwrap();
        let tensors = checkpoint_tensors(&large);
        assert_eq!(tensors.len(), 5 + 16 * 24 + 2);
        assert_eq!(tensors.len(), 391);
        let names: std::collections::BTreeSet<&str> =
            tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), tensors.len(), "names are unique");
        for name in [
            "embeddings.token_type_embeddings.weight",
            "encoder.layer.23.attention.self.value.bias",
            "encoder.layer.0.output.LayerNorm.weight",
            "qa_outputs.weight",
        ] {
            assert!(names.contains(name), "{name}");
        }
        // DistilBertForQuestionAnswering: 4 for the embeddings (no token types), 16 per layer,
        // 2 for the head — 102 for distilbert-base.
        let distil = checkpoint_tensors(&BertConfig::preset("distilbert-base").unwrap());
        assert_eq!(distil.len(), 4 + 16 * 6 + 2);
        let names: std::collections::BTreeSet<&str> =
            distil.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), distil.len(), "names are unique");
        for name in [
            "transformer.layer.5.attention.v_lin.bias",
            "transformer.layer.0.sa_layer_norm.weight",
            "transformer.layer.3.ffn.lin2.weight",
            "transformer.layer.0.output_layer_norm.bias",
            "qa_outputs.bias",
        ] {
            assert!(names.contains(name), "{name}");
        }
        assert!(!names.iter().any(|n| n.contains("token_type")));
    }

    /// Loading, detaching, writing a packed file and reading it back each see every
    /// parameter: a model loaded from a Hugging Face directory has every field filled with its
    /// table shape and none left on the map; its packed file holds exactly the table's names,
    /// and loads back with nothing missing or left over.
    #[test]
    fn loading_detaching_and_the_packed_writer_see_every_parameter() {
        let dir = std::env::temp_dir().join(format!("bertqa-params-{}", std::process::id()));
        crate::tools::synthetic::write_model_dir(&dir, "tiny", 3).unwrap();
        let model = Bert::load(&dir, &super::super::LoadOptions::default()).unwrap();
        let mut seen = 0;
        model
            .visit_params(&mut |name, param| {
                seen += 1;
                match param {
                    Param::Table {
                        rows, cols, tensor, ..
                    } => {
                        assert_eq!(tensor.shape(), [rows, cols], "{name}");
                        assert!(!tensor.is_mapped(), "{name} still on the map");
                    }
                    Param::Norm { h, norm } => {
                        for t in [&norm.gamma, &norm.beta] {
                            assert_eq!(t.shape(), [h], "{name}");
                            assert!(!t.is_mapped(), "{name} still on the map");
                        }
                    }
                    Param::Linear { shape, linear } => {
                        assert_eq!(linear.out_features(), shape.out, "{name}");
                        assert_eq!(linear.bias().len(), shape.out, "{name}");
                    }
                }
                Ok(())
            })
            .unwrap();
        let layers = model.config().num_hidden_layers;
        assert_eq!(seen, 4 + 6 * layers + 1);

        let packed = dir.join("model.bertqa");
        model.save_packed(&packed, None).unwrap();
        let file = SafeTensors::open(&packed).unwrap();
        let mut expected = std::collections::BTreeSet::new();
        model
            .visit_params(&mut |name, param| {
                let tensors = match param {
                    Param::Table { .. } => vec![name.to_string()],
                    Param::Norm { .. } => vec![format!("{name}.weight"), format!("{name}.bias")],
                    Param::Linear { .. } => vec![format!("{name}.packed"), format!("{name}.bias")],
                };
                expected.extend(tensors);
                Ok(())
            })
            .unwrap();
        let written: std::collections::BTreeSet<String> = file.tensors().keys().cloned().collect();
        assert_eq!(written, expected);
        let (back, _) = Bert::load_packed(&packed).unwrap();
        let seq = [super::super::Sequence::new(vec![101, 2040, 102, 7592, 102])];
        assert_eq!(back.forward(&seq).unwrap(), model.forward(&seq).unwrap());
        std::fs::remove_dir_all(&dir).ok();
    }
}
