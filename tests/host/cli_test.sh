#!/usr/bin/env bash
# The jcas command line as a user meets it: the main paths work, and every bad input
# gives one line naming the field and value, a non-zero exit, and no output file.
set -u
jcas="$1"
. "$(dirname "$0")/cli_lib.sh"

"$jcas" generate --count 6 --seed 3 --out "$dir/c.h5" 2>/dev/null && ok || bad "generate"
"$jcas" generate --count 4 --seed 3 --preset paper --users 2 --out "$dir/p.h5" 2>/dev/null && ok || bad "generate paper"
for a in unfolded ao-fixed ao-backtracking heuristic ao-monotone ascent; do
  out=$("$jcas" solve --data "$dir/c.h5" --algo $a --outer 5 --max-outer 5 --json --out "$dir/r_$a.h5" 2>/dev/null)
  [ $? -eq 0 ] && ok || bad "solve $a"
  # Exactly one JSON object with the documented keys.
  echo "$out" | /usr/bin/python3 -c "
import json,sys
lines=sys.stdin.read().strip().splitlines(); assert len(lines)==1, lines
j=json.loads(lines[0])
keys={'algo','realizations','mean_objective','min_sinr_db','min_scnr_db','mean_iterations','seconds_per_realization','simd_realizations','ranges','wall_seconds'}
keys|={'model'} if '$a'=='unfolded' else set()  # the unfolded model's provenance
assert set(j)==keys, j; assert j['algo']=='$a' and j['realizations']==6 and j['ranges']==1, j
assert j['wall_seconds'] >= 6 * j['seconds_per_realization'] > 0, j
" && ok || bad "json for $a: $out"
  [ -s "$dir/r_$a.h5" ] && ok || bad "results file for $a"
done
# Results readable by h5py with the documented shapes.
/usr/bin/python3 -c "
import h5py,sys
f=h5py.File('$dir/r_unfolded.h5','r')
assert f['W'].shape==(6,16,4) and f['W'].dtype.kind=='c', f['W']
assert f['F'].shape==(6,16,2) and f['curve'].shape==(6,6)
c=h5py.File('$dir/c.h5','r'); assert c['H'].shape==(6,16,4) and c['G'].shape==(6,64,16)
" && ok || bad "h5py layout"
# generate --rank-one: G as its factors Gu (B, J, Nr) and Gv (B, J, Nt); solve reads the
# file as the dense one, to rounding.
"$jcas" generate --count 6 --seed 3 --rank-one --out "$dir/c1.h5" 2>/dev/null && ok || bad "generate --rank-one"
"$jcas" solve --data "$dir/c1.h5" --outer 5 --json >"$dir/s_r1.json" 2>/dev/null &&
  "$jcas" solve --data "$dir/c.h5" --outer 5 --json >"$dir/s_dense.json" 2>/dev/null && ok || bad "solve a rank-one file"
/usr/bin/python3 -c "
import h5py, json
r=h5py.File('$dir/c1.h5','r')
assert set(r)=={'H','Gu','Gv'} and r['Gu'].shape==(6,4,16) and r['Gv'].shape==(6,4,16), list(r)
a=json.load(open('$dir/s_r1.json')); b=json.load(open('$dir/s_dense.json'))
assert a['realizations']==6 and abs(a['mean_objective']-b['mean_objective'])<=1e-12*abs(b['mean_objective']), (a, b)
" && ok || bad "rank-one file layout or results"
# --chunk: the file read, solved and written range by range gives the whole solve's
# results file and summary, to the bit.
"$jcas" solve --data "$dir/c1.h5" --outer 5 --chunk 4 --json --out "$dir/s_chunk.h5" >"$dir/s_chunk.json" 2>/dev/null &&
  "$jcas" solve --data "$dir/c1.h5" --outer 5 --json --out "$dir/s_whole.h5" >"$dir/s_whole.json" 2>/dev/null &&
  /usr/bin/python3 -c "
