//! `bertqa score`: a predictions file scored as the official evaluate-v1.1.py does, or, for a
//! SQuAD 2.0 file, as evaluate-v2.0.py does.

use super::{print_scores, print_scores_v2};
use bertqa::tools::squad::NA_PROB_THRESH;
use bertqa::Error;
use bertqa::InputError;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ScoreArgs {
    /// SQuAD v1.1 or 2.0 JSON.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Predictions: {"question id": "answer text", ...} ("" for no answer).
    #[arg(long, value_name = "FILE")]
    predictions: PathBuf,
    /// SQuAD 2.0: null odds, {"question id": number, ...} (evaluate-v2.0's --na-prob-file):
    /// adds best_exact/best_f1 and their thresholds.
    #[arg(long, value_name = "FILE")]
    null_odds: Option<PathBuf>,
    /// SQuAD 2.0: null odds above this count as "no answer" (evaluate-v2.0's --na-prob-thresh).
    #[arg(long, value_name = "P", default_value_t = NA_PROB_THRESH, allow_negative_numbers = true)]
    na_prob_thresh: f64,
    /// Also print the scores per article (with "per_article": [...]).
    #[arg(long)]
    per_article: bool,
}

pub fn run(args: &ScoreArgs) -> Result<(), Error> {
    use bertqa::tools::squad::{
        evaluate_per_article, evaluate_v2, evaluate_v2_per_article, load_null_odds,
        load_predictions, Dataset,
    };
    let dataset = Dataset::load(&args.data)?;
    if dataset.is_empty() {
        return Err(Error::Input {
            kind: InputError::Data,
            message: format!("{}: the dataset holds no question", args.data.display()),
        });
    }
    let predictions = load_predictions(&args.predictions)?;
    if dataset.is_v2() {
        let odds = args.null_odds.as_ref().map(load_null_odds).transpose()?;
        let (odds, thresh) = (odds.as_ref(), args.na_prob_thresh);
        let name = |e: Error| match e {
            Error::Input { kind, message } => Error::Input {
                kind,
                message: format!("{}: {message}", args.predictions.display()),
            },
            other => other,
        };
        let scores = evaluate_v2(&dataset, &predictions, odds, thresh).map_err(name)?;
        let articles = args
            .per_article
            .then(|| evaluate_v2_per_article(&dataset, &predictions, odds, thresh))
            .transpose()
            .map_err(name)?;
        print_scores_v2(&scores, articles.as_deref());
        return Ok(());
    }
    if args.null_odds.is_some() {
        return Err(Error::Input {
            kind: InputError::Options,
            message: format!(
                "{}: --null-odds is for SQuAD 2.0 files; this one is v1.1",
                args.data.display()
            ),
        });
    }
    let scores = bertqa::tools::squad::evaluate(&dataset, &predictions);
    for id in &scores.unanswered {
        eprintln!("Unanswered question {id} will receive score 0.");
    }
    let articles = args
        .per_article
        .then(|| evaluate_per_article(&dataset, &predictions));
    print_scores(&scores, articles.as_deref());
    Ok(())
}
