#!/usr/bin/env bash
# Robustness of the shipped recipe (issue 23): tools/train_models.sh's three steps run
# with training seeds 1..5, seed s on its own 500 realizations (generate seed 100 + s;
# seed 1 uses the shipped data, generate seed 1) and shuffling seed s, each model as a
# percentage of the ascent yardstick on the study's held-out set (seed 3, the first K
# users of a K = 12 file), one markdown table per delta with the spread per K.
#   bench/seeds.sh [OUTDIR]     (JCAS=path/to/jcas, SEEDS="1 2 3 4 5", KS="2 4 ...", DELTAS="1 10")
set -euo pipefail
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}" OPENBLAS_NUM_THREADS=1  # as tools/train_models.sh
jcas="$(realpath "${JCAS:-$(dirname "$0")/../build/jcas}")"
out="${1:-seeds_out}"
mkdir -p "$out"
cd "$out"
seeds="${SEEDS:-1 2 3 4 5}" ks="${KS:-2 4 6 8 10 12}"
[ -f val.h5 ] || "$jcas" generate --count 100 --seed 2 --users 4 --out val.h5 2>/dev/null
[ -f test.h5 ] || "$jcas" generate --count 100 --seed 3 --users 12 --out test.h5 2>/dev/null
for d in ${DELTAS:-1 10}; do
  for k in $ks; do
    [ -f "ascent_d${d}_k$k.json" ] ||
      "$jcas" solve --data test.h5 --users "$k" --delta "$d" --algo ascent --json >"ascent_d${d}_k$k.json" 2>/dev/null
  done
  for s in $seeds; do
    data_seed=$([ "$s" = 1 ] && echo 1 || echo $((100 + s)))
    [ -f "train_s$s.h5" ] || "$jcas" generate --count 500 --seed "$data_seed" --users 4 --out "train_s$s.h5" 2>/dev/null
    t=(--data "train_s$s.h5" --validation val.h5 --delta "$d" --seed "$s" --no-plot)
    [ -f "paper_s${s}_d$d.h5" ] || "$jcas" train "${t[@]}" --out "paper_s${s}_d$d.h5" 2>/dev/null
    [ -f "rich_s${s}_d$d.h5" ] || "$jcas" train "${t[@]}" --per-layer-mu --init "paper_s${s}_d$d.h5" \
      --mu-lr-factor 1000 --weight-decay 0 --out "rich_s${s}_d$d.h5" 2>/dev/null
    [ -f "model_s${s}_d$d.h5" ] || "$jcas" train "${t[@]}" --per-layer-mu --init "rich_s${s}_d$d.h5" --epochs 0 \
      --w0 zf --layer-repeat users --out "model_s${s}_d$d.h5" 2>/dev/null
    for k in $ks; do
      "$jcas" solve --data test.h5 --users "$k" --delta "$d" --params "model_s${s}_d$d.h5" --json \
        >"model_s${s}_d${d}_k$k.json" 2>/dev/null
    done
  done
  /usr/bin/python3 - "$d" "$seeds" "$ks" <<'PY'
import json, sys
d, seeds, ks = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
pct = {s: [100 * json.load(open(f"model_s{s}_d{d}_k{k}.json"))["mean_objective"]
           / json.load(open(f"ascent_d{d}_k{k}.json"))["mean_objective"] for k in ks] for s in seeds}
print(f"\n| delta = {d} | " + " | ".join(f"K = {k}" for k in ks) + " |")
print("|---" * (len(ks) + 1) + "|")
for s in seeds:
    print(f"| seed {s} | " + " | ".join(f"{x:.1f}" for x in pct[s]) + " |")
print("| spread | " + " | ".join(f"{max(c) - min(c):.1f}" for c in zip(*pct.values())) + " |")
PY
done
