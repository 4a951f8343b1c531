//! The packed-weights file (`bertqa convert`): same logits and answers, no packing and no copy
//! at load, and a clear error for files that are not packed-weights files.

mod common;

use bertqa::tokenizer::TokenizerSettings;
use bertqa::{Bert, QaModel, QaOptions, Sequence};
use common::TempDir;

#[test]
fn packed_file_round_trips_bit_exactly() {
    let dir = TempDir::new("packed");
    let path = dir.path().join("tiny.bqa");
    let qa = QaModel::synthetic("tiny", 0).unwrap();
    qa.save_packed(&path).unwrap();

    let (bert, tokenizer) = Bert::load_packed(&path).unwrap();
    let tokenizer = tokenizer.expect("the file carries its tokenizer");
    assert_eq!(tokenizer.vocab().to_text(), bertqa::qa::UNCASED_VOCAB);
    assert_eq!(tokenizer.settings(), TokenizerSettings::UNCASED);
    let batch = [
        Sequence::new(vec![
            101, 2054, 2003, 1996, 3007, 102, 3000, 2003, 1037, 2103, 102,
        ]),
        Sequence::new(vec![101, 102]),
    ];
    assert_eq!(
        bert.forward(&batch).unwrap(),
        qa.bert().forward(&batch).unwrap()
    );

    let loaded = QaModel::load(&path).unwrap();
    let o = QaOptions {
        top_k: 3,
        ..QaOptions::default()
    };
    let (q, c) = (
        "Who wrote it?",
        "Ada Lovelace wrote the first algorithm in 1843.",
    );
    assert_eq!(
        loaded.answer(q, c, &o).unwrap(),
        qa.answer(q, c, &o).unwrap()
    );
}

#[test]
fn packed_file_borrows_everything_from_the_map() {
    let dir = TempDir::new("packed");
    let path = dir.path().join("tiny.bqa");
    QaModel::synthetic("tiny", 0)
        .unwrap()
        .save_packed(&path)
        .unwrap();
    let st = bertqa::load::safetensors::SafeTensors::open(&path).unwrap();
    let range = st.mapped_address_range();
    for name in st.tensors().keys() {
        let t = st.tensor(name).unwrap();
        assert!(t.is_mapped(), "{name} was copied");
        let p = t.data().as_ptr() as usize;
        assert!(range.contains(&p));
        if name.ends_with(".packed") {
            assert_eq!(p % 64, 0, "{name}: panels must start on a cache line");
        }
    }
}

#[test]
fn non_packed_files_are_refused() {
    let dir = TempDir::new("packed");
    let path = dir.path().join("plain.safetensors");
    let c = bertqa::BertConfig::preset("tiny").unwrap();
    bertqa::load::safetensors::write(&path, &bertqa::tools::synthetic::tensors(&c, 0)).unwrap();
    let err = Bert::load_packed(&path).unwrap_err();
    assert!(
        err.to_string().contains("not a bertqa packed-weights file"),
        "{err}"
    );
}

