#!/usr/bin/env bash
# SQuAD v1.1 dev accuracy and throughput of bertqa eval against the PyTorch reference and the
# Hugging Face question-answering pipeline, on the same model, 2 threads, one after the other in
# one run (docs/accuracy.md quotes its output).
#
#   benches/squad_eval.sh [PYTHON]      # PYTHON: one with torch and transformers 4.57 (default python3)
#
# Model and data: $BERTQA_QA_MODEL and $BERTQA_SQUAD_DEV, else ../shared's minilm-squad and dev
# set. Writes target/squad_eval/: bertqa's predictions per mode, the reference's files
# (NAME_*.json, as weights/squad_dev_reference.py writes them) and pipeline.json; prints the
# figures and the predictions that differ. PIPELINE_BATCH (default 4, the best of 1/4/8/16/32 on
# the first 1,000 questions here) sets the pipeline's batch_size; SKIP_PYTHON=1 runs bertqa only.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-python3}
model=${BERTQA_QA_MODEL:-$(pwd)/../shared/models/minilm-squad}
data=${BERTQA_SQUAD_DEV:-$(pwd)/../shared/data/squad-v1.1-dev.json}
out=target/squad_eval
mkdir -p "$out"
cargo build --release --quiet
for mode in step overlap; do
  start=$(date +%s.%N)
  ./target/release/bertqa --threads 2 eval --model "$model" --data "$data" --stride-mode "$mode" \
    --predictions-out "$out/bertqa_$mode.json" > "$out/bertqa_$mode.scores.json" 2> "$out/bertqa_$mode.log"
  end=$(date +%s.%N)
  echo "bertqa eval --stride-mode $mode: $(cat "$out/bertqa_$mode.scores.json"), $(echo "$end - $start" | bc) s wall"
  tail -1 "$out/bertqa_$mode.log"
done
if [ "${SKIP_PYTHON:-0}" != 1 ]; then
  "$py" weights/squad_dev_reference.py --model "$model" --data "$data" --out "$out" --name reference
  "$py" weights/squad_dev_reference.py --model "$model" --data "$data" --pipeline "${PIPELINE_BATCH:-4}" \
    --pipeline-only --pipeline-out "$out/pipeline.json"
fi
ref_dir=$out
[ -f "$out/reference_reference.json" ] || ref_dir=tests/fixtures/squad
python3 - "$out" "$ref_dir" <<'EOF'
import json, os, sys
out, ref_dir = sys.argv[1], sys.argv[2]
name = "reference" if ref_dir == out else "minilm"
ref = json.load(open(os.path.join(ref_dir, f"{name}_reference.json")))
for mode in ("step", "overlap"):
    ours = json.load(open(os.path.join(out, f"bertqa_{mode}.json")))
    theirs = json.load(open(os.path.join(ref_dir, f"{name}_{mode}_predictions.json")))
    differ = [k for k in theirs if ours.get(k) != theirs[k]]
    m = ref["modes"][mode]
    print(f"{mode}: reference EM {m['exact_match']:.4f} F1 {m['f1']:.4f} ({ref_dir}); "
          f"{len(theirs) - len(differ)}/{len(theirs)} bertqa predictions equal")
    for k in differ:
        print(f"  {k}: bertqa {ours.get(k)!r}, reference {theirs[k]!r}, reference score gap "
              f"{m['close_calls'].get(k, '>= ' + str(ref['close_call']))}")
EOF
