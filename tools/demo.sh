#!/usr/bin/env bash
# Quick start, command 1: installs what is missing, builds, and runs the main job
# (`jcas demo`) on the built-in default scenario. Extra arguments go to `jcas demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target jcas
exec build/jcas demo "$@"
