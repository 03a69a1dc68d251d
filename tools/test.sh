#!/usr/bin/env bash
# Quick start, command 2: installs what is missing, builds (CUDA when nvcc is present)
# and runs every test. GPU tests skip themselves where no device is present.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
# JCAS_WERROR=ON (CI) makes every warning an error.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DJCAS_WERROR="${JCAS_WERROR:-OFF}" >/dev/null
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
