//! bertqa: extractive question answering with BERT-large on CPUs.
//!
//! The data path: text → [`tokenizer`] → model input ([`model::Sequence`]) → [`model::Bert`]
//! (embeddings → encoder layers → QA head) → start/end logits.
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

// What every stage shares: errors, the model's shape, the precision plan.
pub mod config;
pub mod error;
pub mod precision;

// Loading: the safetensors map, checkpoint names, the Hugging Face cache.
pub mod hub;
pub mod safetensors;
pub mod weights;

// Tools: synthetic weights of any shape, SQuAD files and the official scores.
pub mod squad;
pub mod synthetic;

pub use answer::{Answer, Answers, NullScore};
/// Thread placement: the opt-in pinning of rayon workers to cores (`--pin-threads`).
pub use bertqa_kernels::affinity;
pub use config::{BertConfig, ModelType};
pub use error::{Error, InputError, Result};
pub use features::{NullAnswer, QaOptions, StrideMode};
pub use model::{Bert, LayerPlan, LoadOptions, Precision, QaLogits, Sequence, StageTimes};
pub use qa::{PreparedContext, QaModel, RequestCost};
