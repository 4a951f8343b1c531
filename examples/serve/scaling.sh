#!/usr/bin/env bash
# Single-node serving numbers for docs/scaling.md: for each precision and request length, the
# service with batching (the default) and without (--no-batching), under loadtest at several
# concurrency levels. Loopback only; bounded by --requests and --seconds per level.
#
#   examples/serve/scaling.sh [--synthetic base] [--precisions fp32,int8] [--context-words 5,40]
#                             [--concurrency 1,4,8,16] [--requests 120] [--seconds 20]
#
# Prints two Markdown tables per (precision, context), one per mode; loadtest's last columns
# are the mean batch the service ran at each level (from its /metrics).
set -euo pipefail
cd "$(dirname "$0")"
model=base precisions=fp32,int8 words=5,40 levels=1,4,8,16 requests=120 seconds=20 port=18090
while [ $# -gt 0 ]; do
  case "$1" in
    --synthetic) model=$2 ;; --precisions) precisions=$2 ;; --context-words) words=$2 ;;
    --concurrency) levels=$2 ;; --requests) requests=$2 ;; --seconds) seconds=$2 ;;
    --port) port=$2 ;; *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
cargo build --release --quiet
T=$CARGO_TARGET_DIR/release
echo "# $(date -u +%FT%TZ), $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; synthetic $model"
for p in ${precisions//,/ }; do
  for w in ${words//,/ }; do
    echo
    echo "## $p, --context-words $w"
    for mode in batched unbatched; do
      flags=(); [ "$mode" = unbatched ] && flags=(--no-batching)
      "$T/serve" --synthetic "$model" --precision "$p" --addr "127.0.0.1:$port" --quiet "${flags[@]}" 2>/dev/null &
      pid=$!
      until curl -sf "localhost:$port/readyz" >/dev/null; do sleep 0.2; done
      echo
      echo "$mode:"
      echo
      "$T/loadtest" --addr "127.0.0.1:$port" --concurrency "$levels" --requests "$requests" \
        --seconds "$seconds" --warmup 8 --context-words "$w" 2>/dev/null
      kill -TERM "$pid"; wait "$pid" || true
    done
  done
done
