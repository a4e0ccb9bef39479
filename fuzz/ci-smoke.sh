#!/usr/bin/env bash
# CI smoke fuzzing: replays the regression inputs, then runs every fuzz target for SECONDS
# (default 20) starting from the committed seeds. Fails if any target crashes.
#
#   bash fuzz/ci-smoke.sh [SECONDS]
#
# Works on a stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly-only
# sanitizer flags. Installs cargo-fuzz if it is missing. Builds into fuzz/target only; new corpus
# entries go to a scratch directory, so the checkout is left as it was (crash reproducers are
# kept in fuzz/artifacts/<target>/).
set -euo pipefail
secs=${1:-20}
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=$(cargo fuzz list)
cargo fuzz build

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $targets; do
    # Every file in regressions/<target>/ once: each is an input that crashed before a fix.
    if compgen -G "regressions/$t/*" >/dev/null; then
        if ! cargo fuzz run "$t" regressions/"$t"/* -- -runs=1 >"$scratch/$t-regressions.log" 2>&1; then
            tail -40 "$scratch/$t-regressions.log"
            failed+=("$t (regression)")
            continue
        fi
    fi
    mkdir -p "$scratch/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    if cargo fuzz run "$t" "$scratch/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log")
        cov=$(grep -o 'cov: [0-9]*' "$scratch/$t.log" | tail -1)
        echo "fuzz $t: ok, ${runs:-?} executions in ${secs}s, $cov"
    else
        tail -60 "$scratch/$t.log"
        echo "fuzz $t: CRASH (reproducer in fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz smoke failed: ${failed[*]}"
    exit 1
fi
echo "fuzz smoke passed: $(echo $targets | wc -w) targets, ${secs}s each"
