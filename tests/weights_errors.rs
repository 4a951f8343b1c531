//! Corrupt or inconsistent checkpoints: each gives a typed error naming the problem, never a
//! panic; a misaligned or F16 file still loads correctly.

mod common;

use bertqa::load::safetensors::{self, SafeTensors, Tensor};
use bertqa::{Bert, BertConfig, Error, LoadOptions, Sequence};
use common::TempDir;
use serde_json::{json, Value};

fn tiny_tensors() -> Vec<(String, Tensor)> {
    bertqa::tools::synthetic::tensors(&BertConfig::preset("tiny").unwrap(), 0)
}

/// Raw safetensors bytes from a header value and a data section.
fn raw(header: &Value, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

fn open_bytes(bytes: &[u8]) -> Result<SafeTensors, Error> {
    let dir = TempDir::new("st");
    let p = dir.path().join("model.safetensors");
    std::fs::write(&p, bytes).unwrap();
    SafeTensors::open(&p)
}

fn format_error(bytes: &[u8], needle: &str) {
    match open_bytes(bytes) {
        Err(Error::Format { message, .. }) => {
            assert!(
                message.contains(needle),
                "message {message:?} lacks {needle:?}"
            )
        }
        other => panic!("expected a Format error containing {needle:?}, got {other:?}"),
    }
}

/// Loads a model directory made of `config` and the given safetensors bytes.
fn load(config: &BertConfig, bytes: &[u8]) -> Result<Bert, Error> {
    let dir = TempDir::new("model");
    std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(config).unwrap(),
    )
    .unwrap();
    Bert::load(
        dir.path(),
        &LoadOptions {
            validate_values: true,
            ..Default::default()
        },
    )
}

fn tiny_bytes(tensors: &[(String, Tensor)]) -> Vec<u8> {
    let mut v = Vec::new();
    safetensors::write_to(&mut v, tensors).unwrap();
    v
}

