//! `BertEmbeddings`: word + position + token-type embeddings, then LayerNorm (DistilBERT's
//! `Embeddings`: the same without token types).
//!
//! Mirrors `BertEmbeddings` of Hugging Face's [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py).
//!
//! The word table may be stored in int8 with one scale per row ([`Table::Int8`],
//! `LayerPlan::word_embeddings`): a quarter of the fp32 bytes (BERT-large's 31.3 M values:
//! 125 MB → 31 MB), each value within half a step (max |row| / 254) of the fp32 one. A row is
//! widened to fp32 as it is looked up, so everything after the lookup is unchanged.

use super::{Norm, Precision};
use crate::error::Result;
use crate::load::safetensors::{I8Tensor, Tensor};
use crate::load::weights::Checkpoint;

/// An embedding table (rows, H): fp32, or int8 with a scale per row (`value ≈ q · scale`).
#[derive(Clone, Debug)]
pub(crate) enum Table {
    /// fp32 values.
    F32(Tensor),
    /// Symmetric int8 rows (−127..=127) and their scales (max |row| / 127).
    Int8 {
        /// (rows, H)
        values: I8Tensor,
        /// (rows)
        scales: Tensor,
    },
}

impl Table {
    /// No rows: a placeholder until loading fills it, or DistilBERT's absent token types.
    pub fn empty() -> Self {
        Table::F32(Tensor::empty())
    }

    /// Whether the table has no values.
    pub fn is_empty(&self) -> bool {
        match self {
            Table::F32(t) => t.data().is_empty(),
            Table::Int8 { values, .. } => values.data().is_empty(),
        }
    }

    /// (rows, H).
    #[cfg(test)]
    pub fn shape(&self) -> &[usize] {
        match self {
            Table::F32(t) => t.shape(),
            Table::Int8 { values, .. } => values.shape(),
        }
    }

    /// Whether any part is borrowed from a memory map.
    #[cfg(test)]
    pub fn is_mapped(&self) -> bool {
        match self {
            Table::F32(t) => t.is_mapped(),
            Table::Int8 { values, scales } => values.is_mapped() || scales.is_mapped(),
        }
    }

    /// The table with its values copied out of a memory map.
    pub fn to_owned_values(&self) -> Table {
        match self {
            Table::F32(t) => Table::F32(t.to_owned_values()),
            Table::Int8 { values, scales } => Table::Int8 {
                values: values.to_owned_values(),
                scales: scales.to_owned_values(),
            },
        }
    }

    /// The int8 form of an fp32 table: per row, scale = max |x| / 127 and q = round(x / scale)
    /// (an all-zero row gets scale 0 and zeros). Already int8: unchanged.
    pub fn quantized(&self) -> Table {
        let Table::F32(t) = self else {
            return self.clone();
        };
        let (rows, h) = (t.shape()[0], t.shape()[1]);
        let mut q = Vec::with_capacity(rows * h);
        let mut scales = Vec::with_capacity(rows);
        for row in t.data().chunks_exact(h) {
            let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            scales.push(scale);
            if scale > 0.0 {
                let inv = 1.0 / scale;
                q.extend(
                    row.iter()
                        .map(|&v| (v * inv).round().clamp(-127.0, 127.0) as i8),
                );
            } else {
                q.extend(std::iter::repeat_n(0i8, h));
            }
        }
        Table::Int8 {
            values: I8Tensor::from_vec(vec![rows, h], q),
            scales: Tensor::from_vec(vec![rows], scales),
        }
    }

    /// Writes row `r` (as fp32) into `out` (H values).
    #[inline]
    fn write_row(&self, r: usize, out: &mut [f32]) {
        let h = out.len();
        match self {
            Table::F32(t) => out.copy_from_slice(&t.data()[r * h..(r + 1) * h]),
            Table::Int8 { values, scales } => {
                let s = scales.data()[r];
                for (o, &q) in out.iter_mut().zip(&values.data()[r * h..(r + 1) * h]) {
                    *o = q as f32 * s;
                }
            }
        }
    }

