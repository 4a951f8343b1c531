//! `config.json`: the model's hyper-parameters, with Hugging Face's field names.
//!
//! Two architectures share one network ([`ModelType`]): BERT (`model_type` `"bert"`, or no
//! `model_type` at all) and DistilBERT (`"distilbert"`: the same post-LayerNorm encoder layer,
//! no token-type embeddings, its own field and tensor names). A DistilBERT `config.json`
//! (`dim`, `n_layers`, `n_heads`, `hidden_dim`, `activation`) is read into the same
//! [`BertConfig`] with `type_vocab_size` 0; every other `model_type` (RoBERTa, ALBERT, ELECTRA,
//! …) is refused by name — see docs/models.md for why.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which family of checkpoint a config describes: it decides the tensor names
/// (`model::params`) and whether there are token-type embeddings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// BERT (`BertForQuestionAnswering`), the model card's.
    #[default]
    Bert,
    /// DistilBERT (`DistilBertForQuestionAnswering`): 6 layers distilled from BERT-base, no
    /// token-type embeddings.
    DistilBert,
}

impl ModelType {
    /// `config.json`'s `model_type` value.
    pub fn name(self) -> &'static str {
        match self {
            ModelType::Bert => "bert",
            ModelType::DistilBert => "distilbert",
        }
    }

    /// The prefix of the encoder's tensors in a question-answering checkpoint
    /// (`bert.`, `distilbert.`).
    pub fn checkpoint_prefix(self) -> &'static str {
        match self {
            ModelType::Bert => "bert.",
            ModelType::DistilBert => "distilbert.",
        }
    }
}

/// A BERT encoder's shape, as Hugging Face's `BertConfig` writes it to `config.json` (a
/// DistilBERT config is translated into it, see the module docs).
///
/// Fields bertqa does not use (dropout rates, `architectures`, …) are ignored when reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// The architecture (`model_type`); absent means BERT.
    #[serde(default)]
    pub model_type: ModelType,
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Width of every hidden state (H).
    pub hidden_size: usize,
    /// Encoder layers (L).
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer (usually 4·H).
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer: only `"gelu"` (the exact erf form) is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Longest sequence the position-embedding table covers.
    pub max_position_embeddings: usize,
    /// Rows of the token-type (segment) embedding table; 0 for DistilBERT, which has none (its
    /// inputs' token types are ignored, as Hugging Face's model takes none).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Only `"absolute"` position embeddings are supported.
    #[serde(default = "default_pos_type")]
    pub position_embedding_type: String,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_pos_type() -> String {
    "absolute".into()
}

/// DistilBERT's `config.json` fields (`DistilBertConfig`); the ones bertqa does not use
/// (dropout rates, `qa_dropout`, `tie_weights_`, …) are ignored.
#[derive(Deserialize)]
struct DistilBertConfig {
    vocab_size: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    hidden_dim: usize,
    #[serde(default = "default_act")]
    activation: String,
    max_position_embeddings: usize,
}

impl DistilBertConfig {
    /// The same shape in BERT's terms. DistilBERT's LayerNorm ε is fixed at 1e-12 in its
    /// modelling code. Sinusoidal position embeddings (`sinusoidal_pos_embds`) need no special
    /// case: the table is stored in the checkpoint either way.
    fn into_bert(self) -> Result<BertConfig> {
        Ok(BertConfig {
            model_type: ModelType::DistilBert,
            vocab_size: self.vocab_size,
            hidden_size: self.dim,
            num_hidden_layers: self.n_layers,
            num_attention_heads: self.n_heads,
            intermediate_size: self.hidden_dim,
            hidden_act: self.activation,
            max_position_embeddings: self.max_position_embeddings,
            type_vocab_size: 0,
            layer_norm_eps: 1e-12,
            position_embedding_type: default_pos_type(),
        })
    }
}

/// Vocabulary size of BERT's uncased WordPiece vocabulary (`weights/vocab.txt`).
pub const UNCASED_VOCAB_SIZE: usize = 30_522;

