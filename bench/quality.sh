#!/usr/bin/env bash
# Quality study (issue 3): the unfolded model trained at K = 4 against the untrained one
# and the three AO baselines on held-out data, at K = 2, 4, ..., 12 without retraining.
#   bench/quality.sh MODEL.h5 [COUNT] [SEED]    (prints a markdown table)
set -euo pipefail
jcas="$(dirname "$0")/../build/jcas"
model="$1"; count="${2:-100}"; seed="${3:-3}"
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
"$jcas" generate --count "$count" --seed "$seed" --users 12 --out "$dir/test.h5" 2>/dev/null
echo "| K | method | mean objective | min SINR dB | min SCNR dB | ms/realization |"
echo "|---|---|---|---|---|---|"
for k in ${KS:-2 4 6 8 10 12}; do
  for m in "unfolded-trained:--algo unfolded --params $model" "unfolded-untrained:--algo unfolded" \
           "ao-backtracking:--algo ao-backtracking" "heuristic:--algo heuristic" "ao-fixed:--algo ao-fixed"; do
    name="${m%%:*}"; args="${m#*:}"
    # shellcheck disable=SC2086
    "$jcas" solve --data "$dir/test.h5" --users "$k" $args --json 2>/dev/null |
      /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print(f\"| $k | $name | {j['mean_objective']:.3f} | {j['min_sinr_db']:.1f} | {j['min_scnr_db']:.1f} | {1e3*j['seconds_per_realization']:.2f} |\")"
  done
done
