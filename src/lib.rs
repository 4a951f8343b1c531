//! bertqa: extractive question answering with BERT-large on CPUs.
//!
//! The data path: text → [`tokenizer`] → model input ([`model::Sequence`]) → [`model::Bert`]
//! (embeddings → encoder layers → QA head) → start/end logits.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod answer;
pub mod config;
pub mod error;
pub mod features;
pub mod hub;
pub mod model;
pub mod precision;
pub mod qa;
pub mod safetensors;
pub mod squad;
pub mod synthetic;
pub mod tokenizer;
pub mod weights;

pub use answer::Answer;
/// Thread placement: the opt-in pinning of rayon workers to cores (`--pin-threads`).
pub use bertqa_kernels::affinity;
pub use config::BertConfig;
pub use error::{Error, Result};
pub use features::{QaOptions, StrideMode};
pub use model::{Bert, LayerPlan, LoadOptions, Precision, QaLogits, Sequence, StageTimes};
pub use qa::{PreparedContext, QaModel, RequestCost};
