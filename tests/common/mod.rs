//! Helpers shared by the integration tests: fixtures, tolerances, temporary directories.
#![allow(dead_code)]

use bertqa::Sequence;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tolerances, as |x − ref| ≤ ATOL + RTOL·|ref|.
pub mod tol {
    /// Logits of the tiny and base synthetic models vs PyTorch fp32. Both sides compute in fp32
    /// with different summation orders; the observed drift is ~1e-6, so 1e-4 leaves room for
    /// other summation orders (threads, ISA) while still catching any real mistake, which moves
    /// logits by 1e-2 or more.
    pub const LOGITS_SMALL: f32 = 1e-4;
    /// BERT-large-shape logits: 24 layers and k up to 4096 accumulate more rounding.
    pub const LOGITS_LARGE: f32 = 5e-4;
    /// |Δlogit| of the bf16 GEMMs on the full BERT-large shape at 384 tokens vs PyTorch fp32
    /// Measured 2.5e-2 (docs/numerics.md); OpenVINO bf16 gives 4.3e-2 on the same weights.
    #[allow(dead_code)]
    pub const LOGITS_LARGE_BF16: f32 = 3e-2;
    /// |Δlogit| of the default int8 plan on the full BERT-large shape vs PyTorch fp32: measured
    /// 1.04e-1 (docs/numerics.md), what 8-bit steps on both operands cost through 24 layers
    /// (each GEMM's relative error ≈ 0.55 %, 3.4× bf16's); 0.15 leaves room for other
    /// summation orders of the fp32 parts while a wrong scale or zero point moves logits by 1+.
    #[allow(dead_code)]
    pub const LOGITS_LARGE_INT8: f32 = 0.15;
    /// Hidden states (magnitude up to ~10 after LayerNorm with trained γ) of the real MiniLM.
    pub const HIDDEN_ATOL: f32 = 1e-4;
    /// Relative part for hidden states.
    pub const HIDDEN_RTOL: f32 = 1e-4;
}

pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The case called `name` in a fixture's `cases`.
pub fn case<'a>(fx: &'a Value, name: &str) -> &'a Value {
    fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("fixture has no case {name:?}"))
}

pub fn u32_rows(v: &Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

pub fn f32_rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

/// The sequences of a fixture case, as given (padding included).
pub fn sequences(case: &Value) -> Vec<Sequence> {
    let ids = u32_rows(&case["input_ids"]);
    let mask = u32_rows(&case["attention_mask"]);
    let types = u32_rows(&case["token_type_ids"]);
    ids.into_iter()
        .zip(mask)
        .zip(types)
        .map(|((input_ids, attention_mask), token_type_ids)| Sequence {
            input_ids,
            attention_mask,
            token_type_ids,
        })
        .collect()
}

/// Asserts |got − want| ≤ atol + rtol·|want| everywhere; on failure reports max-abs and NMSE.
// Negated comparisons on purpose: a NaN anywhere must fail the check.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut max_abs = 0.0f32;
    let mut worst = None;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        num += (d as f64).powi(2);
        den += (w as f64).powi(2);
        if !(d <= atol + rtol * w.abs()) && worst.is_none() {
            worst = Some((i, g, w));
        }
        if !(d <= max_abs) {
            max_abs = d;
        }
    }
    if let Some((i, g, w)) = worst {
        panic!(
            "{what}: element {i} is {g}, reference {w}; max |Δ| = {max_abs:e}, NMSE = {:e} (atol {atol:e}, rtol {rtol:e})",
            num / den.max(f64::MIN_POSITIVE)
        );
    }
    max_abs
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("bertqa-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks every case of a synthetic fixture; returns the largest |Δlogit| seen.
pub fn check_cases(model: &bertqa::Bert, fx: &Value, tolerance: f32) -> f32 {
    let mut worst = 0.0f32;
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let seqs = sequences(case);
        let out = model.forward(&seqs).unwrap();
        let want_s = f32_rows(&case["start_logits"]);
        let want_e = f32_rows(&case["end_logits"]);
        for (i, s) in seqs.iter().enumerate() {
            assert_eq!(out.start_logits[i].len(), s.input_ids.len());
            let a = assert_close(
                &format!("{name}[{i}] start"),
                &out.start_logits[i],
                &want_s[i],
                tolerance,
                0.0,
            );
            let b = assert_close(
                &format!("{name}[{i}] end"),
                &out.end_logits[i],
                &want_e[i],
                tolerance,
                0.0,
            );
            worst = worst.max(a).max(b);
        }
        eprintln!("{} {name}: max |Δlogit| so far {worst:e}", fx["preset"]);
    }
    worst
}

