//! `bertqa score`: a predictions file scored as the official evaluate-v1.1.py does.

use super::print_scores;
use bertqa::Error;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ScoreArgs {
    /// SQuAD v1.1 JSON.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Predictions: {"question id": "answer text", ...}.
    #[arg(long, value_name = "FILE")]
    predictions: PathBuf,
    /// Also print EM and F1 per article: {"exact_match", "f1", "per_article": [...]}.
    #[arg(long)]
    per_article: bool,
}

pub fn run(args: &ScoreArgs) -> Result<(), Error> {
    let scores = bertqa::squad::score_files(&args.data, &args.predictions)?;
    for id in &scores.unanswered {
        eprintln!("Unanswered question {id} will receive score 0.");
    }
    let articles = args
        .per_article
        .then(|| -> Result<_, Error> {
            let dataset = bertqa::squad::Dataset::load(&args.data)?;
            let predictions = bertqa::squad::load_predictions(&args.predictions)?;
            Ok(bertqa::squad::evaluate_per_article(&dataset, &predictions))
        })
        .transpose()?;
    print_scores(&scores, articles.as_deref());
    Ok(())
}
