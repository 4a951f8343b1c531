//! `bertqa ask`: one question about one context.

use super::{read_input, ModelArgs, QaArgs};
use bertqa::{Answer, Error};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct AskArgs {
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
}

/// A text given inline or as a file (`-`: standard input), which must be UTF-8.
fn text_arg(inline: Option<&str>, file: Option<&Path>) -> Result<String, Error> {
    match (inline, file) {
        (Some(t), _) => Ok(t.to_string()),
        (None, Some(path)) => {
            let bytes = read_input(path)?;
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

pub fn run(args: &AskArgs) -> Result<(), Error> {
    let stdin = Some(Path::new("-"));
    if args.question_file.as_deref() == stdin && args.context_file.as_deref() == stdin {
        return Err(Error::Input {
            message: "question and context cannot both come from standard input".into(),
        });
    }
    let question = text_arg(args.question.as_deref(), args.question_file.as_deref())?;
    let context = text_arg(args.context.as_deref(), args.context_file.as_deref())?;
    let model = args.model.load_qa()?;
    let answers = model.answer(&question, &context, &args.qa.options())?;
    if args.json {
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
