//! The `bertqa` command-line tool: a thin layer over the library.

use bertqa::{Bert, Error, LoadOptions, Sequence};
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "bertqa", version, about = "Question answering with BERT-large on CPUs")]
struct Cli {
    /// Worker threads (default: RAYON_NUM_THREADS, else one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

/// Where the model comes from: a Hugging Face directory or a synthetic preset.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct ModelSource {
    /// Model directory in Hugging Face layout (config.json, model.safetensors, vocab.txt).
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

impl ModelArgs {
    fn load(&self) -> Result<Bert, Error> {
        match (&self.source.model, &self.source.synthetic) {
            (Some(dir), _) => Bert::load(dir, &LoadOptions { validate_values: !self.no_validate }),
            (None, Some(name)) => Bert::synthetic(name, self.seed),
            (None, None) => unreachable!("clap requires one of --model and --synthetic"),
        }
    }
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
            eprintln!("bertqa: cannot start {n} threads: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Logits { model, input } => logits(&model, &input),
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
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| Error::Io { path: path.into(), source: e })?;
    } else {
        bytes = std::fs::read(path).map_err(|e| Error::Io { path: path.into(), source: e })?;
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
    for (what, v) in [("attention_mask", &parsed.attention_mask), ("token_type_ids", &parsed.token_type_ids)] {
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
                attention_mask: parsed.attention_mask.as_ref().map_or(vec![1; n], |m| m[i].clone()),
                token_type_ids: parsed.token_type_ids.as_ref().map_or(vec![0; n], |t| t[i].clone()),
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
    let json = serde_json::to_string(&Out { start_logits: &out.start_logits, end_logits: &out.end_logits })
        .expect("f32 rows serialise");
    println!("{json}");
    Ok(())
}

/// `bertqa tokenize`: reads lines from stdin and prints their tokens.
fn tokenize(vocab: &Path, json: bool) -> Result<(), Error> {
    use std::io::{BufRead, Write};
    let tokenizer = bertqa::tokenizer::Tokenizer::from_file(vocab)?;
    let stdio_error = |name: &str, e: std::io::Error| Error::Io { path: name.into(), source: e };
    let mut stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::new();
    let mut enc = bertqa::tokenizer::Encoding::default();
    for line_no in 1.. {
        line.clear();
        if stdin.read_until(b'\n', &mut line).map_err(|e| stdio_error("<stdin>", e))? == 0 {
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
