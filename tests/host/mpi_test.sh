#!/usr/bin/env bash
# Issue 5: real MPI processes (OpenMPI, 2 ranks on this machine). A 2-rank Monte Carlo
# gives the same summary as one process with the same seed, and a 2-rank data-parallel
# training gives the same model, bit for bit; only rank 0 writes files.
set -u
jcas="$(readlink -f "$1")"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
mpirun="mpirun --oversubscribe -np 2"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
cd "$dir" || exit 1

# Monte Carlo: chunk 7 does not divide 45, and 7 realizations split 4 + 3 over the ranks.
mc="montecarlo --count 45 --chunk 7 --algos unfolded,ao-backtracking --json"
"$jcas" $mc --out one >one.json 2>/dev/null && ok || bad "1-process montecarlo"
$mpirun "$jcas" $mc --out two >two.json 2>two.err && ok || bad "2-rank montecarlo: $(cat two.err)"
[ "$(wc -l <two.json)" -eq 1 ] && ok || bad "2-rank montecarlo printed $(wc -l <two.json) lines (rank 0 only)"
cmp -s one.json two.json && ok || bad "montecarlo JSON differs: $(cat one.json) vs $(cat two.json)"
cmp -s one.csv two.csv && ok || bad "montecarlo CSV differs"
/usr/bin/python3 - <<'PY' && ok || bad "montecarlo HDF5 summaries differ"
import h5py, numpy as np
a, b = h5py.File("one.h5"), h5py.File("two.h5")
for g in a:
    assert dict(a[g].attrs) == dict(b[g].attrs), g
    assert np.array_equal(a[g]["objective_sorted"][()], b[g]["objective_sorted"][()]), g
PY

# Training: batch 10 over 3 ranks' worth of work (5 + 5), 2 epochs, 12 layers.
"$jcas" generate --count 25 --seed 4 --out tr.h5 2>/dev/null && ok || bad "generate"
tr="train --data tr.h5 --validation tr.h5 --epochs 2 --batch 10 --outer 12"
"$jcas" $tr --out m1.h5 2>/dev/null && ok || bad "1-process train"
$mpirun "$jcas" $tr --out m2.h5 2>train.err && ok || bad "2-rank train: $(cat train.err)"
/usr/bin/python3 - <<'PY' && ok || bad "trained models differ"
import h5py, numpy as np
a, b = h5py.File("m1.h5"), h5py.File("m2.h5")
assert set(a) == set(b), (set(a), set(b))
for k in a:
    assert np.array_equal(a[k][()], b[k][()]), k
for k in a.attrs:
    if k != "provenance":
        assert a.attrs[k] == b.attrs[k], k
PY
cmp -s m1.h5.log.csv m2.h5.log.csv && ok || bad "training logs differ"

# A failure on the ranks ends the whole job with one error line, not a hang.
timeout 60 $mpirun "$jcas" montecarlo --count 4 --params missing.h5 --out x >/dev/null 2>err.txt
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "failing 2-rank run: exit $rc"
grep -q "missing.h5" err.txt && ok || bad "no error naming the file: $(cat err.txt)"
[ ! -e x.h5 ] && ok || bad "output left behind"

# Commands that write one set of files refuse to run on several ranks.
timeout 60 $mpirun "$jcas" generate --count 2 --out g.h5 >/dev/null 2>err2.txt
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "2-rank generate: exit $rc"
grep -q "only montecarlo and train" err2.txt && ok || bad "no clear error for 2-rank generate: $(cat err2.txt)"
[ ! -e g.h5 ] && ok || bad "2-rank generate wrote a file"

echo "mpi_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
