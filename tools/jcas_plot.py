"""Shared by the figure scripts (plot_results, plot_montecarlo, plot_training, reproduce):
Debian's matplotlib without a display, figures written through a temporary and renamed
(an interrupted run leaves no half-written file, as jcas's own writers), and one-line
errors instead of tracebacks.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401  (the scripts take plt from here)


def replace_atomically(path, write):
    """write(tmp) fills a temporary sibling of path with the same extension, which then
    replaces path."""
    tmp = f"{path}.tmp.{os.getpid()}{os.path.splitext(path)[1]}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_figure(fig, path, dpi=120):
    try:
        fig.tight_layout()
        replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=dpi))
    finally:
        plt.close(fig)


def write_text(path, text):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    replace_atomically(path, write)


def run_main(name, main, *args):
    """Exits with main's status; a file or data problem is one line naming it, Ctrl-C 130."""
    try:
        sys.exit(main(*args))
    except (OSError, ValueError, KeyError) as e:
        where = getattr(e, "filename", None)
        sys.exit(f"{name}: {where + ': ' if where else ''}{getattr(e, 'strerror', None) or e}")
    except KeyboardInterrupt:
        sys.exit(130)
