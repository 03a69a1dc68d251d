#!/usr/bin/env bash
# Monte Carlo throughput of the paper configuration (unfolded, 150 layers, K = 4) on the
# CPU: one process with 1 and 2 threads, and MPI with 1 and 2 ranks (1 thread each),
# in one run so the figures compare. Prints a markdown table (median of REPEATS runs).
#   bench/mpi_scaling.sh [COUNT] [REPEATS]        (JCAS=path/to/jcas)
set -euo pipefail
jcas="$(readlink -f "${JCAS:-$(dirname "$0")/../build/jcas}")"
count="${1:-4000}"; repeats="${2:-3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cd "$dir"
median_rate() {  # command...: realizations per second, median over repeats
  local rates=()
  for _ in $(seq "$repeats"); do
    local t0 t1; t0=$(date +%s.%N)
    "$@" --count "$count" --algos unfolded --chunk 1000 --out mc >/dev/null 2>&1
    t1=$(date +%s.%N)
    rates+=("$(echo "$count / ($t1 - $t0)" | bc -l)")
  done
  printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]}'
}
r1=$(median_rate "$jcas" montecarlo --threads 1)
r2=$(median_rate "$jcas" montecarlo --threads 2)
m1=$(median_rate mpirun --oversubscribe -np 1 "$jcas" montecarlo --threads 1)
m2=$(median_rate mpirun --oversubscribe -np 2 "$jcas" montecarlo --threads 1)
echo "| run | realizations/s | vs 1 process, 1 thread |"
echo "|---|---|---|"
for row in "1 process, 1 thread:$r1" "1 process, 2 threads:$r2" "mpirun -np 1 (1 thread):$m1" "mpirun -np 2 (1 thread each):$m2"; do
  name="${row%%:*}"; rate="${row#*:}"
  printf '| %s | %s | %.2fx |\n' "$name" "$rate" "$(echo "$rate / $r1" | bc -l)"
done
