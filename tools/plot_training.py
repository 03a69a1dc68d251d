#!/usr/bin/python3
"""PNG figure of a training run from its log (`jcas train` draws it itself at the end).

  tools/plot_training.py MODEL.log.csv OUT.png

Left: the eq. 19 loss (minus the 1/l-weighted sum of the layers' objectives) of every
batch and its mean over each epoch. Right, when the run had --validation: the held-out
mean objective after each epoch.
Uses Debian's python3-matplotlib (/usr/bin/python3).
"""
import csv
import sys

from jcas_plot import plt, run_main, save_figure


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    log, out = argv[1], argv[2]
    with open(log) as f:
        rows = list(csv.DictReader(f))
    batches = [r for r in rows if r["batch"] != "end"]
    epochs = [r for r in rows if r["batch"] == "end"]
    if not epochs:
        raise ValueError(f"{log}: no finished epoch")
    per_epoch = max(int(r["batch"]) for r in batches) if batches else 1
    val = [(int(r["epoch"]), float(r["validation_objective"])) for r in epochs if r["validation_objective"]]
    fig, axes = plt.subplots(1, 2 if val else 1, figsize=(12 if val else 7, 4.2), squeeze=False)
    ax = axes[0][0]
    ax.plot([(int(r["epoch"]) - 1) + int(r["batch"]) / per_epoch for r in batches],
            [float(r["train_loss"]) for r in batches], lw=0.6, alpha=0.5, label="batch")
    ax.plot([int(r["epoch"]) for r in epochs], [float(r["train_loss"]) for r in epochs], marker="o", label="epoch mean")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss, eq. 19: -sum_l h_l / l  (batch mean)")
    ax.grid(alpha=0.3)
    ax.legend()
    if val:
        ax = axes[0][1]
        ax.plot([e for e, _ in val], [v for _, v in val], marker="o")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation mean objective [nat]")
        ax.grid(alpha=0.3)
    save_figure(fig, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main("plot_training", main, sys.argv)