/// A bf16 packed file (`bertqa convert --precision bf16`): half the panel bytes, borrowed from
/// the map, the same logits as the model it was written from, and a clear error when asked
/// for another precision.
#[test]
fn bf16_packed_file_round_trips_bit_exactly() {
    use bertqa::{LoadOptions, Precision};
    let dir = TempDir::new("packed");
    let (p32, p16) = (dir.path().join("fp32.bqa"), dir.path().join("bf16.bqa"));
    QaModel::synthetic("tiny", 0)
        .unwrap()
        .save_packed(&p32)
        .unwrap();
    let qa = QaModel::synthetic_as("tiny", 0, Precision::Bf16).unwrap();
    qa.save_packed(&p16).unwrap();
    let (bert, _) = Bert::load_packed(&p16).unwrap();
    assert_eq!(bert.precision(), Precision::Bf16);
    let batch = [Sequence::new(vec![
        101, 2054, 2003, 1996, 3007, 102, 3000, 102,
    ])];
    assert_eq!(
        bert.forward(&batch).unwrap(),
        qa.bert().forward(&batch).unwrap()
    );
    // bf16 panels are BF16 tensors borrowed from the map, cache-line aligned.
    let st = bertqa::load::safetensors::SafeTensors::open(&p16).unwrap();
    let range = st.mapped_address_range();
    let mut n = 0;
    for name in st.tensors().keys().filter(|n| n.ends_with(".packed_bf16")) {
        let t = st.tensor_bf16(name).unwrap();
        assert!(t.is_mapped(), "{name} was copied");
        let p = t.data().as_ptr() as usize;
        assert!(range.contains(&p) && p.is_multiple_of(64), "{name}");
        n += 1;
    }
    assert_eq!(n, 4 * bert.config().num_hidden_layers);
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len() as f64;
    assert!(size(&p16) < size(&p32), "bf16 file is not smaller");
    // Asking for another precision than the file's is refused, naming both.
    for (path, want) in [(&p16, Precision::F32), (&p32, Precision::Bf16)] {
        let err = Bert::load_packed_with(path, &LoadOptions::with_precision(want)).unwrap_err();
        assert!(
            matches!(err, bertqa::Error::Unsupported { .. })
                && err.to_string().contains(want.name()),
            "{err}"
        );
    }
    // The file's own precision, asked for explicitly, loads.
    Bert::load_packed_with(&p16, &LoadOptions::with_precision(Precision::Bf16)).unwrap();
}

/// An int8 packed file (`bertqa convert --precision int8`): about a quarter of the fp32 panel
/// bytes, borrowed from the map, the same logits as the model it was written from; its plan is
/// kept; another plan, a corrupt column sum, are refused by name.
#[test]
fn int8_packed_file_round_trips_bit_exactly() {
    use bertqa::{LayerPlan, LoadOptions, Precision};
    let dir = TempDir::new("packed");
    let (p32, p8, p8b) = (
        dir.path().join("fp32.bqa"),
        dir.path().join("int8.bqa"),
        dir.path().join("int8-down-bf16.bqa"),
    );
    QaModel::synthetic("tiny", 0)
        .unwrap()
        .save_packed(&p32)
        .unwrap();
    let qa = QaModel::synthetic_as("tiny", 0, Precision::Int8).unwrap();
    qa.save_packed(&p8).unwrap();
    let mixed = LoadOptions {
        int8_plan: Some(LayerPlan::INT8_DOWN_BF16),
        ..LoadOptions::with_precision(Precision::Int8)
    };
    let qa_mixed = QaModel::synthetic_with("tiny", 0, &mixed).unwrap();
    qa_mixed.save_packed(&p8b).unwrap();
    let batch = [Sequence::new(vec![
        101, 2054, 2003, 1996, 3007, 102, 3000, 102,
    ])];
    for (path, model) in [(&p8, &qa), (&p8b, &qa_mixed)] {
        let (bert, _) = Bert::load_packed(path).unwrap();
        assert_eq!(
            (bert.precision(), bert.plan()),
            (Precision::Int8, model.bert().plan())
        );
        assert_eq!(
            bert.forward(&batch).unwrap(),
            model.bert().forward(&batch).unwrap()
        );
    }
    let st = bertqa::load::safetensors::SafeTensors::open(&p8).unwrap();
    let range = st.mapped_address_range();
    let names: Vec<_> = st
        .tensors()
        .keys()
        .filter(|n| n.ends_with(".packed_i8"))
        .cloned()
        .collect();
    for name in &names {
        let t = st.tensor_i8(name).unwrap();
        assert!(t.is_mapped(), "{name} was copied");
        let p = t.data().as_ptr() as usize;
        assert!(range.contains(&p) && p.is_multiple_of(64), "{name}");
    }
    assert_eq!(names.len(), 4 * qa.bert().config().num_hidden_layers);
    // A quarter of the fp32 panel bytes (tiny's k is a multiple of 4, so no padding).
    let st32 = bertqa::load::safetensors::SafeTensors::open(&p32).unwrap();
    let bytes = |st: &bertqa::load::safetensors::SafeTensors, suffix: &str| -> usize {
        st.tensors()
            .iter()
            .filter(|(n, _)| n.ends_with(suffix) && !n.starts_with("qa_outputs"))
            .map(|(_, t)| t.data_offsets.1 - t.data_offsets.0)
            .sum()
    };
    assert_eq!(4 * bytes(&st, ".packed_i8"), bytes(&st32, ".packed"));
    // Another plan than the file's is refused.
    let err = Bert::load_packed_with(&p8, &mixed).unwrap_err();
    assert!(
        matches!(err, bertqa::Error::Unsupported { .. }) && err.to_string().contains("plan"),
        "{err}"
    );
    // ... but attention's precision (no weights) may change: the file's GEMMs, the asked-for
    // attention, the same logits as the model loaded in that plan.
    for attention in [Precision::F32, Precision::Bf16] {
        let plan = LayerPlan {
            attention,
            ..qa.bert().plan()
        };
        let options = LoadOptions {
            int8_plan: Some(plan),
            ..LoadOptions::with_precision(Precision::Int8)
        };
        let (bert, _) = Bert::load_packed_with(&p8, &options).unwrap();
        assert_eq!(bert.plan(), plan);
        let fresh = Bert::synthetic_with("tiny", 0, &options).unwrap();
        assert_eq!(
            bert.forward(&batch).unwrap(),
            fresh.forward(&batch).unwrap(),
            "{plan}"
        );
    }
    // A column sum that does not match its panels is named when validating.
    let name = "encoder.layer.1.output.dense.colsum_i8";
    let t = st.tensor(name).unwrap();
    let offset = t.data().as_ptr() as usize - range.start;
    drop((t, st));
    let mut bytes = std::fs::read(&p8).unwrap();
    let v = f32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) + 1.0;
    bytes[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    let bad = dir.path().join("bad.bqa");
    std::fs::write(&bad, &bytes).unwrap();
    let strict = LoadOptions::with_precision(Precision::Int8);
    let err = Bert::load_packed_with(&bad, &strict).unwrap_err();
    assert!(err.to_string().contains(name), "{err}");
    // A fractional one is refused even without validation.
    bytes[offset..offset + 4].copy_from_slice(&(v + 0.5).to_le_bytes());
    std::fs::write(&bad, &bytes).unwrap();
    let err = Bert::load_packed(&bad).unwrap_err();
    assert!(err.to_string().contains(name), "{err}");
}

