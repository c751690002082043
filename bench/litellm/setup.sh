#!/usr/bin/env bash
# Installs the LiteLLM proxy that bench/overhead.sh measures Alice against, into a venv under
# target/ (nothing is installed system-wide). Idempotent: a venv that already holds the pinned
# version is left alone.
#
#   bench/litellm/setup.sh          (needs python3 >= 3.9 with venv, and PyPI)
#
# Prints the path of the venv's `litellm` command on its last line.
set -euo pipefail
LITELLM_VERSION="${LITELLM_VERSION:-1.106.12}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$repo/target/litellm-venv"

installed() {
    [ -x "$venv/bin/litellm" ] &&
        [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" = "$LITELLM_VERSION" ]
}

if ! installed; then
    command -v python3 >/dev/null || { echo "needs python3 (with the venv module)" >&2; exit 1; }
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
    installed || { echo "litellm $LITELLM_VERSION did not install into $venv" >&2; exit 1; }
fi
echo "$venv/bin/litellm"
