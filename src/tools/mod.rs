//! Tools built on the library, not part of answering a question: synthetic weights of any BERT
//! shape (`synthetic.rs`: `Bert::synthetic`, `QaModel::synthetic`, `bertqa synthesize`) and
//! SQuAD v1.1 / v2.0 files, prediction and the official scores (`squad/`: `bertqa eval`,
//! `bertqa score`).

pub mod squad;
pub mod synthetic;
