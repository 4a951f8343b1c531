//! The small QA model committed in `models/minilm-squad.bqa`: this build can still read it,
//! it is what its provenance says, and it answers the README's question.
//!
//! It is `../shared/models/minilm-squad` (MiniLM-L6 fine-tuned on SQuAD v1.1; models/README.md)
//! converted with `bertqa --precision int8 --int8-plan small convert` — every GEMM and the word
//! embeddings in int8 — so that it stays under 30 MB. If a change to the packed format or to
//! quantization makes these tests fail, regenerate it with `models/make_bundled.sh` (and
//! re-measure it: docs/accuracy.md), or keep the loader able to read it.

use bertqa::tokenizer::TokenizerSettings;
use bertqa::{LayerPlan, LoadOptions, Precision, QaModel, QaOptions, Sequence};
use std::path::{Path, PathBuf};

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minilm-squad.bqa")
}

/// The format version, the recorded settings, the size bound.
#[test]
fn the_committed_file_loads_as_recorded() {
    let path = bundled();
    let bytes = std::fs::metadata(&path).unwrap().len();
    assert!(bytes <= 30_000_000, "{} is {bytes} bytes", path.display());
    let file = bertqa::load::safetensors::SafeTensors::open(&path).unwrap();
    let meta = file.metadata();
    assert_eq!(meta["format"], "bertqa-packed");
    assert_eq!(meta["version"], "1");
    let model = QaModel::load(&path).unwrap();
    let bert = model.bert();
    assert_eq!(bert.precision(), Precision::Int8);
    assert_eq!(bert.plan(), LayerPlan::INT8_SMALL);
    assert_eq!(model.tokenizer().settings(), TokenizerSettings::UNCASED);
    let c = bert.config();
    assert_eq!(
        (c.num_hidden_layers, c.hidden_size, c.vocab_size),
        (6, 384, 30522)
    );
}

/// The README's run command: a question the small model gets right, with confidence.
#[test]
fn answers_the_readme_question() {
    let model = QaModel::load(&bundled()).unwrap();
    let context =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/context.txt"))
            .unwrap();
    let answers = model
        .answer(
            "In what year did Ada Lovelace publish her translation?",
            &context,
            &QaOptions::default(),
        )
        .unwrap();
    assert_eq!(answers[0].text, "1843");
    assert!(answers[0].probability > 0.9, "{:?}", answers[0]);
}

/// Provenance: converting `$BERTQA_QA_MODEL` (.ci/run: ../shared/models/minilm-squad) with the
/// same plan gives the same network — bit-identical logits on the same kernels.
#[test]
fn is_the_shared_model_converted() {
    let Some(dir) = std::env::var_os("BERTQA_QA_MODEL").map(PathBuf::from) else {
        eprintln!("\n!!!!!!!! SKIPPED is_the_shared_model_converted: BERTQA_QA_MODEL is not set (.ci/run sets it) !!!!!!!!\n");
        assert!(
            std::env::var_os("CI").is_none(),
            "BERTQA_QA_MODEL unset under CI"
        );
        return;
    };
    // Converted as the file records (8-bit weights), attention as the committed model runs
    // it on this CPU: the file's int8 weight bits are not this CPU's default on an AVX2 one.
    let committed = QaModel::load(&bundled()).unwrap();
    let bits = match committed.bert().int8_weight_levels() {
        Some(127) => 8,
        levels => panic!("the bundled model's int8 weights have {levels:?} levels, not 127"),
    };
    let options = LoadOptions {
        int8_plan: Some(committed.bert().plan()),
        int8_weight_bits: Some(bits),
        ..LoadOptions::with_precision(Precision::Int8)
    };
    let fresh = QaModel::load_with(&dir, &options).unwrap();
    assert_eq!(
        (committed.bert().plan().word_embeddings, fresh.bert().plan()),
        (Precision::Int8, committed.bert().plan())
    );
    let batch = [
        Sequence::new(vec![
            101, 2040, 2626, 1996, 2034, 9896, 1029, 102, 15262, 102,
        ]),
        Sequence::new(vec![
            101, 2054, 2095, 102, 2006, 8908, 2016, 2405, 1037, 5449, 102,
        ]),
    ];
    assert_eq!(
        committed.bert().forward(&batch).unwrap(),
        fresh.bert().forward(&batch).unwrap(),
        "models/minilm-squad.bqa is not the conversion of {}: regenerate it (models/make_bundled.sh)",
        dir.display()
    );
}
