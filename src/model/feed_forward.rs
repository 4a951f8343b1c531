//! `BertIntermediate` + `BertOutput`: out = LayerNorm(GELU(x·W1ᵀ + b1)·W2ᵀ + b2 + x).
//!
//! Mirrors `BertIntermediate` and `BertOutput` of Hugging Face's [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py).

use super::{Linear, Norm, Workspace};
use bertqa_kernels::Epilogue;

pub(crate) struct FeedForward {
    /// (I, H) packed, bias (I).
    pub intermediate: Linear,
    /// (H, I) packed, bias (H).
    pub output: Linear,
    /// (H)
    pub norm: Norm,
}

impl FeedForward {
    pub fn forward(&self, tokens: usize, ws: &mut Workspace) {
        let (h, i) = (self.norm.h(), self.intermediate.out_features());
        let x = &ws.attn_out[..tokens * h];
        let inter = &mut ws.inter[..tokens * i];
        let up = Epilogue::BiasGelu(self.intermediate.bias());
        let lin = &mut ws.lin;
        ws.prof.time(
            |s| &mut s.quantize,
            || self.intermediate.quantize(tokens, x, lin),
        );
        ws.prof.time(
            |s| &mut s.ffn_up,
            || self.intermediate.forward(tokens, x, inter, up, lin),
        );
        let (inter, out) = (&ws.inter[..tokens * i], &mut ws.x[..tokens * h]);
        let down = Epilogue::BiasResidual {
            bias: self.output.bias(),
            residual: x,
        };
        let lin = &mut ws.lin;
        ws.prof.time(
            |s| &mut s.quantize,
            || self.output.quantize(tokens, inter, lin),
        );
        ws.prof.time(
            |s| &mut s.ffn_down,
            || self.output.forward(tokens, inter, out, down, lin),
        );
        ws.prof.time(
            |s| &mut s.layer_norm,
            || self.norm.apply(&mut ws.x[..tokens * h]),
        );
    }
}