import h5py, json, numpy as np
a=h5py.File('$dir/s_chunk.h5','r'); b=h5py.File('$dir/s_whole.h5','r')
for k in ('W','F','curve','objective','min_sinr','min_scnr','outer','inner'): assert np.array_equal(a[k][()], b[k][()]), k
for k in ('mean_objective','min_sinr_db','min_scnr_db'): assert a.attrs[k]==b.attrs[k], k
x=json.load(open('$dir/s_chunk.json')); y=json.load(open('$dir/s_whole.json'))
assert x['mean_objective']==y['mean_objective'] and x['realizations']==6, (x, y)
" && ok || bad "solve --chunk"
expect_error "--chunk: value 0 must be an integer >= 1" "$jcas" solve --data "$dir/c1.h5" --chunk 0 --out "$dir/out.h5"
# --resume: an interrupted solve's FILE.part is continued only for its own run, and is never
# overwritten by a solve that does not ask to continue it.
expect_error "resume: continues a results file: give it with --out" "$jcas" solve --data "$dir/c1.h5" --resume
/usr/bin/python3 -c "
import h5py, numpy as np
f=h5py.File('$dir/ires.h5.part','w'); f.attrs['format']=np.bytes_('jcas-results-part-1')
f.attrs['run']=np.bytes_('data = elsewhere.h5')
f.attrs['done']=1; f.attrs['seconds']=0.0
"
"$jcas" solve --data "$dir/c1.h5" --outer 5 --out "$dir/ires.h5" 2>"$dir/err1"
rc1=$?
"$jcas" solve --data "$dir/c1.h5" --outer 5 --out "$dir/ires.h5" --resume 2>"$dir/err2"
rc2=$?
[ $rc1 -ne 0 ] && grep -q "ires.h5.part: holds an interrupted solve's results: --resume continues it" "$dir/err1" &&
  [ $rc2 -ne 0 ] && grep -q "resume: data = .*c1.h5, but it was begun with data = elsewhere.h5" "$dir/err2" &&
  [ -f "$dir/ires.h5.part" ] && [ ! -e "$dir/ires.h5" ] && ok || bad "solve --resume refusals: $(cat "$dir/err1" "$dir/err2")"
rm -f "$dir/ires.h5.part"
"$jcas" solve --data "$dir/c1.h5" --outer 5 --out "$dir/ires.h5" --resume >/dev/null 2>&1 && [ -f "$dir/ires.h5" ] &&
  [ ! -e "$dir/ires.h5.part" ] && ok || bad "solve --resume without a part starts"
# A solve stopped by a signal dies of it and keeps the ranges it wrote (FILE.part, never
# FILE); --resume finishes it to the uninterrupted results, bit for bit.
"$jcas" generate --count 3000 --seed 9 --rank-one --out "$dir/g.h5" 2>/dev/null &&
  "$jcas" solve --data "$dir/g.h5" --algo ao-monotone --chunk 256 --threads 1 --out "$dir/sfull.h5" >/dev/null 2>&1 &&
  ok || bad "solve of 3000"
"$jcas" solve --data "$dir/g.h5" --algo ao-monotone --chunk 256 --threads 1 --out "$dir/sint.h5" >/dev/null 2>&1 &
pid=$!
sleep 1.5
kill -TERM "$pid"
wait "$pid"
[ $? -eq 143 ] && [ ! -e "$dir/sint.h5" ] && ok || bad "solve under SIGTERM: not 128 + 15, or a finished file"
"$jcas" solve --data "$dir/g.h5" --algo ao-monotone --chunk 256 --threads 1 --out "$dir/sint.h5" --resume \
  >/dev/null 2>&1 && /usr/bin/python3 -c "
import h5py, numpy as np
a=h5py.File('$dir/sfull.h5','r'); b=h5py.File('$dir/sint.h5','r')
assert all(np.array_equal(a[k][()], b[k][()]) for k in a)
assert a.attrs['mean_objective']==b.attrs['mean_objective']
" && [ ! -e "$dir/sint.h5.part" ] && ok || bad "solve --resume after a signal"
# --count-flops: the counted arithmetic a realization in the JSON, proportional to the layers.
"$jcas" solve --data "$dir/c.h5" --outer 5 --count-flops --json >"$dir/f5.json" 2>/dev/null &&
  "$jcas" solve --data "$dir/c.h5" --outer 10 --count-flops --json >"$dir/f10.json" 2>/dev/null &&
  /usr/bin/python3 -c "
import json
a=json.load(open('$dir/f5.json'))['counted_mflop']; b=json.load(open('$dir/f10.json'))['counted_mflop']
assert 0 < a and 1.9 < b / a < 2.1, (a, b)
" && ok || bad "solve --count-flops"
# --version names the commit that built the binary, and every file carries the same stamp.
ver=$("$jcas" --version) && ok || bad "--version exit status"
# The revision is a commit of this repository (the binary's, not necessarily HEAD's).
rev=$(echo "$ver" | head -1 | sed -n 's/^jcas [0-9][0-9.]* (\([0-9a-f]\{7,\}\)\(-dirty\)\{0,1\})$/\1/p')
if git -C "$(dirname "$0")" rev-parse --git-dir >/dev/null 2>&1; then
  [ -n "$rev" ] && git -C "$(dirname "$0")" cat-file -e "$rev^{commit}" 2>/dev/null && ok || bad "--version: '$ver'"
