#!/usr/bin/env bash
# Memory of two `serve` replicas mapping one packed model file, as two pods on one node would:
# what each holds privately (activations, its own heap) and what they share (the weights, in
# the page cache). Loopback only.
#
#   examples/serve/replica_memory.sh FILE.bqa
#   (make one: bertqa [--precision int8] convert --synthetic large --out FILE.bqa,
#    or --model DIR for real weights)
#
# Each replica first answers 32 requests at concurrency 16 over a 300-word context (several
# windows, full 1536-token batches) so that its buffers reach their working size.
set -euo pipefail
cd "$(dirname "$0")"
file=${1:?usage: replica_memory.sh FILE.bqa}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
cargo build --release --quiet
T=$CARGO_TARGET_DIR/release
pids=()
for port in 18101 18102; do
  "$T/serve" --model "$file" --addr "127.0.0.1:$port" --quiet 2>/dev/null &
  pids+=($!)
done
for port in 18101 18102; do until curl -sf "localhost:$port/readyz" >/dev/null; do sleep 0.2; done; done
for port in 18101 18102; do
  "$T/loadtest" --addr "127.0.0.1:$port" --concurrency 16 --requests 32 --warmup 0 --context-words 300 >/dev/null 2>&1
done
echo "$(basename "$file") ($(( $(stat -c %s "$file") / 1048576 )) MiB):"
for pid in "${pids[@]}"; do
  awk -v pid="$pid" '/^(Rss|Pss|Shared_Clean|Private_Dirty):/{printf "%s %.0f MiB  ", $1, $2/1024} END{print ""}' "/proc/$pid/smaps_rollup"
done
kill -TERM "${pids[@]}"
wait
