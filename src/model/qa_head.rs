//! `qa_outputs`: a Linear(H → 2) giving each token a start and an end logit.
//!
//! Mirrors the `qa_outputs` Linear of `BertForQuestionAnswering` in Hugging Face's
//! [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py).

use super::{Linear, Precision};
use crate::config::BertConfig;
use crate::error::Result;
use crate::weights::Checkpoint;
use bertqa_kernels::Epilogue;

pub(crate) struct QaHead {
    /// (2, H) packed, bias (2).
    pub linear: Linear,
}

impl QaHead {
    pub fn load(ck: &mut Checkpoint, c: &BertConfig) -> Result<Self> {
        Ok(QaHead {
            // Two output columns: negligible work, kept fp32 in every precision.
            linear: Linear::load_as(ck, "qa_outputs", 2, c.hidden_size, Precision::F32)?,
        })
    }

    /// x: (tokens, H) → logits: (tokens, 2), column 0 start, column 1 end.
    pub fn forward(&self, x: &[f32], logits: &mut [f32]) {
        let tokens = logits.len() / 2;
        // (fp32 in every precision: the scratch is never used.)
        let mut unused = super::LinearScratch::default();
        self.linear.forward(
            tokens,
            x,
            logits,
            Epilogue::Bias(self.linear.bias()),
            &mut unused,
        );
    }
}