/// A NaN in a bf16 packed file's panels is reported with the tensor's name when values are
/// validated (the CLI validates checkpoints; a library user may validate a packed file).
#[test]
fn nan_in_bf16_panels_is_named() {
    use bertqa::{LoadOptions, Precision};
    let dir = TempDir::new("packed");
    let path = dir.path().join("bf16.bqa");
    QaModel::synthetic_as("tiny", 0, Precision::Bf16)
        .unwrap()
        .save_packed(&path)
        .unwrap();
    let st = bertqa::load::safetensors::SafeTensors::open(&path).unwrap();
    let name = "encoder.layer.1.intermediate.dense.packed_bf16";
    let t = st.tensor_bf16(name).unwrap();
    let offset = t.data().as_ptr() as usize - st.mapped_address_range().start;
    drop((t, st));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset + 20..offset + 22].copy_from_slice(&0x7FC0u16.to_le_bytes()); // element 10: NaN
    std::fs::write(&path, &bytes).unwrap();
    let err =
        Bert::load_packed_with(&path, &LoadOptions::with_precision(Precision::Bf16)).unwrap_err();
    assert!(
        matches!(&err, bertqa::Error::NonFinite { name: n, index: 10 } if n == name),
        "{err}"
    );
    // Without validation the file maps as it is (no pass over the values).
    Bert::load_packed(&path).unwrap();
}