fi
# ... and says whether this CPU has the CPU backend's level (this machine does: AVX-512).
echo "$ver" | grep -qx "this CPU: runs the CPU backend" && ok || bad "--version: no CPU line in '$ver'"
/usr/bin/python3 -c "
import h5py
v='$(echo "$ver" | head -1)'.removeprefix('jcas ')
for p in ['$dir/c.h5', '$dir/r_unfolded.h5']:
    a=h5py.File(p,'r').attrs['jcas_version']; a=a.decode() if isinstance(a,bytes) else a
    assert a==v, (p, a, v)
" && ok || bad "jcas_version attribute differs from --version"
"$jcas" solve --data "$dir/c.h5" --limit 2 | grep -q "unfolded  *2 " && ok || bad "table"
# Without --params the unfolded solver runs the model shipped for --delta (models/): the
# results of that file given as --params, its provenance in the JSON and the results file;
# --params untrained is the untrained model, as --outer 150 --inner 3 without a file.
models="$(cd "$(dirname "$0")/../.." && pwd)/models"
for d in 1 10; do
  "$jcas" solve --data "$dir/c.h5" --delta $d --limit 3 --json --out "$dir/s$d.h5" >"$dir/s$d.json" 2>/dev/null &&
    "$jcas" solve --data "$dir/c.h5" --delta $d --limit 3 --json --params "$models/unfolded_d$d.h5" >"$dir/p$d.json" 2>/dev/null &&
    ok || bad "solve with the shipped model, delta $d"
done
"$jcas" solve --data "$dir/c.h5" --limit 3 --json --params untrained >"$dir/u.json" 2>/dev/null &&
  "$jcas" solve --data "$dir/c.h5" --limit 3 --json --outer 150 --inner 3 >"$dir/u2.json" 2>/dev/null &&
  ok || bad "solve untrained"
/usr/bin/python3 -c "
import json, h5py
r = {n: json.load(open('$dir/' + n + '.json')) for n in ('s1', 'p1', 's10', 'p10', 'u', 'u2')}
for d in ('1', '10'):
    assert r['s' + d]['mean_objective'] == r['p' + d]['mean_objective'], (d, r)
    assert r['s' + d]['model'].startswith('shipped models/unfolded_d' + d + '.h5: trained: '), r['s' + d]['model']
    assert h5py.File('$dir/s' + d + '.h5', 'r').attrs['model'].decode() == r['s' + d]['model']
assert r['u']['model'] == 'untrained' and r['u']['mean_objective'] == r['u2']['mean_objective'], r
assert r['s1']['mean_objective'] > r['u']['mean_objective'], r  # the trained model climbs further
" && ok || bad "shipped model as the default"

expect_error "algo = magic" "$jcas" solve --data "$dir/c.h5" --algo magic --out "$dir/out.h5"
expect_error "delta = -1" "$jcas" solve --data "$dir/c.h5" --delta -1 --out "$dir/out.h5"
expect_error "users = 9" "$jcas" solve --data "$dir/c.h5" --users 9 --out "$dir/out.h5"
expect_error "targets = 5" "$jcas" solve --data "$dir/c.h5" --targets 5 --out "$dir/out.h5"
expect_error "$dir/nodir/out.h5: cannot create file: no folder $dir/nodir" "$jcas" solve --data "$dir/c.h5" --limit 1 --out "$dir/nodir/out.h5"
expect_error "file not found" "$jcas" solve --data "$dir/missing.h5" --out "$dir/out.h5"
echo junk >"$dir/junk.h5"
expect_error "not an HDF5 file" "$jcas" solve --data "$dir/junk.h5" --out "$dir/out.h5"
expect_error "--bogus" "$jcas" solve --data "$dir/c.h5" --bogus --out "$dir/out.h5"
expect_error "device = gpu" "$jcas" solve --data "$dir/c.h5" --device gpu --out "$dir/out.h5"
expect_error "snr-db = inf" "$jcas" solve --data "$dir/c.h5" --snr-db inf --out "$dir/out.h5"
expect_error "f0 = cusolver" "$jcas" solve --data "$dir/c.h5" --f0 cusolver --out "$dir/out.h5"
expect_error "count" "$jcas" generate --count 0 --out "$dir/out.h5"
expect_error "users" "$jcas" generate --users 0 --out "$dir/out.h5"
# Every scenario constant is checked before anything is drawn or written.
expect_error "snr-db = nan" "$jcas" generate --count 2 --snr-db nan --out "$dir/out.h5"
expect_error "height = nan" "$jcas" generate --count 2 --height nan --out "$dir/out.h5"
expect_error "user-dist = -5" "$jcas" generate --count 2 --user-dist -5 --out "$dir/out.h5"
expect_error "angle-max = 1" "$jcas" generate --count 2 --angle-min 2 --angle-max 1 --out "$dir/out.h5"
expect_error "noise-db = inf" "$jcas" generate --count 2 --noise-db inf --out "$dir/out.h5"
expect_error "channels must be finite" "$jcas" generate --count 2 --zeta0-db 1e5 --out "$dir/out.h5"
expect_error "not a jcas model file" "$jcas" solve --data "$dir/c.h5" --params "$dir/c.h5" --out "$dir/out.h5"

