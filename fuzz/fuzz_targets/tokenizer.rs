//! Arbitrary (valid UTF-8) text through the tokenizer: never a panic; offsets in bounds, on char
//! boundaries, non-decreasing, and byte and character offsets agreeing.
#![no_main]
use bertqa::tokenizer::{Tokenizer, Vocab};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::new(Vocab::from_text(bertqa::qa::UNCASED_VOCAB).unwrap()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let enc = tokenizer().encode(text);
    let mut last = 0;
    for (&(bs, be), &(cs, ce)) in enc.byte_offsets.iter().zip(&enc.char_offsets) {
        assert!(bs < be && be <= text.len() && bs >= last);
        assert!(text.is_char_boundary(bs) && text.is_char_boundary(be));
        assert_eq!(text[..bs].chars().count(), cs);
        assert_eq!(text[..be].chars().count(), ce);
        last = bs;
    }
});
