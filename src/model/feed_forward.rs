//! `BertIntermediate` + `BertOutput`: out = LayerNorm(GELU(x·W1ᵀ + b1)·W2ᵀ + b2 + x).

use super::{Linear, Norm};
use crate::config::BertConfig;
use crate::error::Result;
use crate::weights::Checkpoint;
use bertqa_kernels::ops::layer_norm;
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
    pub fn load(ck: &mut Checkpoint, c: &BertConfig, p: &str) -> Result<Self> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        Ok(FeedForward {
            intermediate: Linear::load(ck, &format!("{p}intermediate.dense"), i, h)?,
            output: Linear::load(ck, &format!("{p}output.dense"), h, i)?,
            norm: Norm::load(ck, &format!("{p}output.LayerNorm"), h, c.layer_norm_eps)?,
        })
    }

    /// x: (tokens, H); inter: (tokens, I) scratch; out: (tokens, H).
    pub fn forward(&self, x: &[f32], inter: &mut [f32], out: &mut [f32]) {
        let tokens = x.len() / self.norm.gamma.data().len();
        self.intermediate.forward(
            tokens,
            x,
            inter,
            Epilogue::BiasGelu(self.intermediate.bias()),
        );
        self.output.forward(
            tokens,
            inter,
            out,
            Epilogue::BiasResidual {
                bias: self.output.bias(),
                residual: x,
            },
        );
        layer_norm(
            out,
            self.norm.gamma.data(),
            self.norm.beta.data(),
            self.norm.eps,
        );
    }
}
