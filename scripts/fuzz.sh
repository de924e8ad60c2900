#!/usr/bin/env bash
# Runs each fuzz target for a bounded time: scripts/fuzz.sh [seconds per target, default 60].
#
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept
# them. The fuzz project is not part of the main workspace and builds into fuzz/target.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes this script fail: add the
# input as a regression #[test] in statport-core, fix, and run again.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# Our code forbids `unsafe`, so AddressSanitizer finds nothing more than the overflow checks and
# debug assertions cargo-fuzz already turns on; without it the targets run several times faster.
flags=(--sanitizer none --target-dir "$root/fuzz/target")

for target in cloudfront_line huawei_line export_request query; do
    mkdir -p "fuzz/corpus/$target"
    echo "fuzzing $target for ${seconds}s" >&2
    cargo fuzz run "${flags[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1
done
