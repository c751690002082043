#!/usr/bin/env bash
# Installs what building Alice needs beyond a Rust toolchain, when it is missing: cmake and
# libclang (for llama.cpp, which the default `embedded` feature compiles from source), from
# Debian's packages. Used by scripts/start.sh and .ci/run; does nothing when both are there.
# Runs apt-get as root, or through sudo.
set -euo pipefail

have_libclang() {
    compgen -G "/usr/lib/llvm-*/lib/libclang*.so*" >/dev/null ||
        compgen -G "/usr/lib/x86_64-linux-gnu/libclang*.so*" >/dev/null ||
        compgen -G "/usr/lib/aarch64-linux-gnu/libclang*.so*" >/dev/null
}

if command -v cmake >/dev/null && have_libclang; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "error: building Alice's embedded model backend needs cmake and libclang; install them" \
        "with your system's package manager, or build without it: cargo build --no-default-features" >&2
    exit 1
fi
as_root=()
if [[ $(id -u) -ne 0 ]]; then
    as_root=(sudo)
fi
echo "installing cmake and libclang-dev (needed to build llama.cpp)..."
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    cmake libclang-dev >/dev/null
