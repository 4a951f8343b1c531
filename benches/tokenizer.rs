//! Tokenizer throughput (bytes of input per second, one thread).
//!
//! `cargo bench --bench tokenizer` — the inputs are the English prose of the golden tokenizer
//! fixture (about 35 varied sentences, at most 2% non-ASCII, repeated to 1 MiB) and, for contrast, its accented and
//! CJK/other-script strings.

use std::path::Path;

use bertqa::tokenizer::{Encoding, Tokenizer};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn fixture_texts(group_prefix: &[&str]) -> Vec<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_reference.jsonl");
    let text = std::fs::read_to_string(path).expect("fixture readable");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let name = v["name"].as_str()?;
            group_prefix
                .iter()
                .any(|p| name.starts_with(p))
                .then(|| v["text"].as_str().expect("text").to_owned())
        })
        .collect()
}

/// The English sentences: the prose group also holds Greek, Cyrillic and Turkish lines.
fn english(texts: Vec<String>) -> Vec<String> {
    texts
        .into_iter()
        .filter(|t| t.chars().filter(|c| !c.is_ascii()).count() * 50 <= t.chars().count())
        .collect()
}

/// Joins `texts` with spaces, repeated until at least `size` bytes.
fn corpus(texts: &[String], size: usize) -> String {
    let mut out = String::with_capacity(size + 4096);
    while out.len() < size {
        for t in texts {
            out.push_str(t);
            out.push(' ');
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let tokenizer =
        Tokenizer::from_file(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/vocab.txt"))
            .expect("vocab loads");
    let inputs = [
        (
            "english_prose",
            corpus(&english(fixture_texts(&["prose/"])), 1 << 20),
        ),
        (
            "accents_and_scripts",
            corpus(&fixture_texts(&["accents/", "scripts/"]), 1 << 20),
        ),
    ];
    let mut group = c.benchmark_group("tokenize");
    for (name, text) in &inputs {
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut enc = Encoding::default();
        group.bench_function(format!("encode_into/{name}"), |b| {
            b.iter(|| {
                tokenizer.encode_into(black_box(text), &mut enc);
                black_box(enc.ids.len())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
