//! One model shared by many threads gives exactly the answers of a sequential run.

use bertqa::{QaModel, QaOptions};
use std::sync::Arc;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn model_types_are_send_and_sync() {
    assert_send_sync::<QaModel>();
    assert_send_sync::<bertqa::Bert>();
    assert_send_sync::<bertqa::tokenizer::Tokenizer>();
}

#[test]
fn eight_threads_fifty_requests_each_match_sequential() {
    concurrent_equals_sequential(bertqa::Precision::F32);
}

#[test]
fn eight_threads_fifty_requests_each_match_sequential_bf16() {
    concurrent_equals_sequential(bertqa::Precision::Bf16);
}

#[test]
fn eight_threads_fifty_requests_each_match_sequential_int8() {
    concurrent_equals_sequential(bertqa::Precision::Int8);
}

fn concurrent_equals_sequential(precision: bertqa::Precision) {
    let model = Arc::new(QaModel::synthetic_as("tiny", 0, precision).unwrap());
    let contexts = [
        "The Normans gave their name to Normandy, a region in France. They descended from Norse raiders.",
        "Ada Lovelace wrote the first published algorithm for Babbage's Analytical Engine in 1843.",
        "東京は日本の首都です。 Tokyo has about 14 million people; Zürich has fewer.",
    ];
    let long: String = (0..40)
        .map(|i| format!("({i}) {} ", contexts[i % 3]))
        .collect();
    let questions = [
        "Who?",
        "When was it written?",
        "What is the capital?",
        "Where did they come from?",
    ];
    // 50 mixed requests: short and multi-window contexts, varying top_k and window settings.
    let requests: Vec<(String, String, QaOptions)> = (0..50)
        .map(|i| {
            let ctx = if i % 5 == 0 {
                long.clone()
            } else {
                contexts[i % 3].to_string()
            };
            let o = QaOptions {
                top_k: 1 + i % 4,
                max_seq_length: if i % 7 == 0 { 128 } else { 384 },
                doc_stride: if i % 7 == 0 { 48 } else { 128 },
                ..QaOptions::default()
            };
            (questions[i % 4].to_string(), ctx, o)
        })
        .collect();
    let sequential: Vec<_> = requests
        .iter()
        .map(|(q, c, o)| model.answer(q, c, o).unwrap())
        .collect();
    let requests = Arc::new(requests);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (model, requests) = (Arc::clone(&model), Arc::clone(&requests));
            std::thread::spawn(move || {
                // Each thread walks the requests from a different starting point.
                (0..requests.len())
                    .map(|j| {
                        let i = (j + t * 7) % requests.len();
                        let (q, c, o) = &requests[i];
                        (i, model.answer(q, c, o).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for (i, answers) in h.join().unwrap() {
            assert_eq!(answers, sequential[i], "request {i}");
        }
    }
}
