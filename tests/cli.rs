//! The `bertqa` binary end to end.

mod common;

use common::{assert_close, f32_rows, fixture, tol, TempDir};
use std::process::Command;

fn bertqa() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bertqa"))
}

#[test]
fn logits_matches_reference_and_keeps_row_lengths() {
    let fx = fixture("reference_tiny.json");
    let case = fx["cases"].as_array().unwrap().iter().find(|c| c["name"] == "padded_batch").unwrap();
    let dir = TempDir::new("cli");
    let input = dir.path().join("in.json");
    let body = serde_json::json!({
        "input_ids": case["input_ids"], "attention_mask": case["attention_mask"], "token_type_ids": case["token_type_ids"],
    });
    std::fs::write(&input, body.to_string()).unwrap();
    let out = bertqa().args(["logits", "--synthetic", "tiny", "--input"]).arg(&input).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
    let out = bertqa().args(["logits", "--synthetic", "tiny", "--input"]).arg(&input).output().unwrap();
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
        (r#"{"input_ids": [[101]], "attention_mask": [[1], [1]]}"#, "rows"),
        ("not json", "invalid input"),
    ] {
        std::fs::write(&bad, content).unwrap();
        let out = bertqa().args(["logits", "--synthetic", "tiny", "--input"]).arg(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("bertqa: ") && err.contains(needle) && err.lines().count() == 1, "{err}");
    }
    std::fs::write(&bad, r#"{"input_ids": [[101]]}"#).unwrap();
    let missing = bertqa().args(["logits", "--model", "/nonexistent", "--input"]).arg(&bad).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent"));
    let usage = bertqa().args(["logits", "--input", "x"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
