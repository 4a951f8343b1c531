//! The `bertqa` command-line tool: a thin layer over the library.

use bertqa::{
    Answer, Bert, Error, LayerPlan, LoadOptions, Precision, QaModel, QaOptions, Sequence,
    StrideMode,
};
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bertqa",
    version,
    about = "Question answering with BERT-large on CPUs"
)]
struct Cli {
    /// Worker threads (default: RAYON_NUM_THREADS, else one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Pin worker i to the i-th CPU this process may use (for a process that owns its cores —
    /// a dedicated service, a benchmark; leave it off on a shared machine; docs/performance.md).
    #[arg(long, global = true)]
    pin_threads: bool,
    /// Precision of the matrix products (linear layers and attention): fp32 (default; for a
    /// packed file, the file's own), bf16 or int8 (the GEMMs of --int8-plan in int8).
    #[arg(long, global = true, value_name = "fp32|bf16|int8")]
    precision: Option<Precision>,
    /// With --precision int8: which GEMMs run in int8 — a preset (all, down-bf16, attn-fp32)
    /// or a list such as `qkv=int8,out=int8,up=int8,down=bf16,attn=bf16` (default: the plan
    /// docs/accuracy.md chose).
    #[arg(long, global = true, value_name = "PLAN", value_parser = LayerPlan::parse)]
    int8_plan: Option<LayerPlan>,
    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Where the model comes from: a Hugging Face directory or a synthetic preset; with neither,
/// bert-large-uncased-whole-word-masking-finetuned-squad from the Hugging Face cache.
#[derive(Args)]
#[group(required = false, multiple = false)]
struct ModelSource {
    /// Model directory in Hugging Face layout (config.json, model.safetensors, vocab.txt), or a
    /// packed-weights file written by `bertqa convert`.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Deterministic synthetic weights of a named shape: tiny, base or large.
    #[arg(long, value_name = "NAME")]
    synthetic: Option<String>,
}

#[derive(Args)]
struct ModelArgs {
    #[command(flatten)]
    source: ModelSource,
    /// Seed of the synthetic weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the scan of the weights for NaN and infinity.
    #[arg(long)]
    no_validate: bool,
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
    /// and not offline).
    fn source(&self) -> Result<Source, Error> {
        match (&self.source.model, &self.source.synthetic) {
            (Some(path), _) => Ok(Source::Path(path.clone())),
            (None, Some(name)) => Ok(Source::Synthetic(name.clone())),
            (None, None) => {
                let offline = bertqa::hub::HubEnv::from_process().offline();
                let dir = bertqa::hub::resolve_default_model(offline)?;
                log::info!("using the model in {}", dir.display());
                Ok(Source::Path(dir))
            }
        }
    }

    /// Load options for `source`: the global `--precision`; values validated for checkpoints
    /// (a packed file maps with no pass over its values).
    fn options(&self, source: &Source) -> LoadOptions {
        let packed = matches!(source, Source::Path(p) if p.is_file());
        let (precision, int8_plan) = precision();
        LoadOptions {
            validate_values: !self.no_validate && !packed,
            precision,
            int8_plan,
        }
    }

    fn load(&self) -> Result<Bert, Error> {
        Ok(self.load_with_vocab()?.0)
    }

    fn load_qa(&self) -> Result<QaModel, Error> {
        let source = self.source()?;
        let options = self.options(&source);
        match source {
            Source::Path(path) => QaModel::load_with(&path, &options),
            Source::Synthetic(name) => QaModel::synthetic_with(&name, self.seed, &options),
        }
    }

