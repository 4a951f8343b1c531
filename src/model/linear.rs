//! `Linear`: a dense layer y = x·Wᵀ + b, its weight packed once at load for the GEMM of its
//! precision (fp32 panels, bf16 pair panels, int8 4-k group panels with column scales and
//! sums), loaded from a checkpoint's `{name}.weight`/`{name}.bias` (QKV stacked from three
//! layers) or borrowed from a packed file's panels.

use super::{params, LinearScratch, Precision};
use crate::error::{Error, Result};
use crate::load::weights::Checkpoint;
use bertqa_kernels::{
    gemm_bf16_in, gemm_i8_quantized, gemm_packed_in, quantize_i8, Epilogue, I8Kernels, PackedBf16,
    PackedI8, PackedMatrix,
};

/// A linear layer's weight, packed for the GEMM of its precision.
pub(crate) enum Weight {
    F32(PackedMatrix),
    Bf16(PackedBf16),
    Int8(PackedI8),
}

/// A dense layer y = x·Wᵀ + b with W packed for the GEMM.
pub(crate) struct Linear {
    pub(crate) weight: Weight,
    pub(crate) bias: Vec<f32>,
}

impl Linear {
    /// A layer of no weights, a placeholder until loading fills it ([`Bert::skeleton`]).
    pub(crate) fn empty() -> Self {
        Linear {
            weight: Weight::F32(PackedMatrix::pack(&[], 0, 0)),
            bias: Vec::new(),
        }
    }

    /// Loads the linear layer `name` of the parameter table, packed in the precision the
    /// checkpoint's plan gives its GEMM: as panels borrowed from a packed file, or from the
    /// checkpoint's `{name}.weight` and `{name}.bias` (QKV: from query's, key's and value's).
    pub(crate) fn load(
        ck: &mut Checkpoint,
        name: &str,
        shape: &params::LinearShape,
    ) -> Result<Self> {
        let precision = shape.gemm.map_or(Precision::F32, |g| ck.plan().of(g));
        let (out, inp) = (shape.out, shape.inp);
        if ck.is_packed() {
            Self::load_packed(ck, name, out, inp, precision)
        } else if shape.stacked.is_empty() {
            Self::load_parts(ck, &[name.to_string()], out, inp, precision)
        } else {
            Self::load_parts(ck, &shape.stacked, out, inp, precision)
        }
    }

    /// A checkpoint's layers `parts` (each `{part}.weight` and `{part}.bias`, `out / parts`
    /// rows) stacked along `out` and packed; one part is used in place, not copied. A BF16
    /// checkpoint in bf16 is packed from its bits, with no fp32 copy.
    fn load_parts(
        ck: &mut Checkpoint,
        parts: &[String],
        out: usize,
        inp: usize,
        precision: Precision,
    ) -> Result<Self> {
        let rows = out / parts.len();
        let weight = |part: &String| format!("{part}.weight");
        let from_bits =
            precision == Precision::Bf16 && parts.iter().all(|part| ck.is_bf16(&weight(part)));
        let (mut w32, mut w16) = (Vec::new(), Vec::new());
        let mut bias = Vec::with_capacity(out);
        for part in parts {
            if from_bits {
                w16.push(ck.take_bf16(&weight(part), &[rows, inp])?);
            } else {
                w32.push(ck.take(&weight(part), &[rows, inp])?);
            }
            bias.extend_from_slice(ck.take(&format!("{part}.bias"), &[rows])?.data());
        }
        if from_bits {
            let bits: Vec<&[u16]> = w16.iter().map(|t| t.data()).collect();
            return Ok(Self::from_bf16_bits(&one_or_concat(&bits), bias, out, inp));
        }
        let w: Vec<&[f32]> = w32.iter().map(|t| t.data()).collect();
        let w = one_or_concat(&w);
        let weight = match precision {
            Precision::Bf16 => Weight::Bf16(PackedBf16::pack(&w, out, inp)),
            Precision::Int8 => {
                Weight::Int8(PackedI8::pack_to(&w, out, inp, ck.int8_weight_levels()))
            }
            Precision::F32 => Weight::F32(PackedMatrix::pack(&w, out, inp)),
        };
        Ok(Linear { weight, bias })
    }

    /// A packed file's `{prefix}.packed` (fp32 panels), `{prefix}.packed_bf16` (bf16 pair
    /// panels) or `{prefix}.packed_i8` with `{prefix}.scale_i8` and `{prefix}.colsum_i8` (int8
    /// panels, column scales and sums), by the precision asked for, and `{prefix}.bias`.
    fn load_packed(
        ck: &mut Checkpoint,
        prefix: &str,
        out: usize,
        inp: usize,
        precision: Precision,
    ) -> Result<Self> {
        let bias = ck.take(&format!("{prefix}.bias"), &[out])?.data().to_vec();
        let weight = match precision {
            Precision::Int8 => Weight::Int8(Self::load_packed_i8(ck, prefix, out, inp)?),
            Precision::Bf16 => {
                let panels = ck.take_bf16(
                    &format!("{prefix}.packed_bf16"),
                    &[PackedBf16::panel_len(out, inp)],
                )?;
                Weight::Bf16(PackedBf16::from_shared(
                    out,
                    inp,
                    std::sync::Arc::new(panels),
                ))
            }
            _ => {
                let panels = ck.take(
                    &format!("{prefix}.packed"),
                    &[PackedMatrix::panel_len(out, inp)],
                )?;
                Weight::F32(PackedMatrix::from_shared(
                    out,
                    inp,
                    std::sync::Arc::new(panels),
                ))
            }
        };
        Ok(Linear { weight, bias })
    }

