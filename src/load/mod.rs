//! Loading: everything between the files of a model and a [`Bert`](crate::Bert) ready to run.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | `config.json`: [`BertConfig`](config::BertConfig) (Hugging Face's field names, a DistilBERT config translated into it), validation, presets |
//! | `precision.rs` | [`Precision`](precision::Precision) and [`LayerPlan`](precision::LayerPlan): what each GEMM is packed into at load and runs in |
//! | `safetensors.rs` | the memory-mapped safetensors reader (header validation, zero-copy tensors) and a small writer |
//! | `weights.rs` | [`Checkpoint`](weights::Checkpoint): a checkpoint's tensors by canonical name, whatever naming convention the file used |
//! | `hub.rs` | the Hugging Face cache, the optional download, the default model ([`default_model`](hub::default_model), `QaModel::load_default`) |
//!
//! The model walks its parameter table over a [`Checkpoint`](weights::Checkpoint)
//! (`model::params`); bertqa's own packed file is written and read beside the network it packs
//! (`model/packed.rs`), because it is laid out by the model's fields.

pub mod config;
pub mod precision;
pub mod safetensors;
pub mod weights;

pub mod hub;