#[test]
fn header_corruptions() {
    let f32x4 = [0u8; 16];
    let ok = json!({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}});
    assert!(open_bytes(&raw(&ok, &f32x4)).is_ok());

    format_error(b"", "too short");
    format_error(&[1, 0, 0], "too short");
    format_error(&u64::MAX.to_le_bytes(), "limit");
    format_error(&(1u64 << 20).to_le_bytes(), "past the end");
    let mut not_json = 5u64.to_le_bytes().to_vec();
    not_json.extend_from_slice(b"hello");
    format_error(&not_json, "not a JSON object");
    format_error(&raw(&json!([1, 2]), &[]), "not a JSON object");
    let mut bad_utf8 = 2u64.to_le_bytes().to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    format_error(&bad_utf8, "UTF-8");
    // Duplicate keys, which serde_json maps would silently merge.
    let dup = br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let mut dup_file = (dup.len() as u64).to_le_bytes().to_vec();
    dup_file.extend_from_slice(dup);
    dup_file.extend_from_slice(&[0; 8]);
    format_error(&dup_file, "twice");
    format_error(
        &raw(
            &json!({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 32]}}),
            &f32x4,
        ),
        "beyond",
    );
    format_error(
        &raw(
            &json!({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 0]}}),
            &f32x4,
        ),
        "end before",
    );
    format_error(
        &raw(
            &json!({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}),
            &f32x4,
        ),
        "needs 12 bytes",
    );
    format_error(
        &raw(
            &json!({"a": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 16]}}),
            &f32x4,
        ),
        "unknown dtype",
    );
    format_error(
        &raw(
            &json!({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16], "x": 1}}),
            &f32x4,
        ),
        "malformed",
    );
    format_error(
        &raw(&json!({"a": {"dtype": "F32", "shape": [4]}}), &f32x4),
        "malformed",
    );
    format_error(
        &raw(
            &json!({"a": {"dtype": "F32", "shape": [usize::MAX, 4], "data_offsets": [0, 16]}}),
            &f32x4,
        ),
        "overflows",
    );
    format_error(
        &raw(
            &json!({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                     "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}),
            &[0; 12],
        ),
        "overlaps",
    );
    format_error(
        &raw(
            &json!({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                     "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}),
            &[0; 12],
        ),
        "gap",
    );
    // Data section longer than the tensors (trailing bytes) or shorter (truncated file).
    format_error(&raw(&ok, &[0; 20]), "cover 16");
    format_error(&raw(&ok, &[0; 12]), "beyond");
    format_error(
        &raw(&json!({"__metadata__": {"a": 1}}), &[]),
        "__metadata__",
    );
    assert!(open_bytes(&raw(&json!({"__metadata__": {"format": "pt"}}), &[])).is_ok());
}

#[test]
fn truncated_real_file() {
    let bytes = tiny_bytes(&tiny_tensors());
    let config = BertConfig::preset("tiny").unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        match load(&config, &bytes[..cut]) {
            Err(Error::Format { .. }) => {}
            other => panic!(
                "cut at {cut}: expected Format error, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

#[test]
fn tensor_level_errors_name_the_tensor() {
    let config = BertConfig::preset("tiny").unwrap();
    let base = tiny_tensors();

    // Missing tensor.
    let missing: Vec<_> = base
        .iter()
        .filter(|(n, _)| !n.ends_with("layer.1.output.dense.bias"))
        .cloned()
        .collect();
    match load(&config, &tiny_bytes(&missing)) {
        Err(Error::MissingTensor { name }) => assert_eq!(name, "encoder.layer.1.output.dense.bias"),
        other => panic!("{:?}", other.map(|_| ())),
    }

    // Extra tensor.
    let mut extra = base.clone();
    extra.push((
        "bert.encoder.layer.2.output.dense.bias".into(),
        Tensor::from_vec(vec![32], vec![0.0; 32]),
    ));
    match load(&config, &tiny_bytes(&extra)) {
        Err(Error::UnexpectedTensor { name }) => {
            assert_eq!(name, "bert.encoder.layer.2.output.dense.bias")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }

    // Ignorable extras (pooler) load fine.
    let mut pooled = base.clone();
    pooled.push((
        "bert.pooler.dense.bias".into(),
        Tensor::from_vec(vec![32], vec![0.0; 32]),
    ));
    assert!(load(&config, &tiny_bytes(&pooled)).is_ok());

    // Wrong shape.
    let mut shaped = base.clone();
    let i = shaped
        .iter()
        .position(|(n, _)| n == "qa_outputs.weight")
        .unwrap();
    shaped[i].1 = Tensor::from_vec(vec![32, 2], shaped[i].1.data().to_vec());
    match load(&config, &tiny_bytes(&shaped)) {
        Err(Error::Shape {
            name,
            expected,
            got,
        }) => {
            assert_eq!(
                (name.as_str(), expected, got),
                ("qa_outputs.weight", vec![2, 32], vec![32, 2])
            )
        }
        other => panic!("{:?}", other.map(|_| ())),
    }

    // Config inconsistent with the weights.
    let mut wide = config.clone();
    wide.hidden_size = 64;
    assert!(matches!(
        load(&wide, &tiny_bytes(&base)),
        Err(Error::Shape { .. })
    ));
    let mut deep = config.clone();
    deep.num_hidden_layers = 3;
    assert!(matches!(
        load(&deep, &tiny_bytes(&base)),
        Err(Error::MissingTensor { .. })
    ));

    // NaN in the weights, found by validation.
    let mut nan = base.clone();
    let i = nan
        .iter()
        .position(|(n, _)| n.ends_with("layer.0.intermediate.dense.weight"))
        .unwrap();
    let mut d = nan[i].1.data().to_vec();
    d[77] = f32::NAN;
    nan[i].1 = Tensor::from_vec(nan[i].1.shape().to_vec(), d);
    match load(&config, &tiny_bytes(&nan)) {
        Err(Error::NonFinite { name, index }) => {
            assert_eq!(
                (name.as_str(), index),
                ("bert.encoder.layer.0.intermediate.dense.weight", 77)
            )
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// Wrong dtype for a tensor the model needs: I64 is a valid safetensors dtype but not a weight.
#[test]
fn wrong_dtype() {
    let config = BertConfig::preset("tiny").unwrap();
    let base = tiny_tensors();
    let bytes = tiny_bytes(&base);
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    // qa_outputs.bias: 2 × F32 = 8 bytes = 1 × I64.
    header["qa_outputs.bias"]["dtype"] = json!("I64");
    header["qa_outputs.bias"]["shape"] = json!([1]);
    let bytes2 = raw(&header, &bytes[8 + n..]);
    // shape [1] is wrong too; the shape check names it first.
    assert!(matches!(load(&config, &bytes2), Err(Error::Shape { .. })));
    header["qa_outputs.bias"]["dtype"] = json!("I32");
    header["qa_outputs.bias"]["shape"] = json!([2]);
    match load(&config, &raw(&header, &bytes[8 + n..])) {
        Err(Error::Dtype { name, dtype }) => {
            assert_eq!((name.as_str(), dtype.as_str()), ("qa_outputs.bias", "I32"))
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// F32 tensors are borrowed from the map, never copied: their slices point inside it.
#[test]
fn loading_copies_nothing() {
    let dir = TempDir::new("zc");
    let p = dir.path().join("model.safetensors");
    safetensors::write(&p, &tiny_tensors()).unwrap();
    let st = SafeTensors::open(&p).unwrap();
    let range = st.mapped_address_range();
    for name in st.tensors().keys() {
        let t = st.tensor(name).unwrap();
        assert!(t.is_mapped(), "{name} was copied");
        let start = t.data().as_ptr() as usize;
        let end = start + t.data().len() * 4;
        assert!(
            range.start <= start && end <= range.end,
            "{name} lies outside the map"
        );
    }
}

/// A header length that leaves the data section misaligned: tensors are copied, results equal.
/// F16 weights are converted.
#[test]
fn misaligned_and_f16_files_load() {
    let config = BertConfig::preset("tiny").unwrap();
    let base = tiny_tensors();
    let bytes = tiny_bytes(&base);
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n])
        .unwrap()
        .trim_end()
        .to_string()
        + " "; // N+? bytes
    let mut h = header.into_bytes();
    while (8 + h.len()).is_multiple_of(4) {
        h.push(b' ');
    }
    let mut misaligned = (h.len() as u64).to_le_bytes().to_vec();
    misaligned.extend_from_slice(&h);
    misaligned.extend_from_slice(&bytes[8 + n..]);
    let seqs = [Sequence::new(vec![101, 2054, 2003, 102, 1996, 3437, 102])];
    let want = Bert::synthetic("tiny", 0).unwrap().forward(&seqs).unwrap();
    let got = load(&config, &misaligned).unwrap().forward(&seqs).unwrap();
    assert_eq!(got, want);

    // F16: every value rounded to half precision, then read back converted.
    let mut hdr = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, t) in &base {
        let start = data.len();
        for v in t.data() {
            data.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes());
        }
        hdr.insert(
            name.clone(),
            json!({"dtype": "F16", "shape": t.shape(), "data_offsets": [start, data.len()]}),
        );
    }
    let model = load(&config, &raw(&Value::Object(hdr), &data)).unwrap();
    let got = model.forward(&seqs).unwrap();
    for (a, b) in got.start_logits[0].iter().zip(&want.start_logits[0]) {
        assert!((a - b).abs() < 1e-2, "f16 logits drifted: {a} vs {b}");
    }
}

#[test]
fn bad_model_inputs_are_errors() {
    let model = Bert::synthetic("tiny", 0).unwrap();
    let bad = [
        Sequence::new(vec![]),
        Sequence::new(vec![40_000]),
        Sequence::new(vec![101; 513]),
        Sequence {
            input_ids: vec![101, 102],
            attention_mask: vec![1],
            token_type_ids: vec![0, 0],
        },
        Sequence {
            input_ids: vec![101, 102],
            attention_mask: vec![1, 2],
            token_type_ids: vec![0, 0],
        },
        Sequence {
            input_ids: vec![101, 102],
            attention_mask: vec![1, 1],
            token_type_ids: vec![0, 2],
        },
    ];
    for s in bad {
        assert!(
            matches!(
                model.forward(std::slice::from_ref(&s)),
                Err(Error::Input { .. })
            ),
            "{s:?}"
        );
    }
    assert_eq!(model.forward(&[]).unwrap().start_logits.len(), 0);
}
