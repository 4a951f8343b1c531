#!/usr/bin/env bash
# bertqa side by side with PyTorch, ONNX Runtime, OpenVINO and candle on this CPU (not part of CI).
#
#   benches/peers/run.sh [peers.py options, e.g. --rounds 5 --seqs 384,128]
#
# 1. a virtual environment, benches/peers/.venv, with the pinned packages of requirements.txt
#    (PEERS_VENV=/path/to/venv reuses an existing one as it is; PEERS_INSTALL=1 also installs the
#    pins into it);
# 2. `cargo build --release` (bertqa) and the candle peer (benches/peers/candle, its own workspace;
#    its target dir is CANDLE_TARGET_DIR, default target/peers/candle-target; PEERS_SKIP_CANDLE=1
#    skips it; if it fails to build, the run goes on without it);
# 3. the synthetic BERT QA checkpoint (weights/synthetic.py, PEERS_PRESET, default large) in
#    Hugging Face layout under PEERS_CACHE (default target/peers);
# 4. peers.py: ONNX export, round-robin timing, logits check; results in $PEERS_CACHE/results.json
#    and a markdown table on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${PEERS_CACHE:-$ROOT/target/peers}
PRESET=${PEERS_PRESET:-large}
THREADS=${PEERS_THREADS:-2}
mkdir -p "$CACHE"
say() { echo "[run.sh] $*" >&2; }

# 1. Python environment
if [ -n "${PEERS_VENV:-}" ]; then
  VENV=$PEERS_VENV
  say "reusing virtual environment $VENV"
  if [ "${PEERS_INSTALL:-0}" = 1 ]; then "$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt"; fi
else
  VENV=$HERE/.venv
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt"
fi
PY=$VENV/bin/python
"$PY" -c "import torch, transformers, onnx, onnxruntime, openvino, safetensors, numpy" \
  || { say "the environment $VENV lacks a package of requirements.txt"; exit 1; }

# 2. Rust builds
say "cargo build --release (bertqa)"
(cd "$ROOT" && cargo build --release)
BERTQA=${CARGO_TARGET_DIR:-$ROOT/target}/release/bertqa
CANDLE_ARGS=()
if [ "${PEERS_SKIP_CANDLE:-0}" != 1 ]; then
  CT=${CANDLE_TARGET_DIR:-$CACHE/candle-target}
  say "cargo build --release (candle peer, target dir $CT)"
  if (cd "$HERE/candle" && CARGO_TARGET_DIR="$CT" cargo build --release); then
    CANDLE_ARGS=(--candle "$CT/release/bertqa-peer-candle")
  else
    say "the candle peer did not build: running without it"
  fi
fi

# 3. Synthetic checkpoint (bit-identical to `bertqa --synthetic $PRESET`)
MODEL=$CACHE/bert-$PRESET-synthetic
if [ ! -f "$MODEL/model.safetensors" ]; then
  say "writing $MODEL"
  "$PY" "$ROOT/weights/synthetic.py" --preset "$PRESET" --seed 0 --out "$MODEL"
fi

# 4. Measure. Others' work on the same cores skews every engine: look at the load first.
say "load average: $(cut -d' ' -f1-3 /proc/loadavg) (want the 1-minute figure below 1.0)"
cd "$ROOT"
exec "$PY" "$HERE/peers.py" --model "$MODEL" --bertqa "$BERTQA" "${CANDLE_ARGS[@]}" \
  --threads "$THREADS" --workdir "$CACHE" --out "$CACHE/results.json" "$@"
