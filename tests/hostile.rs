//! Hostile and extreme input: huge contexts, long questions, odd bytes, random headers. Each case
//! gives an answer or a typed error, never a panic, and memory stays bounded.

use bertqa::{Error, QaModel, QaOptions};

/// A tiny deterministic PRNG (SplitMix64) for the property tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn odd_text_is_answered_or_refused_cleanly() {
    for precision in bertqa::Precision::ALL {
        odd_text(&QaModel::synthetic_as("tiny", 0, precision).unwrap());
    }
}

fn odd_text(model: &QaModel) {
    let o = QaOptions {
        top_k: 3,
        ..QaOptions::default()
    };
    let cases = [
        ("wh\0at?", "te\0xt with NUL\0 bytes inside."),
        (
            "?",
            "\u{feff}BOM, zero\u{200b}width, soft\u{ad}hyphen, RTL \u{202e}text\u{202c}.",
        ),
        (
            "what",
            "e\u{301}\u{301}\u{301} combining marks \u{fdfd} ligatures ﬁ ß İ",
        ),
        (
            "[SEP] [CLS]",
            "[SEP] literal [CLS] special [PAD] tokens [MASK] [UNK]",
        ),
        ("who", "☃☄★ ⚡⚡ 🂡🂱"),
    ];
    for (q, c) in cases {
        let answers = model.answer(q, c, &o).unwrap();
        for a in answers {
            assert_eq!(&c[a.byte_start..a.byte_end], a.text);
            assert!(c.chars().count() >= a.end);
        }
    }
}

/// Random strings through the whole answer path: never a panic; every answer is a char-boundary
/// slice of the context with consistent byte and character offsets.
#[test]
fn random_text_never_panics() {
    for precision in bertqa::Precision::ALL {
        random_text(&QaModel::synthetic_as("tiny", 0, precision).unwrap());
    }
}

fn random_text(model: &QaModel) {
    let pool: Vec<char> = "aZ09 \t\n.,;!?'\"-()[]#éüßİ\u{301}\u{0}\u{7f}\u{ad}東京한국어العربية👩\u{200d}💻\u{fffd}\u{2028}"
        .chars()
        .collect();
    let mut rng = Rng(7);
    let o = QaOptions {
        max_seq_length: 64,
        doc_stride: 16,
        top_k: 3,
        ..QaOptions::default()
    };
    for _ in 0..300 {
        let mut text = |n: usize| {
            (0..rng.below(n))
                .map(|_| pool[rng.below(pool.len())])
                .collect::<String>()
        };
        let (q, c) = (text(30), text(400));
        match model.answer(&q, &c, &o) {
            Ok(answers) => {
                for a in answers {
                    assert!(c.is_char_boundary(a.byte_start) && c.is_char_boundary(a.byte_end));
                    assert_eq!(&c[a.byte_start..a.byte_end], a.text);
                    assert_eq!(c[..a.byte_start].chars().count(), a.start);
                    assert_eq!(c[..a.byte_end].chars().count(), a.end);
                }
            }
            Err(Error::Input { .. }) => {}
            Err(e) => panic!("unexpected error {e:?} for {q:?} / {c:?}"),
        }
    }
}

/// Random and mutated safetensors headers: a typed error or a valid file, never a panic.
#[test]
fn random_safetensors_headers_never_panic() {
    let dir = std::env::temp_dir().join(format!("bertqa-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.safetensors");
    let good = {
        let mut v = Vec::new();
        let t = bertqa::load::safetensors::Tensor::from_vec(vec![2, 3], vec![1.0; 6]);
        bertqa::load::safetensors::write_to(&mut v, &[("a".into(), t.clone()), ("b".into(), t)])
            .unwrap();
        v
    };
    let mut rng = Rng(11);
    for i in 0..500 {
        let mut bytes = good.clone();
        match i % 3 {
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next() as u8;
                }
            }
            1 => bytes.truncate(rng.below(bytes.len())),
            _ => {
                let at = 8 + rng.below(bytes.len() - 8);
                let junk = b"{}[]\":,0123456789-eE.\\u00 ";
                for j in 0..rng.below(6) {
                    if at + j < bytes.len() {
                        bytes[at + j] = junk[rng.below(junk.len())];
                    }
                }
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(st) = bertqa::load::safetensors::SafeTensors::open(&path) {
            for name in st.tensors().keys() {
                let _ = st.tensor(name).map(|t| t.data().iter().sum::<f32>());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