    /// The int8 panels, scales and column sums of a packed file. The column sums are stored
    /// as F32 (exact: |Σ| ≤ 127·k < 2²⁴); each must be an integer, and with validation on each
    /// must equal the sum of its column's panel values — a corrupt file is an error, not
    /// silently wrong answers.
    fn load_packed_i8(
        ck: &mut Checkpoint,
        prefix: &str,
        out: usize,
        inp: usize,
    ) -> Result<PackedI8> {
        if inp > bertqa_kernels::gemm::int8::MAX_K {
            return Err(Error::Unsupported {
                message: format!(
                    "{prefix}: int8 GEMMs take k ≤ {}, not {inp}",
                    bertqa_kernels::gemm::int8::MAX_K
                ),
            });
        }
        let panels = ck.take_i8(
            &format!("{prefix}.packed_i8"),
            &[PackedI8::panel_len(out, inp)],
        )?;
        let scale_name = format!("{prefix}.scale_i8");
        let scales = ck.take(&scale_name, &[out])?.data().to_vec();
        let sum_name = format!("{prefix}.colsum_i8");
        let sums = ck.take(&sum_name, &[out])?;
        let bad = |ck: &Checkpoint, index: usize, why: &str| {
            ck.format_error(format!("{sum_name}, column {index}: {why}"))
        };
        let mut col_sums = Vec::with_capacity(out);
        for (j, &v) in sums.data().iter().enumerate() {
            if v.fract() != 0.0 || v.abs() > (128 * inp) as f32 {
                return Err(bad(
                    ck,
                    j,
                    &format!("{v} is not a column sum of int8 values"),
                ));
            }
            col_sums.push(v as i32);
        }
        if let Some(j) = scales.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(Error::NonFinite {
                name: scale_name,
                index: j,
            });
        }
        let levels = ck.int8_weight_levels();
        let panels = std::sync::Arc::new(panels);
        let w = PackedI8::from_shared(out, inp, levels, panels, scales, col_sums);
        if ck.validating() {
            // Values beyond the recorded levels could saturate a `vpmaddubsw` product.
            let top = w.max_magnitude();
            if top > levels {
                return Err(ck.format_error(format!(
                    "{prefix}.packed_i8 holds ±{top}, beyond the ±{levels} the file records"
                )));
            }
            if let Some(j) = w
                .recompute_col_sums()
                .iter()
                .zip(w.col_sums())
                .position(|(a, b)| a != b)
            {
                return Err(bad(ck, j, "does not match the panels"));
            }
        }
        Ok(w)
    }

    /// A bf16 layer packed straight from bf16 weight bits.
    fn from_bf16_bits(bits: &[u16], bias: Vec<f32>, out: usize, inp: usize) -> Self {
        Linear {
            weight: Weight::Bf16(PackedBf16::pack_bits(bits, out, inp)),
            bias,
        }
    }

    pub(crate) fn bias(&self) -> &[f32] {
        &self.bias
    }

    pub(crate) fn out_features(&self) -> usize {
        match &self.weight {
            Weight::F32(w) => w.n(),
            Weight::Bf16(w) => w.n(),
            Weight::Int8(w) => w.n(),
        }
    }

    /// An int8 layer quantizes x (m, in) into `scratch` for the next [`Linear::forward`] (so
    /// the profile times it apart); other precisions do nothing.
    pub(crate) fn quantize(&self, m: usize, x: &[f32], scratch: &mut LinearScratch) {
        if let Weight::Int8(w) = &self.weight {
            quantize_i8(&mut scratch.i8, m, x, w);
        }
    }

    /// y (m, out) = epilogue(x (m, in) · Wᵀ); a bf16 layer rounds x into `scratch`, an int8
    /// layer uses the quantization [`Linear::quantize`] left there (or quantizes now).
    pub(crate) fn forward(
        &self,
        m: usize,
        x: &[f32],
        y: &mut [f32],
        epilogue: Epilogue,
        scratch: &mut LinearScratch,
    ) {
        match &self.weight {
            Weight::F32(w) => gemm_packed_in(&mut scratch.f32, m, x, w, y, epilogue),
            Weight::Bf16(w) => gemm_bf16_in(&mut scratch.a16, m, x, w, y, epilogue),
            Weight::Int8(w) => {
                if !I8Kernels::current().holds(&scratch.i8, m, x, w) {
                    quantize_i8(&mut scratch.i8, m, x, w);
                }
                gemm_i8_quantized(&mut scratch.i8, w, y, epilogue)
            }
        }
    }
}

/// One slice as it is, or several one after another (a copy).
fn one_or_concat<'a, T: Copy>(parts: &[&'a [T]]) -> std::borrow::Cow<'a, [T]> {
    match parts {
        [one] => std::borrow::Cow::Borrowed(one),
        _ => std::borrow::Cow::Owned(parts.concat()),
    }
}
