#!/usr/bin/env bash
# The one prepared GPU check (run on the device machine in one call): the CUDA build,
# the gpu-labelled tests (the CUDA backend against the CPU backend), `jcas bench` with the
# paper's configuration, and a short table last.
#   bench/gpu_check.sh [OUTDIR]     (writes log files into OUTDIR, default $OUT or /tmp)
# The device's image has CUDA 13, CMake and a compiler but not the Debian packages the
# build needs, and nothing can be installed there: so the binaries are built here and
# carried (tools/pack_gpu.sh makes gpu-carry.tar.xz; pass it as the run's `carry`). With
# it, this script unpacks it and checks that the binaries start; without it, or where they
# do not start, it configures and builds from source for sm_90 (installing the packages
# where a package registry answers).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-/tmp}}"
mkdir -p "$out"
data=$(mktemp -d)  # large channel files and the unpacked binaries: not in $out, which comes back
trap 'rm -rf "$data"' EXIT
py=$(command -v /usr/bin/python3 || command -v python3)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
jcas="" tests=""
if [ -f gpu-carry.tar.xz ]; then
  tar -C "$data" -xJf gpu-carry.tar.xz 2>/dev/null ||  # without xz: Python's lzma
    "$py" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" gpu-carry.tar.xz "$data"
  # CUDA 13's libraries from the device (toolkit or Python wheels), after the carried ones.
  cudalibs=""
  for l in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcusolver.so.12 libcusparse.so.12 libnvJitLink.so.13; do
    f=$(find /usr/local/cuda/ /usr/local/cuda/lib64/ /usr/lib/x86_64-linux-gnu/ /opt/ -name "$l" 2>/dev/null | head -1)
    [ -n "$f" ] && case ":$cudalibs:" in *":$(dirname "$f"):"*) ;; *) cudalibs="$cudalibs:$(dirname "$f")" ;; esac
  done
  export LD_LIBRARY_PATH="$data/gpu-carry/lib$cudalibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if "$data/gpu-carry/bin/jcas" --help >/dev/null 2>"$out/carry.err"; then
    jcas="$data/gpu-carry/bin/jcas" tests="$data/gpu-carry/bin/test_backend_cuda"
    echo "prebuilt: $(cat "$data/gpu-carry/REVISION")"
  else
    echo "prebuilt binaries do not start here: $(head -c 400 "$out/carry.err"); building from source"
  fi
fi
if [ -z "$jcas" ]; then
  if ! command -v cmake >/dev/null || ! dpkg -s libhdf5-dev >/dev/null 2>&1; then tools/install_deps.sh; fi
  t0=$(date +%s)
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DJCAS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/configure.log" 2>&1 &&
    cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { tail -30 "$out/configure.log" "$out/build.log"; exit 1; }
  echo "build: $(( $(date +%s) - t0 )) s"
  jcas=build-gpu/jcas tests=build-gpu/tests/test_backend_cuda
fi
# Every step has a time limit and prints its result as soon as it has one, so that a run
# stopped by the device's limit still shows (and leaves under $out) what it measured.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# The gpu-labelled tests are exactly this executable's (ctest -L gpu runs the same).
timeout 180 "$tests" >"$out/gpu_tests.log" 2>&1
grep -E "^\[  (PASSED|SKIPPED|FAILED) *\] [0-9]+ test|^\[  FAILED  \] [A-Z]" "$out/gpu_tests.log" ||
  echo "gpu tests: no summary (see gpu_tests.log)"
# A failing test under compute-sanitizer's memcheck (it works on the Firecracker machines,
# not on gVisor: device/KINDS.md), so a first failure comes with the bad access if any.
first_failed=$(grep -E "^\[  FAILED  \] [A-Za-z]" "$out/gpu_tests.log" | head -1 | awk '{print $4}' | sed 's/,$//')
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$first_failed" ] && [ -n "$sanitizer" ]; then
  timeout 90 "$sanitizer" --tool memcheck --print-limit 5 "$tests" --gtest_filter="$first_failed" >"$out/sanitizer.log" 2>&1
  echo "compute-sanitizer memcheck on $first_failed: exit $?"
  grep -E "^========= " "$out/sanitizer.log" | head -8
