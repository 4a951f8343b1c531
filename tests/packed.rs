//! The packed-weights file (`bertqa convert`): same logits and answers, no packing and no copy
//! at load, and a clear error for files that are not packed-weights files.

mod common;

use bertqa::{Bert, QaModel, QaOptions, Sequence};
use common::TempDir;

#[test]
fn packed_file_round_trips_bit_exactly() {
    let dir = TempDir::new("packed");
    let path = dir.path().join("tiny.bqa");
    let qa = QaModel::synthetic("tiny", 0).unwrap();
    qa.save_packed(&path).unwrap();

    let (bert, vocab) = Bert::load_packed(&path).unwrap();
    assert_eq!(vocab.as_deref(), Some(bertqa::qa::UNCASED_VOCAB));
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
    let st = bertqa::safetensors::SafeTensors::open(&path).unwrap();
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
    bertqa::safetensors::write(&path, &bertqa::synthetic::tensors(&c, 0)).unwrap();
    let err = Bert::load_packed(&path).unwrap_err();
    assert!(
        err.to_string().contains("not a bertqa packed-weights file"),
        "{err}"
    );
}
