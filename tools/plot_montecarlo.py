#!/usr/bin/python3
"""PNG figures of a `jcas montecarlo` run (jcas montecarlo draws them itself at the end).

  tools/plot_montecarlo.py PREFIX          PREFIX.h5 -> PREFIX_cdf.png
  tools/plot_montecarlo.py PREFIX --sweep  PREFIX.sweep.csv -> PREFIX_sweep.png

PREFIX_cdf.png: the empirical CDF of the final objective per algorithm (the sorted
objective jcas keeps in PREFIX.h5), the mean and its 95 % interval in the legend.
PREFIX_sweep.png: mean objective (with its 95 % interval), min SINR and min SCNR against
the first swept parameter; one line per algorithm and per value of any other swept one.
Uses Debian's python3-matplotlib and python3-h5py (/usr/bin/python3).
"""
import csv
import os
import sys

import numpy as np

from jcas_plot import plt, run_main, save_figure

SWEPT = [("users", "users K"), ("delta", "delta"), ("snr_db", "SNR [dB]"), ("layers", "unfolded layers L")]


def plot_cdf(prefix):
    import h5py
    fig, ax = plt.subplots(figsize=(7, 4.5))
    order = []  # the run's order of algorithms (PREFIX.csv); HDF5 lists its groups sorted
    if os.path.exists(prefix + ".csv"):
        with open(prefix + ".csv") as c:
            order = [r["algo"] for r in csv.DictReader(c)]
    with h5py.File(prefix + ".h5", "r") as f:
        for algo in [a for a in order if a in f] + [a for a in f if a not in order]:  # a group per algorithm
            g = f[algo]
            x = g["objective_sorted"][()]
            if len(x) == 0:
                continue
            label = f"{algo}: mean {g.attrs['mean_objective']:.3f} +- {g.attrs['ci95_objective']:.3f}"
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=label)
    ax.set_xlabel("final objective per realization  min rate + delta min MI  [nat]")
    ax.set_ylabel("empirical CDF")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, prefix + "_cdf.png")
    return prefix + "_cdf.png"


def plot_sweep(prefix):
    with open(prefix + ".sweep.csv") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{prefix}.sweep.csv has no rows")
    varied = [(c, lab) for c, lab in SWEPT if len({r[c] for r in rows}) > 1] or [SWEPT[0]]
    xcol, xlabel = varied[0]
    others = [c for c, _ in varied[1:]]
    lines = {}  # (algo, other values) -> rows in x order
    for r in rows:
        lines.setdefault((r["algo"],) + tuple(r[c] for c in others), []).append(r)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for key, rs in lines.items():
        rs.sort(key=lambda r: float(r[xcol]))
        x = [float(r[xcol]) for r in rs]
        label = key[0] + "".join(f", {c} {v}" for c, v in zip(others, key[1:]))
        axes[0].errorbar(x, [float(r["mean_objective"]) for r in rs], yerr=[float(r["ci95_objective"]) for r in rs],
                         marker="o", capsize=3, label=label)
        axes[1].plot(x, [float(r["min_sinr_db"]) for r in rs], marker="o", label=label)
        axes[2].plot(x, [float(r["min_scnr_db"]) for r in rs], marker="o", label=label)
    xs = sorted({float(r[xcol]) for r in rows})
    for ax, what in zip(axes, ("mean objective [nat] (95 % interval)", "min SINR [dB]", "min SCNR [dB]")):
        if len(xs) <= 12:
            ax.set_xticks(xs)  # the swept values themselves
        ax.set_xlabel(xlabel)
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, prefix + "_sweep.png")
    return prefix + "_sweep.png"


def main(argv):
    if len(argv) < 2 or len(argv) > 3 or (len(argv) == 3 and argv[2] != "--sweep"):
        print(__doc__, file=sys.stderr)
        return 2
    path = plot_sweep(argv[1]) if len(argv) == 3 else plot_cdf(argv[1])
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main("plot_montecarlo", main, sys.argv)
