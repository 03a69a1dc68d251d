#!/usr/bin/python3
"""Draws PNG figures from jcas results files (HDF5, `jcas solve --out`).

  tools/plot_results.py OUT_PREFIX LABEL=results.h5 [LABEL=results.h5 ...]

writes OUT_PREFIX_convergence.png (mean objective vs layer / outer iteration, as the
paper's Fig. 2) and OUT_PREFIX_cdf.png (empirical CDF of the final objective).
Uses Debian's python3-matplotlib and python3-h5py (/usr/bin/python3).
"""
import os
import sys

import h5py
import numpy as np

from jcas_plot import plt, run_main, save_figure


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    prefix = argv[1]
    runs = []
    for spec in argv[2:]:
        label, _, path = spec.partition("=")
        if not path or not os.path.exists(path):
            print(f"plot_results: results file '{path}' not found", file=sys.stderr)
            return 1
        with h5py.File(path, "r") as f:
            runs.append((label, f["curve"][()], f["objective"][()]))
    def figure(path, xlabel, ylabel, draw):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for label, curve, obj in runs:
            draw(ax, label, curve, obj)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, path)

    figure(prefix + "_convergence.png", "layer / outer iteration", "mean objective  min rate + delta min MI  [nat]",
           lambda ax, label, curve, _: ax.plot(np.arange(curve.shape[1]), curve.mean(axis=0), label=label))
    figure(prefix + "_cdf.png", "final objective per realization [nat]", "empirical CDF",
           lambda ax, label, _, obj: ax.step(np.sort(obj), np.arange(1, len(obj) + 1) / len(obj), where="post",
                                             label=label))
    print(f"wrote {prefix}_convergence.png and {prefix}_cdf.png")
    return 0


if __name__ == "__main__":
    run_main("plot_results", main, sys.argv)