    /// The model and its vocabulary text, if it has one.
    fn load_with_vocab(&self) -> Result<(Bert, Option<String>), Error> {
        let source = self.source()?;
        let options = self.options(&source);
        match source {
            Source::Path(file) if file.is_file() => Bert::load_packed_with(&file, &options),
            Source::Path(dir) => {
                let vocab = std::fs::read_to_string(dir.join("vocab.txt")).ok();
                Ok((Bert::load(&dir, &options)?, vocab))
            }
            Source::Synthetic(name) => Ok((
                Bert::synthetic_with(&name, self.seed, &options)?,
                Some(bertqa::qa::UNCASED_VOCAB.to_string()),
            )),
        }
    }
}

/// The global `--precision` and `--int8-plan` (set once in `main`).
static PRECISION: std::sync::OnceLock<(Option<Precision>, Option<LayerPlan>)> =
    std::sync::OnceLock::new();

fn precision() -> (Option<Precision>, Option<LayerPlan>) {
    PRECISION.get().copied().unwrap_or_default()
}

/// Feature and extraction settings; defaults are the model card's.
#[derive(Args)]
struct QaArgs {
    /// Answers to print.
    #[arg(long, default_value_t = 1)]
    top_k: usize,
    /// Longest model input in tokens.
    #[arg(long, default_value_t = 384)]
    max_seq_length: usize,
    /// Question tokens kept.
    #[arg(long, default_value_t = 64)]
    max_query_length: usize,
    /// Distance between window starts (step) or shared tokens (overlap).
    #[arg(long, default_value_t = 128)]
    doc_stride: usize,
    /// How --doc-stride is read: step (Google's run_squad.py) or overlap (Hugging Face).
    #[arg(long, value_enum, default_value_t = StrideArg::Step)]
    stride_mode: StrideArg,
    /// Longest answer in tokens.
    #[arg(long, default_value_t = 30)]
    max_answer_length: usize,
    /// Candidates per window.
    #[arg(long, default_value_t = 20)]
    n_best: usize,
    /// Refuse contexts needing more windows than this.
    #[arg(long, default_value_t = 512)]
    max_windows: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StrideArg {
    Step,
    Overlap,
}

impl QaArgs {
    fn options(&self) -> QaOptions {
        QaOptions {
            max_seq_length: self.max_seq_length,
            max_query_length: self.max_query_length,
            doc_stride: self.doc_stride,
            stride_mode: match self.stride_mode {
                StrideArg::Step => StrideMode::Step,
                StrideArg::Overlap => StrideMode::Overlap,
            },
            n_best: self.n_best,
            max_answer_length: self.max_answer_length,
            top_k: self.top_k,
            max_windows: self.max_windows,
            ..QaOptions::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Write deterministic synthetic weights as a Hugging Face model directory
    /// (config.json, model.safetensors, vocab.txt).
    Synthesize {
        /// Shape: tiny, base or large.
        #[arg(long)]
        preset: String,
        /// Seed of the weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write a model as one packed-weights file: linear weights already in the GEMM's layout,
    /// loaded later (`--model FILE`) by memory map with no packing and no copy.
    Convert {
        #[command(flatten)]
        model: ModelArgs,
        /// The packed-weights file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Answer every question of a SQuAD v1.1 file and print EM and F1.
    Eval {
        #[command(flatten)]
        model: ModelArgs,
        /// SQuAD v1.1 JSON (e.g. dev-v1.1.json).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Write the predictions ({"id": "answer", ...}) here.
        #[arg(long, value_name = "FILE")]
        predictions_out: Option<PathBuf>,
        /// Answer only the first N questions (scores are then over those N).
        #[arg(long)]
        limit: Option<usize>,
        /// Also print EM and F1 per article: {"exact_match", "f1", "per_article": [...]}.
        #[arg(long)]
        per_article: bool,
        /// Tokens per forward pass: the windows of many questions run together, up to this.
        #[arg(long, default_value_t = EVAL_BATCH_TOKENS)]
        max_batch_tokens: usize,
        #[command(flatten)]
        qa: QaArgs,
    },
    /// Score a predictions file as the official evaluate-v1.1.py does; prints
    /// {"exact_match": .., "f1": ..}.
    Score {
        /// SQuAD v1.1 JSON.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Predictions: {"question id": "answer text", ...}.
        #[arg(long, value_name = "FILE")]
        predictions: PathBuf,
        /// Also print EM and F1 per article: {"exact_match", "f1", "per_article": [...]}.
        #[arg(long)]
        per_article: bool,
    },
    /// Time the forward pass: median, p90 and min latency, GFLOP/s.
    ///
    /// FLOP per sequence of s tokens = L·(2·s·(4·H² + 2·H·I) + 4·s²·H) + 4·s·H (every
    /// multiply-add counted as 2; the linear layers, the attention products and the QA head).
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Tokens per sequence.
        #[arg(long, default_value_t = 384)]
        seq: usize,
        /// Sequences per forward pass.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Timed iterations (after one warm-up).
        #[arg(long, default_value_t = 10)]
        iters: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Also print the time per stage (embeddings, QKV, attention, FFN, layer norms, head).
        #[arg(long)]
        profile: bool,
    },
    /// Answer a question about a context.
    ///
    /// Prints the answer, its score and the sentence it sits in; with --json,
    /// {"answers": [{"text", "start", "end", "score", "probability"}]} with start/end as
    /// character offsets into the context.
    Ask {
        #[command(flatten)]
        model: ModelArgs,
        /// The question.
        #[arg(
            long,
            conflicts_with = "question_file",
            required_unless_present = "question_file"
        )]
        question: Option<String>,
        /// Read the question from a UTF-8 file (- for standard input).
        #[arg(long, value_name = "FILE")]
        question_file: Option<PathBuf>,
        /// The context.
        #[arg(
            long,
            conflicts_with = "context_file",
            required_unless_present = "context_file"
        )]
        context: Option<String>,
        /// Read the context from a UTF-8 file (- for standard input).
        #[arg(long, value_name = "FILE")]
        context_file: Option<PathBuf>,
        #[command(flatten)]
        qa: QaArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start and end logits for token ids, one row per sequence.
    ///
    /// FILE holds {"input_ids": [[...],...], "attention_mask": [[...],...], "token_type_ids":
    /// [[...],...]}; rows may differ in length; the mask defaults to ones and the token types to
    /// zeros. Prints {"start_logits": [[...],...], "end_logits": [[...],...]}.
    Logits {
        #[command(flatten)]
        model: ModelArgs,
        /// JSON input file, or - for standard input.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
    },
    /// Tokenize standard input, one text per line, with BERT's uncased WordPiece tokenizer.
    ///
    /// A line's trailing "\n" is not part of its text. With --json, prints one line per text:
    /// {"tokens": [...], "ids": [...], "offsets": [[start, end], ...]}, offsets in characters
    /// of the line. Without, prints a table (token, id, start, end; tab-separated) for each
    /// text, followed by an empty line.
    Tokenize {
        /// vocab.txt: one token per line, id = line number.
        #[arg(long, value_name = "FILE")]
        vocab: PathBuf,
        /// Print JSON lines instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// Log records to stderr, `bertqa: LEVEL message`.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "bertqa: {} {}",
                record.level().as_str().to_lowercase(),
                record.args()
            );
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    PRECISION.get_or_init(|| (cli.precision, cli.int8_plan));
    static LOGGER: StderrLogger = StderrLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(match cli.verbose {
            0 => log::LevelFilter::Warn,
            1 => log::LevelFilter::Info,
            2 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        });
    }
    if cli.threads.is_some() || cli.pin_threads {
        match bertqa::affinity::install_global(cli.threads, cli.pin_threads) {
            Err(e) => {
                eprintln!("bertqa: cannot start the worker threads: {e}");
                return ExitCode::FAILURE;
            }
            Ok((placement, n)) if cli.pin_threads => {
                if placement.pinned() < n {
                    log::warn!(
                        "--pin-threads: {} of {n} workers pinned (the OS refused the rest or cannot pin)",
                        placement.pinned()
                    );
                } else {
                    log::info!("{n} workers pinned to CPUs {:?}", placement.cpus);
                }
            }
            Ok(_) => {}
        }
    }
    let result = match cli.command {
        Command::Logits { model, input } => logits(&model, &input),
        Command::Convert { model, out } => convert(&model, &out),
        Command::Synthesize { preset, seed, out } => {
            bertqa::synthetic::write_model_dir(&out, &preset, seed)
        }
        Command::Score {
            data,
            predictions,
            per_article,
        } => score(&data, &predictions, per_article),
        Command::Eval {
            model,
            data,
            predictions_out,
            limit,
            per_article,
            max_batch_tokens,
            qa,
        } => eval(
            &model,
            &data,
            &EvalArgs {
                predictions_out: predictions_out.as_deref(),
                limit,
                per_article,
                max_batch_tokens,
            },
            &qa,
        ),
        Command::Bench {
            model,
            seq,
            batch,
            iters,
            json,
            profile,
        } => bench(&model, seq, batch, iters, json, profile),
        Command::Ask {
            model,
            question,
            question_file,
            context,
            context_file,
            qa,
            json,
        } => ask(
            &model,
            (question, question_file),
            (context, context_file),
            &qa,
            json,
        ),
        Command::Tokenize { vocab, json } => tokenize(&vocab, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bertqa: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a file (or stdin for `-`) as bytes.
fn read_input(path: &Path) -> Result<Vec<u8>, Error> {
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LogitsInput {
    input_ids: Vec<Vec<u32>>,
    attention_mask: Option<Vec<Vec<u32>>>,
    token_type_ids: Option<Vec<Vec<u32>>>,
}

fn logits(model: &ModelArgs, input: &Path) -> Result<(), Error> {
    let bytes = read_input(input)?;
    let parsed: LogitsInput = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
        message: format!("{}: {e}", input.display()),
    })?;
    let rows = parsed.input_ids.len();
    for (what, v) in [
        ("attention_mask", &parsed.attention_mask),
        ("token_type_ids", &parsed.token_type_ids),
    ] {
        if let Some(v) = v {
            if v.len() != rows {
                return Err(Error::Input {
                    message: format!("{what} has {} rows but input_ids has {rows}", v.len()),
                });
            }
        }
    }
    let batch: Vec<Sequence> = parsed
        .input_ids
        .into_iter()
        .enumerate()
        .map(|(i, ids)| {
            let n = ids.len();
            Sequence {
                input_ids: ids,
                attention_mask: parsed
                    .attention_mask
                    .as_ref()
                    .map_or(vec![1; n], |m| m[i].clone()),
                token_type_ids: parsed
                    .token_type_ids
                    .as_ref()
                    .map_or(vec![0; n], |t| t[i].clone()),
            }
        })
        .collect();
    let model = model.load()?;
    let out = model.forward(&batch)?;
    #[derive(serde::Serialize)]
    struct Out<'a> {
        start_logits: &'a [Vec<f32>],
        end_logits: &'a [Vec<f32>],
    }
    let json = serde_json::to_string(&Out {
        start_logits: &out.start_logits,
        end_logits: &out.end_logits,
    })
    .expect("f32 rows serialise");
    println!("{json}");
    Ok(())
}

/// `bertqa tokenize`: reads lines from stdin and prints their tokens.
fn tokenize(vocab: &Path, json: bool) -> Result<(), Error> {
    use std::io::{BufRead, Write};
    let tokenizer = bertqa::tokenizer::Tokenizer::from_file(vocab)?;
    let stdio_error = |name: &str, e: std::io::Error| Error::Io {
        path: name.into(),
        source: e,
    };
    let mut stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::new();
    let mut enc = bertqa::tokenizer::Encoding::default();
    for line_no in 1.. {
        line.clear();
        if stdin
            .read_until(b'\n', &mut line)
            .map_err(|e| stdio_error("<stdin>", e))?
            == 0
        {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let text = std::str::from_utf8(&line).map_err(|e| Error::Input {
            message: format!(
                "standard input, line {line_no}: not UTF-8 (invalid byte at byte {} of the line)",
                e.valid_up_to()
            ),
        })?;
        tokenizer.encode_into(text, &mut enc);
        let written = if json {
            writeln!(out, "{}", tokenizer.encoding_json_string(&enc))
        } else {
            let mut w = Ok(());
            for (&id, &(start, end)) in enc.ids.iter().zip(&enc.char_offsets) {
                let token = tokenizer.token_str(id).unwrap_or("?");
                w = w.and_then(|()| writeln!(out, "{token}\t{id}\t{start}\t{end}"));
            }
            w.and_then(|()| writeln!(out))
        };
        written.map_err(|e| stdio_error("<stdout>", e))?;
    }
    out.flush().map_err(|e| stdio_error("<stdout>", e))
}

/// A text given inline or as a file (`-`: standard input), which must be UTF-8.
fn text_arg((inline, file): (Option<String>, Option<PathBuf>)) -> Result<String, Error> {
    match (inline, file) {
        (Some(t), _) => Ok(t),
        (None, Some(path)) => {
            let bytes = read_input(&path)?;
            String::from_utf8(bytes).map_err(|e| Error::Input {
                message: format!(
                    "{}: not UTF-8 (invalid byte at offset {})",
                    if path == Path::new("-") {
                        "<stdin>".into()
                    } else {
                        path.display().to_string()
                    },
                    e.utf8_error().valid_up_to()
                ),
            })
        }
        (None, None) => unreachable!("clap requires the text or its file"),
    }
}

fn ask(
    model: &ModelArgs,
    question: (Option<String>, Option<PathBuf>),
    context: (Option<String>, Option<PathBuf>),
    qa: &QaArgs,
    json: bool,
) -> Result<(), Error> {
    if question.1.as_deref() == Some(Path::new("-")) && context.1.as_deref() == Some(Path::new("-"))
    {
        return Err(Error::Input {
            message: "question and context cannot both come from standard input".into(),
        });
    }
    let (question, context) = (text_arg(question)?, text_arg(context)?);
    let model = model.load_qa()?;
    let answers = model.answer(&question, &context, &qa.options())?;
    if json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            text: &'a str,
            start: usize,
            end: usize,
            score: f32,
            probability: f32,
        }
        let out: Vec<Out> = answers
            .iter()
            .map(|a| Out {
                text: &a.text,
                start: a.start,
                end: a.end,
                score: a.score,
                probability: a.probability,
            })
            .collect();
        #[derive(serde::Serialize)]
        struct Answers<'a> {
            answers: Vec<Out<'a>>,
        }
        println!(
            "{}",
            serde_json::to_string(&Answers { answers: out }).expect("plain data")
        );
        return Ok(());
    }
    if answers.is_empty() {
        println!("(no answer found)");
    }
    for (i, a) in answers.iter().enumerate() {
        if answers.len() > 1 {
            print!("{}. ", i + 1);
        }
        println!("{}", a.text);
        println!(
            "   score {:.4}, probability {:.4}, characters {}..{}",
            a.score, a.probability, a.start, a.end
        );
        println!("   in: {}", sentence_around(&context, a));
    }
    Ok(())
}