/// A BF16 safetensors checkpoint loaded in bf16 packs its weights straight from the bf16 bits:
/// the same model, bit for bit, as the widened values stored as F32 and loaded in bf16.
#[test]
fn bf16_checkpoint_loads_without_fp32() {
    use bertqa::load::safetensors::{write_views, SafeTensors, View};
    use bertqa::{LoadOptions, Precision};
    let dir = TempDir::new("packed");
    let (d32, d16) = (dir.path().join("f32"), dir.path().join("bf16"));
    bertqa::tools::synthetic::write_model_dir(&d32, "tiny", 3).unwrap();
    std::fs::create_dir_all(&d16).unwrap();
    std::fs::copy(d32.join("config.json"), d16.join("config.json")).unwrap();
    // The same tensors as BF16 bits (round to nearest even), and their widened values as F32.
    let st = SafeTensors::open(&d32.join("model.safetensors")).unwrap();
    let mut names: Vec<String> = st.tensors().keys().cloned().collect();
    names.sort();
    let tensors: Vec<(Vec<usize>, Vec<u16>)> = names
        .iter()
        .map(|n| {
            let t = st.tensor(n).unwrap();
            let bits = t
                .data()
                .iter()
                .map(|&v| half::bf16::from_f32(v).to_bits())
                .collect();
            (t.shape().to_vec(), bits)
        })
        .collect();
    let widened: Vec<Vec<f32>> = tensors
        .iter()
        .map(|(_, b)| {
            b.iter()
                .map(|&x| half::bf16::from_bits(x).to_f32())
                .collect()
        })
        .collect();
    let write = |path: &std::path::Path, bf16: bool| {
        let views: Vec<(&str, &[usize], View)> = names
            .iter()
            .zip(&tensors)
            .zip(&widened)
            .map(|((n, (shape, bits)), w)| {
                let v = if bf16 { View::Bf16(bits) } else { View::F32(w) };
                (n.as_str(), shape.as_slice(), v)
            })
            .collect();
        let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        write_views(f, &views, &Default::default(), 8).unwrap();
    };
    write(&d16.join("model.safetensors"), true);
    write(&d32.join("model.safetensors"), false);
    let opts = LoadOptions::with_precision(Precision::Bf16);
    let (a, b) = (
        Bert::load(&d16, &opts).unwrap(),
        Bert::load(&d32, &opts).unwrap(),
    );
    let batch = [Sequence::new(vec![
        101, 2054, 2003, 1996, 3007, 102, 3000, 102,
    ])];
    assert_eq!(a.forward(&batch).unwrap(), b.forward(&batch).unwrap());
    // And fp32 from the BF16 file works too (widened at load).
    Bert::load(&d16, &LoadOptions::default()).unwrap();
}

