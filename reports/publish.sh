#!/usr/bin/env bash
# Regenerates reports/published/: each built-in candidate named (all of them by default)
# against the golden fixtures, then the side-by-side page of every report there.
#   bash reports/publish.sh                    # every candidate below
#   bash reports/publish.sh litert onnxruntime # only these (the others' reports stay)
# Needs each candidate's extra installed (tensorflow, jax, torch, litert, onnxruntime, openvino).
set -uo pipefail
cd "$(dirname "$0")/.."
out=reports/published
candidates=("$@")
if [ ${#candidates[@]} -eq 0 ]; then
  candidates=(tf.keras tf_keras keras-jax keras-torch keras-numpy litert litert-builtin
              onnxruntime keras-openvino)
fi
for candidate in "${candidates[@]}"; do
  rm -rf "${out:?}/$candidate"
  pytest -q -n auto --pyargs conformance.test_candidate --candidate "$candidate" --no-oracle \
    --report-dir "$out" -p no:cacheprovider
done
python -m conformance.html_report compare "$out"/*/matrix.json -o "$out/index.html"
