#!/usr/bin/env bash
# Nothing lost, nothing silently wrong (issue 20): a full disk, an output that names an
# input, a resume with other settings, inputs that would give wrong numbers, sizes that
# cannot fit, and what a killed run leaves. Each case fails before its fix.
set -u
jcas="$1"
. "$(dirname "$0")/cli_lib.sh"
py=/usr/bin/python3

"$jcas" generate --count 6 --seed 3 --out "$dir/c.h5" 2>/dev/null && ok || bad "generate"
"$jcas" train --data "$dir/c.h5" --epochs 1 --batch 3 --outer 5 --out "$dir/m.h5" --no-plot 2>/dev/null && ok || bad "train"

# --- 1. A full disk. The process's file size limit (ulimit -f, SIGXFSZ ignored: writes
# past it fail with EFBIG) stands in for a full device without privileges; a small tmpfs
# is used too where this machine lets us mount one. Every writer must exit non-zero with
# one line naming the file and the cause, and leave neither the file nor a temporary.
limited() {  # limited KB cmd...: cmd with a file size limit of KB kilobytes
  local kb="$1"; shift
  (ulimit -f "$kb"; trap '' XFSZ; exec "$@")
}
no_trace() {  # no_trace PREFIX: nothing named PREFIX* is left in $dir
  if ls "$dir/$1"* >/dev/null 2>&1; then bad "left behind: $(ls "$dir/$1"*)"; else ok; fi
}
expect_error "out.h5: cannot finish writing the file: file too large" limited 40 "$jcas" generate --count 3 --out "$dir/out.h5"
expect_error "out.h5: cannot" limited 4 "$jcas" solve --data "$dir/c.h5" --outer 5 --out "$dir/out.h5"
expect_error "file too large" limited 6 "$jcas" montecarlo --count 300 --chunk 100 --algos unfolded,heuristic \
  --checkpoint-seconds 0 --out "$dir/mcf" --no-plot
no_trace mcf
# After a failed checkpoint, --resume finds none (not "another run's").
expect_error "mcf.ckpt.h5: file not found" "$jcas" montecarlo --count 300 --chunk 100 --algos unfolded,heuristic \
  --out "$dir/mcf" --resume --no-plot
expect_error "file too large" limited 6 "$jcas" train --data "$dir/c.h5" --epochs 1 --batch 3 --outer 150 \
  --out "$dir/tf.h5" --no-plot
no_trace tf.h5
if mkdir -p "$dir/small" && mount -t tmpfs -o size=48k tmpfs "$dir/small" 2>/dev/null; then
  # A file that cannot fit is refused before anything is drawn; one that runs out of
  # room on the way (a filler leaves 8 KB) is named with the cause.
  expect_error "small/out.h5 would take" "$jcas" generate --count 30 --out "$dir/small/out.h5"
  head -c 40960 /dev/zero >"$dir/small/filler"
  "$jcas" solve --data "$dir/c.h5" --outer 5 --out "$dir/small/out.h5" >/dev/null 2>"$dir/stderr"
  [ $? -ne 0 ] && grep -qF "small/out.h5: cannot" "$dir/stderr" && grep -qF "no space left on the device" "$dir/stderr" &&
    [ "$(wc -l <"$dir/stderr")" -eq 1 ] && ok || bad "tmpfs solve: $(cat "$dir/stderr")"
  [ "$(ls -A "$dir/small")" = filler ] && ok || bad "tmpfs left: $(ls "$dir/small")"
  umount "$dir/small"
else
  echo "faults: no tmpfs here (mount not permitted); the file size limit stood in for a full disk"
fi

# --- 2. An output that names an input is refused, whatever the spelling; the input is kept.
sum_c=$(md5sum <"$dir/c.h5")
sum_m=$(md5sum <"$dir/m.h5")
expect_error "out = $dir/c.h5: is the input --data" "$jcas" solve --data "$dir/c.h5" --out "$dir/c.h5"
expect_error "is the input --data" "$jcas" train --data "$dir/c.h5" --epochs 1 --out "$dir/c.h5"
expect_error "is the input --params" "$jcas" solve --data "$dir/c.h5" --params "$dir/m.h5" --out "$dir/m.h5"
ln -s "$dir/c.h5" "$dir/link.h5"
expect_error "is the input --data" "$jcas" solve --data "$dir/c.h5" --out "$dir/./link.h5"
expect_error "is the input --params" "$jcas" montecarlo --count 4 --params "$dir/m.h5" --out "$dir/m" --no-plot
[ "$(md5sum <"$dir/c.h5")" = "$sum_c" ] && [ "$(md5sum <"$dir/m.h5")" = "$sum_m" ] && ok || bad "an input changed"
expect_error "is a folder" "$jcas" solve --data "$dir/c.h5" --out "$dir"
expect_error "is a folder" "$jcas" generate --count 2 --out "$dir"

