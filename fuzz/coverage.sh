#!/usr/bin/env bash
# Edge coverage of the protocol modules reached by the corpus: runs each target once over
# corpus/<target> and seeds/<target> with libFuzzer's -print_coverage=1 and sums, per source
# file of src/rtmp, src/flv and src/auth, the edges of the functions instrumented in that target.
# (Needs llvm-symbolizer on PATH; build first with `cargo fuzz build`.)
#
#   bash fuzz/coverage.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
bin=target/x86_64-unknown-linux-gnu/release
for t in ${@:-$(RUSTC_BOOTSTRAP=1 cargo fuzz list)}; do
    dirs=()
    for d in corpus/$t seeds/$t; do [ -d "$d" ] && dirs+=("$d"); done
    echo "== $t"
    "$bin/$t" -runs=0 -print_coverage=1 "${dirs[@]}" 2>&1 | python3 -c '
import collections, os, re, sys
per = collections.defaultdict(lambda: [0, 0])
for line in sys.stdin:
    m = re.match(r"(?:UN)?COVERED_FUNC: hits: \d+ edges: (\d+)/(\d+) .* (\S+):\d+$", line.strip())
    if not m:
        continue
    path = os.path.normpath(m.group(3))
    k = re.search(r"/src/(rtmp|flv|auth)/[^/]+\.rs$", path)
    if not k or "/fuzz/" in path:
        continue
    per[k.group(0)[5:]][0] += int(m.group(1))
    per[k.group(0)[5:]][1] += int(m.group(2))
tot = [0, 0]
for f, (c, n) in sorted(per.items()):
    print(f"  {f:24} {c:5}/{n:<5} {100*c/max(n,1):5.1f}%")
    tot[0] += c; tot[1] += n
print("  %-24s %5d/%-5d %5.1f%%" % ("total", tot[0], tot[1], 100 * tot[0] / max(tot[1], 1)))
'
done
