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
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, curve, _ in runs:
        ax.plot(np.arange(curve.shape[1]), curve.mean(axis=0), label=label)
    ax.set_xlabel("layer / outer iteration")
    ax.set_ylabel("mean objective  min rate + delta min MI  [nat]")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(prefix + "_convergence.png", dpi=120)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, _, obj in runs:
        x = np.sort(obj)
        ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=label)
    ax.set_xlabel("final objective per realization [nat]")
    ax.set_ylabel("empirical CDF")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(prefix + "_cdf.png", dpi=120)
    print(f"wrote {prefix}_convergence.png and {prefix}_cdf.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
