#!/usr/bin/python3
"""The paper's figures and table, reproduced with jcas (issue 5).

  jcas reproduce --out DIR [--quick]      (runs this script)
  tools/reproduce.py --jcas build/jcas --out DIR [--quick]

Writes into DIR: fig2.png (objective vs iteration, K = 4, delta in {1, 10}, I_w in
{2, 4}, every method), fig3a.png (min SINR and min SCNR vs K = 2..12, model trained at
K = 4), fig3b.png (min SINR vs min SCNR over delta in [0, 100]), table1.md (time per
realization vs K, every method; with --device cuda the training and the unfolded solves
run on the GPU, the other methods always on the CPU),
and reproduce.md (every number behind the figures). Data: training set seed 1 (500
realizations at K = 4, the reference set-up), test set seed 3 (the first 50, Kmax 12).
--quick: a small configuration (for tests): 32 training realizations, 1 epoch, 20
layers, 6 test realizations, fewer points.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np

from jcas_plot import plt, run_main, save_figure, write_text

# jcas parallelises over realizations: an idle OpenBLAS thread pool would only spin and
# steal a core from the short timed solves of Table I.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

BASELINES = [("AO fixed", "ao-fixed"), ("AO backtracking", "ao-backtracking"), ("heuristic [32]", "heuristic"),
             ("AO monotone", "ao-monotone")]


def run(cmd, quiet=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"reproduce: {' '.join(cmd)} failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jcas", default=os.path.join(os.path.dirname(__file__), "..", "build", "jcas"))
    ap.add_argument("--out", default="reproduce_out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu", help="device for training and the unfolded solves (cpu, cuda)")
    a = ap.parse_args()
    J, out = a.jcas, a.out
    os.makedirs(out, exist_ok=True)
    q = a.quick
    n_train, epochs, layers, n_test = (32, 1, 20, 6) if q else (500, 30, 150, 50)
    ks = [2, 4] if q else [2, 4, 6, 8, 10, 12]
    deltas = [0, 1, 10] if q else [0, 0.5, 1, 2, 5, 10, 20, 50, 100]
    p = lambda name: os.path.join(out, name)  # noqa: E731

    def step(msg):
        print(f"[reproduce] {msg}", file=sys.stderr, flush=True)

    if not os.path.exists(p("train.h5")):
        run([J, "generate", "--count", str(n_train), "--seed", "1", "--users", "4", "--out", p("train.h5")])
    if not os.path.exists(p("test.h5")):
        run([J, "generate", "--count", str(n_test), "--seed", "3", "--users", "12", "--out", p("test.h5")])

    # Models: delta in {1, 10} x I_w in {2, 4}, each trained at K = 4 (SPEC.md 6), the
    # missing ones side by side in one jcas train (on a GPU at once, a stream each).
    t_start = time.monotonic()
    models = {(delta, iw): p(f"model_d{delta}_iw{iw}.h5") for delta in (1, 10) for iw in (2, 4)}
    missing = [(k, m) for k, m in models.items() if not os.path.exists(m)]
    train_s = None
    if missing:
        step(f"training {len(missing)} unfolded models side by side: "
             + ", ".join(f"delta {d} I_w {iw}" for (d, iw), _ in missing))
        t0 = time.monotonic()
        run([J, "train", "--data", p("train.h5"), "--delta", ",".join(str(d) for (d, _), _ in missing), "--iw",
             ",".join(str(iw) for (_, iw), _ in missing), "--epochs", str(epochs), "--outer", str(layers), "--device",
             a.device, "--out"] + [m for _, m in missing])
        train_s = time.monotonic() - t0

    def solve(algo, k, delta, extra=(), results=None):
        cmd = [J, "solve", "--data", p("test.h5"), "--users", str(k), "--delta", str(delta), "--algo", algo, "--json"]
        cmd += list(extra)
        if results:
            cmd += ["--out", results]
        return json.loads(run(cmd))

    record = {"fig2": {}, "fig3a": {}, "fig3b": {}}
    # Fig. 2: mean objective vs iteration at K = 4.
    step("Fig. 2")
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    for i, delta in enumerate((1, 10)):
        for j, iw in enumerate((2, 4)):
            ax = axes[i][j]
            curves = {}
            for name, algo, extra in [("unfolded (trained)", "unfolded", ["--params", models[(delta, iw)]]),
                                      ("unfolded (untrained)", "unfolded", ["--iw", str(iw), "--outer", str(layers)])] + \
                                     [(n, al, []) for n, al in BASELINES]:
                res = p(f"fig2_{len(curves)}_{algo}_d{delta}_iw{iw}.h5")
                solve(algo, 4, delta, extra, res)
                with h5py.File(res, "r") as f:
                    c = f["curve"][()].mean(axis=0)
                curves[name] = c
                ax.plot(np.arange(len(c)), c, label=name)
            record["fig2"][f"delta={delta},I_w={iw}"] = {n: float(c[-1]) for n, c in curves.items()}
            ax.set_title(f"K = 4, delta = {delta}, I_w = {iw}")
            ax.set_xlabel("iteration / layer")
            ax.set_ylabel("mean objective h")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    save_figure(fig, p("fig2.png"), dpi=110)

    # Fig. 3a and Table I: K sweep with the model trained at K = 4 (delta 1, I_w 2).
    step("Fig. 3a and Table I")
    methods = [("unfolded (trained)", "unfolded", ["--params", models[(1, 2)], "--device", a.device])] + \
              [(n, al, []) for n, al in BASELINES] + [("ascent", "ascent", [])]
    for name, algo, extra in methods:
        record["fig3a"][name] = {str(k): solve(algo, k, 1, extra) for k in ks}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, _, _ in methods:
        r = record["fig3a"][name]
        axes[0].plot(ks, [r[str(k)]["min_sinr_db"] for k in ks], marker="o", label=name)
        axes[1].plot(ks, [r[str(k)]["min_scnr_db"] for k in ks], marker="o", label=name)
    for ax, what in zip(axes, ("min SINR [dB]", "min SCNR [dB]")):
        ax.set_xlabel("users K")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save_figure(fig, p("fig3a.png"), dpi=110)

    # Fig. 3b: the trade-off over delta (K = 4; the delta = 1 model, evaluated at each delta).
    step("Fig. 3b")
    for name, algo, extra in methods:
        record["fig3b"][name] = {str(d): solve(algo, 4, d, extra) for d in deltas}
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for name, _, _ in methods:
        r = record["fig3b"][name]
        ax.plot([r[str(d)]["min_scnr_db"] for d in deltas], [r[str(d)]["min_sinr_db"] for d in deltas], marker="o",
                label=name)
    ax.set_xlabel("min SCNR [dB]")
    ax.set_ylabel("min SINR [dB]")
    ax.set_title(f"K = 4, delta in [{deltas[0]}, {deltas[-1]}]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, p("fig3b.png"), dpi=110)

    # Table I: time per realization [ms] vs K, this machine (CPU, all cores).
    lines = ["| method | " + " | ".join(f"K = {k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for name, _, _ in methods:
        r = record["fig3a"][name]
        lines.append(f"| {name} | " + " | ".join(f"{1e3 * r[str(k)]['seconds_per_realization']:.2f}" for k in ks) + " |")
    table1 = "\n".join(lines)
    write_text(p("table1.md"),
               f"Time per realization [ms], {n_test} realizations, device {a.device} for the unfolded solves\n\n"
               + table1 + "\n")

    wall_s = time.monotonic() - t_start
    trained = (f"the {len(missing)} models trained side by side in {train_s:.1f} s on {a.device}" if missing
               else "the models were there already")
    record["wall_seconds"] = {"total": wall_s, "training": train_s, "models_trained": len(missing),
                              "device": a.device}
    md = [f"# jcas reproduce ({'quick' if q else 'full'})", "",
          f"Training: {n_train} realizations (seed 1, K = 4), {epochs} epochs, L_out {layers}. "
          f"Test: {n_test} realizations (seed 3).", "",
          f"Wall time: {wall_s:.1f} s in all ({trained}; the figures' solves the rest).", "", "## Fig. 2: final mean objective (K = 4)", "",
          "| setting | " + " | ".join(record["fig2"]["delta=1,I_w=2"]) + " |",
          "|---|" + "---|" * len(record["fig2"]["delta=1,I_w=2"])]
    for setting, vals in record["fig2"].items():
        md.append(f"| {setting} | " + " | ".join(f"{v:.3f}" for v in vals.values()) + " |")
    def sinr_scnr_table(fig, points, head):
        rows = ["| method | " + " | ".join(f"{head} = {x}" for x in points) + " |", "|---|" + "---|" * len(points)]
        for name, _, _ in methods:
            r = record[fig][name]
            rows.append(f"| {name} | " + " | ".join(
                f"{r[str(x)]['min_sinr_db']:.1f} / {r[str(x)]['min_scnr_db']:.1f}" for x in points) + " |")
        return rows

    md += ["", "![Fig. 2](fig2.png)", "", "## Fig. 3a: min SINR / min SCNR [dB] vs K (delta = 1)", ""]
    md += sinr_scnr_table("fig3a", ks, "K")
    md += ["", "![Fig. 3a](fig3a.png)", "", "## Fig. 3b: min SINR / min SCNR [dB] vs delta (K = 4)", ""]
    md += sinr_scnr_table("fig3b", deltas, "delta")
    md += ["", "![Fig. 3b](fig3b.png)", "", "## Table I: time per realization [ms]", "", table1, ""]
    write_text(p("reproduce.md"), "\n".join(md))
    write_text(p("reproduce.json"), json.dumps(record, indent=1))
    print("\n".join(md))
    step(f"wrote {p('reproduce.md')}, fig2.png, fig3a.png, fig3b.png, table1.md; {wall_s:.1f} s ({trained})")


if __name__ == "__main__":
    run_main("reproduce", main)