/// Files written before packed files recorded the tokenizer's settings (no `tokenizer`
/// metadata) load uncased, as every model did then — unless their vocabulary holds
/// upper-case tokens, which is refused rather than guessed.
#[test]
fn files_without_tokenizer_settings() {
    use bertqa::tokenizer::{Tokenizer, Vocab};
    use bertqa::Error;
    let dir = TempDir::new("packed-old");
    let bert = Bert::synthetic("tiny", 0).unwrap();
    // Blank out the `tokenizer` entry of the header with spaces (same length: offsets stay).
    let without_settings = |tokenizer: &Tokenizer, path: &std::path::Path| {
        bert.save_packed(path, Some(tokenizer)).unwrap();
        let mut bytes = std::fs::read(path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
        let key = ",\"tokenizer\":\"";
        let start = header.find(key).expect("the writer records the settings");
        // The value is a JSON object in a string: it ends at the first `}"`.
        let end = start + key.len() + header[start + key.len()..].find("}\"").unwrap() + 2;
        for b in &mut bytes[8 + start..8 + end] {
            *b = b' ';
        }
        std::fs::write(path, bytes).unwrap();
    };
    let uncased = Tokenizer::new(Vocab::from_text(bertqa::qa::UNCASED_VOCAB).unwrap());
    let path = dir.path().join("old-uncased.bqa");
    without_settings(&uncased, &path);
    let (_, t) = Bert::load_packed(&path).unwrap();
    assert_eq!(t.unwrap().settings(), TokenizerSettings::UNCASED);

    let cased_vocab = bertqa::qa::UNCASED_VOCAB.replacen("[unused1]\n", "Ada\n", 1);
    let cased = Tokenizer::with_settings(
        Vocab::from_text(&cased_vocab).unwrap(),
        TokenizerSettings::CASED,
    );
    let path = dir.path().join("old-cased.bqa");
    without_settings(&cased, &path);
    match Bert::load_packed(&path) {
        Err(Error::TokenizerSettings { field, message, .. }) => {
            assert_eq!(field, "tokenizer");
            assert!(message.contains("\"Ada\""), "{message}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    let options = bertqa::LoadOptions {
        tokenizer: Some(TokenizerSettings::CASED),
        ..Default::default()
    };
    let (_, t) = Bert::load_packed_with(&path, &options).unwrap();
    assert_eq!(t.unwrap().settings(), TokenizerSettings::CASED);
}

/// The int8 weights' bits (`--int8-weight-bits`): a checkpoint packs to the bits asked for (by
/// default the CPU's int8 path's), a packed file records them (`int8_weight_levels`) and keeps
/// them — a file without the record is 8-bit, a bad record or panels beyond it are refused by
/// name, and other bits than the file's are refused.
#[test]
fn int8_weight_bits_are_recorded_and_kept() {
    use bertqa::{LoadOptions, Precision};
    let dir = TempDir::new("packed-bits");
    let batch = [Sequence::new(vec![
        101, 2054, 2003, 1996, 3007, 102, 3000, 102,
    ])];
    let options = |bits| LoadOptions {
        int8_weight_bits: Some(bits),
        ..LoadOptions::with_precision(Precision::Int8)
    };
    let key = |levels: &str| format!("\"int8_weight_levels\":\"{levels}\"");
    let mut files = Vec::new();
    for (bits, levels) in [(7u8, 63u8), (8, 127)] {
        let qa = QaModel::synthetic_with("tiny", 0, &options(bits)).unwrap();
        assert_eq!(qa.bert().int8_weight_levels(), Some(levels));
        assert!(
            qa.bert()
                .kernels_description()
                .contains(&format!("{bits}-bit weights")),
            "{}",
            qa.bert().kernels_description()
        );
        let path = dir.path().join(format!("int8-{bits}.bqa"));
        qa.save_packed(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header = String::from_utf8_lossy(&bytes[..4096.min(bytes.len())]).to_string();
        assert!(header.contains(&key(&levels.to_string())), "{header}");
        let (bert, _) = Bert::load_packed(&path).unwrap();
        assert_eq!(bert.int8_weight_levels(), Some(levels));
        assert_eq!(
            bert.forward(&batch).unwrap(),
            qa.bert().forward(&batch).unwrap()
        );
        // The same bits asked for load; the other bits are refused.
        Bert::load_packed_with(&path, &options(bits)).unwrap();
        let other = 15 - bits;
        let err = Bert::load_packed_with(&path, &options(other)).unwrap_err();
        assert!(
            matches!(err, bertqa::Error::Unsupported { .. })
                && err
                    .to_string()
                    .contains(&format!("--int8-weight-bits {other}")),
            "{err}"
        );
        files.push((path, bytes, qa));
    }
    // 7-bit weights are not 8-bit ones.
    assert_ne!(
        files[0].2.bert().forward(&batch).unwrap(),
        files[1].2.bert().forward(&batch).unwrap()
    );
    // Same-length edits of the header (the data offsets stay): a file written before the
    // record is read as 8-bit; a record that is not 1..=127 is a format error; panels beyond
    // their record are named when validating.
    let edit = |bytes: &[u8], from: &str, to: &str| -> std::path::PathBuf {
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .expect("header key");
        let mut out = bytes.to_vec();
        out[at..at + to.len()].copy_from_slice(to.as_bytes());
        let p = dir.path().join("edited.bqa");
        std::fs::write(&p, out).unwrap();
        p
    };
    let (_, bytes8, qa8) = &files[1];
    let old = edit(bytes8, &key("127"), "\"int8_weight_levelz\":\"127\"");
    let (bert, _) = Bert::load_packed(&old).unwrap();
    assert_eq!(bert.int8_weight_levels(), Some(127));
    assert_eq!(
        bert.forward(&batch).unwrap(),
        qa8.bert().forward(&batch).unwrap()
    );
    let bad = edit(bytes8, &key("127"), &key("12x"));
    let err = Bert::load_packed(&bad).unwrap_err();
    assert!(
        matches!(err, bertqa::Error::Format { .. })
            && err.to_string().contains("int8_weight_levels"),
        "{err}"
    );
    let low = edit(bytes8, &key("127"), &key("063"));
    let strict = LoadOptions::with_precision(Precision::Int8);
    let err = Bert::load_packed_with(&low, &strict).unwrap_err();
    assert!(
        err.to_string().contains("beyond the ±63 the file records"),
        "{err}"
    );
}
