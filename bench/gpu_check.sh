#!/usr/bin/env bash
# The one prepared GPU check, run on the device machine in one call: the gpu-labelled
# tests, compute-sanitizer on a small GPU test, `jcas bench` (CPU and GPU side by side),
# Monte Carlo, the paper's training, the F0 routes and the large arrays, most valuable
# first. Everything runs within GPU_CHECK_SECONDS (default 330 s: under 6 minutes with the
# unpacking): each step's limit is the smaller of its own and what is left, a step that
# would get under 10 s is skipped with a line saying so, and every result is printed as
# soon as it exists. Logs go to OUTDIR: gpu_check.log (every step's output) and
# bench.jsonl (the bench rows).
#   bench/gpu_check.sh [OUTDIR]     (default $OUT or /tmp)
# The device's image has CUDA 13, CMake and a compiler but not the Debian packages the
# build needs: the binaries are built here and carried (tools/pack_gpu.sh makes
# gpu-carry.tar.xz; pass it as the run's `carry`). Without it, or where they do not start,
# it builds from source for sm_90.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-/tmp}}"
mkdir -p "$out"
log="$out/gpu_check.log"
: >"$log"
budget=${GPU_CHECK_SECONDS:-330}
t_start=$(date +%s)
data=$(mktemp -d)  # channel files and the unpacked binaries: not in $out, which comes back
trap 'rm -rf "$data"' EXIT
py=$(command -v /usr/bin/python3 || command -v python3)
left() { echo $((budget - ($(date +%s) - t_start))); }
# step NAME LIMIT cmd...: cmd under min(LIMIT, what is left) seconds; its output in
# $data/step.out and appended to the log under a header; returns cmd's status (124: over
# its limit, 99: skipped).
step() {
  local name="$1" lim="$2" l rc
  shift 2
  : >"$data/step.out"
  l=$(left)
  if [ "$l" -lt 10 ]; then
    echo "$name: skipped (the ${budget} s budget is spent)"
    return 99
  fi
  [ "$lim" -gt "$l" ] && lim=$l
  timeout "$lim" "$@" >"$data/step.out" 2>&1
  rc=$?
  { echo "=== $name (limit $lim s, exit $rc)"; cat "$data/step.out"; } >>"$log"
  return $rc
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$log"
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
  if "$data/gpu-carry/bin/jcas" --help >/dev/null 2>>"$log"; then
    jcas="$data/gpu-carry/bin/jcas" tests="$data/gpu-carry/bin/test_backend_cuda"
    echo "prebuilt: $(cat "$data/gpu-carry/REVISION")"
  else
    echo "prebuilt binaries do not start here (gpu_check.log); building from source"
  fi
fi
if [ -z "$jcas" ]; then
  if ! command -v cmake >/dev/null || ! dpkg -s libhdf5-dev >/dev/null 2>&1; then tools/install_deps.sh; fi
  t0=$(date +%s)
  step build 300 bash -c "cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DJCAS_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 && cmake --build build-gpu -j $(nproc)" || { tail -30 "$log"; exit 1; }
  echo "build: $(($(date +%s) - t0)) s"
  jcas=build-gpu/jcas tests=build-gpu/tests/test_backend_cuda
fi

# 1. The gpu-labelled tests (ctest -L gpu runs the same executable), a line per test.
t1=$(date +%s.%N)
step "gpu tests" 90 "$tests" --gtest_brief=0
rc=$?
grep -E "^\[ +(OK|FAILED|SKIPPED) +\] Backend" "$data/step.out" | sed 's/^/  /'
echo "gpu tests: exit $rc in $(secs "$t1" "$(date +%s.%N)") s"

# 2. compute-sanitizer's memcheck, racecheck and synccheck on the smallest test that takes
# every GPU route and the training kernels.
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$sanitizer" ]; then
  for tool in memcheck racecheck synccheck; do
    step "compute-sanitizer $tool" 45 "$sanitizer" --tool "$tool" --error-exitcode 3 --print-limit 5 \
      "$tests" --gtest_filter=Backend.SanitizerSmoke
    rc=$?
    echo "compute-sanitizer $tool: exit $rc ($(grep -E "^========= (ERROR SUMMARY|RACECHECK SUMMARY)" "$data/step.out" |
      tail -1 | sed 's/^========= //'))"
  done
else
  echo "compute-sanitizer: not found on this machine"
fi

