//! DistilBERT (`DistilBertForQuestionAnswering`) against PyTorch + transformers on identical
//! synthetic weights, through the same parameter table, windows and answer extraction as BERT.
//!
//! Fixtures: `tests/fixtures/reference_distilbert_{tiny,base}.json`, written by
//! `weights/make_reference.py --only distilbert-tiny,distilbert-base` from the weights of
//! `weights/synthetic.py --arch distilbert`, which `bertqa::tools::synthetic` regenerates bit for bit.

mod common;

use bertqa::{
    Bert, BertConfig, Error, LoadOptions, ModelType, Precision, QaModel, QaOptions, Sequence,
};
use common::TempDir;
use common::{check_cases, check_hidden_states, check_pinned_bits, fixture, tol};

/// The tiny fixture through the file path: config.json in DistilBERT's field names and
/// model.safetensors with `distilbert.`-prefixed names, as Hugging Face saves them.
#[test]
fn tiny_from_a_hugging_face_directory_matches_pytorch() {
    let fx = fixture("reference_distilbert_tiny.json");
    assert_eq!(fx["model_type"], "distilbert");
    check_pinned_bits(&fx);
    let dir = TempDir::new("distil-tiny");
    let seed = fx["seed"].as_u64().unwrap();
    bertqa::tools::synthetic::write_model_dir(dir.path(), "distilbert-tiny", seed).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "distilbert");
    assert_eq!(config["n_layers"], 2);
    let model = Bert::load(dir.path(), &LoadOptions::with_precision(Precision::F32)).unwrap();
    assert_eq!(model.config().model_type, ModelType::DistilBert);
    assert_eq!(
        model.config(),
        &BertConfig::preset("distilbert-tiny").unwrap()
    );
    let worst = check_cases(&model, &fx, tol::LOGITS_SMALL);
    eprintln!("distilbert-tiny: max |Δlogit| = {worst:e}");
    check_hidden_states(&model, &fx);
}

#[test]
fn base_matches_pytorch() {
    let fx = fixture("reference_distilbert_base.json");
    check_pinned_bits(&fx);
    let model = Bert::synthetic("distilbert-base", fx["seed"].as_u64().unwrap()).unwrap();
    assert_eq!(model.config().num_hidden_layers, 6);
    let worst = check_cases(&model, &fx, tol::LOGITS_SMALL);
    eprintln!("distilbert-base: max |Δlogit| = {worst:e}");
}

/// bf16 and int8 run DistilBERT too, against PyTorch fp32 on the base shape: within the
/// tolerances measured for BERT-large (bf16 3e-2, int8 0.15 — 6 layers accumulate less
/// rounding than 24), and visibly not fp32 (so the reduced precision really ran).
#[test]
fn base_in_bf16_and_int8_matches_pytorch_fp32() {
    let fx = fixture("reference_distilbert_base.json");
    let seed = fx["seed"].as_u64().unwrap();
    for (precision, tolerance, floor) in [
        (Precision::Bf16, tol::LOGITS_LARGE_BF16, 1e-4),
        (Precision::Int8, tol::LOGITS_LARGE_INT8, 1e-3),
    ] {
        let model = Bert::synthetic_as("distilbert-base", seed, precision).unwrap();
        assert_eq!(model.precision(), precision);
        let worst = check_cases(&model, &fx, tolerance);
        eprintln!("distilbert-base {precision}: max |Δlogit| vs PyTorch fp32 = {worst:e}");
        assert!(
            worst > floor,
            "{precision} logits are as exact as fp32's ({worst:e})"
        );
    }
}

/// Every precision packs into a file that loads back with the same logits and answers, and
/// records that it is a DistilBERT.
#[test]
fn packed_file_in_every_precision() {
    let dir = TempDir::new("distil-packed");
    let (q, c) = (
        "Who wrote it?",
        "Ada Lovelace wrote the first algorithm in 1843. It ran on no machine in her time.",
    );
    let options = QaOptions {
        top_k: 3,
        ..QaOptions::default()
    };
    for precision in [Precision::F32, Precision::Bf16, Precision::Int8] {
        let qa = QaModel::synthetic_as("distilbert-tiny", 1, precision).unwrap();
        let path = dir.path().join(format!("distil-{precision}.bqa"));
        qa.save_packed(&path).unwrap();
        let back = QaModel::load(&path).unwrap();
        assert_eq!(back.bert().config().model_type, ModelType::DistilBert);
        assert_eq!(back.bert().precision(), precision);
        let answers = qa.answer(q, c, &options).unwrap();
        assert_eq!(back.answer(q, c, &options).unwrap(), answers, "{precision}");
        assert_eq!(answers.len(), 3);
    }
}

/// DistilBERT has no token-type embeddings: like Hugging Face's model, it ignores them, so the
/// windows' segment ids (0 for the question, 1 for the context) change nothing.
#[test]
fn token_types_are_ignored() {
    let model = Bert::synthetic("distilbert-tiny", 0).unwrap();
    let ids = vec![101, 2040, 2626, 2009, 102, 15262, 2626, 2009, 102];
    let zeros = Sequence::new(ids.clone());
    let segments = Sequence {
        token_type_ids: vec![0, 0, 0, 0, 0, 1, 1, 1, 1],
        ..Sequence::new(ids.clone())
    };
    let odd = Sequence {
        token_type_ids: vec![7; ids.len()],
        ..Sequence::new(ids)
    };
    let a = model.forward(&[zeros]).unwrap();
    assert_eq!(model.forward(&[segments]).unwrap(), a);
    assert_eq!(model.forward(&[odd]).unwrap(), a);
    // BERT still refuses a token type outside its table.
    let bert = Bert::synthetic("tiny", 0).unwrap();
    let bad = Sequence {
        token_type_ids: vec![2; 3],
        ..Sequence::new(vec![101, 2040, 102])
    };
    assert!(matches!(bert.forward(&[bad]), Err(Error::Input { .. })));
}

/// A DistilBERT config over BERT tensors (or the reverse) is refused by the tensor it lacks.
#[test]
fn mixed_up_checkpoints_are_refused_by_name() {
    for (config_preset, tensors_preset, missing) in [
        (
            "distilbert-tiny",
            "tiny",
            "transformer.layer.0.attention.q_lin",
        ),
        (
            "tiny",
            "distilbert-tiny",
            "embeddings.token_type_embeddings",
        ),
    ] {
        let dir = TempDir::new("distil-mixup");
        bertqa::tools::synthetic::write_model_dir(dir.path(), tensors_preset, 0).unwrap();
        let config = BertConfig::preset(config_preset).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec(&config.to_hf_json()).unwrap(),
        )
        .unwrap();
        let Err(err) = Bert::load(dir.path(), &LoadOptions::default()) else {
            panic!("a mixed-up checkpoint must not load");
        };
        assert!(
            matches!(&err, Error::MissingTensor { name } if name.starts_with(missing)),
            "{config_preset} over {tensors_preset}: {err}"
        );
    }
}
