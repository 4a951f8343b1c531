//! The `bertqa` binary end to end.

mod common;

use common::{assert_close, case, f32_rows, fixture, tol, TempDir};
use std::process::Command;

fn bertqa() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bertqa"))
}

/// Runs `cmd`, requires success, and parses its standard output as JSON.
fn json_stdout(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn logits_matches_reference_and_keeps_row_lengths() {
    let fx = fixture("reference_tiny.json");
    let case = case(&fx, "padded_batch");
    let dir = TempDir::new("cli");
    let input = dir.path().join("in.json");
    let body = serde_json::json!({
        "input_ids": case["input_ids"], "attention_mask": case["attention_mask"], "token_type_ids": case["token_type_ids"],
    });
    std::fs::write(&input, body.to_string()).unwrap();
    let got = json_stdout(
        bertqa()
            .args(["logits", "--synthetic", "tiny", "--input"])
            .arg(&input),
    );
    for key in ["start_logits", "end_logits"] {
        let (g, w) = (f32_rows(&got[key]), f32_rows(&case[key]));
        assert_eq!(g.len(), w.len());
        for (a, b) in g.iter().zip(&w) {
            assert_close(key, a, b, tol::LOGITS_SMALL, 0.0);
        }
    }
}

#[test]
fn logits_defaults_mask_and_types_for_ragged_rows() {
    let dir = TempDir::new("cli");
    let input = dir.path().join("in.json");
    std::fs::write(&input, r#"{"input_ids": [[101, 2054, 102], [101, 102]]}"#).unwrap();
    let out = bertqa()
        .args(["logits", "--synthetic", "tiny", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["start_logits"][0].as_array().unwrap().len(), 3);
    assert_eq!(got["end_logits"][1].as_array().unwrap().len(), 2);
}

#[test]
fn errors_are_one_line_with_exit_codes() {
    let dir = TempDir::new("cli");
    let bad = dir.path().join("bad.json");
    for (content, needle) in [
        (r#"{"input_ids": [[101, 99999]]}"#, "outside the vocabulary"),
        (
            r#"{"input_ids": [[101]], "attention_mask": [[1], [1]]}"#,
            "rows",
        ),
        ("not json", "invalid input"),
    ] {
        std::fs::write(&bad, content).unwrap();
        let out = bertqa()
            .args(["logits", "--synthetic", "tiny", "--input"])
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("bertqa: ") && err.contains(needle) && err.lines().count() == 1,
            "{err}"
        );
    }
    std::fs::write(&bad, r#"{"input_ids": [[101]]}"#).unwrap();
    let missing = bertqa()
        .args(["logits", "--model", "/nonexistent", "--input"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent"));
    let usage = bertqa()
        .args(["logits", "--synthetic", "tiny"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// `--precision`: bf16 and int8 run (logits close to fp32's, not equal), a bad `--int8-plan`
/// and an unknown name are usage errors, a plan without int8 a one-line error; convert writes
/// bf16 and int8 files that load in their own precision.
#[test]
fn precision_flag() {
    let dir = TempDir::new("cli");
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        r#"{"input_ids": [[101, 2054, 2003, 1996, 3007, 102, 3000, 102]]}"#,
    )
    .unwrap();
    // `bertqa --precision P logits --synthetic PRESET --input in.json`
    let logits = |precision: &str, preset: &str| {
        let mut cmd = bertqa();
        cmd.args([
            "--precision",
            precision,
            "logits",
            "--synthetic",
            preset,
            "--input",
        ])
        .arg(&input);
        cmd
    };
    let (f32_out, bf16_out) = (
        json_stdout(&mut logits("fp32", "base")),
        json_stdout(&mut logits("bf16", "base")),
    );
    let (a, b) = (
        f32_rows(&f32_out["start_logits"]),
        f32_rows(&bf16_out["start_logits"]),
    );
    assert_ne!(a, b, "bf16 gave fp32's exact logits");
    // Base shape, 8 tokens: measured 3e-3; a real mistake moves logits by far more than 5e-2.
    assert_close("bf16 vs fp32", &b[0], &a[0], 5e-2, 0.0);
    let int8_out = json_stdout(&mut logits("int8", "base"));
    let c = f32_rows(&int8_out["start_logits"]);
    assert_ne!(a, c, "int8 gave fp32's exact logits");
    // Base shape, 8 tokens: measured 2e-2; a broken quantization moves logits by far more.
    assert_close("int8 vs fp32", &c[0], &a[0], 1e-1, 0.0);
    let usage = logits("fp64", "tiny").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let mut bad_plan = logits("int8", "tiny");
    bad_plan.args(["--int8-plan", "down=int4"]);
    assert_eq!(bad_plan.output().unwrap().status.code(), Some(2));
    let mut plan_without_int8 = logits("bf16", "tiny");
    plan_without_int8.args(["--int8-plan", "all"]);
    let out = plan_without_int8.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("int8") && err.lines().count() == 1, "{err}");
    for (precision, plan) in [("bf16", None), ("int8", None), ("int8", Some("down-bf16"))] {
        let packed = dir
            .path()
            .join(format!("tiny-{precision}-{}.bqa", plan.unwrap_or("")));
        let mut convert = bertqa();
        convert.args(["--precision", precision]);
        if let Some(plan) = plan {
            convert.args(["--int8-plan", plan]);
        }
        let st = convert
            .args(["convert", "--synthetic", "tiny", "--out"])
            .arg(&packed)
            .status()
            .unwrap();
        assert!(st.success());
        // No --precision: a packed file runs in its own precision (and plan).
        let from_file = json_stdout(
            bertqa()
                .args(["logits", "--model"])
                .arg(&packed)
                .arg("--input")
                .arg(&input),
        );
        let mut direct = logits(precision, "tiny");
        if let Some(plan) = plan {
            direct.args(["--int8-plan", plan]);
        }
        assert_eq!(from_file, json_stdout(&mut direct), "{precision} {plan:?}");
    }
}

/// `--pin-threads` places the workers and changes nothing else: the logits are bit-identical
/// to an unpinned run's (results never depend on which core runs a task).
#[test]
fn pinned_threads_give_the_same_logits() {
    let dir = TempDir::new("cli-pin");
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        r#"{"input_ids": [[101, 2054, 2003, 1996, 3007, 102, 3000, 102]]}"#,
    )
    .unwrap();
    let run = |pin: bool| {
        let mut cmd = bertqa();
        cmd.args(["--threads", "2", "-v"]);
        if pin {
            cmd.arg("--pin-threads");
        }
        cmd.args(["logits", "--synthetic", "base", "--input"])
            .arg(&input);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ((plain, _), (pinned, log)) = (run(false), run(true));
    assert_eq!(plain, pinned, "pinning changed the logits");
    if cfg!(target_os = "linux") {
        assert!(
            log.contains("workers pinned") || log.contains("of 2 workers pinned"),
            "no word on the placement: {log}"
        );
    }
}

#[test]
fn ask_prints_the_library_answers() {
    let fx = fixture("answers_tiny.json");
    let case = case(&fx, "multi_window_default");
    let dir = TempDir::new("ask");
    let ctx = dir.path().join("context.txt");
    std::fs::write(&ctx, case["context"].as_str().unwrap()).unwrap();
    let got = json_stdout(
        bertqa()
            .args([
                "ask",
                "--synthetic",
                "tiny",
                "--top-k",
                "5",
                "--json",
                "--question",
            ])
            .arg(case["question"].as_str().unwrap())
            .arg("--context-file")
            .arg(&ctx),
    );
    let got = got["answers"].as_array().unwrap();
    let want = case["answers"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (&g["text"], &g["start"], &g["end"]),
            (&w["text"], &w["start"], &w["end"])
        );
        assert!((g["score"].as_f64().unwrap() - w["score"].as_f64().unwrap()).abs() < 1e-4);
    }
    // The human-readable form names the answer and its sentence; stdin works for the question.
    let mut child = bertqa()
        .args([
            "ask",
            "--synthetic",
            "tiny",
            "--question-file",
            "-",
            "--context",
            "Ada Lovelace wrote the first algorithm.",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Who wrote it?")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && text.contains("score") && text.contains('«'),
        "{text}"
    );
}

#[test]
fn ask_rejects_bad_input_cleanly() {
    let dir = TempDir::new("ask");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"ab\xffcd").unwrap();
    let out = bertqa()
        .args([
            "ask",
            "--synthetic",
            "tiny",
            "--question",
            "q",
            "--context-file",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("bad.txt") && err.contains("not UTF-8"),
        "{err}"
    );
    let out = bertqa()
        .args([
            "ask",
            "--synthetic",
            "tiny",
            "--question",
            " ",
            "--context",
            "text",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("question is empty"));
    let out = bertqa()
        .args(["ask", "--synthetic", "tiny", "--context", "text"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "missing --question is a usage error"
    );
}

#[test]
fn score_reproduces_the_official_script() {
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squad");
    let got = json_stdout(
        bertqa()
            .args(["score", "--data"])
            .arg(fx.join("mini-dev.json"))
            .arg("--predictions")
            .arg(fx.join("mini-preds.json")),
    );
    let want = fixture("squad/expected.json");
    assert_eq!(got, want["scores"]);
}

/// `score` on the SQuAD 2.0 mini files prints what the official rules give
/// (`weights/squad_reference_v2.py` wrote `expected-v2.json`), with and without null odds.
#[test]
fn score_v2_reproduces_the_official_script() {
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squad");
    let want = fixture("squad/expected-v2.json");
    let score = |odds: bool| {
        let mut cmd = bertqa();
        cmd.args(["score", "--data"])
            .arg(fx.join("mini-dev-v2.json"))
            .arg("--predictions")
            .arg(fx.join("mini-preds-v2.json"));
        if odds {
            cmd.arg("--null-odds")
                .arg(fx.join("mini-null-odds-v2.json"));
        }
        json_stdout(&mut cmd)
    };
    assert_eq!(score(true), want["scores"]);
    assert_eq!(score(false), want["scores_without_null_odds"]);
}

/// `eval` answers every question and its printed scores are those `score` gives its predictions.
#[test]
fn eval_and_score_agree() {
    let fx =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squad/mini-dev.json");
    let dir = TempDir::new("eval");
    let preds = dir.path().join("preds.json");
    let eval = json_stdout(
        bertqa()
            .args(["eval", "--synthetic", "tiny", "--data"])
            .arg(&fx)
            .arg("--predictions-out")
            .arg(&preds),
    );
    let predictions: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&preds).unwrap()).unwrap();
    let dataset = bertqa::tools::squad::Dataset::load(&fx).unwrap();
    assert_eq!(predictions.as_object().unwrap().len(), dataset.len());
    let out = bertqa()
        .args(["score", "--data"])
        .arg(&fx)
        .arg("--predictions")
        .arg(&preds)
        .output()
        .unwrap();
    let score: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(eval, score);
}

/// Without --model, the default model is found in a Hugging Face cache laid out as the hub lays
/// it out (refs/main → snapshots/<hash>/, files symlinked to blobs/), honouring HF_HUB_CACHE.
#[test]
fn default_model_comes_from_the_hugging_face_cache() {
    let cache = TempDir::new("hfcache");
    let repo = cache
        .path()
        .join("models--google-bert--bert-large-uncased-whole-word-masking-finetuned-squad");
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let snap = repo.join("snapshots").join(hash);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::write(repo.join("refs/main"), hash).unwrap();
    let config = bertqa::BertConfig::preset("tiny").unwrap();
    let blobs = [
        ("config.json", serde_json::to_vec(&config).unwrap()),
        ("vocab.txt", bertqa::qa::UNCASED_VOCAB.as_bytes().to_vec()),
    ];
    for (i, (name, bytes)) in blobs.iter().enumerate() {
        let blob = repo.join("blobs").join(format!("blob{i}"));
        std::fs::write(&blob, bytes).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/blob{i}"), snap.join(name)).unwrap();
    }
    bertqa::load::safetensors::write(
        &snap.join("model.safetensors"),
        &bertqa::tools::synthetic::tensors(&config, 0),
    )
    .unwrap();
    let run = |env: (&str, &std::path::Path)| {
        bertqa()
            .env_remove("HF_HOME")
            .env_remove("HF_HUB_CACHE")
            .env("HF_HUB_OFFLINE", "1")
            .env(env.0, env.1)
            .args([
                "ask",
                "--json",
                "--question",
                "Who wrote it?",
                "--context",
                "Ada Lovelace wrote it.",
            ])
            .output()
            .unwrap()
    };
    let want = bertqa::QaModel::synthetic("tiny", 0)
        .unwrap()
        .answer(
            "Who wrote it?",
            "Ada Lovelace wrote it.",
            &bertqa::QaOptions::default(),
        )
        .unwrap();
    let out = run(("HF_HUB_CACHE", cache.path()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["answers"][0]["text"], want[0].text);
    // An empty cache: the bundled small model answers, and one line on stderr says so and how
    // to get BERT-large.
    let empty = TempDir::new("hfempty");
    let out = run(("HF_HUB_CACHE", empty.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("bundled small model") && stderr.contains("huggingface-cli download"),
        "{stderr}"
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["answers"][0]["text"], "Ada Lovelace");
}

#[test]
fn synthesize_writes_a_loadable_hugging_face_directory() {
    let dir = TempDir::new("synth");
    let out = bertqa()
        .args(["synthesize", "--preset", "tiny", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded = bertqa::QaModel::load(dir.path()).unwrap();
    let seqs = [bertqa::Sequence::new(vec![101, 2040, 102, 7592, 102])];
    let want = bertqa::Bert::synthetic("tiny", 0)
        .unwrap()
        .forward(&seqs)
        .unwrap();
    assert_eq!(loaded.bert().forward(&seqs).unwrap(), want);
}

/// `eval --per-article` and `score --per-article`: the official pair plus one entry per article,
/// whose question-weighted scores make up the totals; `--predictions-out` is the official
/// `{id: text}` object in dataset order; progress goes to stderr as plain lines off a terminal.
#[test]
fn eval_per_article_predictions_and_progress() {
    let fx =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squad/mini-dev.json");
    let dir = TempDir::new("eval-articles");
    let preds = dir.path().join("preds.json");
    let out = bertqa()
        .args(["eval", "--synthetic", "tiny", "--per-article", "--data"])
        .arg(&fx)
        .arg("--predictions-out")
        .arg(&preds)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bertqa: eval 20/20 questions (100.0%)"),
        "{stderr}"
    );
    assert!(stderr.contains("ETA 0:00"), "{stderr}");
    assert!(
        stderr.contains("bertqa: answered 20 questions in"),
        "{stderr}"
    );
    assert!(!stderr.contains('\r'), "no terminal: plain lines");
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let articles = eval["per_article"].as_array().unwrap();
    let titles: Vec<_> = articles
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Super_Bowl_50", "Unicode"]);
    let n: Vec<_> = articles
        .iter()
        .map(|a| a["questions"].as_u64().unwrap())
        .collect();
    assert_eq!(n, [7, 13]);
    for key in ["exact_match", "f1"] {
        let weighted: f64 = articles
            .iter()
            .map(|a| a[key].as_f64().unwrap() * a["questions"].as_f64().unwrap())
            .sum::<f64>()
            / 20.0;
        assert!(
            (weighted - eval[key].as_f64().unwrap()).abs() < 1e-9,
            "{key}"
        );
    }
    // The predictions file: one object, ids in dataset order, every question answered.
    let text = std::fs::read_to_string(&preds).unwrap();
    let dataset = bertqa::tools::squad::Dataset::load(&fx).unwrap();
    let positions: Vec<usize> = dataset
        .examples
        .iter()
        .map(|e| text.find(&format!("\"{}\":", e.id)).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "dataset order");
    let map = bertqa::tools::squad::load_predictions(&preds).unwrap();
    assert_eq!(map.len(), 20);
    // score --per-article on that file prints the same object.
    let score = json_stdout(
        bertqa()
            .args(["score", "--per-article", "--data"])
            .arg(&fx)
            .arg("--predictions")
            .arg(&preds),
    );
    assert_eq!(score, eval);
}

/// A file that is not SQuAD is one clear error line naming the first bad field (exit 1),
/// for eval and score alike; never a panic.
#[test]
fn eval_and_score_name_the_first_bad_field() {
    let dir = TempDir::new("eval-bad");
    let preds = dir.path().join("preds.json");
    std::fs::write(&preds, r#"{"q": "x"}"#).unwrap();
    let cases = [
        (
            r#"{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "q", "question": 7, "answers": []}]}]}]}"#,
            "data[0].paragraphs[0].qas[0].question: expected a string, found a number",
        ),
        (
            r#"{"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "q", "question": "Q", "answers": [], "is_impossible": false}]}]}]}"#,
            "data[0].paragraphs[0].qas[0].answers: holds 0 answers but is_impossible is false",
        ),
        (
            r#"{"data": [{"title": "T"}]}"#,
            "data[0].paragraphs: missing",
        ),
        ("[1, 2", "not JSON"),
    ];
    for (content, needle) in cases {
        let data = dir.path().join("data.json");
        std::fs::write(&data, content).unwrap();
        let eval = bertqa()
            .args(["eval", "--synthetic", "tiny", "--data"])
            .arg(&data)
            .output()
            .unwrap();
        let score = bertqa()
            .args(["score", "--data"])
            .arg(&data)
            .arg("--predictions")
            .arg(&preds)
            .output()
            .unwrap();
        for out in [eval, score] {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{content}: {stderr}");
            assert!(
                stderr.contains("data.json: not a SQuAD dataset"),
                "{stderr}"
            );
            assert!(stderr.contains(needle), "{content}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
    // A well-formed file without questions: nothing to evaluate.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"version": "1.1", "data": []}"#).unwrap();
    let out = bertqa()
        .args(["eval", "--synthetic", "tiny", "--data"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no question to answer"));
}

/// A small SQuAD 2.0 file: two paragraphs, answerable and unanswerable questions.
fn squad_v2_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("dev-v2.json");
    let json = serde_json::json!({"version": "v2.0", "data": [{"title": "Normans", "paragraphs": [
        {"context": "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in France.",
         "qas": [
            {"id": "a1", "question": "In what country is Normandy located?", "answers": [{"text": "France", "answer_start": 106}], "is_impossible": false},
            {"id": "n1", "question": "Who gave their name to Normandy in the 1000's and 1100's", "answers": [], "is_impossible": true, "plausible_answers": [{"text": "Normans", "answer_start": 4}]},
            {"id": "a2", "question": "When did the Normans name Normandy?", "answers": [{"text": "10th and 11th centuries", "answer_start": 41}], "is_impossible": false}]},
        {"context": "The English name Normans comes from the French words Normans/Normanz, plural of Normant.",
         "qas": [
            {"id": "n2", "question": "What is the original meaning of the word Norman?", "answers": [], "is_impossible": true, "plausible_answers": [{"text": "Normant", "answer_start": 81}]},
            {"id": "a3", "question": "What French words does Normans come from?", "answers": [{"text": "Normans/Normanz", "answer_start": 53}], "is_impossible": false}]}]}]});
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// `eval` on a SQuAD 2.0 file: no answer ("") exactly where null score − best span score > the
/// threshold (0.0 by default), the null odds written, evaluate-v2.0's keys in its order, and
/// `score` on the written files prints the same object.
#[test]
fn eval_and_score_squad_v2() {
    let dir = TempDir::new("eval-v2");
    let data = squad_v2_file(dir.path());
    let (preds, odds) = (dir.path().join("p.json"), dir.path().join("n.json"));
    let run = |extra: &[&str]| {
        let out = bertqa()
            .args(["eval", "--synthetic", "tiny", "--data"])
            .arg(&data)
            .arg("--predictions-out")
            .arg(&preds)
            .arg("--null-odds-out")
            .arg(&odds)
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        let p = bertqa::tools::squad::load_predictions(&preds).unwrap();
        let n = bertqa::tools::squad::load_null_odds(&odds).unwrap();
        (String::from_utf8(out.stdout).unwrap(), p, n)
    };
    for threshold in [None, Some(0.5f32), Some(-0.5)] {
        let extra: Vec<String> = threshold
            .map(|t| vec!["--null-score-diff-threshold".into(), t.to_string()])
            .unwrap_or_default();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (stdout, p, n) = run(&extra);
        let t = f64::from(threshold.unwrap_or(0.0));
        assert_eq!((p.len(), n.len()), (5, 5));
        let ids: Vec<&str> = n.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["a1", "n1", "a2", "n2", "a3"], "dataset order");
        for (id, odds) in n.iter() {
            // Odds are f32 values written exactly; compared with an f32 threshold.
            assert_eq!(
                p[id].is_empty(),
                odds > t,
                "{id}: odds {odds}, threshold {t}"
            );
        }
        let keys = [
            "exact",
            "f1",
            "total",
            "HasAns_exact",
            "HasAns_f1",
            "HasAns_total",
            "NoAns_exact",
            "NoAns_f1",
            "NoAns_total",
            "best_exact",
            "best_exact_thresh",
            "best_f1",
            "best_f1_thresh",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| stdout.find(&format!("\"{k}\":")).expect(k))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{stdout}");
        let eval: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            (eval["total"].as_u64(), eval["NoAns_total"].as_u64()),
            (Some(5), Some(2))
        );
        let score = json_stdout(
            bertqa()
                .args(["score", "--data"])
                .arg(&data)
                .arg("--predictions")
                .arg(&preds)
                .arg("--null-odds")
                .arg(&odds),
        );
        assert_eq!(eval, score);
    }
    // A threshold no null score can beat answers everything; one every null beats answers
    // nothing.
    let (_, p, _) = run(&["--null-score-diff-threshold", "1e30"]);
    assert!(p.values().all(|t| !t.is_empty()), "{p:?}");
    let (stdout, p, _) = run(&["--null-score-diff-threshold", "-1e30"]);
    assert!(p.values().all(String::is_empty), "{p:?}");
    let eval: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (eval["NoAns_exact"].as_f64(), eval["HasAns_exact"].as_f64()),
        (Some(100.0), Some(0.0))
    );
    // Without null odds, score prints no best_* keys.
    let score = json_stdout(
        bertqa()
            .args(["score", "--data"])
            .arg(&data)
            .arg("--predictions")
            .arg(&preds),
    );
    assert!(
        score.get("best_exact").is_none() && score.get("exact").is_some(),
        "{score}"
    );
}

/// SQuAD 2.0 mistakes are one error line each (exit 1), never a panic.
#[test]
fn squad_v2_errors_are_clean() {
    let dir = TempDir::new("v2-errors");
    let data = squad_v2_file(dir.path());
    let v1 =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/squad/mini-dev.json");
    let partial = dir.path().join("partial.json");
    std::fs::write(&partial, r#"{"a1": "France", "n1": ""}"#).unwrap();
    let odds = dir.path().join("odds.json");
    std::fs::write(&odds, r#"{"a1": 0.5}"#).unwrap();
    let full = dir.path().join("full.json");
    std::fs::write(
        &full,
        r#"{"a1": "France", "n1": "", "a2": "x", "n2": "", "a3": ""}"#,
    )
    .unwrap();
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (
            vec![
                "score".into(),
                "--data".into(),
                data.clone().into(),
                "--predictions".into(),
                partial.clone().into(),
            ],
            "3 of 5 questions have no prediction (the first: a2)",
        ),
        (
            vec![
                "score".into(),
                "--data".into(),
                data.clone().into(),
                "--predictions".into(),
                full.clone().into(),
                "--null-odds".into(),
                odds.clone().into(),
            ],
            "no value for question n1",
        ),
        (
            vec![
                "score".into(),
                "--data".into(),
                v1.clone().into(),
                "--predictions".into(),
                full.clone().into(),
                "--null-odds".into(),
                odds.clone().into(),
            ],
            "--null-odds is for SQuAD 2.0 files",
        ),
        (
            vec![
                "eval".into(),
                "--synthetic".into(),
                "tiny".into(),
                "--data".into(),
                v1.clone().into(),
                "--null-odds-out".into(),
                odds.clone().into(),
            ],
            "--null-odds-out needs null answers",
        ),
        (
            vec![
                "score".into(),
                "--data".into(),
                data.clone().into(),
                "--predictions".into(),
                full.clone().into(),
                "--null-odds".into(),
                partial.clone().into(),
            ],
            "not a null-odds file",
        ),
    ];
    for (args, needle) in cases {
        let out = bertqa().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // The two null-answer rules are one choice: giving both is a usage error.
    let out = bertqa()
        .args([
            "ask",
            "--synthetic",
            "tiny",
            "--question",
            "q",
            "--context",
            "c d",
        ])
        .args([
            "--null-score-diff-threshold",
            "0",
            "--handle-impossible-answer",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `ask` with a null-answer rule says "no answer" plainly and in JSON; without one, the output
/// is as before (no null fields).
#[test]
fn ask_says_no_answer() {
    let ask = |extra: &[&str]| {
        let out = bertqa()
            .args(["ask", "--synthetic", "tiny", "--question", "Who wrote it?"])
            .args(["--context", "The book was written by Ada Lovelace in 1843."])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json = |extra: &[&str]| -> serde_json::Value {
        serde_json::from_str(&ask(&[extra, &["--json"]].concat())).unwrap()
    };
    let plain = json(&[]);
    assert!(
        plain.get("no_answer").is_none() && plain.get("null").is_none(),
        "{plain}"
    );
    let never = json(&["--null-score-diff-threshold", "1e30"]);
    assert_eq!(never["no_answer"], false);
    assert_eq!(never["answers"], plain["answers"]);
    let always = json(&["--null-score-diff-threshold", "-1e30"]);
    assert_eq!(always["no_answer"], true);
    assert_eq!(
        always["answers"], plain["answers"],
        "the spans are listed either way"
    );
    let null = &always["null"];
    let diff = null["score_diff"].as_f64().unwrap();
    let best = plain["answers"][0]["score"].as_f64().unwrap();
    // score_diff = null score − best span score (to f32 rounding).
    assert!(
        (null["score"].as_f64().unwrap() - best - diff).abs() < 1e-4,
        "{null}"
    );
    let pipeline = json(&["--handle-impossible-answer"]);
    assert!(pipeline["no_answer"].is_boolean() && pipeline["null"]["probability"].is_f64());
    let text = ask(&["--null-score-diff-threshold", "-1e30"]);
    assert!(text.starts_with("(no answer: "), "{text}");
    assert!(text.contains("score diff"), "{text}");
    let text = ask(&["--null-score-diff-threshold", "1e30"]);
    assert!(!text.contains("no answer"), "{text}");
}
