#!/usr/bin/env bash
# The host and backend tests (files, the command line, the readers' fuzzing, the CPU
# backend) under AddressSanitizer and UndefinedBehaviorSanitizer (gcc), in build-asan: a
# CPU-only build without MPI, the smallest configuration, which the default build does
# not compile. Any report is fatal. CI runs it after tools/test.sh; the core's own tests
# (Eigen, heavy to compile) run there uninstrumented, and the CLI tests here drive the
# same core under the sanitizers.
#   tools/sanitize.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DJCAS_SANITIZE=ON -DJCAS_CUDA=OFF -DJCAS_MPI=OFF -DJCAS_PYTHON=OFF \
  -DJCAS_WERROR="${JCAS_WERROR:-OFF}" >/dev/null
cmake --build build-asan -j "$(nproc)" --target jcas test_host fuzz_readers test_backend_cpu
# Leaks are not reported: HDF5 keeps its library state to the process's end on purpose
# (H5dont_atexit, host/io_hdf5.cpp), and OpenBLAS its thread pool.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L "host|backend" "$@"
build-asan/jcas --help >/dev/null
echo "sanitized build (no CUDA, no MPI): ok"