# Training: an interrupted run resumed from its checkpoint ends where an uninterrupted one does.
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 3 --batch 4 --lr 3e-3 --out "$dir/whole.h5" 2>/dev/null && ok || bad "train"
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --batch 4 --lr 3e-3 --out "$dir/part.h5" 2>/dev/null && ok || bad "train part"
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 3 --batch 4 --lr 3e-3 --out "$dir/part.h5" --resume 2>/dev/null && ok || bad "train resume"
/usr/bin/python3 -c "
import h5py,numpy as np
a=h5py.File('$dir/whole.h5','r'); b=h5py.File('$dir/part.h5','r')
assert a['beta'].shape==(4,3)
assert np.array_equal(a['beta'][()], b['beta'][()]) and a.attrs['mu_c']==b.attrs['mu_c']
assert not np.allclose(a['beta'][()], 0.01)
" && ok || bad "resume differs from uninterrupted"
[ "$(grep -c ',end,' "$dir/part.h5.log.csv")" -eq 3 ] && ok || bad "log csv epochs"
head -c 8 "$dir/whole.h5.log.png" 2>/dev/null | od -c | grep -q "P   N   G" && ok || bad "train drew no whole.h5.log.png"
"$jcas" solve --data "$dir/c.h5" --params "$dir/whole.h5" --json >/dev/null 2>&1 && ok || bad "solve with trained params"
# Several models in one run train side by side (each its share of the cores), each as
# trained alone: the logs and parameters bit for bit, with --fresh's draws; bad lists and
# one model's bad setting are refused in one line naming the model.
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 2 --batch 4 --lr 3e-3 --fresh --no-plot --delta 1,10 --iw 2,4 \
  --out "$dir/two1.h5" "$dir/two2.h5" 2>/dev/null && ok || bad "train two models"
for m in "1 2 two1" "10 4 two2"; do
  read -r d iw name <<<"$m"
  "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 2 --batch 4 --lr 3e-3 --fresh --no-plot --delta "$d" --iw "$iw" \
    --out "$dir/$name.alone.h5" 2>/dev/null && ok || bad "train $name alone"
  cmp -s "$dir/$name.h5.log.csv" "$dir/$name.alone.h5.log.csv" && ok || bad "$name: side by side, another log"
  /usr/bin/python3 -c "
import h5py,numpy as np
a=h5py.File('$dir/$name.h5','r'); b=h5py.File('$dir/$name.alone.h5','r')
assert a['beta'].shape==(4,3) and a.attrs['mu_c']==b.attrs['mu_c'] and np.array_equal(a['beta'][()], b['beta'][()])
" && ok || bad "$name: side by side, another model"
done
# A model that fails while the others train stops them at their next step: one line
# naming it, and the others' checkpoints stay for --resume.
cp "$dir/two1.h5.ckpt.h5" "$dir/f1.h5.ckpt.h5"  # --lr 3e-3: a resume at the default is refused in train::run
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --batch 4 --out "$dir/f2.h5" --no-plot 2>/dev/null && ok || bad "train f2"
timeout 60 "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 100000 --batch 4 --resume --out "$dir/f1.h5" "$dir/f2.h5" \
  --no-plot >/dev/null 2>"$dir/f.err"
[ $? -eq 1 ] && [ "$(wc -l <"$dir/f.err")" -eq 1 ] && grep -q "f1.h5: resume: lr = 0.0003, but" "$dir/f.err" && ok ||
  bad "a failing model among several: $(cat "$dir/f.err")"
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 2 --batch 4 --resume --out "$dir/f2.h5" --no-plot 2>/dev/null &&
  ok || bad "the stopped model's checkpoint does not resume"
expect_error "delta: 3 values for 2 models (--out): give one, or one a model" \
  "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --delta 1,2,3 --out "$dir/out.h5" "$dir/out.h5.b"
