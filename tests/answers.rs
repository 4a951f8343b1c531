//! Answers vs an independent Python implementation of the same run_squad.py rules on PyTorch
//! logits for the same synthetic weights (tests/fixtures/answers_tiny.json, from
//! weights/make_answer_reference.py). Text and offsets must be identical; scores and
//! probabilities agree within 1e-4 (logits agree to ~1e-7; the fixture records the smallest
//! score gap between consecutive answers, ≥ 1.7e-3, so no ranking can flip within tolerance).

mod common;

use bertqa::{QaModel, QaOptions, StrideMode};
use common::fixture;
use serde_json::Value;

fn options(o: &Value) -> QaOptions {
    let u = |k: &str| o[k].as_u64().unwrap() as usize;
    QaOptions {
        max_seq_length: u("max_seq_length"),
        max_query_length: u("max_query_length"),
        doc_stride: u("doc_stride"),
        stride_mode: match o["stride_mode"].as_str().unwrap() {
            "step" => StrideMode::Step,
            "overlap" => StrideMode::Overlap,
            other => panic!("{other}"),
        },
        n_best: u("n_best"),
        max_answer_length: u("max_answer_length"),
        top_k: u("top_k"),
        ..QaOptions::default()
    }
}

#[test]
fn answers_match_python_reference() {
    let fx = fixture("answers_tiny.json");
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let mut multi_window = 0;
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (q, c) = (
            case["question"].as_str().unwrap(),
            case["context"].as_str().unwrap(),
        );
        let o = options(&case["options"]);
        let got = model.answer(q, c, &o).unwrap();
        let want = case["answers"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{name}: number of answers");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.text, w["text"].as_str().unwrap(), "{name}");
            assert_eq!(
                (g.start, g.end),
                (
                    w["start"].as_u64().unwrap() as usize,
                    w["end"].as_u64().unwrap() as usize
                ),
                "{name}"
            );
            assert_eq!(&c[g.byte_start..g.byte_end], g.text, "{name}: byte offsets");
            assert!(
                (g.score as f64 - w["score"].as_f64().unwrap()).abs() <= 1e-4,
                "{name}: score {} vs {}",
                g.score,
                w["score"]
            );
            assert!(
                (g.probability as f64 - w["probability"].as_f64().unwrap()).abs() <= 1e-4,
                "{name}: probability"
            );
        }
        if case["windows"].as_u64().unwrap() > 1 {
            multi_window += 1;
        }
    }
    assert!(
        multi_window >= 4,
        "the fixture must exercise several multi-window contexts"
    );
}

/// Batching changes nothing: the same answers one request at a time, in one batch, through a
/// prepared context, and with tiny forward batches.
#[test]
fn batching_and_prepared_contexts_agree() {
    let fx = fixture("answers_tiny.json");
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let o = QaOptions {
        top_k: 3,
        ..QaOptions::default()
    };
    let cases: Vec<(&str, &str)> = fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["question"].as_str().unwrap(),
                c["context"].as_str().unwrap(),
            )
        })
        .collect();
    let one_by_one: Vec<_> = cases
        .iter()
        .map(|(q, c)| model.answer(q, c, &o).unwrap())
        .collect();
    assert_eq!(model.answer_batch(&cases, &o).unwrap(), one_by_one);
    let small = QaOptions {
        max_batch_tokens: 1,
        ..o.clone()
    };
    assert_eq!(model.answer_batch(&cases, &small).unwrap(), one_by_one);
    let ctx = model.prepare_context(cases[2].1).unwrap();
    assert_eq!(
        model.answer_prepared(cases[2].0, &ctx, &o).unwrap(),
        one_by_one[2]
    );
}

#[test]
fn bad_requests_are_errors() {
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let o = QaOptions::default();
    for (q, c) in [
        ("", "text"),
        ("  \n", "text"),
        ("q", ""),
        ("q", " \t "),
        ("\u{0}", "text"),
        ("q", "\u{1}\u{0}"),
    ] {
        assert!(
            matches!(model.answer(q, c, &o), Err(bertqa::Error::Input { .. })),
            "{q:?} {c:?}"
        );
    }
    let capped = QaOptions {
        max_windows: 2,
        ..QaOptions::default()
    };
    let long = "word ".repeat(2000);
    let err = model.answer("what?", &long, &capped).unwrap_err();
    assert!(err.to_string().contains("max_windows"), "{err}");
    assert!(model
        .answer(
            "q",
            "text",
            &QaOptions {
                max_seq_length: 600,
                ..QaOptions::default()
            }
        )
        .is_err());
    // A question of 10,000 words is cut to 64 tokens, as the reference does.
    let q = "why ".repeat(10_000);
    assert!(model.answer(&q, "Because it is.", &o).is_ok());
    // Contexts of nothing but [UNK] still answer.
    let unk = "\u{2603}\u{2604} \u{2605}";
    assert!(model.answer("what?", unk, &o).is_ok());
}