fi
# Throughput, CPU and GPU side by side in one run (the paper's configuration), medians of 3.
# One run per batch size, each with its own limit, so that a slow one does not lose the other.
for b in 4096 65536; do
  timeout 150 "$jcas" bench --batch "$b" --repeats 3 --json >"$out/bench_$b.json" 2>"$out/bench_$b.err" ||
    { echo "bench --batch $b: failed or over 150 s"; tail -3 "$out/bench_$b.err"; rm -f "$out/bench_$b.json"; }
done
shopt -s nullglob
bench_json=("$out"/bench_*.json)
shopt -u nullglob
"$py" - "${bench_json[@]}" <<'PY' | tee "$out/bench_table.txt"
import json, sys
results, notes = [], []
for f in sys.argv[1:]:
    j = json.load(open(f))
    results += j["results"]
    notes += [n for n in j.get("notes", []) if n not in notes]
for n in notes: print(n)
best = {}
for x in results:
    k = (x["device"], x["workload"], x["precision"])
    if x["realizations_per_second"] > best.get(k, {"realizations_per_second": 0})["realizations_per_second"]:
        best[k] = x
print(f"{'workload':22s} {'prec':5s} {'cpu/s':>10s} {'cuda/s':>12s} {'ratio':>7s} {'MFLOP':>7s} {'GFLOP/s':>9s} {'% peak':>7s} {'% DRAM':>7s}")
for (dev, w, p) in sorted({(d, w, p) for d, w, p in best if d == "cuda"}, key=lambda t: (t[1], t[2])):
    g = best[(dev, w, p)]
    base = next((w[: -len(r) - 1] for r in ("global", "team", "gemm", "thread") if w.endswith("/" + r)), w)
    c = best.get(("cpu", base, p))  # the CPU's row of the same workload and batch kind
    cs = c["realizations_per_second"] if c else 0
    print(f"{w:22s} {p:5s} {cs:10.0f} {g['realizations_per_second']:12.0f} "
          f"{(g['realizations_per_second'] / cs if cs else 0):7.0f} {g['flop_per_realization'] / 1e6:7.2f} "
          f"{g['gflop_per_second']:9.0f} {g['percent_of_peak']:7.2f} {g['percent_of_dram_bandwidth']:7.3f}")
for p in ("f32", "f64"):
    l = best.get(("cuda", "unfolded", p))
    for route in ("global", "team", "gemm"):
        g = best.get(("cuda", "unfolded/" + route, p))
        if l and g:
            print(f"unfolded {p}: thread per realization, local scratch / {route} = "
                  f"{l['realizations_per_second'] / g['realizations_per_second']:.2f}x")
for w in ("train-step", "train-step/b32"):
    warp, thread = best.get(("cuda", w, "f64")), best.get(("cuda", w + "/thread", "f64"))
    if warp and thread:
        print(f"{w}: warp per realization / thread per realization = "
              f"{warp['realizations_per_second'] / thread['realizations_per_second']:.2f}x")
PY
# The paper's whole training (SPEC.md: 500 realizations, 30 epochs, batch 32), GPU then
# CPU. One epoch on the GPU first: a thread per realization runs a step's 32 realizations
# on one warp (bench/RESULTS.md: at least 12.6 s for the 30 epochs), so the whole
# training runs only where one epoch projects it under 100 s; otherwise 30 x one epoch is
# printed as the projection it is.
"$jcas" generate --count 500 --seed 11 --out "$data/train.h5" >/dev/null 2>&1
train() {  # train DEVICE EPOCHS LIMIT: prints the seconds, or nothing on failure
  local t1
  t1=$(date +%s.%N)
  timeout "$3" "$jcas" train --data "$data/train.h5" --device "$1" --epochs "$2" --out "$data/model_$1_$2.h5" \
    >"$out/train_$1_$2.txt" 2>&1 && secs "$t1" "$(date +%s.%N)"
}
if e1=$(train cuda 1 90); then
  echo "train (paper, 1 epoch of 30) --device cuda: $e1 s; x 30 = $(awk -v s="$e1" 'BEGIN { printf "%.1f", 30 * s }') s"
  if awk -v s="$e1" 'BEGIN { exit !(30 * s < 100) }'; then
    if e30=$(train cuda 30 150); then echo "train (paper: 500 x 30 epochs, batch 32) --device cuda: $e30 s"; fi
  fi