expect_error "is named twice" "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --out "$dir/out.h5" "$dir/./out.h5"
expect_error "out.h5.b: delta = nan" \
  "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --delta 1,nan --out "$dir/out.h5" "$dir/out.h5.b"
# --fresh: epoch 1 on the file, later epochs on new draws of its scenario (the log's first
# epoch equals the plain run's, the second does not; the provenance says so); a file that
# does not record its draw is refused.
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 2 --batch 4 --lr 3e-3 --fresh --out "$dir/fresh.h5" --no-plot \
  2>/dev/null && ok || bad "train --fresh"
/usr/bin/python3 -c "
import csv, h5py
rows = lambda p: [r for r in csv.DictReader(open(p)) if r['batch'] == 'end']
f, w = rows('$dir/fresh.h5.log.csv'), rows('$dir/whole.h5.log.csv')
assert f[0]['train_loss'] == w[0]['train_loss'] and f[1]['train_loss'] != w[1]['train_loss'], (f, w)
p = h5py.File('$dir/fresh.h5','r').attrs['provenance']; p = p.decode() if isinstance(p, bytes) else p
assert 'realizations=6 fresh-each-epoch' in p, p
c = h5py.File('$dir/c.h5','r'); b = h5py.File('$dir/bare.h5','w')
for k in ('H', 'G'): b[k] = c[k][()]
for k in ('nt', 'nr', 'users', 'targets', 'clutter', 'snr_db'): b.attrs[k] = c.attrs[k]
" && ok || bad "train --fresh: log or provenance"
expect_error "users-mix: K = 6, but the training data have 4 users" \
  "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --users-mix 2,6 --out "$dir/out.h5"
expect_error "layer-repeat = 0: must be users or a whole number >= 1" \
  "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --layer-repeat 0 --out "$dir/out.h5"
expect_error "layer-repeat = two: must be users or a whole number >= 1" \
  "$jcas" solve --data "$dir/c.h5" --layer-repeat two --out "$dir/out.h5"
expect_error "users-mix = 0: every K must be >= 1" \
  "$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --users-mix 0 --out "$dir/out.h5"
expect_error "fresh: $dir/bare.h5 does not record how it was drawn (make it with jcas generate)" \
  "$jcas" train --data "$dir/bare.h5" --outer 4 --epochs 2 --fresh --out "$dir/out.h5"
expect_error "fresh: targets = 1, but $dir/c.h5 was drawn with 2" \
  "$jcas" train --data "$dir/c.h5" --targets 1 --outer 4 --epochs 2 --fresh --out "$dir/out.h5"
# The same for the richer model (its Adam state is longer: 2 L_out smoothing constants).
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 2 --batch 4 --per-layer-mu --out "$dir/rw.h5" 2>/dev/null && ok || bad "train per-layer"
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --batch 4 --per-layer-mu --out "$dir/rp.h5" 2>/dev/null && ok || bad "train per-layer part"
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 2 --batch 4 --per-layer-mu --out "$dir/rp.h5" --resume 2>/dev/null && ok || bad "train per-layer resume"
/usr/bin/python3 -c "
import h5py,numpy as np
a=h5py.File('$dir/rw.h5','r'); b=h5py.File('$dir/rp.h5','r')
assert all(np.array_equal(a[k][()], b[k][()]) for k in a), 'per-layer resume differs'
" && ok || bad "per-layer resume differs from uninterrupted"
# A training stopped by a signal (Ctrl-C, a scheduler's SIGTERM) dies of it, leaves its
# checkpoint and no temporary, and --resume finishes it to the uninterrupted model.
"$jcas" train --data "$dir/c.h5" --epochs 60 --batch 4 --lr 3e-3 --out "$dir/int.h5" 2>/dev/null &
pid=$!
for _ in $(seq 500); do [ -f "$dir/int.h5.ckpt.h5" ] && break; sleep 0.01; done
kill -TERM "$pid"
wait "$pid"
[ $? -eq 143 ] && ok || bad "train under SIGTERM: exit status not 128 + 15"
ls "$dir"/int.h5* | grep -q "\.tmp\." && bad "signal left a temporary: $(ls "$dir"/int.h5*)" || ok
[ ! -e "$dir/int.h5" ] && ok || bad "interrupted training wrote its model"
"$jcas" train --data "$dir/c.h5" --epochs 60 --batch 4 --lr 3e-3 --out "$dir/int.h5" --resume 2>/dev/null && ok || bad "resume after SIGTERM"
"$jcas" train --data "$dir/c.h5" --epochs 60 --batch 4 --lr 3e-3 --out "$dir/unint.h5" 2>/dev/null && ok || bad "train 60"
/usr/bin/python3 -c "
import h5py,numpy as np
a=h5py.File('$dir/int.h5','r'); b=h5py.File('$dir/unint.h5','r')
assert np.array_equal(a['beta'][()], b['beta'][()]) and a.attrs['mu_c']==b.attrs['mu_c']
" && ok || bad "resume after SIGTERM differs from the uninterrupted run"
expect_error "checkpoint" "$jcas" train --data "$dir/c.h5" --outer 5 --epochs 3 --out "$dir/part.h5" --resume
expect_error "batch" "$jcas" train --data "$dir/c.h5" --batch 0 --out "$dir/out.h5"
expect_error "snr-db = nan" "$jcas" train --data "$dir/c.h5" --snr-db nan --out "$dir/out.h5"
expect_error "delta = nan" "$jcas" train --data "$dir/c.h5" --delta nan --out "$dir/out.h5"
expect_error "lr = inf" "$jcas" train --data "$dir/c.h5" --lr inf --out "$dir/out.h5"
expect_error "weight-decay = -1" "$jcas" train --data "$dir/c.h5" --weight-decay -1 --out "$dir/out.h5"

