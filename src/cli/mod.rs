//! The `bertqa` binary's subcommands, one module each, and what they share: where the model
//! comes from (`ModelArgs`), the feature and extraction options (`QaArgs`), reading inputs and
//! printing scores. Not part of the library: this uses it through `bertqa::…` like any user.

pub mod ask;
pub mod bench;
pub mod convert;
pub mod eval;
pub mod logits;
pub mod score;
pub mod synthesize;
pub mod tokenize;

use bertqa::tokenizer::{Tokenizer, TokenizerSettings};
use bertqa::{
    Bert, Error, LayerPlan, LoadOptions, NullAnswer, Precision, QaModel, QaOptions, StrideMode,
};
use clap::Args;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the model comes from: a Hugging Face directory or a synthetic preset; with neither,
/// bert-large-uncased-whole-word-masking-finetuned-squad from the Hugging Face cache.
#[derive(Args)]
#[group(required = false, multiple = false)]
pub struct ModelSource {
    /// Model directory in Hugging Face layout (config.json, model.safetensors, vocab.txt), or a
    /// packed-weights file written by `bertqa convert`.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Deterministic synthetic weights of a named shape: tiny, base or large (BERT), or
    /// distilbert-tiny or distilbert-base.
    #[arg(long, value_name = "NAME")]
    synthetic: Option<String>,
}

#[derive(Args)]
pub struct ModelArgs {
    #[command(flatten)]
    source: ModelSource,
    /// Seed of the synthetic weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the scan of the weights for NaN and infinity.
    #[arg(long)]
    no_validate: bool,
    /// Tokenize cased (keep case and accents), whatever the model's tokenizer files say; for a
    /// model directory without tokenizer_config.json.
    #[arg(long, conflicts_with = "uncased")]
    cased: bool,
    /// Tokenize uncased (lower-case, strip accents), whatever the model's tokenizer files say.
    #[arg(long)]
    uncased: bool,
}

/// A model named on the command line, or the default one from the Hugging Face cache.
enum Source {
    /// A Hugging Face directory or a packed-weights file.
    Path(PathBuf),
    /// A synthetic preset.
    Synthetic(String),
}

impl ModelArgs {
    /// `--model`, `--synthetic`, or else bert-large-uncased-whole-word-masking-finetuned-squad
    /// from the Hugging Face cache (downloaded first when built with the `download` feature
    /// and not offline), or else the bundled small model, with a line on stderr saying so.
    fn source(&self) -> Result<Source, Error> {
        match (&self.source.model, &self.source.synthetic) {
            (Some(path), _) => Ok(Source::Path(path.clone())),
            (None, Some(name)) => Ok(Source::Synthetic(name.clone())),
            (None, None) => {
                let offline = bertqa::load::hub::HubEnv::from_process().offline();
                let model = bertqa::load::hub::default_model(offline)?;
                match &model {
                    bertqa::DefaultModel::BertLarge(_) => log::info!("{}", model.note()),
                    bertqa::DefaultModel::Bundled { why, .. } => {
                        eprintln!("bertqa: {}", model.note());
                        log::info!("BERT-large: {why}");
                    }
                }
                Ok(Source::Path(model.path().to_path_buf()))
            }
        }
    }

    /// Load options for `source`: the global `--precision`; values validated for checkpoints
    /// (a packed file maps with no pass over its values).
    fn options(&self, source: &Source, global: &Global) -> LoadOptions {
        let packed = matches!(source, Source::Path(p) if p.is_file());
        LoadOptions {
            validate_values: !self.no_validate && !packed,
            precision: global.precision,
            int8_plan: global.int8_plan,
            int8_weight_bits: global.int8_weight_bits,
            tokenizer: self.tokenizer_settings(),
        }
    }

    /// `--cased` / `--uncased`, if given.
    pub fn tokenizer_settings(&self) -> Option<TokenizerSettings> {
        if self.cased {
            Some(TokenizerSettings::CASED)
        } else if self.uncased {
            Some(TokenizerSettings::UNCASED)
        } else {
            None
        }
    }

    pub fn load(&self, global: &Global) -> Result<Bert, Error> {
        Ok(self.load_with_tokenizer(global)?.0)
    }

    pub fn load_qa(&self, global: &Global) -> Result<QaModel, Error> {
        let source = self.source()?;
        let options = self.options(&source, global);
        match source {
            Source::Path(path) => QaModel::load_with(&path, &options),
            Source::Synthetic(name) => QaModel::synthetic_with(&name, self.seed, &options),
        }
    }

    /// The model and its tokenizer, if it has one (a directory without `vocab.txt` has none).
    pub fn load_with_tokenizer(&self, global: &Global) -> Result<(Bert, Option<Tokenizer>), Error> {
        let source = self.source()?;
        let options = self.options(&source, global);
        match source {
            Source::Path(file) if file.is_file() => Bert::load_packed_with(&file, &options),
            Source::Path(dir) => {
                let bert = Bert::load(&dir, &options)?;
                let tokenizer = if dir.join("vocab.txt").exists() {
                    Some(Tokenizer::from_model_dir(&dir, options.tokenizer)?)
                } else {
                    None
                };
                Ok((bert, tokenizer))
            }
            Source::Synthetic(name) => {
                let vocab = bertqa::tokenizer::Vocab::from_text(bertqa::qa::UNCASED_VOCAB)?;
                let settings = options.tokenizer.unwrap_or_default();
                Ok((
                    Bert::synthetic_with(&name, self.seed, &options)?,
                    Some(Tokenizer::with_settings(vocab, settings)),
                ))
            }
        }
    }
}

