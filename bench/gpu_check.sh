#!/usr/bin/env bash
# The one prepared GPU check (run on the device machine in one call):
# configure and build with CUDA for sm_90, run the gpu-labelled tests, then `jcas bench`
# with the paper's configuration, and print a short table last.
#   bench/gpu_check.sh [OUTDIR]     (writes log files into OUTDIR, default $OUT or /tmp)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-/tmp}}"
mkdir -p "$out"
data=$(mktemp -d)  # large channel files: not in $out, which comes back from the device
trap 'rm -rf "$data"' EXIT
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
if ! command -v cmake >/dev/null || ! dpkg -s libhdf5-dev >/dev/null 2>&1; then tools/install_deps.sh; fi
t0=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DJCAS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/configure.log" 2>&1 &&
  cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
ctest --test-dir build-gpu -L gpu --output-on-failure 2>&1 | tee "$out/gpu_tests.log" | tail -15
build-gpu/jcas bench --batch 4096 65536 --json >"$out/bench.json" 2>"$out/bench.err" || tail -5 "$out/bench.err"
# Issue 5: Monte Carlo throughput on the GPU (paper configuration, unfolded, generation included).
t1=$(date +%s.%N)
build-gpu/jcas montecarlo --count 262144 --chunk 65536 --algos unfolded --device cuda --out "$out/mc" \
  >"$out/mc.txt" 2>"$out/mc.err" || tail -3 "$out/mc.err"
t2=$(date +%s.%N)
# F0 routes on the device: 65536 realizations, host LAPACK vs batched cuSOLVER (W0 on the host).
build-gpu/jcas generate --count 65536 --seed 9 --out "$data/f0.h5" >/dev/null 2>&1
for f0 in lapack cusolver lowrank; do
  build-gpu/jcas solve --data "$data/f0.h5" --device cuda --f0 "$f0" --outer 1 --json >"$out/f0_$f0.json" \
    2>"$out/f0_$f0.err" || tail -3 "$out/f0_$f0.err"
done
# Large arrays: unfolded inference with the products of D(W) in the per-thread loops
# (global scratch) against cuBLAS strided batched GEMMs (core/batched.hpp), float, 10
# layers, the start computed on the device (--f0 lowrank).
for cfg in "64 16 1024" "256 64 64"; do
  set -- $cfg
  build-gpu/jcas generate --count "$3" --nt "$1" --nr "$1" --users "$2" --seed 4 --out "$data/big$1.h5" >/dev/null 2>&1
  for p in loops gemm; do
    timeout 120 build-gpu/jcas solve --data "$data/big$1.h5" --device cuda --f0 lowrank --outer 10 --precision f32 \
      --products "$p" --json >"$out/big$1_$p.json" 2>"$out/big$1_$p.err" || tail -2 "$out/big$1_$p.err"
  done
  rm -f "$data/big$1.h5"
done
echo
echo "== summary =="
grep -E "tests passed|tests failed" "$out/gpu_tests.log"
echo "montecarlo --device cuda: 262144 realizations in $(echo "$t2 - $t1" | bc -l | cut -c1-6) s"
for f0 in lapack cusolver lowrank; do
  /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f'solve --outer 1 --f0 {sys.argv[2]:8s}: {1e6*d[\"seconds_per_realization\"]:.2f} us/realization, mean h(L=1) {d[\"mean_objective\"]:.6f}')" \
    "$out/f0_$f0.json" "$f0" 2>/dev/null || echo "f0 $f0: no result"
done
for cfg in "64 16" "256 64"; do
  set -- $cfg
  for p in loops gemm; do
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f'Nt {sys.argv[2]:>3s} K {sys.argv[3]:>2s} f32 10 layers --products {sys.argv[4]:5s}: {1e6*d[\"seconds_per_realization\"]:10.1f} us/realization, mean h {d[\"mean_objective\"]:.6f}')" \
      "$out/big$1_$p.json" "$1" "$2" "$p" 2>/dev/null || echo "Nt $1 $p: no result"
  done
done
/usr/bin/python3 - "$out/bench.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for n in j.get("notes", []): print(n)
best = {}
for x in j["results"]:
    k = (x["device"], x["workload"], x["precision"])
    if x["realizations_per_second"] > best.get(k, {"realizations_per_second": 0})["realizations_per_second"]:
        best[k] = x
print(f"{'workload':18s} {'prec':5s} {'cpu/s':>10s} {'cuda/s':>12s} {'ratio':>7s} {'MFLOP':>7s} {'GFLOP/s':>9s} {'% peak':>7s} {'% DRAM':>7s}")
for (dev, w, p) in sorted({(d, w, p) for d, w, p in best if d == "cuda"}, key=lambda t: (t[1], t[2])):
    g = best[(dev, w, p)]
    c = best.get(("cpu", w.split("/")[0], p))
    cs = c["realizations_per_second"] if c else 0
    print(f"{w:18s} {p:5s} {cs:10.0f} {g['realizations_per_second']:12.0f} "
          f"{(g['realizations_per_second'] / cs if cs else 0):7.0f} {g['flop_per_realization'] / 1e6:7.2f} "
          f"{g['gflop_per_second']:9.0f} {g['percent_of_peak']:7.2f} {g['percent_of_dram_bandwidth']:7.3f}")
for p in ("f32", "f64"):
    l, g = best.get(("cuda", "unfolded", p)), best.get(("cuda", "unfolded/global", p))
    if l and g:
        print(f"unfolded {p}: local-memory scratch / global scratch = "
              f"{l['realizations_per_second'] / g['realizations_per_second']:.2f}x")
PY
