#!/usr/bin/env bash
# Installs the Debian 12 packages the build, tests and plots need (idempotent; quiet when
# everything is already there). The CUDA toolkit is expected at /usr/local/cuda when
# present; without it the CPU-only build is made. python3-torch (about 600 MB) is for the
# Python module's tests of PyTorch tensors through DLPack.
set -euo pipefail
pkgs=(cmake g++ make pkg-config clang-format libgtest-dev libeigen3-dev libcli11-dev libhdf5-dev liblapacke-dev
      libopenblas-dev libzip-dev nlohmann-json3-dev librandom123-dev python3-matplotlib python3-h5py
      python3-numpy openmpi-bin libopenmpi-dev python3-dev pybind11-dev libdlpack-dev python3-pytest python3-torch)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
