#!/usr/bin/env bash
# The benchmark of issue 6, in one command: installs the peers (bench/setup.sh), builds the
# plugin (release) and the bench tools, then measures and prints the table (bench/results.md).
#   bench/run.sh            full run: 60 s clip, 3 runs, scale ramp (about 30-40 minutes)
#   bench/run.sh --quick    CI smoke: 10 s clip, 1 run, short tests (under ~2 minutes)
# Other options go to bench/bench.py (--peers, --tests, --runs, --scale-steps, ...; see --help).
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$BENCH")"

setup_args=()
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --with-xiu) setup_args+=(--with-xiu) ;;
  esac
done
bench_args=()
for a in "$@"; do [ "$a" = "--with-xiu" ] || bench_args+=("$a"); done

bash "$BENCH/setup.sh" "${setup_args[@]}"

# The plugin: a release build, except in the smoke when only the debug build exists (CI builds
# that one for the tests; the smoke checks the harness, not the figures).
if [ "$quick" = 0 ] || [ ! -f "$ROOT/target/debug/libgstrtmpserver.so" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
fi

exec python3 "$BENCH/bench.py" "${bench_args[@]}"
