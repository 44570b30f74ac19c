#!/bin/sh
# RUSTC_WRAPPER for the fuzz build: adds libFuzzer's coverage instrumentation (SanitizerCoverage:
# inline 8-bit counters, PC table, compare tracing) to our own library only. Every dependency is
# compiled exactly as for the app's release build, so those builds are reused, not redone; the
# fuzzer is then guided by the coverage of our parsers and checks, not by serde's or image's.
rustc="$1"
shift
case " $* " in
*" --crate-name diffusion_lab "*)
    exec "$rustc" "$@" \
        -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares
    ;;
esac
exec "$rustc" "$@"
