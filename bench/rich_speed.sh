#!/usr/bin/env bash
# Issue 6, speed of the study's best variant with its trained model: the richer unfolded
# model (per-layer mu, trained at K = 4) run from a zero-forcing start, timed against the
# ascent yardstick at K = 2 ... 12 in one run. Solves alternate within each repeat;
# medians of REPEATS fresh `jcas solve` processes; W0/F0 included (the solve's own
# seconds, not the process start). Both solve the same held-out realizations (seed 3, the
# study's test set extended): unfolded all COUNT, the ascent the first ASCENT_COUNT.
#   bench/rich_speed.sh MODEL.h5   (JCAS=path/to/jcas, COUNT=800, ASCENT_COUNT=20,
#                                   REPEATS=3, THREADS=2, KS="2 4 ...", DELTA=1)
set -euo pipefail
jcas="${JCAS:-$(dirname "$0")/../build/jcas}"
model="$1"
export OPENBLAS_NUM_THREADS=1  # parallelism is over realizations
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$jcas" generate --count "${COUNT:-800}" --seed 3 --users 12 --out "$dir/test.h5" 2>/dev/null
/usr/bin/python3 - "$jcas" "$dir/test.h5" "$model" "${KS:-2 4 6 8 10 12}" "${REPEATS:-3}" "${THREADS:-2}" \
  "${ASCENT_COUNT:-20}" "${DELTA:-1}" <<'EOF'
import json, statistics, subprocess, sys
jcas, data, model, ks, repeats, threads, acount, delta = sys.argv[1:]
variants = [("f64", ["--simd", "on"]), ("f32", ["--precision", "f32", "--simd", "on"]),
            ("f64 no-simd", ["--simd", "off"]), ("f32 no-simd", ["--precision", "f32", "--simd", "off"])]
def solve(k, args):
    cmd = [jcas, "solve", "--data", data, "--users", k, "--delta", delta, "--threads", threads, "--json"] + args
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
print(f"| K | ascent ms | " + " | ".join(f"unfolded {v} ms (ascent / it)" for v, _ in variants) + " |")
print("|---|---|" + "---|" * len(variants))
for k in ks.split():
    t = {name: [] for name in ["ascent"] + [v for v, _ in variants]}
    for _ in range(int(repeats)):
        t["ascent"].append(solve(k, ["--algo", "ascent", "--limit", acount])["seconds_per_realization"])
        for v, args in variants:
            t[v].append(solve(k, ["--params", model, "--w0", "zf"] + args)["seconds_per_realization"])
    m = {name: 1e3 * statistics.median(x) for name, x in t.items()}
    a = m["ascent"]
    print(f"| {k} | {a:.1f} | " + " | ".join(f"{m[v]:.3f} ({a / m[v]:.0f}x)" for v, _ in variants) + " |", flush=True)
EOF
