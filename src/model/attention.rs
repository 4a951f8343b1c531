//! `BertAttention`: fused QKV projection, per-(sequence, head) scaled masked softmax attention,
//! output projection + residual + LayerNorm.
//!
//! ```text
//! x: (tokens, H) → qkv = x·[Wq;Wk;Wv]ᵀ + [bq;bk;bv]: (tokens, 3H)       one GEMM, n = 3H
//! per sequence s, head h:  P = softmax(Q·Kᵀ/√d_head, keys with mask 0 removed);  ctx = P·V
//! out = LayerNorm(ctx·Woᵀ + bo + x)
//! ```
//! Q, K and V of one head are strided views into `qkv` (row stride 3H): no transposed copies.

use super::{Linear, Norm, Sequence, Workspace};
use crate::config::BertConfig;
use crate::error::Result;
use crate::weights::Checkpoint;
use bertqa_kernels::ops::{layer_norm, masked_softmax};
use bertqa_kernels::{gemm_strided_in, Epilogue, GemmScratch, MatMut, MatRef};
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
        let qkv = if ck.is_packed() {
            Linear::load(ck, &format!("{p}attention.qkv"), 3 * h, h)?
        } else {
            Self::stack_qkv(ck, h, p)?
        };
        Ok(Attention {
            qkv,
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

    /// Query, key and value of a Hugging Face checkpoint stacked into one (3H, H) linear layer.
    fn stack_qkv(ck: &mut Checkpoint, h: usize, p: &str) -> Result<Linear> {
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
        Ok(Linear::from_parts(&w, b, 3 * h, h))
    }

    /// ws.x: (tokens, H) in; ws.attn_out: (tokens, H) = LayerNorm(attention(x) + x) out.
    pub fn forward(&self, seqs: &[Sequence], tokens: usize, longest: usize, ws: &mut Workspace) {
        let h = self.norm.h();
        let x = &ws.x[..tokens * h];
        let qkv = &mut ws.qkv[..tokens * 3 * h];
        ws.prof.time(
            |s| &mut s.qkv,
            || {
                self.qkv
                    .forward(tokens, x, qkv, Epilogue::Bias(self.qkv.bias()))
            },
        );
        ws.prof.time(
            |s| &mut s.attention,
            || {
                self.attend(
                    seqs,
                    tokens,
                    longest,
                    &ws.qkv,
                    &ws.keep,
                    &mut ws.ctx_heads,
                    &mut ws.scores,
                    &mut ws.gemm,
                    &mut ws.ctx,
                )
            },
        );
        let (ctx, out) = (&ws.ctx[..tokens * h], &mut ws.attn_out[..tokens * h]);
        let epilogue = Epilogue::BiasResidual {
            bias: self.output.bias(),
            residual: x,
        };
        ws.prof.time(
            |s| &mut s.attention_output,
            || self.output.forward(tokens, ctx, out, epilogue),
        );
        ws.prof.time(
            |s| &mut s.layer_norm,
            || self.norm.apply(&mut ws.attn_out[..tokens * h]),
        );
    }

    /// ctx (tokens, H) = per sequence, per head: softmax(Q·Kᵀ/√d, mask)·V, through ctx_heads
    /// (heads, tokens, d); `scores` holds one (longest, longest) block per head, `gemm` one set of
    /// packing buffers per head.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        seqs: &[Sequence],
        tokens: usize,
        longest: usize,
        qkv: &[f32],
        keep: &[bool],
        ctx_heads: &mut [f32],
        scores: &mut [f32],
        gemm: &mut [GemmScratch],
        ctx: &mut [f32],
    ) {
        let d = self.norm.h() / self.heads;
        let h = self.heads * d;
        let scale = 1.0 / (d as f32).sqrt();
        // One task per head (its own block of `scores`); within it, each sequence attends only
        // to itself.
        ctx_heads[..tokens * h]
            .par_chunks_mut(tokens * d)
            .zip(scores.par_chunks_mut(longest * longest))
            .zip(gemm.par_iter_mut())
            .enumerate()
            .for_each(|(head, ((out_h, scores), scratch))| {
                let mut row0 = 0;
                for s in seqs {
                    let len = s.input_ids.len();
                    let base = row0 * 3 * h + head * d;
                    let scores = &mut scores[..len * len];
                    // scores (len, len) = Q·Kᵀ
                    gemm_strided_in(
                        scratch,
                        len,
                        len,
                        d,
                        1.0,
                        MatRef {
                            data: &qkv[base..],
                            rs: 3 * h,
                            cs: 1,
                        },
                        MatRef {
                            data: &qkv[base + h..],
                            rs: 1,
                            cs: 3 * h,
                        },
                        MatMut {
                            data: scores,
                            rs: len,
                            cs: 1,
                        },
                    );
                    let keep = &keep[row0..row0 + len];
                    for row in scores.chunks_exact_mut(len) {
                        masked_softmax(row, scale, keep);
                    }
                    // ctx (len, d) = P·V
                    gemm_strided_in(
                        scratch,
                        len,
                        d,
                        len,
                        1.0,
                        MatRef {
                            data: scores,
                            rs: len,
                            cs: 1,
                        },
                        MatRef {
                            data: &qkv[base + 2 * h..],
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
        let ctx_heads = &ctx_heads[..tokens * h];
        ctx[..tokens * h]
            .par_chunks_mut(h)
            .enumerate()
            .for_each(|(t, row)| {
                for (head, dst) in row.chunks_exact_mut(d).enumerate() {
                    let src = (head * tokens + t) * d;
                    dst.copy_from_slice(&ctx_heads[src..src + d]);
                }
            });
    }
}

impl Norm {
    /// LayerNorm of every row of `x`, in place.
    pub(crate) fn apply(&self, x: &mut [f32]) {
        layer_norm(x, self.gamma.data(), self.beta.data(), self.eps);
    }

    pub(crate) fn h(&self) -> usize {
        self.gamma.data().len()
    }
}
