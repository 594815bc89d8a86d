#!/usr/bin/env bash
# Installs the suite with TensorFlow (the default candidate and the oracle), its dev tools, and
# LiteRT and ONNX Runtime (the suite's own tests convert with them: tests/test_deploy_engines.py).
# Where apt-get can run (root on Debian or Ubuntu) it also installs Chromium, which the HTML
# report's browser tests drive; elsewhere those tests skip, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
python3 -m pip install -e ".[tensorflow,dev,litert,onnxruntime]"