# --- 3. A resume with other settings is refused, naming the field; the same settings go on.
"$jcas" train --data "$dir/c.h5" --epochs 1 --batch 3 --outer 5 --out "$dir/r.h5" --no-plot 2>/dev/null && ok || bad "train r"
expect_error "resume: lr = 0.001, but $dir/r.h5.ckpt.h5 was trained with lr = 0.0003" \
  "$jcas" train --data "$dir/c.h5" --epochs 2 --batch 3 --outer 5 --out "$dir/r.h5" --resume --lr 1e-3 --no-plot
expect_error "resume: realizations = 4" \
  "$jcas" train --data "$dir/c.h5" --epochs 2 --batch 3 --outer 5 --out "$dir/r.h5" --resume --limit 4 --no-plot
expect_error "resume: batch = 2" \
  "$jcas" train --data "$dir/c.h5" --epochs 2 --batch 2 --outer 5 --out "$dir/r.h5" --resume --no-plot
"$jcas" generate --count 6 --seed 4 --out "$dir/c4.h5" 2>/dev/null
expect_error "resume: the training data differ" \
  "$jcas" train --data "$dir/c4.h5" --epochs 2 --batch 3 --outer 5 --out "$dir/r.h5" --resume --no-plot
"$jcas" train --data "$dir/c.h5" --epochs 2 --batch 3 --outer 5 --out "$dir/r.h5" --resume --no-plot 2>/dev/null &&
  ok || bad "resume with the same settings"

# --- 4. Inputs that gave wrong numbers with exit 0.
for step in nan -1 inf 0; do
  expect_error "step = $step" "$jcas" solve --data "$dir/c.h5" --algo ao-fixed --step "$step"
done
expect_error "outer-tol = nan" "$jcas" solve --data "$dir/c.h5" --algo ao-fixed --outer-tol nan
expect_error "inner-tol = -1" "$jcas" solve --data "$dir/c.h5" --algo ao-backtracking --inner-tol -1
for opt in "--users -1" "--targets 0" "--targets -7" "--nr 0" "--nr -4" "--limit 0"; do
  expect_error "${opt%% *}: value ${opt##* } must be an integer >= 1" "$jcas" solve --data "$dir/c.h5" $opt
done
$py - "$dir" <<'PY'
import h5py, sys
d = sys.argv[1]
with h5py.File(d + "/c.h5", "r") as f, h5py.File(d + "/big.h5", "w") as g, h5py.File(d + "/empty.h5", "w") as e:
    g["H"] = f["H"][()] * 1e300; g["G"] = f["G"][()] * 1e300
    e["H"] = f["H"][:0]; e["G"] = f["G"][:0]
    for k, v in f.attrs.items(): g.attrs[k] = v; e.attrs[k] = v
PY
expect_error "above the noise" "$jcas" solve --data "$dir/big.h5"
expect_error "use --precision f64" "$jcas" solve --data "$dir/c.h5" --snr-db 60 --precision f32
expect_error "pt = 1e+20 (200 dB)" "$jcas" solve --data "$dir/c.h5" --snr-db 200
expect_error "empty.h5: holds no realizations" "$jcas" solve --data "$dir/empty.h5"

# Two model files that the fuzzer (tests/host/fuzz_readers.cpp) made from a valid one and
# that crashed jcas inside HDF5: one whose dataset's storage does not match its shape (now
# refused before HDF5 reads it), one whose superblock crashes H5Fopen itself (now read
# first by a child process, whose crash is reported).
data="$(dirname "$0")/data"
expect_error "its storage does not match its shape" "$jcas" solve --data "$dir/c.h5" --params "$data/damaged_model_storage.h5"
expect_error "reading it crashed the HDF5 library" "$jcas" solve --data "$dir/c.h5" --params "$data/damaged_model_superblock.h5"

# --- 5. Sizes that cannot fit are refused up front with the bytes they need.
expect_error "needs 24 GB of memory" "$jcas" solve --data "$dir/c.h5" --outer 1000000000
expect_error "--threads: value 100000" "$jcas" solve --data "$dir/c.h5" --threads 100000
expect_error "would take 17.4 PB" "$jcas" generate --count 1000000000000 --out "$dir/out.h5"
expect_error "count = 9223372036854775807" "$jcas" generate --count 9223372036854775807 --out "$dir/out.h5"

# --- 6. A killed run's temporary is removed by the next write of the same file; a live
# process's is left alone.
touch "$dir/out.h5.tmp.3999999" "$dir/out.h5.tmp.$$"
"$jcas" generate --count 2 --out "$dir/out.h5" 2>/dev/null && ok || bad "generate after a killed one"
[ ! -e "$dir/out.h5.tmp.3999999" ] && [ -e "$dir/out.h5.tmp.$$" ] && ok || bad "temporaries: $(ls "$dir"/out.h5*)"
rm -f "$dir/out.h5"*

echo "faults: $pass passed, $fail failed"
[ $fail -eq 0 ]
