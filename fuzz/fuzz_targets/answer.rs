//! Arbitrary question and context through the whole answer path on the tiny synthetic model:
//! answers are char-boundary slices of the context, or the error is a typed input error.
#![no_main]
use bertqa::{Error, QaModel, QaOptions};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn model() -> &'static QaModel {
    static M: OnceLock<QaModel> = OnceLock::new();
    M.get_or_init(|| QaModel::synthetic("tiny", 0).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // First line: the question; the rest: the context. Small windows exercise the window logic.
    let (q, c) = text.split_once('\n').unwrap_or((text, ""));
    let o = QaOptions { max_seq_length: 48, doc_stride: 8, top_k: 3, ..QaOptions::default() };
    match model().answer(q, c, &o) {
        Ok(answers) => {
            for a in answers {
                assert_eq!(&c[a.byte_start..a.byte_end], a.text);
                assert!(a.probability >= 0.0 && a.probability <= 1.0 + 1e-6);
            }
        }
        Err(Error::Input { .. }) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
});
