//! Passes at once: from several threads, from inside rayon workers (a caller's `par_iter`, a
//! caller's own pool), nested in one another. Each gets the answers it gets alone, and nothing
//! deadlocks (every scenario runs under a 120 s watchdog).

use bertqa::{Answers, QaModel, QaOptions};
use rayon::prelude::*;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

fn cases() -> Vec<(String, String)> {
    let long = "The cat sat on the mat while the dog slept by the door. ".repeat(30);
    vec![
        (
            "Who wrote it?".into(),
            "The book was written by Ada Lovelace in 1843.".into(),
        ),
        (
            "Where is the tower?".into(),
            "The Eiffel Tower stands in Paris, on the Champ de Mars.".into(),
        ),
        ("Who slept?".into(), long.clone()),
        ("What did the cat do?".into(), long),
    ]
}

/// Runs `f` on its own thread; fails the test if it has not finished in 120 s.
fn within_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{what}: not finished after 120 s (deadlock?)"))
}

fn answer_all(model: &QaModel, cases: &[(String, String)]) -> Vec<Answers> {
    let o = QaOptions {
        top_k: 3,
        max_seq_length: 64,
        doc_stride: 32,
        ..QaOptions::default()
    };
    cases
        .iter()
        .map(|(q, c)| model.answer(q, c, &o).unwrap())
        .collect()
}

#[test]
fn concurrent_and_nested_passes_answer_as_alone() {
    let model = Arc::new(QaModel::synthetic("tiny", 0).unwrap());
    let cases = Arc::new(cases());
    let alone = Arc::new(answer_all(&model, &cases));

    // Several threads at once, each many passes.
    let (m, c, a) = (Arc::clone(&model), Arc::clone(&cases), Arc::clone(&alone));
    within_watchdog("threads", move || {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (m, c) = (Arc::clone(&m), Arc::clone(&c));
                std::thread::spawn(move || (0..5).map(|_| answer_all(&m, &c)).collect::<Vec<_>>())
            })
            .collect();
        for h in handles {
            for got in h.join().unwrap() {
                assert_eq!(got, *a);
            }
        }
    });

    // From inside rayon workers of the global pool: every request a task of the caller's
    // par_iter, the passes' own operations on the same pool.
    let (m, c, a) = (Arc::clone(&model), Arc::clone(&cases), Arc::clone(&alone));
    within_watchdog("par_iter", move || {
        let got: Vec<Vec<Answers>> = (0..8).into_par_iter().map(|_| answer_all(&m, &c)).collect();
        for g in got {
            assert_eq!(g, *a);
        }
    });

    // From a caller's own pool, with passes on other threads at the same time.
    let (m, c, a) = (Arc::clone(&model), Arc::clone(&cases), Arc::clone(&alone));
    within_watchdog("own pool", move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let side = {
            let (m, c) = (Arc::clone(&m), Arc::clone(&c));
            std::thread::spawn(move || answer_all(&m, &c))
        };
        let got = pool.install(|| {
            (0..6)
                .into_par_iter()
                .map(|_| answer_all(&m, &c))
                .collect::<Vec<_>>()
        });
        for g in got {
            assert_eq!(g, *a);
        }
        assert_eq!(side.join().unwrap(), *a);
    });

    // Nested: a pass's caller is itself inside a task that another thread's pass waits on.
    let (m, c, a) = (Arc::clone(&model), Arc::clone(&cases), Arc::clone(&alone));
    within_watchdog("nested", move || {
        let (x, y) = rayon::join(
            || answer_all(&m, &c),
            || rayon::join(|| answer_all(&m, &c), || answer_all(&m, &c)),
        );
        assert_eq!(x, *a);
        assert_eq!(y.0, *a);
        assert_eq!(y.1, *a);
    });
}
