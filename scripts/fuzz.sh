#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ and runs each for a bounded time on a scratch copy of its
# seed corpus (what the fuzzer adds is never written into the repository). Exits non-zero if
# any target finds a crash, and says where the crashing input is. docs/fuzzing.md explains
# the targets and how a crash becomes a regression test.
#
#   scripts/fuzz.sh                      # every target, ALICE_FUZZ_SECONDS_PER_TARGET each
#   ALICE_FUZZ_SECONDS_PER_TARGET=600 scripts/fuzz.sh sse_stream    # one target, longer
#
# ALICE_FUZZ_SECONDS_PER_TARGET: seconds per target (default 25, so seven targets fuzz for
# about 3 minutes); 0 builds the targets and runs each over its seeds only.
# ALICE_FUZZ_KEEP: a folder to keep the grown corpora and any crashes in (default: a
# temporary folder, removed at the end unless something crashed).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${ALICE_FUZZ_SECONDS_PER_TARGET:-25}"
# cargo fuzz passes nightly-only flags (-Z, sanitizer coverage) to the stable compiler.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# The lock file is committed: refuse to build with dependencies it does not name.
cargo fetch --locked --manifest-path fuzz/Cargo.toml

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# All targets in one cargo invocation. No sanitizer: the workspace forbids unsafe code, so
# what fuzzing looks for is panics and broken properties, which need none; ASan would make
# the cold build and every execution slower (docs/fuzzing.md has the figures).
build_start=$SECONDS
cargo fuzz build --sanitizer none
echo "fuzz: built the targets in $((SECONDS - build_start)) s"

scratch="${ALICE_FUZZ_KEEP:-$(mktemp -d -t alice-fuzz.XXXXXX)}"
mkdir -p "$scratch"
failed=()
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    cp -n fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
    if [ "$seconds" -gt 0 ]; then
        limit=(-max_total_time="$seconds")
    else
        limit=(-runs=0)
    fi
    log="$scratch/$target.log"
    # -timeout: one input taking 10 s is a hang, reported like a crash.
    if cargo fuzz run --sanitizer none "$target" "$corpus" -- \
        "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "fuzz: $target ok: ${runs:-?} executions in ${seconds} s, corpus $(ls "$corpus" | wc -l) inputs"
    else
        failed+=("$target")
        echo "fuzz: $target FAILED; its log ends:"
        tail -n 40 "$log"
        for crash in "$artifacts"/*; do
            [ -e "$crash" ] || continue
            echo "fuzz: crashing input $crash (base64: $(base64 -w0 "$crash" | head -c 2000))"
        done
    fi
done

passed=$((${#targets[@]} - ${#failed[@]}))
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}; inputs and logs kept in $scratch"
    echo "fuzz: reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none TARGET INPUT"
    echo "fuzz: $passed passed, ${#failed[@]} failed"
    exit 1
fi
if [ -z "${ALICE_FUZZ_KEEP:-}" ]; then
    rm -rf "$scratch"
fi
# A closing line CI reads like a test runner's: one target is one test.
echo "fuzz: $passed passed, 0 failed"