else
  echo "train --device cuda --epochs 1: failed or over 90 s: $(tail -c 300 "$out/train_cuda_1.txt")"
fi
if e30=$(train cpu 30 150); then
  echo "train (paper: 500 x 30 epochs, batch 32) --device cpu: $e30 s"
else
  echo "train --device cpu: failed or over 150 s: $(tail -c 300 "$out/train_cpu_30.txt")"
fi
# Issue 5: Monte Carlo throughput on the GPU (paper configuration, unfolded, generation included).
t1=$(date +%s.%N)
if timeout 120 "$jcas" montecarlo --count 262144 --chunk 65536 --algos unfolded --device cuda --out "$data/mc" \
  >"$out/mc.txt" 2>"$out/mc.err"; then
  echo "montecarlo --device cuda: 262144 realizations in $(secs "$t1" "$(date +%s.%N)") s"
  cp "$data/mc.csv" "$out/" 2>/dev/null
else
  echo "montecarlo --device cuda: failed: $(tail -c 300 "$out/mc.err")"
fi
# F0 routes on the device: 65536 realizations, host LAPACK vs batched cuSOLVER (W0 on the host).
"$jcas" generate --count 65536 --seed 9 --out "$data/f0.h5" >/dev/null 2>&1
for f0 in lapack cusolver lowrank; do
  timeout 90 "$jcas" solve --data "$data/f0.h5" --device cuda --f0 "$f0" --outer 1 --json >"$out/f0_$f0.json" \
    2>"$out/f0_$f0.err" || tail -3 "$out/f0_$f0.err"
  "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(f'solve --outer 1 --f0 {sys.argv[2]:8s}: {1e6*d[\"seconds_per_realization\"]:.2f} us/realization, mean h(L=1) {d[\"mean_objective\"]:.6f}')" \
    "$out/f0_$f0.json" "$f0" 2>/dev/null || echo "f0 $f0: no result"
done
# Large arrays: unfolded inference with the products of D(W) in the per-thread loops
# (global scratch), as cuBLAS strided batched GEMMs (core/batched.hpp) and by a warp per
# realization (core/team.hpp), float, 10 layers, the start computed on the device
# (--f0 lowrank).
for cfg in "64 16 1024" "256 64 64"; do
  set -- $cfg
  "$jcas" generate --count "$3" --nt "$1" --nr "$1" --users "$2" --seed 4 --out "$data/big$1.h5" >/dev/null 2>&1
  for p in gemm team loops; do
    timeout 60 "$jcas" solve --data "$data/big$1.h5" --device cuda --f0 lowrank --outer 10 --precision f32 \
      --products "$p" --json >"$out/big$1_$p.json" 2>"$out/big$1_$p.err" || tail -2 "$out/big$1_$p.err"
    "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(f'Nt {sys.argv[2]:>3s} K {sys.argv[3]:>2s} f32 10 layers --products {sys.argv[4]:5s}: {1e6*d[\"seconds_per_realization\"]:10.1f} us/realization, mean h {d[\"mean_objective\"]:.6f}')" \
      "$out/big$1_$p.json" "$1" "$2" "$p" 2>/dev/null || echo "Nt $1 $p: no result (over 60 s or failed)"
  done
  rm -f "$data/big$1.h5"
done
echo
echo "== the throughput table again =="
cat "$out/bench_table.txt"
