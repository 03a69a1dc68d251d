#!/usr/bin/env bash
# Packs a CUDA build made here into gpu-carry.tar.xz for the device machine, whose image
# has CUDA 13, CMake and a compiler but none of the Debian packages the build needs (HDF5,
# CLI11, GoogleTest, OpenBLAS, libzip ...) and no package registry to install them from:
#   bin/jcas, bin/test_backend_cuda   the CLI and the CUDA backend tests (built for sm_90)
#   lib/                              every shared library they load from Debian, except
#                                     glibc's, libstdc++/libgcc_s (the device's newer ones
#                                     serve) and CUDA's (the device's CUDA 13 serves)
#   REVISION                          the commit packed and whether the tree was clean
# bench/gpu_check.sh unpacks it when it is there (the device tool's `carry`), checks that
# the binaries start, and builds from source only if they do not.
#   tools/pack_gpu.sh              builds build-carry first (CUDA for sm_90, no MPI: MPI's
#                                  libevent needs glibc 2.36, the rest 2.34), then packs it
#   tools/pack_gpu.sh BUILD_DIR    packs an existing JCAS_CUDA=ON build
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-}"
if [ -z "$build" ]; then
  build=build-carry
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DJCAS_CUDA=ON -DJCAS_MPI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build "$build" -j "$(nproc)" --target jcas test_backend_cuda
fi
for b in "$build/jcas" "$build/tests/test_backend_cuda"; do
  [ -x "$b" ] || { echo "pack_gpu: $b is missing: build with -DJCAS_CUDA=ON first" >&2; exit 1; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gpu-carry/bin" "$stage/gpu-carry/lib"
cp "$build/jcas" "$build/tests/test_backend_cuda" "$stage/gpu-carry/bin/"
skip='/libc\.so|/libm\.so|/libmvec\.so|/libpthread\.so|/libdl\.so|/librt\.so|/libresolv\.so|/ld-linux|/libstdc\+\+\.so|/libgcc_s\.so|/usr/local/cuda'
{ ldd "$build/jcas"; ldd "$build/tests/test_backend_cuda"; } | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -Ev "$skip" | while read -r lib; do
  cp -L "$lib" "$stage/gpu-carry/lib/$(basename "$lib")"
done
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo " (uncommitted changes)" || true)
echo "$(git rev-parse --short HEAD)$dirty, packed $(date -u +%Y-%m-%dT%H:%MZ) from $build" >"$stage/gpu-carry/REVISION"
tmp="gpu-carry.tar.xz.tmp.$$"
tar -C "$stage" -cf - gpu-carry | xz -T0 -6 >"$tmp"
mv "$tmp" gpu-carry.tar.xz
glibc=$(for f in "$stage"/gpu-carry/bin/* "$stage"/gpu-carry/lib/*; do objdump -T "$f" 2>/dev/null; done |
  grep -o "GLIBC_2\.[0-9]*" | sort -t. -k2 -n -u | tail -1)
echo "gpu-carry.tar.xz: $(du -h gpu-carry.tar.xz | cut -f1), $(ls "$stage/gpu-carry/lib" | wc -l) libraries," \
  "needs ${glibc:-GLIBC_?} or newer; $(cat "$stage/gpu-carry/REVISION")"
