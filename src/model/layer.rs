//! `BertLayer`: attention block then feed-forward block.
//!
//! Mirrors `BertLayer` of Hugging Face's [modeling_bert.py](https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/models/bert/modeling_bert.py).

use super::attention::Attention;
use super::feed_forward::FeedForward;
use super::Workspace;

pub(crate) struct Layer {
    pub attention: Attention,
    pub ffn: FeedForward,
}

impl Layer {
    pub fn forward(&self, tokens: usize, ws: &mut Workspace) {
        self.attention.forward(tokens, ws);
        self.ffn.forward(tokens, ws);
    }
}
