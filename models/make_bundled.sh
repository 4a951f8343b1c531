#!/usr/bin/env bash
# Regenerates models/minilm-squad.bqa, the small QA model bundled with bertqa, from the trained
# MiniLM QA model (default ../shared/models/minilm-squad, or $BERTQA_QA_MODEL): every GEMM and
# the word embeddings in int8 (`--int8-plan small`), so the file stays under 30 MB.
# tests/bundled.rs checks that the committed file is exactly this conversion.
set -euo pipefail
cd "$(dirname "$0")/.."
src="${BERTQA_QA_MODEL:-../shared/models/minilm-squad}"
cargo run --release -- --precision int8 --int8-plan small convert --model "$src" \
    --out models/minilm-squad.bqa
ls -l models/minilm-squad.bqa
sha256sum models/minilm-squad.bqa
