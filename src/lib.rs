//! bertqa: extractive question answering with BERT-large on CPUs.
//!
//! The data path: text → [`tokenizer`] → model input ([`model::Sequence`]) → [`model::Bert`]
//! (embeddings → encoder layers → QA head) → start/end logits.
//!
//! The modules are the stages in order — [`tokenizer`], [`features`], [`model`], [`answer`],
//! [`qa`] — and beside them [`error`], [`load`] (`config.json`, the precision plan, the
//! safetensors map, checkpoint names, the Hugging Face cache) and [`tools`] (synthetic weights,
//! SQuAD files and scores). What a caller needs is re-exported here: [`QaModel`], [`QaOptions`],
//! [`Answers`], [`LoadOptions`], [`Precision`], [`BertConfig`], [`DefaultModel`], [`Error`], ….
//!
//! Moved modules (issue #28): `bertqa::config`, `precision`, `safetensors`, `weights` and `hub`
//! are now under [`load`] (`bertqa::load::hub::default_model`, …), `bertqa::squad` and
//! `synthetic` under [`tools`] (`bertqa::tools::squad::evaluate`, …); the old paths are gone,
//! the types re-exported here are not.
#![deny(unsafe_code)]
#![deny(missing_docs)]

// The data path, in its order.
// 1. text → WordPiece tokens with offsets into the text
pub mod tokenizer;
// 2. question + context tokens → windows the model takes
pub mod features;
// 3. windows → start and end logits (the encoder)
pub mod model;
// 4. logits → answer spans
pub mod answer;
// the pipeline that runs 1–4 for a request or many
pub mod qa;

// What every stage shares: errors.
pub mod error;

// Loading: config.json, the precision plan, the safetensors map, checkpoint names, the Hugging
// Face cache (`load::config`, `load::precision`, `load::safetensors`, `load::weights`,
// `load::hub`).
pub mod load;

// Tools: synthetic weights of any shape, SQuAD files and the official scores (`tools::synthetic`,
// `tools::squad`).
pub mod tools;

pub use answer::{Answer, Answers, NullScore};
/// Thread placement: the opt-in pinning of rayon workers to cores (`--pin-threads`).
pub use bertqa_kernels::affinity;
pub use error::{Error, InputError, Result};
pub use features::{NullAnswer, QaOptions, StrideMode};
pub use load::config::{BertConfig, ModelType};
pub use load::hub::DefaultModel;
pub use model::{Bert, LayerPlan, LoadOptions, Precision, QaLogits, Sequence, StageTimes};
pub use qa::{PreparedContext, QaModel, RequestCost};
