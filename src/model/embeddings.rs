//! `BertEmbeddings`: word + position + token-type embeddings, then LayerNorm (DistilBERT's
//! `Embeddings`: the same without token types).
//!
//! Mirrors `BertEmbeddings` of Hugging Face's [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py).

use super::Norm;
use crate::safetensors::Tensor;

/// The embedding tables and their LayerNorm.
pub(crate) struct Embeddings {
    /// (vocab_size, H)
    pub word: Tensor,
    /// (max_position_embeddings, H)
    pub position: Tensor,
    /// (type_vocab_size, H); empty for DistilBERT, which has no token types.
    pub token_type: Tensor,
    /// (H)
    pub norm: Norm,
}

impl Embeddings {
    pub fn forward(&self, seqs: &[super::Sequence], x: &mut [f32]) {
        let h = self.norm.gamma.data().len();
        let (word, pos, tt) = (
            self.word.data(),
            self.position.data(),
            self.token_type.data(),
        );
        let mut rows = x.chunks_exact_mut(h);
        if tt.is_empty() {
            // DistilBERT: `inputs_embeds + position_embeddings`.
            for s in seqs {
                for (p, &id) in s.input_ids.iter().enumerate() {
                    let row = rows.next().expect("x holds every token");
                    let w = &word[id as usize * h..(id as usize + 1) * h];
                    let pe = &pos[p * h..(p + 1) * h];
                    for j in 0..h {
                        row[j] = w[j] + pe[j];
                    }
                }
            }
            self.norm.apply(x);
            return;
        }
        for s in seqs {
            for (p, (&id, &t)) in s.input_ids.iter().zip(&s.token_type_ids).enumerate() {
                let row = rows.next().expect("x holds every token");
                let (id, t) = (id as usize, t as usize);
                let w = &word[id * h..(id + 1) * h];
                let pe = &pos[p * h..(p + 1) * h];
                let te = &tt[t * h..(t + 1) * h];
                for j in 0..h {
                    row[j] = w[j] + te[j] + pe[j];
                }
            }
        }
        self.norm.apply(x);
    }
}
