"""The course's pictures: one matrix-drawing helper, used wherever a matrix is shown,
a grid of images on a shared grey scale, ``show``, which displays a figure with alt text, and the
text twins of a learning-curve figure (``history_table`` to print, ``describe_history`` for alt text).

Figures stay small (``figure.dpi`` 72) so executed notebooks stay light; ``show`` draws at 100 dpi
with text of at least 9 pt, as the newer lessons do.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

mpl.rcParams["figure.dpi"] = 72
mpl.rcParams["savefig.dpi"] = 72


def show_matrix(
    values: np.ndarray,
    ax: plt.Axes | None = None,
    title: str | None = None,
    fmt: str | None = None,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    highlight: tuple[int, int, int, int] | None = None,
    fontsize: float | None = None,
) -> plt.Axes:
    """Draw a 2-D matrix as shaded cells with each value written in its cell.

    Cells holding NaN are left blank, e.g. the entries of a feature map not computed yet.

    Parameters
    ----------
    values : (H, W) array of numbers.
    ax : the axes to draw on; a new small figure if None.
    title : the panel title.
    fmt : format of the numbers, e.g. ``"{:.2f}"``; integers print as integers by default.
    cmap, vmin, vmax : colour scale. Defaults: grey, the matrix's own min and max.
    highlight : ``(row, col, height, width)`` of a window to outline in orange.
    fontsize : size of the numbers; chosen from the matrix size if None.

    Returns
    -------
    The axes, with rows and columns labelled by index.

    Examples
    --------
    >>> show_matrix(np.arange(9).reshape(3, 3), title="a 3×3 matrix")
    """
    m = np.asarray(values)
    if m.ndim != 2:
        raise ValueError(f"show_matrix draws 2-D matrices; got shape {m.shape}.")
    h, w = m.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(max(2.0, 0.45 * w + 0.6), max(2.0, 0.45 * h + 0.6)))
    numeric = m.astype(np.float64)
    finite = numeric[np.isfinite(numeric)]
    lo = (float(finite.min()) if finite.size else 0.0) if vmin is None else vmin
    hi = (float(finite.max()) if finite.size else 1.0) if vmax is None else vmax
    if hi == lo:
        hi = lo + 1.0
    ax.imshow(numeric, cmap=cmap, vmin=lo, vmax=hi)
    if fmt is None:
        is_int = np.issubdtype(m.dtype, np.integer) or np.all(finite == np.round(finite))
        fmt = "{:.0f}" if is_int else "{:.2f}"
    if fontsize is None:
        fontsize = 10 if max(h, w) <= 8 else 8 if max(h, w) <= 12 else 6
    colormap = plt.get_cmap(cmap)
    for r in range(h):
        for c in range(w):
            if not np.isfinite(numeric[r, c]):
                continue
            shade = colormap((numeric[r, c] - lo) / (hi - lo))
            luminance = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
            ax.text(c, r, fmt.format(m[r, c]), ha="center", va="center", fontsize=fontsize,
                    color="black" if luminance > 0.5 else "white")
    ax.set_xticks(range(w))
    ax.set_yticks(range(h))
    ax.tick_params(labelsize=7, length=0)
    ax.set_xlabel("column", fontsize=8)
    ax.set_ylabel("row", fontsize=8)
    if highlight is not None:
        r0, c0, hh, ww = highlight
        ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), ww, hh, fill=False, edgecolor="#E69F00", linewidth=3))
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_images(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 5,
    vmin: float = 0,
    vmax: float = 255,
    cmap: str = "gray",
    size: float = 1.6,
    suptitle: str | None = None,
) -> plt.Figure:
    """Show images in a grid on one shared colour scale, so panels compare honestly.

    Parameters
    ----------
    images : a sequence of (H, W) arrays (or an (N, H, W) array).
    titles : one title per image.
    ncols : images per row.
    vmin, vmax : the shared colour scale (0–255 for raw pixels, 0–1 after normalising).
    cmap : the colour map; grey by default.
    size : inches per panel.
    suptitle : a title over the whole grid.

    Returns
    -------
    The figure.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(np.asarray(images[i]), cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def show(fig: plt.Figure, alt: str, dpi: int = 100, min_fontsize: float = 9) -> None:
    """Display a figure in the notebook with alt text, sharp and legible, then close it.

    The alt text goes into the output's metadata (``{"image/png": {"alt": alt}}``), where
    nbconvert, JupyterLab and Jupyter Book read it. The figure is drawn at ``dpi`` dots per
    inch, and any text smaller than ``min_fontsize`` points is raised to it.

    Parameters
    ----------
    fig : the figure to show.
    alt : what the figure shows, in words, with its key numbers.
    dpi : resolution of the stored PNG.
    min_fontsize : the smallest font size, in points, left in the figure.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> show(fig, "An empty set of axes.")
    """
    fig.canvas.draw()  # tick labels exist only once the figure is drawn
    raised = False
    for text in fig.findobj(mpl.text.Text):
        if text.get_text() and text.get_fontsize() < min_fontsize:
            text.set_fontsize(min_fontsize)
            raised = True
    for ax in fig.axes:  # ticks drawn again later take their size from tick_params
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = axis.get_ticklabels()
            if labels:
                ax.tick_params(axis=name, labelsize=labels[0].get_fontsize())
    if raised and fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.set_dpi(dpi)
    display(fig, metadata={"image/png": {"alt": alt}})
    plt.close(fig)


_METRIC_LABELS = {"accuracy": "train acc", "val_accuracy": "val acc", "loss": "train loss", "val_loss": "val loss"}


def history_table(histories: dict[str, dict[str, Sequence[float]]],
                  metrics: Sequence[str] = ("accuracy", "val_accuracy")) -> str:
    """The printed twin of a learning-curve figure: one row per epoch, one column per model and metric.

    Accuracies print as percentages, losses with three decimals; a model that trained for fewer
    epochs than another gets "–" in the epochs it did not train.

    Parameters
    ----------
    histories : model name -> Keras ``History.history`` (metric name -> one value per epoch).
    metrics : the metrics to print for every model, e.g. ``("accuracy", "val_accuracy", "loss")``.

    Returns
    -------
    The table, as lines of text.

    Examples
    --------
    >>> print(history_table({"CNN": {"accuracy": [0.8, 0.9], "val_accuracy": [0.78, 0.85]}}))
    epoch   CNN train acc   CNN val acc
        1           80.0%         78.0%
        2           90.0%         85.0%
    """
    columns = [(name, metric) for name in histories for metric in metrics]
    headers = [f"{name} {_METRIC_LABELS.get(metric, metric)}" for name, metric in columns]
    widths = [max(len(h), 7) for h in headers]
    epochs = max(len(h[metrics[0]]) for h in histories.values())
    lines = ["epoch" + "".join(f"   {h:>{w}}" for h, w in zip(headers, widths))]
    for e in range(epochs):
        cells = []
        for (name, metric), w in zip(columns, widths):
            values = histories[name][metric]
            text = "–" if e >= len(values) else f"{values[e]:.1%}" if "acc" in metric else f"{values[e]:.3f}"
            cells.append(f"   {text:>{w}}")
        lines.append(f"{e + 1:>5}" + "".join(cells))
    return "\n".join(lines)


def describe_history(history: dict[str, Sequence[float]], metric: str = "accuracy") -> str:
    """One clause for a figure's alt text: where a metric's training and validation curves start and end.

    Examples
    --------
    >>> describe_history({"accuracy": [0.8, 0.9], "val_accuracy": [0.78, 0.85]})
    'training from 80.0% to 90.0% and validation from 78.0% to 85.0% over 2 epochs'
    """
    def fmt(v: float) -> str:
        return f"{v:.1%}" if "acc" in metric else f"{v:.2f}"

    train, val = history[metric], history[f"val_{metric}"]
    return (f"training from {fmt(train[0])} to {fmt(train[-1])} and validation from {fmt(val[0])} to "
            f"{fmt(val[-1])} over {len(train)} epoch{'s' * (len(train) != 1)}")
