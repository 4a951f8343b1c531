//! `bertqa tokenize`: reads lines from stdin and prints their tokens.

use bertqa::tokenizer::{Tokenizer, TokenizerSettings};
use bertqa::InputError;
use bertqa::{Bert, Error};
use clap::Args;
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct TokenizeArgs {
    /// vocab.txt: one token per line, id = line number (uncased unless --cased).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "model",
        conflicts_with = "model"
    )]
    vocab: Option<PathBuf>,
    /// A model directory (its vocab.txt, normalised as its tokenizer_config.json /
    /// tokenizer.json say) or a packed-weights file.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Keep case and accents (a cased model's tokenizer), whatever the model's files say.
    #[arg(long, conflicts_with = "uncased")]
    cased: bool,
    /// Lower-case and strip accents, whatever the model's files say.
    #[arg(long)]
    uncased: bool,
    /// Print JSON lines instead of tables.
    #[arg(long)]
    json: bool,
}

fn tokenizer(args: &TokenizeArgs) -> Result<Tokenizer, Error> {
    let settings = match (args.cased, args.uncased) {
        (true, _) => Some(TokenizerSettings::CASED),
        (_, true) => Some(TokenizerSettings::UNCASED),
        _ => None,
    };
    match (&args.vocab, &args.model) {
        (Some(vocab), _) => Tokenizer::from_vocab_file(vocab, settings),
        (None, Some(file)) if file.is_file() => {
            let options = bertqa::LoadOptions {
                tokenizer: settings,
                ..Default::default()
            };
            Bert::load_packed_with(file, &options)?
                .1
                .ok_or_else(|| Error::Vocab {
                    message: format!("{} carries no vocabulary", file.display()),
                })
        }
        (None, Some(dir)) => Tokenizer::from_model_dir(dir, settings),
        (None, None) => unreachable!("clap requires --vocab or --model"),
    }
}

pub fn run(args: &TokenizeArgs) -> Result<(), Error> {
    let tokenizer = tokenizer(args)?;
    log::info!("tokenizer: {}", tokenizer.settings().name());
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
            kind: InputError::NotUtf8,
            message: format!(
                "standard input, line {line_no}: not UTF-8 (invalid byte at byte {} of the line)",
                e.valid_up_to()
            ),
        })?;
        tokenizer.encode_into(text, &mut enc);
        let written = if args.json {
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