# The main job on a tiny configuration: table, results files and non-empty PNG figures.
"$jcas" demo --train 16 --epochs 1 --test 4 --out "$dir/demo" >"$dir/demo.txt" 2>/dev/null && ok || bad "demo"
grep -q "unfolded (trained)" "$dir/demo.txt" && ok || bad "demo table"
for f in demo_convergence.png demo_cdf.png unfolded_trained.h5 ao_fixed.h5; do
  [ -s "$dir/demo/$f" ] && ok || bad "demo did not write $f"
done
head -c 8 "$dir/demo/demo_cdf.png" | od -c | grep -q "P   N   G" && ok || bad "not a PNG"

# jcas reproduce: the paper's figures on a small configuration, as non-empty PNGs.
"$jcas" reproduce --quick --out "$dir/rep" >/dev/null 2>&1 && ok || bad "reproduce --quick"
for f in fig2.png fig3a.png fig3b.png table1.md reproduce.md; do
  [ -s "$dir/rep/$f" ] && ok || bad "reproduce did not write $f"
done
# Its four models were trained in one jcas train, side by side, and the wall time is told.
/usr/bin/python3 -c "
import json
w = json.load(open('$dir/rep/reproduce.json'))['wall_seconds']
assert w['models_trained'] == 4 and 0 < w['training'] < w['total'], w
" && ok || bad "reproduce: wall time or side-by-side training not recorded"
grep -q "Wall time: .* s in all (the 4 models trained side by side in" "$dir/rep/reproduce.md" && ok || bad "reproduce.md wall time"
for m in model_d1_iw2 model_d1_iw4 model_d10_iw2 model_d10_iw4; do
  [ -s "$dir/rep/$m.h5" ] && ok || bad "reproduce did not train $m"
done
head -c 8 "$dir/rep/fig3b.png" | od -c | grep -q "P   N   G" && ok || bad "fig3b is not a PNG"

