//! `bertqa convert`: a model as one packed-weights file.

use super::ModelArgs;
use bertqa::Error;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The packed-weights file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(args: &ConvertArgs, global: &super::Global) -> Result<(), Error> {
    let t = std::time::Instant::now();
    let (bert, tokenizer) = args.model.load_with_tokenizer(global)?;
    let loaded = t.elapsed();
    let t = std::time::Instant::now();
    bert.save_packed(&args.out, tokenizer.as_ref())?;
    eprintln!(
        "bertqa: loaded and packed in {:.2} s, wrote {} in {:.2} s",
        loaded.as_secs_f64(),
        args.out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
