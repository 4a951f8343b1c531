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

/// `answer_prepared_batch` (what `eval` runs: many questions, shared contexts, many windows per
/// forward pass) gives each question the answers it gets alone: same spans and, since every
/// token's row is computed the same way whatever else is in the pass, the same scores to the
/// last bit; in forward passes of any size, both stride modes.
#[test]
fn prepared_batch_equals_one_question_at_a_time() {
    let fx = fixture("answers_tiny.json");
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    let contexts: Vec<_> = cases
        .iter()
        .map(|c| {
            model
                .prepare_context(c["context"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    // Every question against every context: short and multi-window contexts mixed.
    let requests: Vec<(&str, &bertqa::PreparedContext)> = cases
        .iter()
        .flat_map(|c| {
            contexts
                .iter()
                .map(move |p| (c["question"].as_str().unwrap(), p))
        })
        .collect();
    for stride_mode in [StrideMode::Step, StrideMode::Overlap] {
        for max_batch_tokens in [1, 500, 4096, 1 << 20] {
            let o = QaOptions {
                top_k: 3,
                stride_mode,
                max_batch_tokens,
                ..QaOptions::default()
            };
            let batched = model.answer_prepared_batch(&requests, &o).unwrap();
            assert_eq!(batched.len(), requests.len());
            for ((q, c), got) in requests.iter().zip(&batched) {
                let alone = model.answer_prepared(q, c, &o).unwrap();
                assert_eq!(
                    got, &alone,
                    "{stride_mode:?}, {max_batch_tokens} tokens: {q:?}"
                );
            }
        }
    }
    // A bad request among good ones fails the batch.
    let bad = [requests[0], ("   ", requests[1].1)];
    assert!(model
        .answer_prepared_batch(&bad, &QaOptions::default())
        .is_err());
}

/// `check_request` refuses exactly what answering refuses, and its token count is the rows the
/// windows really have (their sum over several windows, at a cap that makes many).
#[test]
fn check_request_agrees_with_answering() {
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let capped = QaOptions {
        max_windows: 2,
        max_seq_length: 64,
        doc_stride: 16,
        ..QaOptions::default()
    };
    let long = model.prepare_context(&"word ".repeat(200)).unwrap();
    let err = model.check_request("what?", &long, &capped).unwrap_err();
    assert!(err.to_string().contains("max_windows"), "{err}");
    assert!(model.check_request(" ", &long, &capped).is_err());
    let wide = QaOptions {
        max_windows: 512,
        ..capped.clone()
    };
    let cost = model.check_request("what?", &long, &wide).unwrap();
    // "what?" is 2 tokens: each window holds 64 - 2 - 3 = 59 context tokens, the step is 16.
    let q = model.tokenizer().encode("what?").ids.len();
    let per_window = 64 - q - 3;
    let n = long.encoding().len();
    let windows = (n - per_window).div_ceil(16) + 1;
    assert_eq!(cost.windows, windows);
    assert_eq!(
        cost.tokens,
        (windows - 1) * 64 + (q + 3 + n - (windows - 1) * 16)
    );
    let short = model
        .prepare_context("The book was written by Ada.")
        .unwrap();
    let cost = model
        .check_request("Who?", &short, &QaOptions::default())
        .unwrap();
    let expected = model.tokenizer().encode("Who?").ids.len() + short.encoding().len() + 3;
    assert_eq!((cost.windows, cost.tokens), (1, expected));
}

/// `answer_prepared_batch_while`: requests still wanted get the answers they get alone; one
/// turned down before its first pass, or between two of its passes, gets `None`; `wanted` is
/// asked once per forward pass that holds the request's windows.
#[test]
fn requests_no_longer_wanted_are_dropped() {
    use std::cell::RefCell;
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let o = QaOptions {
        max_seq_length: 64,
        doc_stride: 16,
        max_batch_tokens: 128, // two windows per pass
        top_k: 2,
        ..QaOptions::default()
    };
    let long = model
        .prepare_context(&"the cat sat on the mat ".repeat(40))
        .unwrap();
    let short = model
        .prepare_context("The book was written by Ada Lovelace.")
        .unwrap();
    let requests = [
        ("who sat?", &long),
        ("who wrote it?", &short),
        ("what?", &long),
    ];
    let alone: Vec<_> = requests
        .iter()
        .map(|(q, c)| model.answer_prepared(q, c, &o).unwrap())
        .collect();
    let windows = model.check_request("who sat?", &long, &o).unwrap().windows;
    assert!(windows > 6, "{windows} windows");

    let asked = RefCell::new([0usize; 3]);
    let all = model
        .answer_prepared_batch_while(&requests, &o, &|r| {
            asked.borrow_mut()[r] += 1;
            true
        })
        .unwrap();
    assert_eq!(all, alone.iter().cloned().map(Some).collect::<Vec<_>>());
    // Request 0's windows fill passes of two; its last pass also holds request 1's window.
    assert_eq!(asked.borrow()[0], windows.div_ceil(2));

    // Request 0 turned down after its first pass, request 1 before any.
    let asked = RefCell::new([0usize; 3]);
    let got = model
        .answer_prepared_batch_while(&requests, &o, &|r| {
            let mut a = asked.borrow_mut();
            a[r] += 1;
            match r {
                0 => a[0] == 1,
                1 => false,
                _ => true,
            }
        })
        .unwrap();
    assert_eq!(got, [None, None, Some(alone[2].clone())]);
    assert_eq!(
        asked.borrow()[0],
        2,
        "asked again before its second pass, then dropped"
    );
}

/// Stage timing: off by default (nothing summed), on it sums every pass, and taking the sum
/// starts a new one.
#[test]
fn stage_times_are_summed_while_on() {
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let o = QaOptions::default();
    let ask = || {
        model
            .answer("Who wrote it?", "The book was written by Ada.", &o)
            .unwrap()
    };
    let plain = ask();
    assert_eq!(model.take_stage_times(), bertqa::StageTimes::default());
    model.set_stage_timing(true);
    assert_eq!(ask(), plain, "timing changes no answer");
    let t = model.take_stage_times();
    assert!(
        t.qkv > std::time::Duration::ZERO && t.ffn_up > std::time::Duration::ZERO,
        "{t:?}"
    );
    assert!(t.total() >= t.qkv + t.ffn_up);
    assert_eq!(model.take_stage_times(), bertqa::StageTimes::default());
    model.set_stage_timing(false);
    ask();
    assert_eq!(model.take_stage_times(), bertqa::StageTimes::default());
}

/// `tools::squad::predict` answers in dataset order, one text per question, and names the question
/// that cannot be answered.
#[test]
fn predict_answers_in_order_and_names_a_bad_question() {
    use bertqa::tools::squad::{predict, Dataset};
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let data = |second_question: &str| {
        format!(
            r#"{{"data": [{{"title": "T", "paragraphs": [
                {{"context": "Ada Lovelace wrote the first algorithm.", "qas": [
                    {{"id": "a", "question": "Who wrote it?", "answers": []}},
                    {{"id": "b", "question": "{second_question}", "answers": []}}]}},
                {{"context": "The Moon landing was in 1969.", "qas": [
                    {{"id": "c", "question": "When?", "answers": []}}]}}]}}]}}"#
        )
    };
    let dataset = Dataset::from_json(&data("What did she write?"), "ok.json").unwrap();
    let mut calls = Vec::new();
    let o = QaOptions::default();
    let got = predict(&model, &dataset.examples, &o, |p| calls.push(p.len())).unwrap();
    assert_eq!(calls.last(), Some(&3));
    for (ex, text) in dataset.examples.iter().zip(&got) {
        let alone = model.answer(&ex.question, &ex.context, &o).unwrap();
        assert_eq!(text, &alone[0].text, "{}", ex.id);
    }
    let dataset = Dataset::from_json(&data("  "), "bad.json").unwrap();
    let err = predict(&model, &dataset.examples, &o, |_| {}).unwrap_err();
    assert!(
        matches!(&err, bertqa::Error::Input { message, .. } if message.contains("question b") && message.contains("empty")),
        "{err:?}"
    );
}
