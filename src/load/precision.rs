//! The arithmetic of the linear layers: [`Precision`], and per GEMM of a layer, [`LayerPlan`].
//!
//! Its own module, before `weights` and `model`, because both need it (the loader packs each
//! weight for its precision; the model runs it).

use crate::error::Result;

/// The arithmetic of the linear layers' GEMMs (QKV, attention output, FFN up and down) and of
/// attention's two products (Q·Kᵀ, P·V).
///
/// LayerNorm, softmax, GELU, residuals, the embeddings and the QA head stay fp32 in every
/// precision (docs/numerics.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// fp32 weights and activations (exact: logits within 5e-6 of PyTorch).
    #[default]
    F32,
    /// Weights stored as bf16 (half the memory), activations rounded to bf16 at each GEMM
    /// input, fp32 accumulation (`vdpbf16ps` on AMD CPUs with AVX512_BF16, else bf16 widened
    /// to fp32 in the kernel: `Bf16Path::for_isa`); attention's Q, K, P and V too where the CPU multiplies bf16
    /// natively ([`LayerPlan::default_attention`]). See docs/numerics.md for what it costs in
    /// accuracy.
    Bf16,
    /// int8 weights (symmetric, one scale per output column) and uint8 activations quantized
    /// per token at each GEMM input, exact i32 sums (`vpdpbusd` where the CPU has AVX512_VNNI,
    /// else int16 `vpmaddwd`, else scalar); which GEMMs run in int8 is a [`LayerPlan`]
    /// ([`LayerPlan::INT8_DEFAULT`] unless [`LoadOptions::int8_plan`](crate::LoadOptions::int8_plan) says otherwise).
    Int8,
}

impl Precision {
    /// Every precision.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::Bf16, Precision::Int8];

    /// The name the CLI and packed files use: `fp32`, `bf16`, `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    /// Parses a name (`fp32`/`f32`, `bf16`, `int8`; any case).
    pub fn from_name(s: &str) -> Option<Precision> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("f32") {
            return Some(Precision::F32);
        }
        Precision::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// Whether this build and CPU can run the precision; [`Error::Unsupported`](crate::Error::Unsupported) says why not.
    /// Every precision runs on every CPU (bf16 and int8 have exact fallbacks for CPUs without
    /// AVX512_BF16 / AVX512_VNNI, only slower); this is the one place a future restriction
    /// would be reported.
    ///
    /// # Errors
    /// None today.
    pub fn check_available(self) -> Result<()> {
        Ok(())
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Precision::from_name(s).ok_or_else(|| format!("unknown precision {s:?} (fp32, bf16, int8)"))
    }
}

/// One of the four GEMMs of an encoder layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Gemm {
    Qkv,
    AttentionOutput,
    FfnUp,
    FfnDown,
}

/// Which precision each GEMM of an encoder layer runs in, and attention's two products
/// (Q·Kᵀ, P·V: fp32 or bf16 only). fp32 and bf16 use one precision throughout; int8 is a
/// mix, chosen by measurement (docs/accuracy.md): [`LayerPlan::INT8_DEFAULT`], or any other
/// plan through [`LoadOptions::int8_plan`](crate::LoadOptions::int8_plan) / `--int8-plan`.
///
/// Written `qkv=int8,out=int8,up=int8,down=bf16,attn=bf16` ([`LayerPlan::name`],
/// [`LayerPlan::parse`]), or by a preset name ([`LayerPlan::PRESETS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LayerPlan {
    /// The fused Q|K|V projection.
    pub qkv: Precision,
    /// The attention output projection.
    pub attention_output: Precision,
    /// The feed-forward up-projection (GELU after it).
    pub ffn_up: Precision,
    /// The feed-forward down-projection (its input is the GELU output).
    pub ffn_down: Precision,
    /// Attention's Q·Kᵀ and P·V: [`Precision::F32`] or [`Precision::Bf16`].
    pub attention: Precision,
    /// How the word-embedding table is stored: [`Precision::F32`], or [`Precision::Int8`]
    /// with a scale per row (a quarter of the bytes; widened to fp32 at lookup). Not a GEMM:
    /// outside the layers, but chosen with them.
    pub word_embeddings: Precision,
}

impl LayerPlan {
    /// Every GEMM in `p`, attention in `attention`.
    pub const fn uniform(p: Precision, attention: Precision) -> LayerPlan {
        LayerPlan {
            qkv: p,
            attention_output: p,
            ffn_up: p,
            ffn_down: p,
            attention,
            word_embeddings: Precision::F32,
        }
    }

    /// All four GEMMs in int8, attention in bf16.
    pub const INT8_ALL: LayerPlan = LayerPlan::uniform(Precision::Int8, Precision::Bf16);

    /// int8 but the FFN down-projection in bf16 (its input, the GELU output, is the usual
    /// source of int8 error in BERT).
    pub const INT8_DOWN_BF16: LayerPlan = LayerPlan {
        ffn_down: Precision::Bf16,
        ..LayerPlan::INT8_ALL
    };

    /// int8 but the QKV projection in bf16 (the least logit error of the one-GEMM variants
    /// on synthetic BERT-large).
    pub const INT8_QKV_BF16: LayerPlan = LayerPlan {
        qkv: Precision::Bf16,
        ..LayerPlan::INT8_ALL
    };

    /// int8 with attention's products in fp32.
    pub const INT8_ATTN_FP32: LayerPlan = LayerPlan {
        attention: Precision::F32,
        ..LayerPlan::INT8_ALL
    };