/// The global options that decide how a model is loaded (`--precision`, `--int8-plan`,
/// `--int8-weight-bits`),
/// handed by `main` to every subcommand that loads one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Global {
    /// `--precision`.
    pub precision: Option<Precision>,
    /// `--int8-plan`.
    pub int8_plan: Option<LayerPlan>,
    /// `--int8-weight-bits`.
    pub int8_weight_bits: Option<u8>,
}

/// Feature and extraction settings; defaults are the model card's, as `QaOptions::default()`
/// has them.
#[derive(Args)]
pub struct QaArgs {
    /// Answers to print.
    #[arg(long, default_value_t = QaOptions::default().top_k)]
    top_k: usize,
    /// Longest model input in tokens.
    #[arg(long, default_value_t = QaOptions::default().max_seq_length)]
    max_seq_length: usize,
    /// Question tokens kept.
    #[arg(long, default_value_t = QaOptions::default().max_query_length)]
    max_query_length: usize,
    /// Distance between window starts (step) or shared tokens (overlap).
    #[arg(long, default_value_t = QaOptions::default().doc_stride)]
    doc_stride: usize,
    /// How --doc-stride is read: step (Google's run_squad.py) or overlap (Hugging Face).
    #[arg(long, value_enum, default_value_t = QaOptions::default().stride_mode.into())]
    stride_mode: StrideArg,
    /// Longest answer in tokens.
    #[arg(long, default_value_t = QaOptions::default().max_answer_length)]
    max_answer_length: usize,
    /// Candidates per window.
    #[arg(long, default_value_t = QaOptions::default().n_best)]
    n_best: usize,
    /// Refuse contexts needing more windows than this.
    #[arg(long, default_value_t = QaOptions::default().max_windows)]
    max_windows: usize,
    /// Allow "no answer" (SQuAD 2.0 models): none when the null score (start + end logit at
    /// [CLS]) minus the best span's score exceeds T (Hugging Face run_qa's rule; its default T
    /// is 0.0, which eval uses on SQuAD 2.0 files).
    #[arg(
        long,
        value_name = "T",
        allow_negative_numbers = true,
        conflicts_with = "handle_impossible_answer"
    )]
    null_score_diff_threshold: Option<f32>,
    /// Allow "no answer" by the rule of Hugging Face's pipeline (handle_impossible_answer): no
    /// answer when the null answer's probability beats every span's.
    #[arg(long)]
    handle_impossible_answer: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StrideArg {
    Step,
    Overlap,
}

impl From<StrideMode> for StrideArg {
    fn from(mode: StrideMode) -> Self {
        match mode {
            StrideMode::Step => StrideArg::Step,
            StrideMode::Overlap => StrideArg::Overlap,
        }
    }
}

impl From<StrideArg> for StrideMode {
    fn from(arg: StrideArg) -> Self {
        match arg {
            StrideArg::Step => StrideMode::Step,
            StrideArg::Overlap => StrideMode::Overlap,
        }
    }
}

impl QaArgs {
    /// The null-answer rule asked for on the command line, if any.
    pub fn null_answer(&self) -> Option<NullAnswer> {
        match (
            self.null_score_diff_threshold,
            self.handle_impossible_answer,
        ) {
            (Some(threshold), _) => Some(NullAnswer::ScoreDiff { threshold }),
            (None, true) => Some(NullAnswer::Pipeline),
            (None, false) => None,
        }
    }

    pub fn options(&self) -> QaOptions {
        QaOptions {
            null_answer: self.null_answer().unwrap_or_default(),
            max_seq_length: self.max_seq_length,
            max_query_length: self.max_query_length,
            doc_stride: self.doc_stride,
            stride_mode: self.stride_mode.into(),
            n_best: self.n_best,
            max_answer_length: self.max_answer_length,
            top_k: self.top_k,
            max_windows: self.max_windows,
            ..QaOptions::default()
        }
    }
}

/// Reads a file (or stdin for `-`) as bytes.
pub fn read_input(path: &Path) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Io {
                path: path.into(),
                source: e,
            })?;
    } else {
        bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
    }
    Ok(bytes)
}

/// `{"exact_match", "f1"}` (the official script's output), with `"per_article"` when asked.
pub fn print_scores(
    scores: &bertqa::tools::squad::Scores,
    per_article: Option<&[bertqa::tools::squad::ArticleScores]>,
) {
    let json = match per_article {
        None => serde_json::to_string(scores),
        Some(articles) => serde_json::to_string(&serde_json::json!({
            "exact_match": scores.exact_match, "f1": scores.f1, "per_article": articles,
        })),
    };
    println!("{}", json.expect("plain data"));
}

/// The official evaluate-v2.0.py object (`exact`, `f1`, `total`, `HasAns_*`, `NoAns_*`,
/// `best_*`), with `"per_article"` when asked.
pub fn print_scores_v2(
    scores: &bertqa::tools::squad::ScoresV2,
    per_article: Option<&[bertqa::tools::squad::ArticleScoresV2]>,
) {
    // Spliced as text: serde_json's own maps would sort the keys out of the script's order.
    let mut json = serde_json::to_string(scores).expect("plain data");
    if let Some(articles) = per_article {
        json.pop(); // the closing brace
        json.push_str(",\"per_article\":");
        json.push_str(&serde_json::to_string(articles).expect("plain data"));
        json.push('}');
    }
    println!("{json}");
}

/// Writes `text` to `path`.
pub fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::Io {
        path: path.into(),
        source: e,
    })
}
