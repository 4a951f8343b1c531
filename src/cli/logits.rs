//! `bertqa logits`: start and end logits for token ids given as JSON.

use super::{read_input, ModelArgs};
use bertqa::InputError;
use bertqa::{Error, Sequence};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct LogitsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// JSON input file, or - for standard input.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LogitsInput {
    input_ids: Vec<Vec<u32>>,
    attention_mask: Option<Vec<Vec<u32>>>,
    token_type_ids: Option<Vec<Vec<u32>>>,
}

pub fn run(args: &LogitsArgs, global: &super::Global) -> Result<(), Error> {
    let input = &args.input;
    let bytes = read_input(input)?;
    let parsed: LogitsInput = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
        kind: InputError::Sequence,
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
                    kind: InputError::Sequence,
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
    let model = args.model.load(global)?;
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
