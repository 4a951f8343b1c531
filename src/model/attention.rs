//! `BertAttention`: fused QKV projection, per-(sequence, head) scaled masked softmax attention,
//! output projection + residual + LayerNorm.
//!
//! ```text
//! x: (tokens, H) → qkv = x·[Wq;Wk;Wv]ᵀ + [bq;bk;bv]: (tokens, 3H)       one GEMM, n = 3H
//! per sequence s, head h:  P = softmax(Q·Kᵀ/√d_head, keys with mask 0 removed);  ctx = P·V
//! out = LayerNorm(ctx·Woᵀ + bo + x)
//! ```
//! The attention itself is `bertqa_kernels::attention`: K and V packed once per (sequence, head),
//! queries in strips whose scores stay in L1, context written straight into `ctx`.
//!
//! Mirrors `BertAttention` (`BertSelfAttention` + `BertSelfOutput`) of Hugging Face's
//! [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py).

use super::{Linear, Norm, Workspace};
use bertqa_kernels::layer_norm;
use bertqa_kernels::{attention, attention_bf16, AttentionShape, Epilogue};

pub(crate) struct Attention {
    /// (3H, H) packed, bias (3H): query, key, value stacked.
    pub qkv: Linear,
    /// (H, H) packed, bias (H).
    pub output: Linear,
    /// (H)
    pub norm: Norm,
    pub heads: usize,
    /// Q·Kᵀ and P·V on the bf16 kernels (the bf16 precision), else fp32.
    pub bf16: bool,
}

impl Attention {
    pub fn forward(&self, tokens: usize, ws: &mut Workspace) {
        let h = self.norm.h();
        let x = &ws.x[..tokens * h];
        let qkv = &mut ws.qkv[..tokens * 3 * h];
        let lin = &mut ws.lin;
        ws.prof
            .time(|s| &mut s.quantize, || self.qkv.quantize(tokens, x, lin));
        ws.prof.time(
            |s| &mut s.qkv,
            || {
                self.qkv
                    .forward(tokens, x, qkv, Epilogue::Bias(self.qkv.bias()), lin)
            },
        );
        ws.prof.time(
            |s| &mut s.attention,
            || {
                let heads = self.heads;
                let d = h / heads;
                let shape = AttentionShape {
                    heads,
                    head_dim: d,
                    scale: 1.0 / (d as f32).sqrt(),
                    lens: &ws.lens,
                };
                if self.bf16 {
                    attention_bf16(&ws.qkv, &shape, &ws.keep, &mut ws.ctx, &mut ws.attention)
                } else {
                    attention(&ws.qkv, &shape, &ws.keep, &mut ws.ctx, &mut ws.attention)
                }
            },
        );
        let (ctx, out) = (&ws.ctx[..tokens * h], &mut ws.attn_out[..tokens * h]);
        let epilogue = Epilogue::BiasResidual {
            bias: self.output.bias(),
            residual: x,
        };
        let lin = &mut ws.lin;
        ws.prof.time(
            |s| &mut s.quantize,
            || self.output.quantize(tokens, ctx, lin),
        );
        ws.prof.time(
            |s| &mut s.attention_output,
            || self.output.forward(tokens, ctx, out, epilogue, lin),
        );
        ws.prof.time(
            |s| &mut s.layer_norm,
            || self.norm.apply(&mut ws.attn_out[..tokens * h]),
        );
    }
}

impl Norm {
    /// LayerNorm of every row of `x`, in place; blocks of 16 rows in parallel (rows are
    /// independent, so the result does not depend on the split).
    pub(crate) fn apply(&self, x: &mut [f32]) {
        let h = self.h();
        bertqa_kernels::team::for_each_chunk_mut(x, 16 * h, |_, rows| {
            layer_norm(rows, self.gamma.data(), self.beta.data(), self.eps)
        });
    }

    pub(crate) fn h(&self) -> usize {
        self.gamma.data().len()
    }
}