# 3. Throughput, CPU and GPU side by side in one run (the paper's configuration): each row
# printed as measured, bounded by --max-seconds.
step bench 150 "$jcas" bench --batch 65536 --repeats 3 --max-seconds 4 --json --devices cpu,cuda
grep '^{' "$data/step.out" >"$out/bench.jsonl"
"$py" - "$out/bench.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [x for x in lines if x["type"] == "row"]
for n in (x["text"] for x in lines if x["type"] == "note"): print("note:", n)
cpu = {(x["workload"], x["precision"]): x for x in rows if x["device"] == "cpu"}
print(f"{'workload':22s} {'prec':5s} {'batch':>7s} {'cpu/s':>10s} {'cuda/s':>12s} {'ratio':>7s} {'MFLOP':>7s} {'% peak':>7s}")
for x in (r for r in rows if r["device"] == "cuda"):
    base = next((x["workload"][: -len(r) - 1] for r in ("loops", "global", "team", "gemm", "thread", "warp", "host")
                 if x["workload"].endswith("/" + r)), x["workload"])
    c = cpu.get((base, x["precision"]))
    cs = c["realizations_per_second"] if c else 0
    print(f"{x['workload']:22s} {x['precision']:5s} {x['batch']:7d} {cs:10.0f} {x['realizations_per_second']:12.0f} "
          f"{(x['realizations_per_second'] / cs if cs else 0):7.1f} {x['flop_per_realization'] / 1e6:7.2f} "
          f"{x['percent_of_peak']:7.2f}")
PY

# 3b. The lanes route's team size (kernels/unfolded_lanes.cu): 8, 16 or 32 lanes a
# realization at K = 4 and 2, 65536 realizations, 150 layers (each once, as the model
# predicts them: bench/RESULTS.md, 2026-12-07), the start in the kernel;
# then the default, the team size the counted model chooses (host/gpu_model.hpp).
for k in 4 2; do
  "$jcas" generate --count 65536 --users "$k" --seed 9 --rank-one --out "$data/k$k.h5" >/dev/null 2>&1
  for prec in f32 f64; do
    for g in 32 16 8 model; do
      team=(--team-lanes "$g")
      [ "$g" = model ] && team=()
      step "K $k $prec team of $g" 20 "$jcas" solve --data "$data/k$k.h5" --device cuda --f0 lowrank --precision "$prec" \
        --products lanes --layer-repeat 1 "${team[@]}" --json
      "$py" -c "import json,sys
l=[x for x in open(sys.argv[1]).read().splitlines() if x.startswith('{\"algo\"')][-1]; d=json.loads(l)
print(f'lanes K {sys.argv[2]} {sys.argv[3]} team of {sys.argv[4]:>5s}: {1/d[\"seconds_per_realization\"]:12.0f} realizations/s (whole solve call), mean h {d[\"mean_objective\"]:.6f}')" \
        "$data/step.out" "$k" "$prec" "$g" 2>/dev/null || echo "lanes K $k $prec team of $g: no result (gpu_check.log)"
    done
  done
  # 3c. The K = 4 file solved end to end (issue 26): read, solved and its results written
  # range by range (host/solve_file.hpp), the whole call's wall time beside its solve calls'.
  for chunk in default 16384; do
    [ "$k" = 4 ] || break
    c=(--chunk "$chunk")
    [ "$chunk" = default ] && c=()
    step "file K 4 f32 chunk $chunk" 30 "$jcas" solve --data "$data/k4.h5" --device cuda --f0 lowrank --precision f32 \
      --out "$data/r_$chunk.h5" "${c[@]}" --json
    "$py" -c "import json,sys
l=[x for x in open(sys.argv[1]).read().splitlines() if x.startswith('{\"algo\"')][-1]; d=json.loads(l)
n=d['realizations']; solve=n*d['seconds_per_realization']; wall=d['wall_seconds']
print(f'file solve K 4 f32 --chunk {sys.argv[2]}: {n/wall:10.0f} realizations/s end to end (read, solved, written; {d[\"ranges\"]} ranges), the solve calls {n/solve:10.0f}/s; outside them {100*(wall-solve)/solve:.0f} % of their time')" \
      "$data/step.out" "$chunk" 2>/dev/null || echo "file solve --chunk $chunk: no result (gpu_check.log)"
    rm -f "$data/r_$chunk.h5"
  done
  rm -f "$data/k$k.h5"
done

