//! `qa_outputs`: a Linear(H → 2) giving each token a start and an end logit.
//!
//! Mirrors the `qa_outputs` Linear of `BertForQuestionAnswering` in Hugging Face's
//! [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py).

use super::Linear;
use bertqa_kernels::Epilogue;

pub(crate) struct QaHead {
    /// (2, H) packed, bias (2).
    pub linear: Linear,
}

impl QaHead {
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
