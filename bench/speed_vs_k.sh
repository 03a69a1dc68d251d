#!/usr/bin/env bash
# Issue 6, speed side: warm time per realization of every solver at K = 2 ... 12 in one
# process per K (jcas_bench: medians of repeats, the slow solvers on fewer
# realizations), and each unfolded variant's speed-up over the ascent yardstick measured
# in the same run.
#   bench/speed_vs_k.sh [OUTFILE]   (BENCH=path/to/jcas_bench, KS="2 4 ...", COUNT=400, REPEATS=3)
set -euo pipefail
bench="${BENCH:-$(dirname "$0")/../build/jcas_bench}"
out="${1:-speed_vs_k.txt}"
export OPENBLAS_NUM_THREADS=1  # parallelism is over realizations; no idle BLAS threads spinning
: >"$out"
for k in ${KS:-2 4 6 8 10 12}; do
  echo "## K=$k" >>"$out"
  "$bench" --count "${COUNT:-400}" --repeats "${REPEATS:-3}" --users "$k" >>"$out"
done
/usr/bin/python3 - "$out" <<'PY'
import re, sys
rows, k = {}, None
for line in open(sys.argv[1]):
    if line.startswith("## K="):
        k = int(line[5:]); continue
    m = re.match(r"(\S+(?: \S+)*?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", line.strip())
    if m and k is not None:
        rows[(k, m.group(1))] = float(m.group(3))
ks = sorted({k for k, _ in rows})
variants = ["unfolded f64", "unfolded f64 frozen", "unfolded f32", "unfolded f32 frozen", "unfolded f64 no-simd", "unfolded f32 no-simd"]
print("| K | ascent ms | " + " | ".join(f"{v} ms (ascent / it)" for v in variants) + " |")
print("|---|---|" + "---|" * len(variants))
for k in ks:
    a = rows[(k, "ascent f64")]
    print(f"| {k} | {a:.1f} | " + " | ".join(f"{rows[(k, v)]:.3f} ({a / rows[(k, v)]:.0f}x)" for v in variants) + " |")
PY
