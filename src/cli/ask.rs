//! `bertqa ask`: one question about one context.

use super::{read_input, ModelArgs, QaArgs};
use bertqa::InputError;
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
                kind: InputError::NotUtf8,
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

pub fn run(args: &AskArgs, global: &super::Global) -> Result<(), Error> {
    let stdin = Some(Path::new("-"));
    if args.question_file.as_deref() == stdin && args.context_file.as_deref() == stdin {
        return Err(Error::Input {
            kind: InputError::Options,
            message: "question and context cannot both come from standard input".into(),
        });
    }
    let question = text_arg(args.question.as_deref(), args.question_file.as_deref())?;
    let context = text_arg(args.context.as_deref(), args.context_file.as_deref())?;
    let model = args.model.load_qa(global)?;
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
        /// The null answer, with null answers on.
        #[derive(serde::Serialize)]
        struct Null {
            score: f32,
            score_diff: Option<f32>,
            probability: f32,
        }
        #[derive(serde::Serialize)]
        struct Json<'a> {
            answers: Vec<Out<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            no_answer: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            null: Option<Null>,
        }
        let out = Json {
            answers: answers
                .iter()
                .map(|a| Out {
                    text: &a.text,
                    start: a.start,
                    end: a.end,
                    score: a.score,
                    probability: a.probability,
                })
                .collect(),
            no_answer: answers.null.map(|n| n.wins),
            null: answers.null.map(|n| Null {
                score: n.score,
                score_diff: n.score_diff,
                probability: n.probability,
            }),
        };
        println!("{}", serde_json::to_string(&out).expect("plain data"));
        return Ok(());
    }
    if let Some(null) = answers.no_answer() {
        println!("(no answer: the model says the text does not answer the question)");
        let diff = null
            .score_diff
            .map_or("no span".to_string(), |d| format!("{d:.4}"));
        println!(
            "   null score {:.4}, score diff {diff}, probability {:.4}",
            null.score, null.probability
        );
        if !answers.is_empty() {
            println!("   best spans, for reference:");
        }
    } else if answers.is_empty() {
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
