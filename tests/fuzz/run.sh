#!/usr/bin/env bash
# Coverage-guided fuzzing of the loaders (#18) with libFuzzer, on the stable toolchain.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 600 s, every target)
#
# Targets: preset checkpoint npy image run_card expr (see src/fuzz.rs). Each runs for the given
# time from its corpus in tests/fuzz/corpus/<target>/; new inputs go to target/fuzz/new/<target>/
# and are merged (minimised) back into the corpus at the end, which the core tests replay.
# A crash leaves its input in target/fuzz/artifacts/<target>/ and stops with a non-zero exit.
#
# The build: only our library is instrumented (rustc-wrap.sh); the dependencies are the app's
# release builds, hard-linked from target/release the first time (our crate's own outputs are
# removed from the copy first, and .fingerprint is copied, not linked, so nothing is written
# through a link into the app's build). Build the app first: cargo build --release.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-600}
shift || true
targets=${*:-preset checkpoint npy image run_card expr}
out="$root/target/fuzz"
export CARGO_TARGET_DIR="$out/build"
if [ ! -d "$CARGO_TARGET_DIR/release" ] && [ -d "$root/target/release" ]; then
    mkdir -p "$CARGO_TARGET_DIR/release"
    for d in deps build; do
        cp -al "$root/target/release/$d" "$CARGO_TARGET_DIR/release/$d"
    done
    cp -a "$root/target/release/.fingerprint" "$CARGO_TARGET_DIR/release/.fingerprint"
fi
rm -rf "$CARGO_TARGET_DIR"/release/deps/*diffusion_lab* \
    "$CARGO_TARGET_DIR"/release/.fingerprint/diffusion-lab-*
# FUZZ_NO_BUILD=1 skips the build (e.g. for a second run.sh in parallel on other targets).
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    RUSTC_WRAPPER="$here/rustc-wrap.sh" cargo build --release --manifest-path "$here/Cargo.toml" --bins
fi
export NODEVICE_SELECT=1
status=0
for t in $targets; do
    mkdir -p "$out/new/$t" "$out/artifacts/$t" "$out/logs"
    echo "== $t: ${secs} s"
    if ! "$CARGO_TARGET_DIR/release/$t" "$out/new/$t" "$here/corpus/$t" \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
        > "$out/logs/$t.log" 2>&1; then
        echo "   $t FAILED: see $out/logs/$t.log and $out/artifacts/$t/"
        status=1
    fi
    grep -E "^stat::|Done [0-9]+ runs" "$out/logs/$t.log" | sed 's/^/   /' || true
    # Minimise: keep the inputs that add coverage, in the committed corpus.
    rm -rf "$out/merged/$t" && mkdir -p "$out/merged/$t"
    "$CARGO_TARGET_DIR/release/$t" -merge=1 "$out/merged/$t" "$here/corpus/$t" "$out/new/$t" \
        > "$out/logs/$t.merge.log" 2>&1 || true
    echo "   minimised corpus: $out/merged/$t ($(ls "$out/merged/$t" | wc -l) inputs; copy it to tests/fuzz/corpus/$t to commit it)"
done
exit $status
