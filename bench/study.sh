#!/usr/bin/env bash
# Quality study of issues 6 and 23: every solver as a percentage of the ascent yardstick, on
# held-out data of the default scenario, K = 2 ... 12, delta in {1, 10}.
#   bench/study.sh [OUTDIR]          (JCAS=path/to/jcas, COUNT=100, KS="2 4 ...", DELTAS="1 10")
# For each delta it trains the paper's model (500 realizations at K = 4, seed 1, the
# reference set-up) and the richer model (per-layer mu, from the paper model; from MRT
# and from zero-forcing starts; the MRT-trained one is also run from ZF), then
# prints one markdown table per delta (with each solver's counted MFLOP a realization, the
# arithmetic after W0 and F0: jcas solve --count-flops) and draws OUTDIR/study.png (% of the
# yardstick against K). Test data: seed 3; validation: seed 2.
set -euo pipefail
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"  # no idle BLAS pool spinning in the timed solves
# The models of tools/train_models.sh bit for bit (its OpenBLAS kernels): the "per-layer mu,
# run from ZF" row is then the shipped model's.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
jcas="${JCAS:-$(dirname "$0")/../build/jcas}"
out="${1:-study_out}"; count="${COUNT:-100}"
mkdir -p "$out"
[ -f "$out/train.h5" ] || "$jcas" generate --count 500 --seed 1 --users 4 --out "$out/train.h5" 2>/dev/null
[ -f "$out/val.h5" ] || "$jcas" generate --count 100 --seed 2 --users 4 --out "$out/val.h5" 2>/dev/null
[ -f "$out/test.h5" ] || "$jcas" generate --count "$count" --seed 3 --users 12 --out "$out/test.h5" 2>/dev/null
for delta in ${DELTAS:-1 10}; do
  paper="$out/paper_d$delta.h5" rich="$out/rich_d$delta.h5"
  [ -f "$paper" ] || "$jcas" train --data "$out/train.h5" --validation "$out/val.h5" --delta "$delta" \
    --out "$paper" 2>/dev/null >/dev/null
  [ -f "$rich" ] || "$jcas" train --data "$out/train.h5" --validation "$out/val.h5" --delta "$delta" \
    --per-layer-mu --init "$paper" --mu-lr-factor 1000 --weight-decay 0 --out "$rich" 2>/dev/null >/dev/null
  # The same richer model trained from zero-forcing starts (W0 = ZF instead of MRT).
  [ -f "$out/rich_zf_d$delta.h5" ] || "$jcas" train --data "$out/train.h5" --validation "$out/val.h5" \
    --delta "$delta" --per-layer-mu --init "$paper" --mu-lr-factor 1000 --weight-decay 0 --w0 zf \
    --out "$out/rich_zf_d$delta.h5" 2>/dev/null >/dev/null
done
/usr/bin/python3 - "$jcas" "$out" "${KS:-2 4 6 8 10 12}" "${DELTAS:-1 10}" <<'EOF'
import json, subprocess, sys
jcas, out, ks, deltas = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
methods = [("AO fixed", ["--algo", "ao-fixed"]), ("AO backtracking", ["--algo", "ao-backtracking"]),
           ("heuristic [32]", ["--algo", "heuristic"]), ("AO monotone", ["--algo", "ao-monotone"]),
           ("unfolded, paper model", ["--algo", "unfolded", "--params", f"{out}/paper_d{{d}}.h5"]),
           ("unfolded, per-layer mu", ["--algo", "unfolded", "--params", f"{out}/rich_d{{d}}.h5"]),
           ("per-layer mu, run from ZF", ["--algo", "unfolded", "--params", f"{out}/rich_d{{d}}.h5", "--w0", "zf"]),
           ("per-layer mu, trained from ZF", ["--algo", "unfolded", "--params", f"{out}/rich_zf_d{{d}}.h5"]),
           ("shipped model, each layer once", ["--algo", "unfolded", "--layer-repeat", "1"]),
           ("unfolded, shipped model (the default)", ["--algo", "unfolded"]),
           ("ascent", ["--algo", "ascent"])]
rows = {}
for d in deltas:
    for k in ks:
        for name, args in methods:
            cmd = [jcas, "solve", "--data", f"{out}/test.h5", "--users", k, "--delta", d, "--json", "--count-flops"]
            cmd += [a.replace("{d}", d) for a in args]
            rows[(d, k, name)] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
json.dump({"|".join(key): v for key, v in rows.items()}, open(f"{out}/study.json", "w"), indent=1)
for d in deltas:
    print(f"\n### delta = {d}\n")
    print("| K | method | mean h | % of ascent | min SINR dB | min SCNR dB | counted MFLOP | ms/realization | "
          "ascent / method time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in ks:
        a = rows[(d, k, "ascent")]
        for name, _ in methods:
            r = rows[(d, k, name)]
            pct = 100 * r["mean_objective"] / a["mean_objective"]
            ms = 1e3 * r["seconds_per_realization"]
            speed = a["seconds_per_realization"] / r["seconds_per_realization"]
            print(f"| {k} | {name} | {r['mean_objective']:.3f} | {pct:.1f} % | {r['min_sinr_db']:.1f} | "
                  f"{r['min_scnr_db']:.1f} | {r['counted_mflop']:.2f} | {ms:.2f} | {speed:.0f}x |")
# One PNG: each method's % of the yardstick against K, a panel per delta.
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, axes = plt.subplots(1, len(deltas), figsize=(6 * len(deltas), 4.5), squeeze=False, sharey=True)
for ax, d in zip(axes[0], deltas):
    for name, _ in methods[:-1]:
        ax.plot([int(k) for k in ks],
                [100 * rows[(d, k, name)]["mean_objective"] / rows[(d, k, "ascent")]["mean_objective"] for k in ks],
                marker="o", label=name)
    ax.axhline(99, color="gray", linestyle=":", linewidth=1)
    ax.set_title(f"delta = {d}")
    ax.set_xlabel("users K")
    ax.grid(alpha=0.3)
axes[0][0].set_ylabel("mean objective, % of the ascent yardstick")
axes[0][-1].legend(fontsize=7, loc="lower left")
fig.tight_layout()
fig.savefig(f"{out}/study.png", dpi=120)
print(f"\nfigure: {out}/study.png")
EOF
