#!/usr/bin/env bash
# The embedded engine's figures (issue 16, items 4 and 5), printed by the `figures` test of
# crates/alice-llm/tests/embedded.rs in a release build: total tokens/s with 1, 2, 4 and 8
# answers at once; prompt tokens/s; a newcomer's first token alone and joining 3 running
# answers; the first token of turns 1-10 of a growing conversation with the prompt cache on
# and off; resident memory. Nothing is asserted: the figures depend on the machine and on
# what else runs on it. docs/benchmarks.md keeps the history.
#
#   bench/embedded-batch.sh            # model at data/models/SmolLM2-135M-Instruct.Q4_1.gguf
#   ALICE_TEST_EMBEDDED_MODEL=/path/to/model.gguf bench/embedded-batch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
model=${ALICE_TEST_EMBEDDED_MODEL:-$PWD/data/models/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ ! -f "$model" ]; then
  echo "no model at $model: run scripts/fetch-model.sh, or set ALICE_TEST_EMBEDDED_MODEL" >&2
  exit 1
fi
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
ALICE_TEST_EMBEDDED_MODEL=$model cargo test --release -p alice-llm --features embedded \
  --test embedded -- --ignored --nocapture --test-threads 1 figures 2>&1 |
  sed -n 's/^test figures \.\.\. //; /tok\/s\|text\|RSS/p'
