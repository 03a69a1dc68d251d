#!/usr/bin/env bash
# The shipped models are what their documented command makes: tools/train_models.sh run
# afresh gives, for each of models/unfolded_d*.h5, the same parameters (beta, the per-layer
# mu tables, mu_c, mu_s) to 1e-12 relative, the same structure and the same provenance, on
# any x86-64 machine with AVX2 (the script fixes OpenBLAS's kernels; a CPU-chosen kernel
# set on an AVX-512 machine trained another model).
#   shipped_models_test.sh JCAS_BINARY
set -euo pipefail
jcas="$1"
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
JCAS="$jcas" bash "$root/tools/train_models.sh" "$out" > "$out/log.txt" 2>&1 ||
  { tail -20 "$out/log.txt"; echo "FAIL: tools/train_models.sh"; exit 1; }
/usr/bin/python3 - "$root/models" "$out" <<'PY'
import sys, glob, os
import h5py, numpy as np
shipped, fresh = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(shipped, "unfolded_d*.h5")))
assert files, "no shipped model"
bad = 0
for f in files:
    name = os.path.basename(f)
    a, b = h5py.File(f, "r"), h5py.File(os.path.join(fresh, name), "r")
    for key in ("beta", "mu_c_layer", "mu_s_layer"):
        x, y = a[key][()], b[key][()]
        err = np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-300))
        ok = x.shape == y.shape and err <= 1e-12
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name} {key}: max relative difference {err:.2e}")
    for attr in ("l_out", "l_in", "i_w", "per_layer_mu", "w0_zf", "mu_c", "mu_s", "provenance"):
        ok = a.attrs[attr] == b.attrs[attr]
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name} {attr}")
sys.exit(1 if bad else 0)
PY