# 4. Monte Carlo end to end on the GPU (generation, unfolded, statistics).
t1=$(date +%s.%N)
if step montecarlo 60 "$jcas" montecarlo --count 262144 --algos unfolded --device cuda --out "$data/mc" --no-plot; then
  echo "montecarlo --device cuda: 262144 realizations in $(secs "$t1" "$(date +%s.%N)") s"
else
  echo "montecarlo --device cuda: failed or over its limit (gpu_check.log)"
fi

# 5. The paper's training (SPEC.md: 500 realizations, 30 epochs, batch 32) on the GPU.
"$jcas" generate --count 500 --seed 11 --out "$data/train.h5" >/dev/null 2>&1
t1=$(date +%s.%N)
if step "train, one epoch" 60 "$jcas" train --data "$data/train.h5" --device cuda --epochs 1 --out "$data/m1.h5" \
  --no-plot; then
  e1=$(secs "$t1" "$(date +%s.%N)")
  echo "train (paper, 1 epoch of 30) --device cuda: $e1 s; x 30 = $(awk -v s="$e1" 'BEGIN { printf "%.1f", 30 * s }') s"
  # jcas reproduce's four models side by side in one process (a stream each), one epoch.
  t1=$(date +%s.%N)
  step "train, 4 models side by side" 60 "$jcas" train --data "$data/train.h5" --device cuda --epochs 1 \
    --delta 1,1,10,10 --iw 2,4,2,4 --no-plot --out "$data/s1.h5" "$data/s2.h5" "$data/s3.h5" "$data/s4.h5" &&
    echo "train 4 models side by side (1 epoch each) --device cuda: $(secs "$t1" "$(date +%s.%N)") s; one alone: $e1 s"
  if awk -v s="$e1" 'BEGIN { exit !(30 * s < 60) }'; then
    t1=$(date +%s.%N)
    step "train, 30 epochs" 70 "$jcas" train --data "$data/train.h5" --device cuda --out "$data/m30.h5" --no-plot &&
      echo "train (paper: 500 x 30 epochs, batch 32) --device cuda: $(secs "$t1" "$(date +%s.%N)") s"
  fi
else
  echo "train --device cuda --epochs 1: failed or over its limit (gpu_check.log)"
fi

# 6. F0 on the device: 65536 realizations, host LAPACK, batched cuSOLVER, in-kernel low rank.
"$jcas" generate --count 65536 --seed 9 --out "$data/f0.h5" >/dev/null 2>&1
for f0 in lowrank cusolver lapack; do
  step "f0 $f0" 30 "$jcas" solve --data "$data/f0.h5" --device cuda --f0 "$f0" --outer 1 --json
  "$py" -c "import json,sys
l=[x for x in open(sys.argv[1]).read().splitlines() if x.startswith('{\"algo\"')][-1]; d=json.loads(l)
print(f'solve --outer 1 --f0 {sys.argv[2]:8s}: {1e6*d[\"seconds_per_realization\"]:.2f} us/realization, mean h(L=1) {d[\"mean_objective\"]:.6f}')" \
    "$data/step.out" "$f0" 2>/dev/null || echo "f0 $f0: no result (gpu_check.log)"
done

# 7. Large arrays, f32, 10 layers, the start on the device: each product route.
for cfg in "64 16 1024" "256 64 64"; do
  set -- $cfg
  "$jcas" generate --count "$3" --nt "$1" --nr "$1" --users "$2" --seed 4 --out "$data/big$1.h5" >/dev/null 2>&1
  for p in auto gemm team; do
    step "Nt $1 --products $p" 20 "$jcas" solve --data "$data/big$1.h5" --device cuda --f0 lowrank --outer 10 \
      --precision f32 --products "$p" --json
    "$py" -c "import json,sys
l=[x for x in open(sys.argv[1]).read().splitlines() if x.startswith('{\"algo\"')][-1]; d=json.loads(l)
print(f'Nt {sys.argv[2]:>3s} K {sys.argv[3]:>2s} f32 10 layers --products {sys.argv[4]:5s}: {1e6*d[\"seconds_per_realization\"]:10.1f} us/realization, mean h {d[\"mean_objective\"]:.6f}')" \
      "$data/step.out" "$1" "$2" "$p" 2>/dev/null || echo "Nt $1 $p: no result (gpu_check.log)"
  done
  rm -f "$data/big$1.h5"
done
echo "gpu_check: $(($(date +%s) - t_start)) s of the $budget s budget"
