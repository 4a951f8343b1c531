//! End-to-end forward pass and question answering (criterion).
//!
//! `cargo bench --bench forward` — synthetic weights (`bertqa::tools::synthetic`), a warm workspace,
//! the machine's default thread count. Throughput is in FLOP (see `bertqa bench --help` for the
//! formula), so criterion prints GFLOP/s. BERT-large at 384 tokens takes about a second per
//! iteration: this bench needs minutes, and `bertqa bench` is the quicker tool for one number.

use bertqa::model::Workspace;
use bertqa::{Bert, QaLogits, QaModel, QaOptions, Sequence};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

fn sequence(n: usize) -> Sequence {
    let mut ids: Vec<u32> = (0..n).map(|i| 1000 + (i as u32 * 7919) % 20_000).collect();
    ids[0] = 101;
    ids[n - 1] = 102;
    ids[17.min(n - 1)] = 102;
    Sequence {
        attention_mask: vec![1; n],
        token_type_ids: (0..n).map(|i| u32::from(i > 17)).collect(),
        input_ids: ids,
    }
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    for (preset, lens) in [("base", &[128usize, 384][..]), ("large", &[128, 384][..])] {
        let model = Bert::synthetic(preset, 0).unwrap();
        let mut ws = Workspace::new();
        let mut out = QaLogits::default();
        for &n in lens {
            let batch = [sequence(n)];
            group.throughput(Throughput::Elements(model.config().forward_flop(n) as u64));
            group.bench_with_input(
                BenchmarkId::new(preset, format!("seq{n}")),
                &batch,
                |b, batch| b.iter(|| model.forward_into(batch, &mut ws, &mut out).unwrap()),
            );
        }
    }
    group.finish();
}

fn answer(c: &mut Criterion) {
    let mut group = c.benchmark_group("answer");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let model = QaModel::synthetic("base", 0).unwrap();
    let context =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/context.txt"))
            .unwrap();
    let o = QaOptions::default();
    group.bench_function("base/context.txt", |b| {
        b.iter(|| {
            model
                .answer("Who published the first algorithm?", &context, &o)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, forward, answer);
criterion_main!(benches);
