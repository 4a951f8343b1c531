//! `bertqa synthesize`: deterministic synthetic weights as a Hugging Face model directory.

use bertqa::Error;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthesizeArgs {
    /// Shape: tiny, base or large (BERT), distilbert-tiny or distilbert-base.
    #[arg(long)]
    preset: String,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: &SynthesizeArgs) -> Result<(), Error> {
    bertqa::tools::synthetic::write_model_dir(&args.out, &args.preset, args.seed)
}
