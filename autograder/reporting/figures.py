"""The class report's figures (:mod:`autograder.reporting.report`): small PNGs drawn with matplotlib.

Colours come from the Okabe–Ito palette, which stays distinct under the common kinds of
colour blindness; every figure has a title on its axes and is saved at 100 dpi.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

BLUE, LIGHT_GREY = "#0072B2", "#EEEEEE"  # Okabe–Ito blue; the 100 % track behind each bar
DPI = 100
BINS = np.linspace(0, 100, 11)  # ten bins of 10 %; a score of 100 % falls in the last


def histogram_counts(shares: list[float]) -> list[int]:
    """How many scores (in %, 0–100) fall in each of the ten bins of :data:`BINS`."""
    counts, _ = np.histogram(np.clip(shares, 0, 100), bins=BINS)
    return [int(c) for c in counts]


def bin_labels() -> list[str]:
    """``0–10 %`` … ``90–100 %``: the bins of :data:`BINS`, as text."""
    return [f"{lo:g}–{hi:g} %" for lo, hi in zip(BINS[:-1], BINS[1:])]


def score_histogram(shares: list[float], title: str, path: Path) -> None:
    """Draw the distribution of scores.

    Parameters
    ----------
    shares : list of float
        One score per graded notebook, in % of the maximum (0–100).
    title : str
        The axes' title, e.g. ``"01_pixels: score / max score (5 graded)"``.
    path : Path
        Where to save the PNG.
    """
    fig = Figure(figsize=(6.4, 2.8), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    counts = histogram_counts(shares)
    bars = ax.bar(BINS[:-1], counts, width=10, align="edge", color=BLUE, edgecolor="white")
    ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], padding=2, fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xticks(BINS)
    ax.xaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(counts + [1]) * 1.2)
    ax.set_xlabel("score / max score")
    ax.set_ylabel("notebooks")
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path, dpi=DPI)


def pass_shares(labels: list[str], passed: list[int], totals: list[int], title: str, path: Path) -> None:
    """Draw, per exercise, the share of graded students who got full points.

    Parameters
    ----------
    labels : list of str
        Exercise names, top to bottom in notebook order.
    passed, totals : list of int
        Students with full points, and students graded, per exercise.
    title : str
        The axes' title.
    path : Path
        Where to save the PNG.
    """
    shares = [100 * k / n if n else 0.0 for k, n in zip(passed, totals)]
    fig = Figure(figsize=(6.4, 1.0 + 0.45 * len(labels)), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    ax.barh(y, [100] * len(labels), color=LIGHT_GREY, height=0.6)
    ax.barh(y, shares, color=BLUE, height=0.6)
    for yi, share, k, n in zip(y, shares, passed, totals):
        inside = share > 75
        ax.text(share - 1 if inside else share + 1, yi, f"{k} of {n}", va="center",
                ha="right" if inside else "left", fontsize=9, color="white" if inside else "black")
    ax.set_yticks(y, [textwrap.fill(label, 30) for label in labels], fontsize=9)  # long names on two lines
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    ax.set_xlabel("students with full points")
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path, dpi=DPI)