pub fn check_pinned_bits(fx: &Value) {
    let seed = fx["seed"].as_u64().unwrap();
    for (name, bits) in fx["pinned_bits"].as_object().unwrap() {
        let want: Vec<u32> = bits
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        let got: Vec<u32> = bertqa::tools::synthetic::tensor_values(seed, name, want.len())
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(
            got, want,
            "synthetic generator disagrees with weights/synthetic.py on {name}"
        );
    }
}

/// The intermediate hidden states a fixture records (after layer 0, the last), within
/// 1e-4 + 1e-4·|x|.
pub fn check_hidden_states(model: &bertqa::Bert, fx: &Value) {
    for case in fx["cases"].as_array().unwrap() {
        if case.get("last_hidden_state").is_none() {
            continue;
        }
        let seqs = sequences(case);
        let l0 = model.encode_partial(&seqs, 1).unwrap();
        let last = model.encode(&seqs).unwrap();
        for (i, (want0, want)) in f32_rows(&case["hidden_after_layer0"])
            .iter()
            .zip(f32_rows(&case["last_hidden_state"]))
            .enumerate()
        {
            assert_close("hidden after layer 0", &l0[i], want0, 1e-4, 1e-4);
            assert_close("last hidden state", &last[i], &want, 1e-4, 1e-4);
        }
    }
}

/// `$name` as an existing path (the real QA model, a SQuAD dev set: .ci/run points them at
/// ../shared), or `None` after a loud notice — a failure under CI (`CI` set).
pub fn env_path(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.exists());
    if found.is_none() {
        let msg = format!(
            "SKIPPED {test}: {name} is not set to an existing path (.ci/run sets it to a file \
             or directory of ../shared)"
        );
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        assert!(
            std::env::var_os("CI").is_none(),
            "{msg} (a failure under CI)"
        );
    }
    found
}

/// A file of `tests/fixtures/squad`.
pub fn squad_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/squad")
        .join(name)
}

/// Runs `test` of this test binary again in a child process for each int8 path this CPU has
/// besides the one it runs by default (each ISA level's own, through `BERTQA_ISA`; the scalar
/// path left out: minutes at real shapes, and its integers are the SIMD paths', checked bit
/// for bit in `kernels/tests/int8.rs`); asserts each child passed and echoes the lines of its
/// output that start with `echo`. Does nothing in a child, or in a run pinned to one level
/// (`BERTQA_ISA` set: that level's path is the one the plain test covers). Returns the
/// kernels the test ran on, the default first.
#[allow(dead_code)]
pub fn run_on_every_int8_path(test: &str, echo: &str) -> Vec<&'static str> {
    use bertqa_kernels::{dispatch::Isa, I8Path};
    if std::env::var_os("BERTQA_ISA").is_some() {
        return Vec::new();
    }
    let exe = std::env::current_exe().unwrap();
    let mut seen = vec![I8Path::current()];
    for level in Isa::supported() {
        let path = I8Path::for_isa(level);
        if seen.contains(&path) || path.oracle() == path {
            continue;
        }
        seen.push(path);
        let out = std::process::Command::new(&exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env("BERTQA_ISA", level.name())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{test}, BERTQA_ISA={level} ({path:?}): {text}"
        );
        assert!(
            text.contains("1 passed"),
            "{test}, BERTQA_ISA={level}: ran no test: {text}"
        );
        for line in text.lines().filter(|l| l.starts_with(echo)) {
            eprintln!("{} ({level}): {line}", path.kernel_name());
        }
    }
    let kernels: Vec<_> = seen.iter().map(|p| p.kernel_name()).collect();
    eprintln!("{test} ran on the int8 paths {kernels:?}");
    kernels
}