impl BertConfig {
    /// Reads and validates `config.json`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::Config`] if it is not valid JSON for a
    /// BERT config or fails [`BertConfig::validate`].
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&bytes)
            .map_err(|e| Error::config(format!("{}: {}", path.display(), config_message(&e))))
    }

    /// Parses and validates a config from JSON bytes: a BERT `config.json`, a DistilBERT one,
    /// or what [`BertConfig`] serialises to.
    ///
    /// # Errors
    /// [`Error::Config`] if the JSON is not a valid, supported config (an unsupported
    /// `model_type` is named).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::config(e.to_string()))?;
        let model_type = match value.get("model_type") {
            None | Some(serde_json::Value::Null) => ModelType::Bert,
            Some(t) => match t.as_str() {
                Some("bert") => ModelType::Bert,
                Some("distilbert") => ModelType::DistilBert,
                _ => {
                    return Err(Error::config(format!(
                        "model_type {t} is not supported: bertqa runs BERT (\"bert\") and \
                         DistilBERT (\"distilbert\") checkpoints; see docs/models.md"
                    )))
                }
            },
        };
        let config: BertConfig =
            if model_type == ModelType::DistilBert && value.get("dim").is_some() {
                serde_json::from_value::<DistilBertConfig>(value)
                    .map_err(|e| Error::config(format!("DistilBERT config: {e}")))?
                    .into_bert()?
            } else {
                serde_json::from_value(value).map_err(|e| Error::config(e.to_string()))?
            };
        config.validate()?;
        Ok(config)
    }

    /// The config as Hugging Face writes it to `config.json` for this architecture (BERT's
    /// field names, or DistilBERT's), with `model_type` and `architectures` set for a
    /// question-answering checkpoint.
    pub fn to_hf_json(&self) -> serde_json::Value {
        match self.model_type {
            ModelType::Bert => {
                let mut json = serde_json::to_value(self).expect("config serialises");
                json["architectures"] = serde_json::json!(["BertForQuestionAnswering"]);
                json
            }
            ModelType::DistilBert => serde_json::json!({
                "architectures": ["DistilBertForQuestionAnswering"],
                "model_type": "distilbert",
                "vocab_size": self.vocab_size,
                "dim": self.hidden_size,
                "n_layers": self.num_hidden_layers,
                "n_heads": self.num_attention_heads,
                "hidden_dim": self.intermediate_size,
                "activation": self.hidden_act,
                "max_position_embeddings": self.max_position_embeddings,
                "sinusoidal_pos_embds": false,
                "dropout": 0.1,
                "attention_dropout": 0.1,
                "qa_dropout": 0.1,
                "initializer_range": 0.02,
                "pad_token_id": 0,
            }),
        }
    }

    /// Checks that the shape is one bertqa can run.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first offending field.
    pub fn validate(&self) -> Result<()> {
        let mut positive = vec![
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        match self.model_type {
            ModelType::Bert => positive.push(("type_vocab_size", self.type_vocab_size)),
            ModelType::DistilBert if self.type_vocab_size != 0 => {
                return Err(Error::config(
                    "type_vocab_size must be 0 for DistilBERT (it has no token-type embeddings)",
                ))
            }
            ModelType::DistilBert => {}
        }
        for &(name, v) in &positive {
            if v == 0 {
                return Err(Error::config(format!("{name} must be positive")));
            }
        }
        // Guard against absurd sizes whose products overflow or could never be allocated.
        const LIMIT: usize = 1 << 24;
        for (name, v) in positive {
            if v > LIMIT {
                return Err(Error::config(format!(
                    "{name} = {v} is larger than {LIMIT}"
                )));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::config(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.hidden_act != "gelu" {
            return Err(Error::config(format!(
                "hidden_act {:?} is not supported (only \"gelu\", the erf form)",
                self.hidden_act
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(Error::config(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                self.position_embedding_type
            )));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(Error::config("layer_norm_eps must be a positive number"));
        }
        Ok(())
    }

    /// Floating-point operations of one forward pass over a sequence of `tokens` tokens, every
    /// multiply-add counted as 2: the linear layers, the two attention products and the QA head,
    /// L·(2·s·(4·H² + 2·H·I) + 4·s²·H) + 4·s·H (246.43 GFLOP for BERT-large at 384 tokens).
    pub fn forward_flop(&self, tokens: usize) -> f64 {
        let (s, h, i, l) = (
            tokens as f64,
            self.hidden_size as f64,
            self.intermediate_size as f64,
            self.num_hidden_layers as f64,
        );
        l * (2.0 * s * (4.0 * h * h + 2.0 * h * i) + 4.0 * s * s * h) + 4.0 * s * h
    }

    /// Width of one attention head (H / heads).
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// A named shape: `tiny` (2 layers, H=32), `base` (BERT-base) or `large` (BERT-large, the
    /// shape of bert-large-uncased-whole-word-masking-finetuned-squad); `distilbert-tiny`
    /// (2 layers, H=32) or `distilbert-base` (distilbert-base-uncased's shape: 6 layers,
    /// H=768). All use the uncased 30,522-token vocabulary.
    ///
    /// # Errors
    /// [`Error::Config`] for any other name.
    pub fn preset(name: &str) -> Result<Self> {
        let (model_type, shape) = match name.strip_prefix("distilbert-") {
            Some(rest) => (ModelType::DistilBert, rest),
            None => (ModelType::Bert, name),
        };
        let (h, l, heads, i) = match (model_type, shape) {
            (_, "tiny") => (32, 2, 4, 64),
            (ModelType::Bert, "base") => (768, 12, 12, 3072),
            (ModelType::Bert, "large") => (1024, 24, 16, 4096),
            (ModelType::DistilBert, "base") => (768, 6, 12, 3072),
            _ => {
                return Err(Error::config(format!(
                    "unknown synthetic model {name:?} (expected tiny, base, large, \
                     distilbert-tiny or distilbert-base)"
                )))
            }
        };
        Ok(BertConfig {
            model_type,
            vocab_size: UNCASED_VOCAB_SIZE,
            hidden_size: h,
            num_hidden_layers: l,
            num_attention_heads: heads,
            intermediate_size: i,
            hidden_act: default_act(),
            max_position_embeddings: 512,
            type_vocab_size: if model_type == ModelType::Bert { 2 } else { 0 },
            layer_norm_eps: 1e-12,
            position_embedding_type: default_pos_type(),
        })
    }
}

fn config_message(e: &Error) -> String {
    match e {
        Error::Config { message } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_json() -> serde_json::Value {
        serde_json::to_value(BertConfig::preset("tiny").unwrap()).unwrap()
    }

    fn with(field: &str, v: serde_json::Value) -> Result<BertConfig> {
        let mut j = base_json();
        j[field] = v;
        BertConfig::from_json(&serde_json::to_vec(&j).unwrap())
    }

    #[test]
    fn flop_count_of_bert_large() {
        // 24·(2·384·(4·1024² + 2·1024·4096) + 4·384²·1024) + 4·384·1024
        let f = BertConfig::preset("large").unwrap().forward_flop(384);
        assert_eq!(f, 246_425_321_472.0);
    }

    #[test]
    fn reads_distilbert_config() {
        // distilbert-base-cased-distilled-squad's config.json.
        let json = br#"{
          "activation": "gelu", "architectures": ["DistilBertForQuestionAnswering"],
          "attention_dropout": 0.1, "dim": 768, "dropout": 0.1, "hidden_dim": 3072,
          "initializer_range": 0.02, "max_position_embeddings": 512, "model_type": "distilbert",
          "n_heads": 12, "n_layers": 6, "output_past": true, "pad_token_id": 0,
          "qa_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": false,
          "tie_weights_": true, "vocab_size": 28996
        }"#;
        let c = BertConfig::from_json(json).unwrap();
        assert_eq!(c.model_type, ModelType::DistilBert);
        assert_eq!(
            (
                c.hidden_size,
                c.num_hidden_layers,
                c.num_attention_heads,
                c.intermediate_size
            ),
            (768, 6, 12, 3072)
        );
        assert_eq!((c.type_vocab_size, c.vocab_size), (0, 28996));
        // Round trips through its own serialisation (a packed file's record) and through the
        // Hugging Face form.
        let own = serde_json::to_vec(&c).unwrap();
        assert_eq!(BertConfig::from_json(&own).unwrap(), c);
        let hf = serde_json::to_vec(&c.to_hf_json()).unwrap();
        assert_eq!(BertConfig::from_json(&hf).unwrap(), c);
        let mut relu: serde_json::Value = serde_json::from_slice(json).unwrap();
        relu["activation"] = "relu".into();
        let err = BertConfig::from_json(&serde_json::to_vec(&relu).unwrap()).unwrap_err();
        assert!(err.to_string().contains("hidden_act"), "{err}");
    }

    #[test]
    fn other_architectures_are_refused_by_name() {
        for t in ["roberta", "albert", "electra"] {
            let err = with("model_type", serde_json::json!(t)).unwrap_err();
            assert!(err.to_string().contains(t), "{err}");
            assert!(err.to_string().contains("docs/models.md"), "{err}");
        }
        assert_eq!(
            with("model_type", serde_json::json!("bert")).unwrap(),
            BertConfig::preset("tiny").unwrap()
        );
    }

    #[test]
    fn presets_are_valid() {
        for p in [
            "tiny",
            "base",
            "large",
            "distilbert-tiny",
            "distilbert-base",
        ] {
            BertConfig::preset(p).unwrap().validate().unwrap();
        }
        assert!(BertConfig::preset("huge").is_err());
    }

    #[test]
    fn rejects_bad_configs() {
        let cases = [
            ("num_attention_heads", serde_json::json!(5), "divisible"),
            (
                "hidden_size",
                serde_json::json!(0),
                "hidden_size must be positive",
            ),
            ("hidden_act", serde_json::json!("relu"), "hidden_act"),
            (
                "max_position_embeddings",
                serde_json::json!(0),
                "max_position",
            ),
            ("layer_norm_eps", serde_json::json!(-1.0), "layer_norm_eps"),
            ("vocab_size", serde_json::json!(-3), "invalid value"),
            (
                "position_embedding_type",
                serde_json::json!("relative_key"),
                "absolute",
            ),
        ];
        for (field, v, needle) in cases {
            let err = with(field, v).unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{field}: {err}");
            assert!(err.to_string().contains(needle), "{field}: {err}");
        }
        assert!(BertConfig::from_json(b"[1,2]").is_err());
        assert!(BertConfig::from_json(b"{").is_err());
    }

    #[test]
    fn reads_hugging_face_config() {
        // bert-large-uncased-whole-word-masking-finetuned-squad's config.json.
        let json = br#"{
          "architectures": ["BertForQuestionAnswering"], "attention_probs_dropout_prob": 0.1,
          "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 1024,
          "initializer_range": 0.02, "intermediate_size": 4096, "layer_norm_eps": 1e-12,
          "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 16,
          "num_hidden_layers": 24, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30522
        }"#;
        let c = BertConfig::from_json(json).unwrap();
        assert_eq!(c, BertConfig::preset("large").unwrap());
        assert_eq!(c.head_dim(), 64);
    }
}
