//! `BertAttention`: fused QKV projection, per-(sequence, head) scaled masked softmax attention,
//! output projection + residual + LayerNorm.
//!
//! ```text
//! x: (tokens, H) → qkv = x·[Wq;Wk;Wv]ᵀ + [bq;bk;bv]: (tokens, 3H)       one GEMM, n = 3H
//! per sequence s, head h:  P = softmax(Q·Kᵀ/√d_head, keys with mask 0 removed);  ctx = P·V
//! out = LayerNorm(ctx·Woᵀ + bo + x)
//! ```
//! Q, K and V of one head are strided views into `qkv` (row stride 3H): no transposed copies.

use super::{Linear, Norm, Sequence};
use crate::config::BertConfig;
use crate::error::Result;
use crate::weights::Checkpoint;
use bertqa_kernels::ops::{add_layer_norm, masked_softmax};
use bertqa_kernels::{gemm_strided, Epilogue, MatMut, MatRef};
use rayon::prelude::*;

pub(crate) struct Attention {
    /// (3H, H) packed, bias (3H): query, key, value stacked.
    pub qkv: Linear,
    /// (H, H) packed, bias (H).
    pub output: Linear,
    /// (H)
    pub norm: Norm,
    pub heads: usize,
}

impl Attention {
    pub fn load(ck: &mut Checkpoint, c: &BertConfig, p: &str) -> Result<Self> {
        let h = c.hidden_size;
        let mut w = Vec::with_capacity(3 * h * h);
        let mut b = Vec::with_capacity(3 * h);
        for part in ["query", "key", "value"] {
            w.extend_from_slice(
                ck.take(&format!("{p}attention.self.{part}.weight"), &[h, h])?
                    .data(),
            );
            b.extend_from_slice(
                ck.take(&format!("{p}attention.self.{part}.bias"), &[h])?
                    .data(),
            );
        }
        Ok(Attention {
            qkv: Linear::from_parts(&w, b, 3 * h, h),
            output: Linear::load(ck, &format!("{p}attention.output.dense"), h, h)?,
            norm: Norm::load(
                ck,
                &format!("{p}attention.output.LayerNorm"),
                h,
                c.layer_norm_eps,
            )?,
            heads: c.num_attention_heads,
        })
    }

    /// x: (tokens, H) in; out: (tokens, H) = LayerNorm(attention(x) + x).
    /// qkv: (tokens, 3H), ctx_heads: (heads, tokens, d_head) and ctx: (tokens, H) are scratch.
    pub fn forward(
        &self,
        seqs: &[Sequence],
        x: &[f32],
        qkv: &mut [f32],
        ctx_heads: &mut [f32],
        ctx: &mut [f32],
        out: &mut [f32],
    ) {
        let h = self.norm.gamma.data().len();
        let tokens = x.len() / h;
        let d = h / self.heads;
        if tokens == 0 {
            return;
        }
        self.qkv
            .forward(tokens, x, qkv, Epilogue::Bias(self.qkv.bias()));
        let scale = 1.0 / (d as f32).sqrt();
        let qkv: &[f32] = qkv;
        // One task per head; within it, each sequence attends only to itself.
        ctx_heads
            .par_chunks_mut(tokens * d)
            .enumerate()
            .for_each(|(head, out_h)| {
                let mut scores = Vec::new();
                let mut keep = Vec::new();
                let mut row0 = 0;
                for s in seqs {
                    let len = s.input_ids.len();
                    let base = row0 * 3 * h + head * d;
                    let q = &qkv[base..];
                    let k = &qkv[base + h..];
                    let v = &qkv[base + 2 * h..];
                    scores.clear();
                    scores.resize(len * len, 0.0);
                    // scores (len, len) = Q·Kᵀ
                    gemm_strided(
                        len,
                        len,
                        d,
                        1.0,
                        MatRef {
                            data: q,
                            rs: 3 * h,
                            cs: 1,
                        },
                        MatRef {
                            data: k,
                            rs: 1,
                            cs: 3 * h,
                        },
                        MatMut {
                            data: &mut scores,
                            rs: len,
                            cs: 1,
                        },
                    );
                    keep.clear();
                    keep.extend(s.attention_mask.iter().map(|&m| m != 0));
                    for row in scores.chunks_exact_mut(len) {
                        masked_softmax(row, scale, &keep);
                    }
                    // ctx (len, d) = P·V
                    gemm_strided(
                        len,
                        d,
                        len,
                        1.0,
                        MatRef {
                            data: &scores,
                            rs: len,
                            cs: 1,
                        },
                        MatRef {
                            data: v,
                            rs: 3 * h,
                            cs: 1,
                        },
                        MatMut {
                            data: &mut out_h[row0 * d..(row0 + len) * d],
                            rs: d,
                            cs: 1,
                        },
                    );
                    row0 += len;
                }
            });
        // (heads, tokens, d) → (tokens, H)
        ctx.par_chunks_mut(h).enumerate().for_each(|(t, row)| {
            for (head, dst) in row.chunks_exact_mut(d).enumerate() {
                let src = (head * tokens + t) * d;
                dst.copy_from_slice(&ctx_heads[src..src + d]);
            }
        });
        self.output
            .forward(tokens, ctx, out, Epilogue::Bias(self.output.bias()));
        add_layer_norm(
            out,
            x,
            self.norm.gamma.data(),
            self.norm.beta.data(),
            self.norm.eps,
        );
    }
}
