//! Memory stays bounded under extreme input and concurrent bursts. In its own test binary, its
//! tests serialised, so that nothing else allocates beside the RSS readings.

use bertqa::{Error, QaModel, QaOptions};

/// The tests of this binary take turns: each reads the process's RSS.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Resident set size of this process, in bytes (Linux; 0 elsewhere). `VmRSS` is in kB whatever
/// the page size (4 KiB on x86-64; 16 or 64 KiB on some ARM kernels).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        })
        .map_or(0, |kb| kb << 10)
}

fn prose(bytes: usize) -> String {
    let words = [
        "the",
        "river",
        "Zürich",
        "1843,",
        "algorithm",
        "—",
        "東京",
        "naïve",
        "(see",
        "below).",
        "👩‍💻",
        "It's",
    ];
    let mut s = String::with_capacity(bytes + 16);
    let mut i = 0usize;
    while s.len() < bytes {
        s.push_str(words[(i * 7 + i / 3) % words.len()]);
        s.push(if i % 17 == 16 { '\n' } else { ' ' });
        i += 1;
    }
    s
}

/// Memory: a 5 MB context is refused by the window cap before any model work; a 300 KB context
/// with the cap raised is answered in bounded batches; 1,000 requests do not grow the heap.
#[test]
fn memory_stays_bounded() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let model = QaModel::synthetic("tiny", 0).unwrap();
    let o = QaOptions::default();

    let huge = prose(5 << 20);
    let before = rss_bytes();
    match model.answer("Where is the river?", &huge, &o) {
        Err(Error::Input { message, .. }) => assert!(message.contains("max_windows"), "{message}"),
        other => panic!("expected the window cap, got {other:?}"),
    }
    let grew = rss_bytes().saturating_sub(before);
    // Tokens of 5 MB (~1.3 M tokens × 36 bytes ≈ 50 MB) at most, never windows × activations.
    assert!(
        grew < 200 << 20,
        "a refused 5 MB request grew RSS by {} MB",
        grew >> 20
    );
    drop(huge);

    let big = prose(300 << 10);
    let capped = QaOptions {
        max_windows: 100_000,
        ..QaOptions::default()
    };
    let before = rss_bytes();
    let a = model.answer("Where is the river?", &big, &capped).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(&big[a[0].byte_start..a[0].byte_end], a[0].text);
    let grew = rss_bytes().saturating_sub(before);
    assert!(
        grew < 100 << 20,
        "a 300 KB context grew RSS by {} MB",
        grew >> 20
    );

    let ctx = prose(2000);
    for _ in 0..100 {
        model.answer("What?", &ctx, &o).unwrap();
    }
    let warm = rss_bytes();
    for i in 0..1000 {
        let q = format!("What happened in {}?", 1800 + i % 100);
        model.answer(&q, &ctx, &o).unwrap();
    }
    let grew = rss_bytes().saturating_sub(warm);
    assert!(
        grew < 4 << 20,
        "1,000 requests grew RSS by {} KB",
        grew >> 10
    );
}

/// A burst of concurrent requests on one shared model multiplies activations (one workspace per
/// concurrent caller), never the weights: base-size weights are ~440 MB, eight concurrent
/// 384-token requests need ~20 MB of activations each.
#[test]
fn concurrent_burst_does_not_copy_weights() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let model = std::sync::Arc::new(QaModel::synthetic("base", 0).unwrap());
    let ctx = prose(1500);
    model.answer("Where?", &ctx, &QaOptions::default()).unwrap();
    let before = rss_bytes();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (model, ctx) = (std::sync::Arc::clone(&model), ctx.clone());
            std::thread::spawn(move || {
                let q = format!("What happened in {}?", 1840 + i);
                model.answer(&q, &ctx, &QaOptions::default()).unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().len(), 1);
    }
    let grew = rss_bytes().saturating_sub(before);
    assert!(
        grew < 250 << 20,
        "a burst of 8 requests grew RSS by {} MB",
        grew >> 20
    );
}