/// The sentence of `context` holding the answer, the answer marked with « ».
fn sentence_around(context: &str, a: &Answer) -> String {
    let is_end = |c: char| matches!(c, '.' | '!' | '?' | '\n' | '。' | '！' | '？');
    let before = &context[..a.byte_start];
    let start = before
        .char_indices()
        .rev()
        .find(|&(i, c)| is_end(c) && i + c.len_utf8() < a.byte_start)
        .map_or(0, |(i, c)| i + c.len_utf8());
    let after = &context[a.byte_end..];
    let end = after
        .char_indices()
        .find(|&(_, c)| is_end(c))
        .map_or(context.len(), |(i, c)| a.byte_end + i + c.len_utf8());
    let sentence = format!(
        "{}«{}»{}",
        &context[start..a.byte_start],
        a.text,
        &context[a.byte_end..end]
    );
    sentence.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn bench(
    model: &ModelArgs,
    seq: usize,
    batch: usize,
    iters: usize,
    json: bool,
    profile: bool,
) -> Result<(), Error> {
    if seq < 2 || batch == 0 || iters == 0 {
        return Err(Error::Input {
            message: "--seq must be ≥ 2, --batch and --iters ≥ 1".into(),
        });
    }
    let t0 = std::time::Instant::now();
    let bert = model.load()?;
    let load_s = t0.elapsed().as_secs_f64();
    let c = bert.config().clone();
    // [CLS] question(16) [SEP] context [SEP], deterministic ids.
    let seqs: Vec<Sequence> = (0..batch)
        .map(|b| {
            let mut ids: Vec<u32> = (0..seq)
                .map(|i| 1000 + ((i * 7919 + b * 104_729) % 20_000) as u32)
                .collect();
            ids[0] = 101;
            ids[seq - 1] = 102;
            let q = 17.min(seq - 1);
            ids[q] = 102;
            let types = (0..seq).map(|i| u32::from(i > q)).collect();
            Sequence {
                attention_mask: vec![1; seq],
                input_ids: ids,
                token_type_ids: types,
            }
        })
        .collect();
    let mut ws = bertqa::model::Workspace::new();
    let mut logits = bertqa::QaLogits::default();
    let mut run = |ws: &mut bertqa::model::Workspace| -> Result<(), Error> {
        if bert.has_qa_head() {
            bert.forward_into(&seqs, ws, &mut logits)
        } else {
            bert.encode_into(&seqs, ws).map(|_| ())
        }
    };
    run(&mut ws)?; // warm-up: sizes the workspace
    ws.set_profiling(profile);
    let mut ms = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = std::time::Instant::now();
        run(&mut ws)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let stages: Vec<(&str, f64)> = ws
        .stage_times()
        .entries()
        .iter()
        .map(|(name, d)| (*name, d.as_secs_f64() * 1e3 / iters as f64))
        .collect();
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    let (median, p90, min) = (pick(0.5), pick(0.9), ms[0]);
    let flop = c.forward_flop(seq) * batch as f64;
    let gflops = flop / (median * 1e-3) / 1e9;
    let threads = rayon::current_num_threads();
    let precision = bert.precision();
    // % of the peak of the instruction the GEMMs run on: FMA for fp32, vdpbf16ps for bf16,
    // vpdpbusd for int8 (GOP/s; a plan with bf16 GEMMs is measured against it too).
    let (peak, peak_name) = match precision {
        Precision::Bf16 => (bertqa_kernels::peak::bf16_peak_gflops(threads), "bf16"),
        Precision::Int8 => (bertqa_kernels::peak::int8_peak_gops(threads), "int8"),
        _ => (bertqa_kernels::peak::fma_peak_gflops(threads), "FMA"),
    };
    // Resident memory now, weights and a warm workspace included (Linux; 0 elsewhere).
    let rss_mb = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / (1 << 20) as f64);
    let percent = 100.0 * gflops / peak;
    if json {
        println!(
            "{}",
            serde_json::json!({"median_ms": median, "p90_ms": p90, "min_ms": min, "gflops": gflops,
                "gflop_per_forward": flop / 1e9, "seq": seq, "batch": batch, "iters": iters,
                "threads": threads, "isa": bertqa_kernels::dispatch::isa().name(), "load_s": load_s,
                "precision": precision.name(), "kernels": bert.kernels_description(),
                "peak_gflops": peak, "percent_of_peak": percent, "rss_mb": rss_mb,
                "stages_ms": profile.then(|| stages.iter().map(|(n, v)| (n.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>())})
        );
    } else {
        println!(
            "seq {seq} × batch {batch}, {threads} threads, {}: median {median:.1} ms, p90 {p90:.1} ms, min {min:.1} ms; {:.2} GFLOP per forward → {gflops:.1} GFLOP/s = {percent:.1} % of the measured {threads}-thread {peak_name} peak {peak:.1} GFLOP/s (load {load_s:.2} s, RSS {rss_mb:.0} MB)",
            bert.kernels_description(),
            flop / 1e9
        );
        if profile {
            let total: f64 = stages.iter().map(|(_, v)| v).sum();
            for (name, v) in &stages {
                println!("  {name:<17} {v:9.1} ms  {:5.1}%", 100.0 * v / total);
            }
        }
    }
    Ok(())
}

fn score(data: &Path, predictions: &Path, per_article: bool) -> Result<(), Error> {
    let scores = bertqa::squad::score_files(data, predictions)?;
    for id in &scores.unanswered {
        eprintln!("Unanswered question {id} will receive score 0.");
    }
    let articles = per_article
        .then(|| -> Result<_, Error> {
            let dataset = bertqa::squad::Dataset::load(data)?;
            let predictions = bertqa::squad::load_predictions(predictions)?;
            Ok(bertqa::squad::evaluate_per_article(&dataset, &predictions))
        })
        .transpose()?;
    print_scores(&scores, articles.as_deref());
    Ok(())
}

/// `{"exact_match", "f1"}` (the official script's output), with `"per_article"` when asked.
fn print_scores(
    scores: &bertqa::squad::Scores,
    per_article: Option<&[bertqa::squad::ArticleScores]>,
) {
    let json = match per_article {
        None => serde_json::to_string(scores),
        Some(articles) => serde_json::to_string(&serde_json::json!({
            "exact_match": scores.exact_match, "f1": scores.f1, "per_article": articles,
        })),
    };
    println!("{}", json.expect("plain data"));
}

/// Tokens per forward pass in `eval` (see docs/accuracy.md for how it was chosen).
const EVAL_BATCH_TOKENS: usize = 4096;

/// `eval`'s own options.
struct EvalArgs<'a> {
    predictions_out: Option<&'a Path>,
    limit: Option<usize>,
    per_article: bool,
    max_batch_tokens: usize,
}

/// Progress of `eval` on stderr: a bar redrawn in place on a terminal, else a plain line every
/// 10 seconds.
struct Progress {
    total: usize,
    start: std::time::Instant,
    last: Option<std::time::Instant>,
    terminal: bool,
    scored: usize,
    em: f64,
    f1: f64,
}

impl Progress {
    fn new(total: usize) -> Self {
        use std::io::IsTerminal;
        Progress {
            total,
            start: std::time::Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
            scored: 0,
            em: 0.0,
            f1: 0.0,
        }
    }

    /// Scores the predictions not seen yet, and shows where the run stands.
    fn update(&mut self, examples: &[bertqa::squad::Example], predictions: &[String]) {
        use bertqa::squad::{exact_match_score, f1_score, metric_max_over_ground_truths};
        use std::io::Write;
        for (ex, p) in examples[self.scored..]
            .iter()
            .zip(&predictions[self.scored..])
        {
            self.em += metric_max_over_ground_truths(exact_match_score, p, &ex.answers);
            self.f1 += metric_max_over_ground_truths(f1_score, p, &ex.answers);
        }
        self.scored = predictions.len();
        let (done, total) = (self.scored, self.total);
        let now = std::time::Instant::now();
        let every = std::time::Duration::from_millis(if self.terminal { 200 } else { 10_000 });
        if done < total && self.last.is_some_and(|t| now - t < every) {
            return;
        }
        self.last = Some(now);
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let eta = (total - done) as f64 / rate.max(1e-9);
        let fraction = done as f64 / total.max(1) as f64;
        let (em, f1) = (
            100.0 * self.em / done.max(1) as f64,
            100.0 * self.f1 / done.max(1) as f64,
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            const WIDTH: usize = 30;
            let filled = (fraction * WIDTH as f64).round() as usize;
            write!(
                err,
                "\r[{}{}] {done}/{total} {:5.1}%  EM {em:5.2}  F1 {f1:5.2}  {rate:.1} q/s  ETA {}   ",
                "#".repeat(filled),
                "-".repeat(WIDTH - filled),
                100.0 * fraction,
                clock(eta)
            )
            .and_then(|()| if done == total { writeln!(err) } else { Ok(()) })
        } else {
            writeln!(
                err,
                "bertqa: eval {done}/{total} questions ({:.1}%), EM {em:.2}, F1 {f1:.2}, {rate:.1} questions/s, ETA {}",
                100.0 * fraction,
                clock(eta)
            )
        };
        if done == total {
            let _ = writeln!(
                err,
                "bertqa: answered {total} questions in {elapsed:.1} s ({rate:.1} questions/s)"
            );
        }
    }
}

/// Seconds as m:ss (or h:mm:ss).
fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn eval(model: &ModelArgs, data: &Path, args: &EvalArgs, qa: &QaArgs) -> Result<(), Error> {
    use bertqa::squad::{evaluate, evaluate_per_article, predict};
    let mut dataset = bertqa::squad::Dataset::load(data)?;
    if let Some(n) = args.limit {
        dataset.examples.truncate(n);
    }
    if dataset.is_empty() {
        return Err(Error::Input {
            message: format!("{}: no question to answer", data.display()),
        });
    }
    if args.max_batch_tokens == 0 {
        return Err(Error::Input {
            message: "--max-batch-tokens must be at least 1".into(),
        });
    }
    let model = model.load_qa()?;
    let options = QaOptions {
        top_k: 1,
        max_batch_tokens: args.max_batch_tokens,
        ..qa.options()
    };
    let mut progress = Progress::new(dataset.len());
    let texts = predict(&model, &dataset.examples, &options, |p| {
        progress.update(&dataset.examples, p)
    })?;
    if let Some(path) = args.predictions_out {
        // The official format, {"id": "text", ...}, in dataset order.
        let mut json = String::from("{");
        for (i, (ex, text)) in dataset.examples.iter().zip(&texts).enumerate() {
            let sep = if i == 0 { "\n" } else { ",\n" };
            let key = serde_json::to_string(&ex.id).expect("a string");
            let value = serde_json::to_string(text).expect("a string");
            json.push_str(&format!("{sep}{key}: {value}"));
        }
        json.push_str("\n}\n");
        std::fs::write(path, json).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
    }
    let predictions: std::collections::HashMap<String, String> = dataset
        .examples
        .iter()
        .map(|ex| ex.id.clone())
        .zip(texts)
        .collect();
    let scores = evaluate(&dataset, &predictions);
    let articles = args
        .per_article
        .then(|| evaluate_per_article(&dataset, &predictions));
    print_scores(&scores, articles.as_deref());
    Ok(())
}

fn convert(model: &ModelArgs, out: &Path) -> Result<(), Error> {
    let t = std::time::Instant::now();
    let (bert, vocab) = model.load_with_vocab()?;
    let loaded = t.elapsed();
    let t = std::time::Instant::now();
    bert.save_packed(out, vocab.as_deref())?;
    eprintln!(
        "bertqa: loaded and packed in {:.2} s, wrote {} in {:.2} s",
        loaded.as_secs_f64(),
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
