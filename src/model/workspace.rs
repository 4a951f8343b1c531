//! Activation buffers of the forward pass, reused across layers and calls.

use crate::load::config::BertConfig;
use std::time::{Duration, Instant};

/// Every buffer a forward pass writes, sized for (total tokens, longest sequence) and grown on
/// demand, never shrunk: after the first call with the largest batch, forward passes allocate
/// nothing. Not shared between threads: give each caller its own (`QaModel` keeps a pool).
#[derive(Default)]
pub struct Workspace {
    /// (tokens, H): the hidden state between layers.
    pub(crate) x: Vec<f32>,
    /// (tokens, 3H): Q | K | V per token.
    pub(crate) qkv: Vec<f32>,
    /// (tokens, H): attention output, token-major (heads concatenated).
    pub(crate) ctx: Vec<f32>,
    /// (tokens, H): attention block output, input of the feed-forward block.
    pub(crate) attn_out: Vec<f32>,
    /// (tokens, I): feed-forward hidden layer.
    pub(crate) inter: Vec<f32>,
    /// (tokens): attention_mask ≠ 0 per token.
    pub(crate) keep: Vec<bool>,
    /// Token count of each sequence of the batch.
    pub(crate) lens: Vec<usize>,
    /// (tokens, 2): start and end logits.
    pub(crate) logits: Vec<f32>,
    /// Packed K and V per (sequence, head) and per-thread score strips of the attention.
    pub(crate) attention: bertqa_kernels::AttentionScratch,
    /// A GEMM input rounded to bf16 or quantized to uint8.
    pub(crate) lin: LinearScratch,
    /// Per-stage timing.
    pub(crate) prof: Profiler,
}

/// What the linear layers copy their input into: rows padded apart (the fp32 GEMMs, see
/// `bertqa_kernels::gemm_packed_in`), bf16 (the bf16 GEMMs) or uint8 with per-row scales (the
/// int8 GEMMs).
#[derive(Default)]
pub(crate) struct LinearScratch {
    pub(crate) f32: bertqa_kernels::GemmScratch,
    pub(crate) a16: bertqa_kernels::Bf16Scratch,
    pub(crate) i8: bertqa_kernels::I8Scratch,
}

/// Accumulates per-stage wall time when on.
#[derive(Default)]
pub(crate) struct Profiler {
    on: bool,
    stages: StageTimes,
}

impl Profiler {
    /// Runs `f`, adding its duration to the stage `pick` selects when profiling is on.
    pub(crate) fn time<R>(
        &mut self,
        pick: fn(&mut StageTimes) -> &mut Duration,
        f: impl FnOnce() -> R,
    ) -> R {
        if !self.on {
            return f();
        }
        let t = Instant::now();
        let r = f();
        *pick(&mut self.stages) += t.elapsed();
        r
    }
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("floats", &self.len())
            .finish()
    }
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

impl Workspace {
    /// An empty workspace; buffers are sized by the first forward pass.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every activation buffer large enough for `tokens` tokens (the attention's scratch
    /// sizes itself from the sequence lengths).
    pub(crate) fn prepare(&mut self, c: &BertConfig, tokens: usize) {
        let h = c.hidden_size;
        grow(&mut self.x, tokens * h);
        grow(&mut self.qkv, tokens * 3 * h);
        grow(&mut self.ctx, tokens * h);
        grow(&mut self.attn_out, tokens * h);
        grow(&mut self.inter, tokens * c.intermediate_size);
        grow(&mut self.logits, tokens * 2);
        if self.keep.len() < tokens {
            self.keep.resize(tokens, false);
        }
    }

    /// Floats held (memory ≈ 4 bytes each).
    pub fn len(&self) -> usize {
        self.x.len()
            + self.qkv.len()
            + self.ctx.len()
            + self.attn_out.len()
            + self.inter.len()
            + self.attention.len()
            + self.lin.a16.len()
            + self.lin.i8.len() / 4
            + self.logits.len()
    }

    /// Whether no buffer has been sized yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Turns per-stage timing on (and clears it) or off.
    pub fn set_profiling(&mut self, on: bool) {
        self.prof = Profiler {
            on,
            stages: StageTimes::default(),
        };
    }

    /// Time per stage accumulated since profiling was turned on.
    pub fn stage_times(&self) -> &StageTimes {
        &self.prof.stages
    }
}

/// Wall time per stage of the forward pass, summed over layers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Embedding lookups + LayerNorm.
    pub embeddings: Duration,
    /// The fused Q|K|V projection (GEMM, n = 3H).
    pub qkv: Duration,
    /// Q·Kᵀ, masked softmax, P·V for every (sequence, head), written straight into the
    /// token-major context (no head-major copy), and packing K and V.
    pub attention: Duration,
    /// Attention output projection (GEMM + bias + residual).
    pub attention_output: Duration,
    /// Feed-forward up-projection with GELU (GEMM, n = I).
    pub ffn_up: Duration,
    /// Feed-forward down-projection with residual (GEMM, k = I).
    pub ffn_down: Duration,
    /// The two LayerNorms of every layer.
    pub layer_norm: Duration,
    /// Quantizing the int8 GEMMs' inputs to uint8 per token (zero in fp32 and bf16; the
    /// GEMM stages above do not include it).
    pub quantize: Duration,
    /// The QA head (GEMM, n = 2).
    pub qa_head: Duration,
}

impl std::ops::AddAssign<&StageTimes> for StageTimes {
    fn add_assign(&mut self, other: &StageTimes) {
        self.embeddings += other.embeddings;
        self.qkv += other.qkv;
        self.attention += other.attention;
        self.attention_output += other.attention_output;
        self.ffn_up += other.ffn_up;
        self.ffn_down += other.ffn_down;
        self.layer_norm += other.layer_norm;
        self.quantize += other.quantize;
        self.qa_head += other.qa_head;
    }
}

impl StageTimes {
    /// Their sum: the forward passes' time.
    pub fn total(&self) -> Duration {
        self.entries().iter().map(|(_, t)| *t).sum()
    }

    /// (name, time) per stage, in forward order.
    pub fn entries(&self) -> [(&'static str, Duration); 9] {
        [
            ("embeddings", self.embeddings),
            ("qkv", self.qkv),
            ("attention", self.attention),
            ("attention_output", self.attention_output),
            ("ffn_up", self.ffn_up),
            ("ffn_down", self.ffn_down),
            ("layer_norm", self.layer_norm),
            ("quantize", self.quantize),
            ("qa_head", self.qa_head),
        ]
    }
}