    /// Adds row `r` (as fp32) to `out`.
    #[inline]
    fn add_row(&self, r: usize, out: &mut [f32]) {
        let h = out.len();
        match self {
            Table::F32(t) => {
                for (o, &v) in out.iter_mut().zip(&t.data()[r * h..(r + 1) * h]) {
                    *o += v;
                }
            }
            Table::Int8 { values, scales } => {
                let s = scales.data()[r];
                for (o, &q) in out.iter_mut().zip(&values.data()[r * h..(r + 1) * h]) {
                    *o += q as f32 * s;
                }
            }
        }
    }

    /// Bytes the values take.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        match self {
            Table::F32(t) => 4 * t.data().len(),
            Table::Int8 { values, scales } => values.data().len() + 4 * scales.data().len(),
        }
    }
}

impl Table {
    /// An embedding table `name` (rows × cols) from `ck`: an int8 table of a packed file
    /// (`{name}.i8` with `{name}.scale_i8`) as stored, an fp32 one as stored — quantized to int8 at
    /// load if it is the word table and the plan says so.
    ///
    /// # Errors
    /// The tensor errors of [`Checkpoint::take`]; [`Error::Format`] for a packed file whose word
    /// table's storage disagrees with its plan.
    pub(crate) fn load(
        ck: &mut Checkpoint,
        name: &str,
        rows: usize,
        cols: usize,
        words: bool,
    ) -> Result<Table> {
        let want_int8 = words && ck.plan().word_embeddings == Precision::Int8;
        let int8_name = format!("{name}.i8");
        if ck.is_packed() {
            let stored_int8 = ck.contains(&int8_name);
            if stored_int8 != want_int8 {
                return Err(ck.format_error(format!(
                    "{name} is stored in {} but the file's plan says {}",
                    if stored_int8 { "int8" } else { "fp32" },
                    ck.plan()
                )));
            }
            if stored_int8 {
                return Ok(Table::Int8 {
                    values: ck.take_i8(&int8_name, &[rows, cols])?,
                    scales: ck.take(&format!("{name}.scale_i8"), &[rows])?,
                });
            }
        }
        let table = Table::F32(ck.take(name, &[rows, cols])?);
        Ok(if want_int8 { table.quantized() } else { table })
    }
}

/// The embedding tables and their LayerNorm.
pub(crate) struct Embeddings {
    /// (vocab_size, H)
    pub word: Table,
    /// (max_position_embeddings, H)
    pub position: Table,
    /// (type_vocab_size, H); empty for DistilBERT, which has no token types.
    pub token_type: Table,
    /// (H)
    pub norm: Norm,
}

impl Embeddings {
    pub fn forward(&self, seqs: &[super::Sequence], x: &mut [f32]) {
        let h = self.norm.gamma.data().len();
        let types = !self.token_type.is_empty();
        let mut rows = x.chunks_exact_mut(h);
        for s in seqs {
            for (p, (&id, &t)) in s.input_ids.iter().zip(&s.token_type_ids).enumerate() {
                let row = rows.next().expect("x holds every token");
                // (word + token type) + position, Hugging Face's order; DistilBERT:
                // word + position.
                self.word.write_row(id as usize, row);
                if types {
                    self.token_type.add_row(t as usize, row);
                }
                self.position.add_row(p, row);
            }
        }
        self.norm.apply(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_rows_are_within_half_a_step() {
        let h = 16;
        let data: Vec<f32> = (0..4 * h)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.013)
            .chain(std::iter::repeat_n(0.0, h))
            .collect();
        let t = Table::F32(Tensor::from_vec(vec![5, h], data.clone()));
        let q = t.quantized();
        assert_eq!(q.shape(), [5, h]);
        assert_eq!(q.bytes(), 5 * h + 4 * 5);
        let (mut a, mut b) = (vec![0.0; h], vec![0.0; h]);
        for r in 0..5 {
            t.write_row(r, &mut a);
            q.write_row(r, &mut b);
            let max = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= max / 254.0 * 1.0001, "row {r}: {x} vs {y}");
            }
        }
        // The all-zero row stays zero.
        q.write_row(4, &mut b);
        assert!(b.iter().all(|&v| v == 0.0));
    }
}