# jcas montecarlo: summary files and JSON; --resume finishes a run to the same summary.
"$jcas" montecarlo --count 9 --chunk 4 --algos unfolded,heuristic --out "$dir/mc" --json >"$dir/mc.json" 2>/dev/null && ok || bad "montecarlo"
/usr/bin/python3 -c "
import json,h5py
j=json.load(open('$dir/mc.json'))['results']; assert [x['algo'] for x in j]==['unfolded','heuristic'] and j[0]['realizations']==9, j
f=h5py.File('$dir/mc.h5','r'); assert f['unfolded/objective_sorted'].shape==(9,)
" && ok || bad "montecarlo outputs"
[ "$(wc -l <"$dir/mc.csv")" -eq 3 ] && ok || bad "montecarlo csv"
head -c 8 "$dir/mc_cdf.png" 2>/dev/null | od -c | grep -q "P   N   G" && ok || bad "montecarlo drew no mc_cdf.png"
"$jcas" montecarlo --count 5 --chunk 4 --algos unfolded,heuristic --out "$dir/mc2" --no-plot >/dev/null 2>&1 && ok || bad "mc part"
[ ! -e "$dir/mc2_cdf.png" ] && ok || bad "--no-plot drew a figure"
"$jcas" montecarlo --count 9 --chunk 4 --algos unfolded,heuristic --out "$dir/mc2" --resume --json >"$dir/mc2.json" 2>/dev/null && ok || bad "mc resume"
cmp -s "$dir/mc.csv" "$dir/mc2.csv" && ok || bad "resumed montecarlo summary differs"
# Sweeps: each point on the same channels, so a point equals the plain run at its values.
"$jcas" montecarlo --count 6 --algos unfolded,ao-monotone --sweep-users 2,4 --sweep-layers 5,150 --out "$dir/sw" >/dev/null 2>&1 && ok || bad "sweep"
[ "$(wc -l <"$dir/sw.sweep.csv")" -eq 9 ] && ok || bad "sweep csv rows: $(wc -l <"$dir/sw.sweep.csv")"
head -c 8 "$dir/sw_sweep.png" 2>/dev/null | od -c | grep -q "P   N   G" && ok || bad "sweep drew no sw_sweep.png"
"$jcas" montecarlo --count 6 --algos unfolded,ao-monotone --users 4 --out "$dir/pt" >/dev/null 2>&1 && ok || bad "sweep point alone"
cmp -s "$dir/pt.csv" "$dir/sw.K4_delta1_snr20_L150.csv" && ok || bad "sweep point differs from the plain run"
# W0 by zero-forcing: solve and train accept it, the model remembers it.
"$jcas" solve --data "$dir/c.h5" --w0 zf --outer 5 --json >/dev/null 2>&1 && ok || bad "solve --w0 zf"
"$jcas" train --data "$dir/c.h5" --outer 4 --epochs 1 --batch 4 --w0 zf --out "$dir/zf.h5" --no-plot >/dev/null 2>&1 && ok || bad "train --w0 zf"
[ ! -e "$dir/zf.h5.log.png" ] && ok || bad "train --no-plot drew a figure"
/usr/bin/python3 -c "import h5py; assert h5py.File('$dir/zf.h5','r').attrs['w0_zf'] == 1" && ok || bad "model does not record w0"
expect_error "--w0" "$jcas" solve --data "$dir/c.h5" --w0 foo --out "$dir/out.h5"
expect_error "ascent starts = foo" "$jcas" solve --data "$dir/c.h5" --algo ascent --ascent-starts foo --out "$dir/out.h5"
expect_error "ascent stages = 0" "$jcas" solve --data "$dir/c.h5" --algo ascent --ascent-stages 0 --out "$dir/out.h5"
expect_error "sweep-delta = -1" "$jcas" montecarlo --count 4 --sweep-delta 1,-1 --out "$dir/out"
expect_error "sweep-users = 0" "$jcas" montecarlo --count 4 --sweep-users 0 --out "$dir/out"
expect_error "devices = tpu" "$jcas" bench --devices tpu
expect_error "--batch: value 0" "$jcas" bench --batch 0
expect_error "reproduce: $dir/c.h5/x: Not a directory" "$jcas" reproduce --quick --out "$dir/c.h5/x"
expect_error "sweep-snr = nan" "$jcas" montecarlo --count 4 --sweep-snr 1,nan --out "$dir/out"
expect_error "snr-db = 1e+300" "$jcas" montecarlo --count 4 --snr-db 1e300 --out "$dir/out"
expect_error "value -1 must be a finite number >= 0" "$jcas" train --data "$dir/c.h5" --final-weight -1 --out "$dir/out.h5"
expect_error "layers = 300" "$jcas" montecarlo --count 6 --sweep-layers 5,300 --out "$dir/out"
expect_error "another run" "$jcas" montecarlo --count 9 --seed 2 --algos unfolded,heuristic --out "$dir/mc2" --resume
# --products: the batched-GEMM and the team routes give the loops' objective; bad values
# are refused.
lo=$("$jcas" solve --data "$dir/c.h5" --outer 5 --products loops --json 2>/dev/null)
for p in gemm team; do
  ge=$("$jcas" solve --data "$dir/c.h5" --outer 5 --products $p --json 2>/dev/null)
  LO="$lo" GE="$ge" /usr/bin/python3 -c "
