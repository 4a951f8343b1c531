//! bertqa as a library: load a model once, ask it a question.
//!
//! ```sh
//! cargo run --release --example ask                    # BERT-large from the Hugging Face cache, else the bundled small model
//! cargo run --release --example ask -- bert-large-squad # a Hugging Face model directory (or packed file)
//! ```
//!
//! With the trained MiniLM QA model (`cargo run --release --example ask --
//! ../shared/models/minilm-squad`, whose int8 conversion is the bundled model) it prints
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
        None => {
            // The library never falls back silently: it says which model it chose.
            let (model, which) = QaModel::load_default(true, &Default::default())?;
            eprintln!("{}", which.note());
            model
        }
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
