#!/usr/bin/env bash
# End-to-end numbers for docs/performance.md, measured side by side in one run:
#   forward latency at seq 384 / 150 / 128 (2 threads and 1), the length ratios from interleaved
#   rounds, per-stage breakdown, the measured
#   FMA peak, and time-to-first-answer + peak RSS for a Hugging Face directory vs a packed file.
# Usage: benches/e2e.sh [ITERS]   (writes the synthetic BERT-large files under target/models/)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-10}
cargo build --release --quiet
cargo build --release --quiet -p bertqa-kernels --example gemm_table
bq=target/release/bertqa
mkdir -p target/models
[ -f target/models/large-hf/model.safetensors ] || $bq synthesize --preset large --out target/models/large-hf
[ -f target/models/large.bqa ] || $bq convert --model target/models/large-hf --out target/models/large.bqa

echo "## machine"
lscpu | grep -E "Model name|^CPU\(s\)|L2 cache|L3 cache" | sed 's/^/    /'
echo "## FMA peak (GFLOP/s)"
target/release/examples/gemm_table --json --shape 384 4096 1024 | grep peak_gflops

echo "## forward, BERT-large synthetic, batch 1 (median / p90 / min ms, GFLOP/s)"
for seq in 384 150 128; do
  for t in 2 1; do
    printf 'seq %s threads %s: ' "$seq" "$t"
    $bq --threads "$t" bench --model target/models/large.bqa --seq "$seq" --iters "$iters" --json
  done
done
echo "## length ratios, 2 threads: 5 interleaved rounds of 384 / 128 / 150 tokens (median of 5 each)"
ratios=$(for round in 1 2 3 4 5; do
  for seq in 384 128 150; do
    printf '%s %s ' "$round" "$seq"
    $bq --threads 2 bench --model target/models/large.bqa --seq "$seq" --iters 5 --json \
      | grep -oE '"median_ms":[0-9.]+' | cut -d: -f2
  done
done | awk '{ms[$1" "$2] = $3}
  $2 == 150 {printf "%.3f %.3f\n", ms[$1" 128"] / ms[$1" 384"], ms[$1" 150"] / ms[$1" 384"]}')
echo "$ratios" | sed 's/^/round: seq128\/seq384, seq150\/seq384 = /'
echo "median seq128/seq384: $(echo "$ratios" | cut -d' ' -f1 | sort -n | sed -n 3p)"
echo "median seq150/seq384: $(echo "$ratios" | cut -d' ' -f2 | sort -n | sed -n 3p)"
echo "## per stage, seq 384, 2 threads"
$bq --threads 2 bench --model target/models/large.bqa --seq 384 --iters "$iters" --profile

echo "## process start to first answer, page cache warm (s, peak RSS KB)"
for m in target/models/large-hf target/models/large.bqa; do
  $bq ask --model "$m" --question q --context c > /dev/null   # warm the page cache
  for i in 1 2 3; do
    /usr/bin/time -f "$m: %e s, %M KB" $bq ask --model "$m" --question "Who wrote it?" \
      --context-file examples/context.txt > /dev/null
  done
done
