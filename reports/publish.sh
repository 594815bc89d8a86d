#!/usr/bin/env bash
# Regenerates reports/published/: each built-in Keras candidate against the golden fixtures,
# then the side-by-side page. Needs the tensorflow, jax and torch extras installed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=reports/published
rm -rf "$out"
for candidate in tf.keras tf_keras keras-jax keras-torch keras-numpy; do
  pytest -q -n auto --pyargs conformance.test_candidate --candidate "$candidate" --no-oracle \
    --report-dir "$out" -p no:cacheprovider
done
python -m conformance.html_report compare "$out"/*/matrix.json -o "$out/index.html"