import json,os; a=json.loads(os.environ['LO']); b=json.loads(os.environ['GE'])
assert abs(a['mean_objective']-b['mean_objective']) <= 1e-12*abs(a['mean_objective']), (a, b)
" && ok || bad "products $p vs loops: $lo / $ge"
done
expect_error "--products" "$jcas" solve --data "$dir/c.h5" --products blas --out "$dir/out.h5"
expect_error "products = gemm" "$jcas" solve --data "$dir/c.h5" --algo heuristic --products gemm --out "$dir/out.h5"
expect_error "products = team" "$jcas" solve --data "$dir/c.h5" --algo heuristic --products team --out "$dir/out.h5"
expect_error "--team-lanes" "$jcas" solve --data "$dir/c.h5" --team-lanes 12 --out "$dir/out.h5"
# --simd: the SIMD lanes (default) and one realization at a time agree; bad values refused.
on=$("$jcas" solve --data "$dir/c.h5" --outer 5 --json 2>/dev/null)
off=$("$jcas" solve --data "$dir/c.h5" --outer 5 --simd off --json 2>/dev/null)
ON="$on" OFF="$off" /usr/bin/python3 -c "
import json,os; a=json.loads(os.environ['ON']); b=json.loads(os.environ['OFF'])
assert a['simd_realizations'] == 6 and b['simd_realizations'] == 0, (a, b)
assert abs(a['mean_objective']-b['mean_objective']) <= 1e-12*abs(a['mean_objective']), (a, b)
" && ok || bad "simd on vs off: $on / $off"
expect_error "--simd" "$jcas" solve --data "$dir/c.h5" --simd maybe --out "$dir/out.h5"

# jcas bench: a JSON line per row as it is measured, then the notes; CUDA noted when absent.
# Each row the median of --repeats runs, with their spread; one step of the paper's batch
# (here the 4 realizations there are) and the paper's training projected from it.
"$jcas" bench --batch 4 --quick --repeats 2 --json 2>/dev/null | /usr/bin/python3 -c "
import json,sys
lines=[json.loads(l) for l in sys.stdin]
assert lines[0]['type']=='header' and lines[0]['repeats']==2, lines[0]
r=[x for x in lines if x['type']=='row']; notes=[x['text'] for x in lines if x['type']=='note']
cpu=[x for x in r if x['device']=='cpu']
assert {(x['workload'],x['precision']) for x in cpu}=={('unfolded','f32'),('unfolded','f64'),('montecarlo','f32'),('montecarlo','f64'),('train-step','f64'),('train-step/b32','f64'),('train-loop','f64')}, cpu
# Monte Carlo end to end beside the solve alone: its share of the solve's rate, per precision.
for p in ('f32', 'f64'):
    mc=[x for x in cpu if x['workload']=='montecarlo' and x['precision']==p][0]
    solve=[x for x in cpu if x['workload']=='unfolded' and x['precision']==p][0]
    share=[n for n in notes if n.startswith('cpu %s: end to end' % p)]
    assert len(share)==1 and abs(float(share[0].split(' at ')[1].split(' %')[0])-100*mc['realizations_per_second']/solve['realizations_per_second'])<=0.5, share
assert all(x['realizations_per_second']>0 and x['repeats']==2 and x['spread']>=0 for x in r), r
b32=[x for x in cpu if x['workload']=='train-step/b32'][0]
proj=[n for n in notes if n.startswith('cpu: the paper') and 'at this step time' in n]
assert b32['batch']==4 and len(proj)==1, (b32, notes)
assert abs(float(proj[0].split(': ')[-1].rstrip(' s'))-480*4/b32['realizations_per_second'])<=0.01+1e-3*480*4/b32['realizations_per_second'], proj
assert any(x['device']=='cuda' for x in r) or any('cuda' in n for n in notes), notes
# The training loop: one epoch of the 4 realizations, and the paper's training at its rate.
loop=[x for x in cpu if x['workload']=='train-loop'][0]
lproj=[n for n in notes if n.startswith('cpu: the paper') and 'at this loop' in n]
assert loop['batch']==4 and len(lproj)==1 and abs(float(lproj[0].split(': ')[-1].rstrip(' s'))-480*32/loop['realizations_per_second'])<=0.01+1e-3*480*32/loop['realizations_per_second'], (loop, lproj)
assert any(n.startswith('at most %d rows' % (7 + 19 * any(x['device'] == 'cuda' for x in r))) for n in notes), notes
" && ok || bad "bench json"
# A row bounded by --max-seconds: its first timing (16 realizations) projects the batch of
# 512 past the bound, so it runs on fewer, and the batch column says how many.
"$jcas" bench --devices cpu --batch 512 --repeats 1 --max-seconds 0.02 --json --threads 1 2>/dev/null | /usr/bin/python3 -c "
import json,sys
r=[x for x in map(json.loads, sys.stdin) if x['type']=='row']
assert len(r)==16 and all(16<=x['batch']<512 for x in r if x['workload']!='generate') and r[-2]['batch']==32, r
" && ok || bad "bench --max-seconds did not bound the rows"
expect_error "max-seconds" "$jcas" bench --max-seconds 0
expect_error "--repeats" "$jcas" bench --repeats 0

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