    /// [`LayerPlan::INT8_ALL`] with the word embeddings in int8 too: the smallest model
    /// (the bundled one).
    pub const INT8_SMALL: LayerPlan = LayerPlan {
        word_embeddings: Precision::Int8,
        ..LayerPlan::INT8_ALL
    };

    /// The GEMMs `--precision int8` runs in int8: the fastest plan within 0.5 F1 of fp32 on
    /// the real QA model (docs/accuracy.md), with attention in bf16 as on the CPUs that
    /// multiply bf16 natively. [`LayerPlan::default_for`] is what a load without a plan
    /// runs: this, with attention in [`LayerPlan::default_attention`].
    pub const INT8_DEFAULT: LayerPlan = LayerPlan::INT8_ALL;

    /// Named plans for `--int8-plan`.
    pub const PRESETS: [(&'static str, LayerPlan); 5] = [
        ("all", LayerPlan::INT8_ALL),
        ("down-bf16", LayerPlan::INT8_DOWN_BF16),
        ("qkv-bf16", LayerPlan::INT8_QKV_BF16),
        ("attn-fp32", LayerPlan::INT8_ATTN_FP32),
        ("small", LayerPlan::INT8_SMALL),
    ];

    /// The plan a precision runs by default on this CPU: fp32 throughout; bf16 or
    /// [`LayerPlan::INT8_DEFAULT`]'s GEMMs with attention in [`LayerPlan::default_attention`].
    pub fn default_for(p: Precision) -> LayerPlan {
        match p {
            Precision::F32 => LayerPlan::uniform(Precision::F32, Precision::F32),
            Precision::Bf16 => LayerPlan::uniform(Precision::Bf16, Self::default_attention()),
            Precision::Int8 => LayerPlan {
                attention: Self::default_attention(),
                ..LayerPlan::INT8_DEFAULT
            },
        }
    }

    /// The precision of attention's products in the bf16 and int8 defaults on this CPU: bf16
    /// where its bf16 path multiplies bf16 in hardware (`Bf16Path::is_native`: AVX512_BF16,
    /// FEAT_BF16), else fp32 — a widening kernel does fp32's multiply-adds plus the widening,
    /// and attention's operands (Q, K, V, P) are rounded on every call, so there bf16 only
    /// costs time and accuracy (docs/performance.md: int8 with fp32 attention 0.92× the time on
    /// MiniLM at 384 tokens, 0.95× on BERT-large, AVX2 level). Attention has no weights, so
    /// a plan may set it either way, and a packed file's may be overridden.
    pub fn default_attention() -> Precision {
        if bertqa_kernels::Bf16Path::current().is_native() {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }

    /// The precision of one GEMM.
    pub(crate) fn of(&self, g: Gemm) -> Precision {
        match g {
            Gemm::Qkv => self.qkv,
            Gemm::AttentionOutput => self.attention_output,
            Gemm::FfnUp => self.ffn_up,
            Gemm::FfnDown => self.ffn_down,
        }
    }

    /// Whether any GEMM or attention runs in `p`.
    pub fn uses(&self, p: Precision) -> bool {
        [
            self.qkv,
            self.attention_output,
            self.ffn_up,
            self.ffn_down,
            self.attention,
        ]
        .contains(&p)
    }

    /// `qkv=…,out=…,up=…,down=…,attn=…`, and `,emb=int8` when the word embeddings are int8.
    pub fn name(&self) -> String {
        let emb = if self.word_embeddings == Precision::Int8 {
            ",emb=int8"
        } else {
            ""
        };
        format!(
            "qkv={},out={},up={},down={},attn={}{emb}",
            self.qkv, self.attention_output, self.ffn_up, self.ffn_down, self.attention
        )
    }

    /// Parses a preset name or a comma-separated list of `gemm=precision` (gemm: `qkv`, `out`,
    /// `up`, `down`, `attn`, and `emb` for the word embeddings: fp32 or int8), each starting
    /// from this CPU's default ([`LayerPlan::default_for`] int8).
    ///
    /// # Errors
    /// A message naming what is wrong (unknown name, key or precision; int8 attention).
    pub fn parse(s: &str) -> std::result::Result<LayerPlan, String> {
        let s = s.trim();
        if let Some((_, p)) = Self::PRESETS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
        {
            return Ok(*p);
        }
        let mut plan = LayerPlan::default_for(Precision::Int8);
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "{part:?}: expected gemm=precision or a preset ({})",
                    Self::PRESETS.map(|p| p.0).join(", ")
                ));
            };
            let p = Precision::from_name(value)
                .ok_or_else(|| format!("{part:?}: unknown precision (fp32, bf16, int8)"))?;
            let slot = match key.trim() {
                "qkv" => &mut plan.qkv,
                "out" => &mut plan.attention_output,
                "up" => &mut plan.ffn_up,
                "down" => &mut plan.ffn_down,
                "attn" => &mut plan.attention,
                "emb" => &mut plan.word_embeddings,
                other => {
                    return Err(format!(
                        "{other:?}: expected qkv, out, up, down, attn or emb"
                    ))
                }
            };
            *slot = p;
        }
        if plan.attention == Precision::Int8 {
            return Err("attn=int8: attention's products run in fp32 or bf16".into());
        }
        if plan.word_embeddings == Precision::Bf16 {
            return Err("emb=bf16: the word embeddings are stored in fp32 or int8".into());
        }
        Ok(plan)
    }
}

impl std::fmt::Display for LayerPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}
