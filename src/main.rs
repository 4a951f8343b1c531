//! The `bertqa` command-line tool: a thin layer over the library.

//!
//! Each subcommand is a module of `cli/` with its arguments and a `run`; this file holds the
//! global options, the list of subcommands and `main`.

mod cli;

use bertqa::{LayerPlan, Precision};
use clap::{Parser, Subcommand};
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
    /// With --precision int8: which GEMMs run in int8 — a preset (all, down-bf16, qkv-bf16,
    /// attn-fp32, small: all and the word embeddings) or a list such as
    /// `qkv=int8,out=int8,up=int8,down=bf16,attn=bf16,emb=int8` (default: `all`'s GEMMs,
    /// chosen in docs/accuracy.md, with attention in bf16 on CPUs that multiply bf16 natively,
    /// else fp32). A packed file runs the plan it records; this may change only its attention
    /// (no weights).
    #[arg(long, global = true, value_name = "PLAN", value_parser = LayerPlan::parse)]
    int8_plan: Option<LayerPlan>,
    /// With --precision int8: the int8 weights' bits, 8 (±127) or 7 (±63) (default: what this
    /// CPU's int8 path packs to — 7 on AVX2 CPUs without VNNI, where int8 runs on
    /// `vpmaddubsw`, else 8; docs/accuracy.md). For `convert`, to write a file for other CPUs.
    #[arg(long, global = true, value_name = "7|8", value_parser = clap::value_parser!(u8).range(7..=8))]
    int8_weight_bits: Option<u8>,
    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write deterministic synthetic weights as a Hugging Face model directory
    /// (config.json, model.safetensors, vocab.txt).
    Synthesize(cli::synthesize::SynthesizeArgs),
    /// Write a model as one packed-weights file: linear weights already in the GEMM's layout,
    /// loaded later (`--model FILE`) by memory map with no packing and no copy.
    Convert(cli::convert::ConvertArgs),
    /// Answer every question of a SQuAD v1.1 file and print EM and F1.
    Eval(cli::eval::EvalArgs),
    /// Score a predictions file as the official evaluate-v1.1.py does; prints
    /// {"exact_match": .., "f1": ..}.
    Score(cli::score::ScoreArgs),
    /// Time the forward pass: median, p90 and min latency, GFLOP/s.
    ///
    /// FLOP per sequence of s tokens = L·(2·s·(4·H² + 2·H·I) + 4·s²·H) + 4·s·H (every
    /// multiply-add counted as 2; the linear layers, the attention products and the QA head).
    Bench(cli::bench::BenchArgs),
    /// Answer a question about a context.
    ///
    /// Prints the answer, its score and the sentence it sits in; with --json,
    /// {"answers": [{"text", "start", "end", "score", "probability"}]} with start/end as
    /// character offsets into the context.
    Ask(cli::ask::AskArgs),
    /// Start and end logits for token ids, one row per sequence.
    ///
    /// FILE holds {"input_ids": [[...],...], "attention_mask": [[...],...], "token_type_ids":
    /// [[...],...]}; rows may differ in length; the mask defaults to ones and the token types to
    /// zeros. Prints {"start_logits": [[...],...], "end_logits": [[...],...]}.
    Logits(cli::logits::LogitsArgs),
    /// Tokenize standard input, one text per line, with a model's WordPiece tokenizer (or a bare
    /// vocabulary's, uncased unless --cased).
    ///
    /// A line's trailing "\n" is not part of its text. With --json, prints one line per text:
    /// {"tokens": [...], "ids": [...], "offsets": [[start, end], ...]}, offsets in characters
    /// of the line. Without, prints a table (token, id, start, end; tab-separated) for each
    /// text, followed by an empty line.
    Tokenize(cli::tokenize::TokenizeArgs),
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
    let global = cli::Global {
        precision: cli.precision,
        int8_plan: cli.int8_plan,
        int8_weight_bits: cli.int8_weight_bits,
    };
    let result = match &cli.command {
        Command::Synthesize(args) => cli::synthesize::run(args),
        Command::Convert(args) => cli::convert::run(args, &global),
        Command::Eval(args) => cli::eval::run(args, &global),
        Command::Score(args) => cli::score::run(args),
        Command::Bench(args) => cli::bench::run(args, &global),
        Command::Ask(args) => cli::ask::run(args, &global),
        Command::Logits(args) => cli::logits::run(args, &global),
        Command::Tokenize(args) => cli::tokenize::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bertqa: {e}");
            ExitCode::FAILURE
        }
    }
}
