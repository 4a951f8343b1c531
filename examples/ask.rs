//! bertqa as a library: load a model once, ask it a question.
//!
//! ```sh
//! cargo run --release --example ask                    # synthetic "tiny" weights: runs anywhere, answers nonsense
//! cargo run --release --example ask -- bert-large-squad # a Hugging Face model directory
//! ```
//!
//! With the small trained model of this project's machines
//! (`cargo run --release --example ask -- ../shared/models/minilm-squad`) it prints
//!
//! ```text
//! 0.546  "7,000,000 square kilometres"  (chars 89..116)
//! 0.192  "7,000,000 square kilometres, of which 5,500,000"  (chars 89..136)
//! 0.081  "much of the Amazon basin of South America. The basin covers 7,000,000 square kilometres"  (chars 29..116)
//! Who discovered the Amazon basin? no answer (null score − best span score 6.31)
//! ```

use bertqa::{NullAnswer, QaModel, QaOptions};

fn main() -> bertqa::Result<()> {
    let model = match std::env::args_os().nth(1) {
        Some(dir) => QaModel::load(dir.as_ref())?,
        None => QaModel::synthetic("tiny", 0)?,
    };
    let context = "The Amazon rainforest covers much of the Amazon basin of South America. \
                   The basin covers 7,000,000 square kilometres, of which 5,500,000 are \
                   covered by the rainforest.";
    let question = "How large is the Amazon basin?";
    let options = QaOptions {
        top_k: 3,
        ..QaOptions::default()
    };
    for answer in model.answer(question, context, &options)? {
        println!(
            "{:.3}  {:?}  (chars {}..{})",
            answer.probability, answer.text, answer.start, answer.end
        );
    }
    // A model trained on SQuAD 2.0 may also say that the text does not answer: ask for the
    // null answer (here Hugging Face run_qa's rule, threshold 0.0) and look at `best()`.
    let options = QaOptions {
        null_answer: NullAnswer::SCORE_DIFF,
        ..QaOptions::default()
    };
    let question = "Who discovered the Amazon basin?";
    let answers = model.answer(question, context, &options)?;
    match (answers.best(), answers.no_answer()) {
        (Some(answer), _) => println!("{question} {:?}", answer.text),
        (None, Some(null)) => match null.score_diff {
            Some(diff) => println!("{question} no answer (null score − best span score {diff:.2})"),
            None => println!("{question} no answer (no span at all)"),
        },
        (None, None) => println!("{question} no span at all"),
    }
    Ok(())
}
